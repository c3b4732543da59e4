"""The per-device latency model: fit, held-out scoring, the partial correlation, the profile file."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from hardsearch.arch.costs import cio_beyond, cost_totals, weights_beyond
from hardsearch.arch.latency_model import (
    BASELINES,
    TERMS,
    LatencyModel,
    LatencyProfile,
    evaluate,
    fit,
    held_out,
    load_profile,
    partial_rank_correlation,
    quality,
    save_profile,
)
from hardsearch.arch.seeds import load_seed
from hardsearch.arch.space import load_space
from hardsearch.core.errors import UserError

TRUE = {"macs": 1.2e-5, "cio": 2.5e-3, "concat": 4e-4, "convs": 35.0, "weights_beyond_cache": 2e-3,
        "cio_beyond_cache": 3e-3}
CACHE = 2**23  # elements: some members have a layer with more weights than this, or more CIO at 512²
INTERCEPT = 800.0


def synthetic(n: int = 40, *, noise: float = 0.0, seed: int = 0) -> tuple[list[dict], list[float]]:
    """Rows of the harmonic space's real costs at 512², latencies from known coefficients."""
    rng = np.random.default_rng(seed)
    rows = []
    for arch in load_space("harmonic").sample(n, seed=seed):
        c = cost_totals(arch, 512)
        rows.append({**{k: getattr(c, k) for k in ("macs", "cio", "concat", "convs", "weights", "params")},
                     "weights_beyond_cache": weights_beyond(arch, CACHE),
                     "cio_beyond_cache": cio_beyond(arch, 512, CACHE)})
    for term in ("weights_beyond_cache", "cio_beyond_cache"):  # both terms are exercised, and differ
        assert n < 30 or 4 <= sum(r[term] > 0 for r in rows) < n, term
    latency = [(INTERCEPT + sum(TRUE[k] * r[k] for k in TRUE)) * (1 + noise * rng.standard_normal())
               for r in rows]
    return rows, latency


def test_fit_recovers_known_coefficients_from_exact_rows():
    rows, latency = synthetic()
    model = fit(rows, latency)
    assert model.terms == TERMS
    for term, got in zip(model.terms, model.coefficients, strict=True):
        assert got == pytest.approx(TRUE[term], rel=1e-6), term
    assert model.intercept == pytest.approx(INTERCEPT, rel=1e-6)
    assert quality(held_out(rows, latency), latency).mape < 1e-6


def test_fit_with_noise_stays_close_and_held_out_beats_macs_alone():
    rows, latency = synthetic(60, noise=0.02, seed=3)
    model = fit(rows, latency)
    assert min(model.coefficients) >= 0
    predicted = [model.predict(r) for r in rows]
    assert quality(predicted, latency).mape < 3
    scored = evaluate(rows, latency)
    assert set(scored) == set(BASELINES)
    assert scored["fit"][0].mape < scored["macs"][0].mape
    assert scored["fit"][0].spearman > 0.95


def test_coefficients_are_never_negative():
    """A cost that works against latency gets 0, not a negative weight."""
    rows, _ = synthetic(30)
    latency = [1000 + 1e-5 * r["macs"] - 1e-4 * r["cio"] + 5e4 for r in rows]
    model = fit(rows, latency)
    assert min(model.coefficients) >= 0 and model.intercept >= 0
    assert dict(zip(model.terms, model.coefficients, strict=True))["cio"] == 0


def test_held_out_predictions_do_not_see_their_own_row():
    rows, latency = synthetic(12)
    latency = list(latency)
    latency[5] *= 3  # an outlier: in-sample the fit bends toward it, held out it cannot
    inside = fit(rows, latency).predict(rows[5])
    outside = held_out(rows, latency)[5]
    assert abs(outside - latency[5]) > abs(inside - latency[5])


def test_partial_rank_correlation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    x = a + 0.1 * rng.normal(size=200)  # x is a proxy of a
    y = a + b
    assert partial_rank_correlation(x, y, [a]) == pytest.approx(0, abs=0.2)  # nothing beyond a
    assert partial_rank_correlation(b, y, [a]) > 0.8  # b explains what a leaves
    assert math.isnan(partial_rank_correlation(a, y, [a]))


def _profile() -> LatencyProfile:
    model = LatencyModel(TERMS, tuple(TRUE[t] for t in TERMS), INTERCEPT)
    return LatencyProfile(model, "Test CPU", "torch", 2, (224, 224), 1, {"spearman": 0.99, "mape": 4.2},
                          {"members": 40}, CACHE)


def test_profile_round_trips(tmp_path):
    profile = _profile()
    path = save_profile(profile, tmp_path / "profile.yaml")
    again = load_profile(path)
    assert again == profile
    arch = load_seed("hardnet85")  # its largest layer holds 9.4 M weights: beyond the 8 M-element cache
    c = cost_totals(arch, 224)._asdict() | {"weights_beyond_cache": weights_beyond(arch, CACHE),
                                            "cio_beyond_cache": cio_beyond(arch, 224, CACHE)}
    assert c["weights_beyond_cache"] > 0
    expected = INTERCEPT + sum(TRUE[t] * c[t] for t in TERMS)
    assert again.predict_us(arch) == pytest.approx(expected)
    assert path.read_text().startswith("# hardsearch latency profile")


def test_profile_predicts_at_its_own_input_size(tmp_path):
    profile = _profile()
    big = LatencyProfile(profile.model, "Test CPU", "torch", 2, (1024, 1024), 1, cache_elements=CACHE)
    arch = load_seed("hardnet68")
    costs = cost_totals(arch, (1024, 1024))._asdict() | {"weights_beyond_cache": weights_beyond(arch, CACHE),
                                                         "cio_beyond_cache": cio_beyond(arch, 1024, CACHE)}
    assert costs["cio_beyond_cache"] > 0
    assert big.predict_us(arch) == pytest.approx(profile.model.predict(costs))
    assert big.predict_us(arch) > 10 * profile.predict_us(arch)


def _write(tmp_path, change) -> str:
    data = _profile().to_dict()
    change(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data) if isinstance(data, dict) else data)
    return str(path)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["coefficients"].update(macs=-1.0), "coefficients: macs: got -1.0; allowed: a number >= 0"),
    (lambda d: d["coefficients"].update(flops=1.0), "coefficients.flops: unknown cost term; allowed: macs"),
    (lambda d: d.update(coefficients={}), "coefficients: got {}; allowed: a mapping"),
    (lambda d: d.update(input_size=[224]), "input_size: got [224]; allowed: [height, width]"),
    (lambda d: d.update(threads=0), "threads: got 0; allowed: an integer >= 1"),
    (lambda d: d.update(batch="one"), "batch: got 'one'; allowed: an integer >= 1"),
    (lambda d: d.update(intercept=float("nan")), "intercept: got nan; allowed: a number >= 0"),
    (lambda d: d.update(unit="ms"), "unit: got 'ms'; allowed: microseconds"),
    (lambda d: d.update(hardsearch_latency_profile=2), "hardsearch_latency_profile: got 2; allowed: 1"),
    (lambda d: d.pop("hardsearch_latency_profile"), "not a latency profile"),
    (lambda d: d.update(device=""), "device: got ''; allowed: a non-empty string"),
    (lambda d: d.pop("cache_elements"), "cache_elements: got None; allowed: an integer >= 0"),
])
def test_bad_profiles_get_one_line_errors(tmp_path, change, message):
    path = _write(tmp_path, change)
    with pytest.raises(UserError) as err:
        load_profile(path)
    text = str(err.value)
    assert message in text and path in text and "\n" not in text


def test_missing_and_malformed_profiles(tmp_path):
    with pytest.raises(UserError, match=r"latency.profile: .*nope.yaml: no such file; allowed: a device"):
        load_profile(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("coefficients: [1, 2\n")
    with pytest.raises(UserError, match=r"bad.yaml: not readable YAML \(.*\); allowed"):
        load_profile(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="not a latency profile"):
        load_profile(bad)
