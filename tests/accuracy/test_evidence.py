"""Choosing the default accuracy objective by evidence: the rule, the held-out rows, the ceiling."""

from __future__ import annotations

import math

import pytest

from hardsearch.accuracy.evidence import (
    Evidence,
    agreements_of_rows,
    choose_default,
    evidence_of_values,
    noise_ceiling,
)


def ev(name: str, rho: float, partial: float, *, kind: str = "zero-cost",
       steps: float | None = None) -> Evidence:
    return Evidence(name, kind, 48, rho, rho * 0.7, partial, "no fit", steps)


EVIDENCE = [
    ev("macs", 0.40, math.nan, kind="baseline", steps=0.0),
    ev("params", 0.50, 0.1, kind="baseline", steps=0.0),
    ev("a", 0.50, 0.20, steps=0.5),
    ev("b", 0.30, 0.60, steps=0.5),  # the best partial, but it ranks worse than MACs alone
    ev("c", 0.60, 0.35, kind="predictor", steps=3.0),  # too dear for a 2-step budget
    ev("d", 0.45, 0.30, kind="combination", steps=1.0),
    ev("e", math.nan, 0.90, steps=0.1),  # nan never wins
    ev("noise ceiling (train.seed=1)", 0.95, 0.90, kind="ceiling"),
]


def test_the_rule_best_partial_among_those_as_good_as_macs():
    assert choose_default(EVIDENCE).proxy == "c"
    assert choose_default(EVIDENCE, max_steps=2.0).proxy == "d"
    assert choose_default(EVIDENCE, max_steps=0.5).proxy == "a"
    assert choose_default(EVIDENCE, max_steps=0.01) is None
    assert choose_default([ev("macs", 0.4, math.nan, kind="baseline"), ev("x", 0.39, 0.9)]) is None
    with pytest.raises(ValueError, match="no macs baseline"):
        choose_default(EVIDENCE[2:])


def rows():
    accuracy = [0.30, 0.35, 0.40, 0.45, 0.50]
    macs = [5, 1, 4, 2, 3]
    return [{"name": f"n{i}", "digest": f"d{i}", "accuracy": a, "macs": m,
             "scores": {"good": a * 10, "bad": -a, "macs": m},
             "seconds": {"good": 0.1, "bad": 0.1, "macs": 0.0}}
            for i, (a, m) in enumerate(zip(accuracy, macs, strict=True))]


def test_unfitted_candidates_on_rows():
    evidence = agreements_of_rows(rows(), ["good", "bad", "macs"], combinations=[["good", "macs"]],
                                  steps={"good": 0.5, "macs": 0.0})
    by = {e.proxy: e for e in evidence}
    assert by["good"].spearman == pytest.approx(1.0) and by["bad"].spearman == pytest.approx(-1.0)
    assert by["good"].kind == "zero-cost" and by["macs"].kind == "baseline"
    assert by["rank(good+macs)"].kind == "combination" and by["rank(good+macs)"].steps == 0.5
    assert by["bad"].steps is None  # not measured
    assert all(e.held_out == "no fit" and e.n == 5 for e in evidence)


def test_noise_ceiling_from_repeats():
    repeats = [{"digest": f"d{i}", "accuracy": a, "first_accuracy": f, "train_seed": 1}
               for i, (a, f) in enumerate([(0.3, 0.31), (0.4, 0.38), (0.5, 0.52), (0.45, 0.47)])]
    ceiling = noise_ceiling(repeats, {f"d{i}": m for i, m in enumerate([4, 3, 2, 1])})
    assert ceiling.proxy == "noise ceiling (train.seed=1)" and ceiling.kind == "ceiling"
    assert ceiling.spearman == pytest.approx(1.0) and ceiling.n == 4
    assert noise_ceiling(repeats[:2], {}) is None


def test_evidence_of_values_holds_one_value_per_row_to_accuracy_and_macs():
    rows = [{"accuracy": a, "macs": m} for a, m in [(0.30, 1.0), (0.40, 3.0), (0.35, 2.0), (0.50, 4.0)]]
    got = evidence_of_values("predictor(x)", "predictor", [0.31, 0.41, 0.36, 0.52], rows, "3-fold", 1.5)
    assert (got.proxy, got.kind, got.n, got.held_out) == ("predictor(x)", "predictor", 4, "3-fold")
    assert got.steps == 1.5
    assert got.spearman == pytest.approx(1.0) and got.kendall == pytest.approx(1.0)
    reversed_ = evidence_of_values("r", "predictor", [4, 3, 2, 1], rows, "no fit")
    assert reversed_.spearman == pytest.approx(-0.8)  # ranks 4,3,2,1 against 1,3,2,4: 1 - 6·18/60
    with pytest.raises(ValueError, match="r: 3 values for 4 rows"):
        evidence_of_values("r", "predictor", [1, 2, 3], rows, "no fit")
