"""Which accuracy objective to make the default: every candidate held to trained networks.

Plain data and one rule. :func:`gather_evidence` puts side by side, on the rows of one training
recipe, every zero-cost proxy and rank combination (nothing fitted: all rows are held out), the
calibrated ensemble (normalised on the rows), the predictor (cross-validated: each row predicted
by a model that never saw it), the params and MACs baselines, and the noise ceiling (the same
networks trained again with another seed). :func:`choose_default` applies the rule of issue 14:
the best held-out partial ρ given MACs among the candidates at least as good as MACs alone in
plain ρ (and, when given, no dearer than ``max_steps`` training steps per candidate).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Sequence

from hardsearch.accuracy.calibrate import correlate
from hardsearch.accuracy.stats import rank_correlation

__all__ = ["Evidence", "agreements_of_rows", "evidence_of_values", "noise_ceiling", "choose_default"]


class Evidence(NamedTuple):
    """One candidate's held-out agreement with trained accuracy."""

    proxy: str
    kind: str  # "zero-cost", "combination", "ensemble", "predictor", "baseline", "ceiling"
    n: int
    spearman: float
    kendall: float
    partial_spearman: float  # given MACs
    held_out: str  # how: "no fit" or "k-fold cross-validation"
    steps: float | None = None  # cost per candidate in training steps of the same batch, if measured


def _kind(name: str) -> str:
    if name in ("params", "macs"):
        return "baseline"
    if name.startswith("rank("):
        return "combination"
    if name.startswith("ensemble("):
        return "ensemble"
    return "zero-cost"


def agreements_of_rows(rows: Sequence[Mapping[str, Any]], proxies: Sequence[str], *,
                       ensemble: Sequence[str] = (), combinations: Sequence[Sequence[str]] = (),
                       steps: Mapping[str, float] | None = None) -> list[Evidence]:
    """Every unfitted candidate on ``rows`` (calibrate rows: scores, macs, accuracy)."""
    steps = dict(steps or {})
    out = []
    for agreement in correlate(rows, proxies, ensemble, combinations):
        c, name = agreement.correlation, agreement.proxy
        members = name[name.index("(") + 1:-1].split("+") if "(" in name else [name]
        cost = sum(steps[m] for m in members) if all(m in steps for m in members) else None
        out.append(Evidence(name, _kind(name), c.n, c.spearman, c.kendall, c.partial_spearman, "no fit",
                            cost))
    return out


def evidence_of_values(name: str, kind: str, values: Sequence[float], rows: Sequence[Mapping[str, Any]],
                       held_out: str, steps: float | None = None) -> Evidence:
    """A candidate given as one value per row (a predictor's out-of-fold predictions) held to ``rows``."""
    if len(values) != len(rows):
        raise ValueError(f"{name}: {len(values)} values for {len(rows)} rows")
    c = rank_correlation(list(values), [r["accuracy"] for r in rows], [r["macs"] for r in rows])
    return Evidence(name, kind, c.n, c.spearman, c.kendall, c.partial_spearman, held_out, steps)


def noise_ceiling(repeats: Sequence[Mapping[str, Any]], macs: Mapping[str, float]) -> Evidence | None:
    """How well a second training (another seed) ranks the first: what no proxy can be expected to beat.

    ``repeats``: calibrate's repeat records (``digest``, ``accuracy``, ``first_accuracy``, ``train_seed``).
    """
    if len(repeats) < 3:
        return None
    again = [r["accuracy"] for r in repeats]
    first = [r["first_accuracy"] for r in repeats]
    c = rank_correlation(again, first, [macs[r["digest"]] for r in repeats])
    seed = repeats[0].get("train_seed")
    return Evidence(f"noise ceiling (train.seed={seed})", "ceiling", c.n, c.spearman, c.kendall,
                    c.partial_spearman, "a second training")


def choose_default(evidence: Sequence[Evidence], *, baseline: str = "macs",
                   max_steps: float | None = None) -> Evidence | None:
    """The best held-out partial ρ given MACs among candidates with plain ρ ≥ the baseline's.

    Baselines and the noise ceiling are not candidates; a candidate with an unknown or higher cost
    than ``max_steps`` is left out when ``max_steps`` is given; nan never wins. None when no
    candidate qualifies.
    """
    reference = next((e for e in evidence if e.proxy == baseline), None)
    if reference is None or math.isnan(reference.spearman):
        raise ValueError(f"choose_default: no {baseline} baseline with a Spearman rho among the evidence")
    eligible = [e for e in evidence
                if e.kind not in ("baseline", "ceiling") and not math.isnan(e.spearman)
                and not math.isnan(e.partial_spearman) and e.spearman >= reference.spearman
                and (max_steps is None or (e.steps is not None and e.steps <= max_steps))]
    return max(eligible, key=lambda e: (e.partial_spearman, e.spearman), default=None)
