"""The cost-aware sampler, its genome operators and its acquisition; seeds as parents of NSGA-II."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from hardsearch.arch.costs import count_costs
from hardsearch.arch.seeds import load_seed
from hardsearch.arch.space import load_space
from hardsearch.core.paths import ROOT
from hardsearch.search.acquisition import ehvi, hypervolume_improvement
from hardsearch.search.cost_aware import MODE_KEY, CostAwareSampler
from hardsearch.search.genome import crossover, genome_key, mutate, random_genome

from searching import run, small

FAST = ["sampler=cost_aware", "sampler.candidates=48", "sampler.n_startup_trials=4", "sampler.refit_every=3"]


# -- acquisition --------------------------------------------------------------------------------
@pytest.mark.parametrize("costs", [1, 2, 3])
def test_ehvi_is_the_exact_improvement_when_certain_and_its_mean_when_not(costs):
    rng = np.random.default_rng(costs)
    front = rng.random((6, 1 + costs))
    reference = np.full(1 + costs, 1.1)
    cand = rng.random((4, costs))
    mean = rng.random(4)
    certain = ehvi(mean, np.full(4, 1e-12), cand, front, reference)
    exact = [hypervolume_improvement(np.r_[mean[c], cand[c]], front, reference) for c in range(4)]
    assert certain == pytest.approx(exact, abs=1e-12)
    sd = np.full(4, 0.2)
    expected = ehvi(mean, sd, cand, front, reference)
    draws = rng.normal(size=3000)
    sampled = [np.mean([hypervolume_improvement(np.r_[mean[c] + sd[c] * z, cand[c]], front, reference)
                        for z in draws]) for c in range(4)]
    assert expected == pytest.approx(sampled, abs=2e-3)
    assert (expected > 0).any()


def test_ehvi_of_a_dominated_or_outside_candidate_is_zero():
    front = np.array([[0.1, 0.1, 0.1]])
    reference = np.full(3, 1.1)
    got = ehvi(np.array([0.5, 0.0]), np.full(2, 1e-12), np.array([[0.5, 0.5], [1.2, 0.0]]), front, reference)
    assert got == pytest.approx([0.0, 0.0], abs=1e-12)


# -- genome operators ----------------------------------------------------------------------------
def test_operators_stay_in_the_space_and_are_reproducible():
    space = load_space("harmonic")
    genes = dict(space.genes())
    h68, h85 = (space.encode(load_seed(n)) for n in ("hardnet68", "hardnet85"))
    rng = np.random.default_rng(0)
    children = ([random_genome(space, rng) for _ in range(40)] + [mutate(space, h68, rng) for _ in range(40)]
                + [crossover(space, h68, h85, rng) for _ in range(40)])
    for child in children:
        assert list(child) == list(genes)  # fixed length, genome order
        assert all(genes[k].contains(v) for k, v in child.items())
        space.decode(child)
    changed = [sum(a != b for a, b in zip(h68.values(), mutate(space, h68, rng).values(), strict=True))
               for _ in range(50)]
    # at least one gene is redrawn; only a step past the end of a range leaves it where it was
    assert sum(c == 0 for c in changed) <= 5 and max(changed) >= 2
    again = np.random.default_rng(0)
    assert [random_genome(space, again) for _ in range(40)] == children[:40]


# -- the sampler on plain data -------------------------------------------------------------------
def _history(space, n, seed=0):
    """n scored trials of random members (proxy = a made-up score that grows with width)."""
    rng = np.random.default_rng(seed)
    trials = []
    for number in range(n):
        genome = random_genome(space, rng)
        arch = space.decode(genome)
        costs = count_costs(arch, space.input_size)
        score = float(np.log(costs.params)) + 0.1 * rng.normal()
        trials.append(optuna.trial.create_trial(params=genome, distributions={
            k: d for k, d in CostAwareSampler(space, ["proxy", "macs", "cio"], {})._space.items()},
            values=[score, costs.macs, costs.cio], user_attrs={"constraints": []}))
        trials[-1].number = number
    return trials


def test_proposals_respect_the_limits_and_are_new():
    space = load_space("harmonic")
    history = _history(space, 14)
    limit = float(np.median([t.values[1] for t in history]))
    sampler = CostAwareSampler(space, ["proxy", "macs", "cio"], {"macs": limit}, candidates=64,
                               n_startup_trials=4)
    seen = {genome_key(space, space.complete(t.params)) for t in history}
    for k in range(6):
        genome, mode, info = sampler.propose(history, np.random.default_rng(k))
        assert mode == "model" and info["candidates"] > 0
        assert count_costs(space.decode(genome), space.input_size).macs <= limit
        assert genome_key(space, genome) not in seen


def test_local_search_on_the_acquisition_only_adds_better_candidates():
    """Refinement rounds try mutants of the best candidates: the pool before them is the same, so
    the chosen point's EHVI can only rise, and a refined point is chosen only when it is better."""
    space = load_space("harmonic")
    history = _history(space, 14)
    chosen = {}
    for rounds in (0, 3):
        sampler = CostAwareSampler(space, ["proxy", "macs", "cio"], {}, candidates=64, n_startup_trials=4,
                                   refine_rounds=rounds, refine_top=4)
        chosen[rounds] = [sampler.propose(history, np.random.default_rng(k))[2] for k in range(5)]
    for plain, refined in zip(chosen[0], chosen[3], strict=True):
        assert refined["candidates"] > plain["candidates"]
        assert refined["ehvi"] >= plain["ehvi"] - 1e-12
        assert plain["from"] != "refined"
        if refined["from"] != "refined":
            assert refined["ehvi"] == pytest.approx(plain["ehvi"])
    pairs = zip(chosen[0], chosen[3], strict=True)
    assert any(r["from"] == "refined" and r["ehvi"] > p["ehvi"] for p, r in pairs)


def test_startup_spreads_and_latency_objective_falls_back_to_evolution():
    space = load_space("harmonic")
    history = _history(space, 3)
    sampler = CostAwareSampler(space, ["proxy", "macs", "cio"], {}, candidates=32, n_startup_trials=4)
    assert sampler.propose(history, np.random.default_rng(0))[1] == "startup"
    measured = CostAwareSampler(space, ["proxy", "macs", "latency"], {}, candidates=32)
    genome, mode, info = measured.propose(_history(space, 12), np.random.default_rng(0))
    assert mode == "evolution" and info["from"] in ("mutation", "crossover")


# -- the sampler in real searches ----------------------------------------------------------------
def _digests(study):
    return [t.user_attrs.get("digest") for t in sorted(study.get_trials(), key=lambda t: t.number)]


def test_same_seed_same_search_and_the_model_takes_over(tmp_path):
    first = run(small(tmp_path / "a", *FAST, "seed=3", trials=10))
    second = run(small(tmp_path / "b", *FAST, "seed=3", trials=10))
    other = run(small(tmp_path / "c", *FAST, "seed=4", trials=10))
    assert _digests(first.study) == _digests(second.study)
    assert _digests(first.study) != _digests(other.study)
    modes = [t.system_attrs.get(MODE_KEY, {}).get("mode") for t in first.study.get_trials()]
    assert modes[:2] == [None, None]  # the seeds, queued
    assert "startup" in modes and "model" in modes
    assert len(set(_digests(first.study))) == 10


def test_limits_are_kept_without_calling_the_proxy(tmp_path, monkeypatch):
    from hardsearch.accuracy.objective import AccuracyProxy

    calls = []
    original = AccuracyProxy.__call__

    def counting(self, arch, **kwargs):
        calls.append(arch.name)
        return original(self, arch, **kwargs)

    monkeypatch.setattr(AccuracyProxy, "__call__", counting)
    limit = 1.5e9  # below both seeds (HarDNet-68 4.3 G, HarDNet-85 9.1 G MACs at 224x224)
    result = run(small(tmp_path, *FAST, f"constraints.macs={limit}", trials=10))
    trials = result.study.get_trials()
    found = [t for t in trials if not t.user_attrs.get("seed")]
    assert all(t.user_attrs["macs"] <= limit for t in found)  # never proposed over the limit
    assert not any("infeasible" in t.user_attrs for t in found)
    assert all(t.user_attrs.get("infeasible") for t in trials if t.user_attrs.get("seed"))
    # the proxy ran for the proposals only, never for an over-limit one (other calls: the reference
    # sample that fixes the hypervolume bounds, scored once before the first trial)
    assert len([c for c in calls if re.search(r"-t\d+$", c)]) == len(found)


def test_resume_goes_on_with_the_same_study(tmp_path):
    run(small(tmp_path, *FAST, trials=7))
    result = run(small(tmp_path, *FAST, trials=12))
    trials = result.study.get_trials()
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 12
    assert len(set(_digests(result.study))) == 12  # the resumed sampler does not propose a trial again
    assert any(t.system_attrs.get(MODE_KEY, {}).get("mode") == "model" for t in trials if t.number >= 7)


@pytest.mark.slow
def test_two_workers_share_one_storage(tmp_path):
    """Two processes at once on one SQLite study: exactly the budget, both work, no trial twice."""
    args = ["+space=harmonic", "proxy=naswot", *FAST, "budget.n_trials=14", "logger=none", "study=pair",
            f"storage.url=sqlite:///{tmp_path / 'pair.db'}", "storage=url"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-m", "hardsearch", *args, f"worker=w{i}",
                               f"dir={tmp_path / f'w{i}'}"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
             for i in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    study = optuna.load_study(study_name="pair", storage=f"sqlite:///{tmp_path / 'pair.db'}")
    trials = study.get_trials()
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 14
    assert {t.user_attrs["worker"] for t in trials} == {"w0", "w1"}
    assert len(set(_digests(study))) == 14


# -- seeds as parents of the evolutionary samplers ---------------------------------------------
@pytest.mark.parametrize("sampler", ["nsga2", "nsga3"])
def test_seeds_are_parents_of_the_second_generation(tmp_path, sampler):
    key = "NSGAIISampler" if sampler == "nsga2" else "NSGAIIISampler"
    run(small(tmp_path, f"sampler={sampler}", "sampler.population_size=4", trials=6))
    result = run(small(tmp_path, f"sampler={sampler}", "sampler.population_size=4", trials=11))  # resumed
    study = result.study
    trials = sorted(study.get_trials(), key=lambda t: t.number)
    seeds = [t for t in trials if t.user_attrs.get("seed")]
    assert [t.system_attrs.get(f"{key}:generation") for t in seeds] == [0, 0]
    assert all(f"{key}:generation" in t.system_attrs for t in trials)
    parents = study._storage.get_study_system_attrs(study._study_id)[f"{key}:parent:1"]
    assert {t._trial_id for t in seeds} <= set(parents)
