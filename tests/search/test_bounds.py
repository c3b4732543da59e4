"""hardsearch.search.bounds: the hypervolume bounds, fixed once per study from the space and the proxy."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import yaml
from optuna._hypervolume import compute_hypervolume
from optuna.trial import TrialState

import hardsearch.search.bounds as bounds_module
from hardsearch.accuracy.calibration import calibrate_scores
from hardsearch.accuracy.objective import AccuracyProxy, ProxyResult, reference_archs
from hardsearch.arch.costs import count_costs
from hardsearch.arch.space import load_space, seed_archs
from hardsearch.core.paths import ROOT
from hardsearch.report.writer import report_study
from hardsearch.search.bounds import COST_OBJECTIVES, corner_members, cost_bounds, proxy_bound
from hardsearch.study.bounds import STUDY_KEY, Bounds

from searching import run, small

FIXING = "fixing the hypervolume bounds"


@pytest.mark.parametrize("name", ["harmonic", "harmonic_ds"])
def test_cost_bounds_hold_every_seed_and_random_member(name):
    space = load_space(name)
    start = time.perf_counter()
    bounds = cost_bounds(space, ["proxy", *COST_OBJECTIVES, "latency"])
    assert time.perf_counter() - start < 5  # about 0.1 s alone on one core
    # neither the proxy nor the latency is a cost; latency_model is one only with a device profile
    assert list(bounds) == [o for o in COST_OBJECTIVES if o != "latency_model"]
    assert bounds["macs"].source == "the space's 24 corner members and 2 seeds"  # link_base x l2 x l3 blocks
    for arch in seed_archs(space) + space.sample(50, seed=1):
        costs = count_costs(arch, space.input_size)
        for objective, bound in bounds.items():
            assert bound.best <= getattr(costs, objective) <= bound.worst, (arch.name, objective)
    corners = {label: count_costs(arch, space.input_size).macs for label, arch in corner_members(space)}
    cheapest = min(corners, key=corners.get)
    assert cheapest.startswith("low ") and corners[cheapest] == bounds["macs"].best
    assert max(corners, key=corners.get).startswith("high ")


class StubProxy:
    """A zero-cost proxy by name whose score is the architecture's parameter count (one fails)."""

    name = "params"
    calibration = None

    def __init__(self, fail: str | None = None):
        self.fail, self.scored = fail, []

    def __call__(self, arch):
        self.scored.append(arch.name)
        if arch.name == self.fail:
            raise RuntimeError("out of memory")
        return ProxyResult(float(count_costs(arch, 32).params), {}, {})


def test_a_proxy_is_bounded_by_its_reference_sample_scored_once():
    space = load_space("harmonic")
    sample = reference_archs(space, random=8, seed=0)
    scores = [float(count_costs(arch, 32).params) for arch in sample]
    proxy = StubProxy()
    bound = proxy_bound(space, proxy, data=None)
    assert proxy.scored == [arch.name for arch in sample]  # the seeds + 8 random members (seed 0), once
    assert (bound.best, bound.worst) == (max(scores), min(scores))  # maximised: best is the highest
    assert bound.source == "params on the reference sample: the space's 2 seeds + 8 random members, seed 0"
    lowest = sample[int(np.argmin(scores))].name
    bound = proxy_bound(space, StubProxy(fail=lowest), data=None)  # a member it cannot score is left out
    assert bound.worst == sorted(scores)[1] and bound.source.endswith(", 1 not scored")


def test_ensemble_and_training_bounds_come_from_calibration_and_chance():
    scores = {"naswot": [1.0, 2.0, 3.0, 10.0], "synflow": [4.0, 1.0, 2.0, 3.0]}
    calibration = calibrate_scores(scores, reference=["a", "b", "c", "d"])
    ensemble = [calibration.ensemble({m: v[i] for m, v in scores.items()}) for i in range(4)]
    bound = proxy_bound(None, AccuracyProxy("ensemble", calibration=calibration), data=None)
    assert (bound.best, bound.worst) == (max(ensemble), min(ensemble))
    assert bound.source == "the ensemble's calibration: 4 reference architectures"

    class Data:
        num_classes = 10

    assert proxy_bound(None, AccuracyProxy("train"), data=Data()) == (1.0, 0.1, "chance (1/10) to 1")


def _hypervolume_by_hand(study, stored: dict, seeds_only: bool = False) -> float:
    """The hypervolume of every feasible complete trial (the same as of its front), normalised by
    hand with the stored bounds: (value - best) / (worst - best), reference 1.1."""
    objectives = study.metric_names
    points = [[(v - stored[o]["best"]) / (stored[o]["worst"] - stored[o]["best"])
               for o, v in zip(objectives, t.values, strict=True)]
              for t in study.get_trials() if t.state == TrialState.COMPLETE
              and all(c <= 0 for c in t.user_attrs.get("constraints", [])) and (t.user_attrs.get("seed")
                                                                                  or not seeds_only)]
    reference = np.full(len(objectives), 1.1)
    inside = np.array([p for p in points if all(x < 1.1 for x in p)])
    return float(compute_hypervolume(inside, reference)) if len(inside) else 0.0


def _tiny(options):
    options["space"] = yaml.safe_load((ROOT / "tests/spaces/tiny.yaml").read_text())
    return options


@pytest.mark.slow
@pytest.mark.parametrize("proxy,space", [("synflow", "harmonic"), ("ensemble", "tiny")])
def test_two_studies_of_the_same_space_and_proxy_normalise_their_hypervolume_alike(tmp_path, proxy, space):
    extra = ["proxy.members=[naswot,synflow]", "proxy.reference=4"] if proxy == "ensemble" else []
    results, lines = [], []
    for name, seed in (("first", 1), ("second", 2)):
        options = small(tmp_path / name, f"proxy={proxy}", *extra, "data=noise", f"study={name}",
                        f"seed={seed}", "sampler=random", trials=3 if space == "harmonic" else 5)
        results.append(run(_tiny(options) if space == "tiny" else options, lines))
    # a proxy without a calibration scores its reference sample once per study, and says so
    assert sum(line.startswith(FIXING) for line in lines) == (2 if proxy == "synflow" else 0)
    first, second = (r.study.user_attrs[STUDY_KEY] for r in results)
    assert first == second  # the same bounds, although the studies found different architectures
    drawn = [[t.params for t in r.study.get_trials()] for r in results]
    assert drawn[0] != drawn[1]
    assert first["space"] == space and first["proxy"] == proxy and list(first["objectives"]) == [
        "proxy", "macs", "cio"]
    reports = [json.loads((r.study_dir / "pareto.json").read_text()) for r in results]
    assert reports[0]["reference_point"] == reports[1]["reference_point"]
    assert reports[0]["bounds"] == reports[1]["bounds"] == {
        o: {**b, "fixed": True} for o, b in first["objectives"].items()}
    for result, report in zip(results, reports, strict=True):
        assert report["hypervolume_front"] == pytest.approx(
            _hypervolume_by_hand(result.study, first["objectives"]))
        assert report["hypervolume_seeds"] == pytest.approx(
            _hypervolume_by_hand(result.study, first["objectives"], seeds_only=True))
        assert report["reference_point"] == pytest.approx(
            [b["worst"] + 0.1 * (b["worst"] - b["best"]) for b in first["objectives"].values()])
        markdown = (result.study_dir / "report.md").read_text()
        assert "objectives normalised by bounds fixed by the space and the proxy's calibration" in markdown
        assert "so studies of the same space and proxy compare." in markdown
    summaries = [line for line in lines if line.startswith("\nhypervolume ")]  # the console says it too
    assert len(summaries) == 2 and all(
        "; bounds fixed in the study: compares with studies of the same space and proxy); wrote" in line
        for line in summaries)


def test_a_resumed_run_and_a_second_worker_read_the_stored_bounds(tmp_path, monkeypatch):
    lines = []
    first = run(small(tmp_path, "data=noise", trials=3), lines)
    stored = first.study.user_attrs[STUDY_KEY]
    assert lines[0] == ("fixing the hypervolume bounds on harmonic's corners, seeds and 8 random members "
                        "(proxy naswot) ...")
    assert Bounds.from_dict(stored).proxy == "naswot"
    assert set(stored["objectives"]) == {"proxy", "macs", "cio"}

    def refuse(*args, **kwargs):
        raise AssertionError("the bounds were computed again")

    monkeypatch.setattr(bounds_module, "study_bounds", refuse)
    again = []
    resumed = run(small(tmp_path, "data=noise", trials=4), again)
    other = run(small(tmp_path, "data=noise", "worker=second", trials=5), again)
    assert resumed.ran == 1 and other.ran == 1
    assert not [line for line in again if FIXING in line]
    assert other.study.user_attrs[STUDY_KEY] == stored

    # a study from before the bounds (none stored) still reports, normalised per study, and says so
    other.study.set_user_attr(STUDY_KEY, None)
    report, _ = report_study(other.study, other.study_dir)
    assert {o: b["fixed"] for o, b in report.bounds.items()} == {"proxy": False, "macs": False, "cio": False}
    markdown = (other.study_dir / "report.md").read_text()
    assert "- computed on objectives normalised per study, by the best and worst value over this study's " \
           "feasible trials" in markdown
    assert "(this study's feasible trials; the study stores no fixed bounds)" in markdown
    assert "thus not comparable with other studies' hypervolumes: proxy, macs, cio." in markdown
    assert "normalised per study" in (other.study_dir / "report.html").read_text()


def test_latency_model_bounds_hold_every_seed_and_random_member():
    """With a device profile, latency_model gets fixed bounds like a cost: predicted on the corners."""
    from hardsearch.arch.latency_model import TERMS, LatencyModel, LatencyProfile

    space = load_space("harmonic")
    model = LatencyModel(TERMS, (1e-5, 1e-3, 2e-4, 30.0, 1e-3, 2e-3), 500.0)
    profile = LatencyProfile(model, "Test CPU", "torch", 2, (224, 224), 1, cache_elements=2**21)
    bounds = cost_bounds(space, ["proxy", "macs", "latency_model"], profile)
    assert list(bounds) == ["macs", "latency_model"]
    bound = bounds["latency_model"]
    for arch in seed_archs(space) + space.sample(50, seed=2):
        assert bound.best <= profile.predict_us(arch) <= bound.worst, arch.name
    corners = [profile.predict_us(arch) for _, arch in corner_members(space)]
    assert bound.best == min(corners) and bound.worst == max(corners)
