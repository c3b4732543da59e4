"""Successive halving by Pareto rank (``proxy=train proxy.schedule=sha|hyperband``), the screen, resume,
two workers, and the samplers on pruned trials.

The decisions of real searches (the tiny space, real training on the packaged images) are held to
:func:`check_decisions`, which ranks every recorded decision again from the stored rung values of
the trials it says it was ranked with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState, create_trial

from hardsearch.accuracy.data import load_data
from hardsearch.accuracy.schedule import Schedule, Screen
from hardsearch.accuracy.training import TrainSettings, train_arch
from hardsearch.arch.config import arch_from_dict
from hardsearch.core.errors import UserError
from hardsearch.core.paths import ROOT
from hardsearch.search import halving as halving_module
from hardsearch.search.halving import Halving, screen_decision
from hardsearch.study.ranking import in_top

from searching import run, small

TINY = yaml.safe_load((ROOT / "tests/spaces/tiny.yaml").read_text())
RECIPE = ("proxy=train", "proxy.epochs=3", "proxy.batch_size=100", "proxy.lr=0.05", "proxy.threads=1")
SHA = Schedule("sha", 1, 3, 9)


def tiny(tmp_path, *overrides, trials=8, schedule="sha"):
    options = small(tmp_path, *RECIPE, f"proxy.schedule={schedule}", "sampler=random", *overrides,
                    trials=trials)
    options["space"] = dict(TINY)
    return options


def rung(epochs, accuracy, decision="promoted", bracket=0):
    return {"epochs": epochs, "accuracy": accuracy, "bracket": bracket, "decision": decision}


def add(study, state, accuracy, macs, cio, *, rungs=None, epochs=1):
    attrs = {"macs": macs, "cio": cio, "rungs": rungs if rungs is not None else [rung(epochs, accuracy)]}
    values = [accuracy, macs, cio] if state == TrialState.COMPLETE else None
    study.add_trial(create_trial(state=state, values=values, user_attrs=attrs))
    return study.trials[-1].number


@pytest.fixture
def hand_study():
    """Competitors at rung 1, as in tests/study/test_ranking.py: A, B, C complete or pruned, D pruned, and
    trials that must not count: a failed one, one of another bracket, one only at rung 3."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    numbers = {
        "A": add(study, TrialState.COMPLETE, 0.30, 1.0, 1.0),
        "B": add(study, TrialState.PRUNED, 0.20, 2.0, 2.0),
        "C": add(study, TrialState.COMPLETE, 0.25, 0.5, 3.0),
        "D": add(study, TrialState.PRUNED, 0.10, 3.0, 3.0),
        "failed": add(study, TrialState.FAIL, 0.99, 0.1, 0.1),
        "other bracket": add(study, TrialState.PRUNED, 0.99, 0.1, 0.1, rungs=[rung(1, 0.99, bracket=1)]),
        "rung 3 only": add(study, TrialState.PRUNED, 0.99, 0.1, 0.1, rungs=[rung(3, 0.99)]),
    }
    return study, numbers


def halving(study, costs, *, seed=False, schedule=SHA, bracket=0, decided=()):
    recorded = []
    rule = Halving(schedule, number=999, bracket=bracket, costs=costs, cost_names=["macs", "cio"],
                   trials=lambda: study.get_trials(deepcopy=False), record=recorded.append, seed=seed,
                   decided=decided)
    return rule, recorded


def test_a_dominated_candidate_stops_as_computed_by_hand(hand_study):
    study, n = hand_study
    rule, recorded = halving(study, [1.5, 1.5])
    # X = (0.22, 1.5, 1.5): A and C in front 1, X in front 2; 5 at the rung, eta 3: the top holds 1
    reason = rule(1, 0.22)
    entry = rule.entries[-1]
    assert entry["decision"] == "stopped"
    assert (entry["n"], entry["k"], entry["ahead"], entry["front"]) == (5, 1, 2, 2)
    assert entry["against"] == [n["A"], n["B"], n["C"], n["D"]]
    assert reason == ("rung 1 epochs: held-out accuracy 22.00% has Pareto rank (front 2) with 2 of 5 trials "
                      "ahead at this rung; the top 1/3 holds 1")
    # reported before it was ranked (other workers see it), then with the decision
    assert recorded[0][-1]["decision"] == "pending" and recorded[-1][-1]["decision"] == "stopped"


def test_a_candidate_in_front_one_goes_on(hand_study):
    study, _ = hand_study
    rule, _ = halving(study, [1.2, 1.2])
    assert rule(1, 0.35) is None  # front 1 with A and C, all at infinite crowding distance: nobody ahead
    assert rule.entries[-1]["decision"] == "promoted" and rule.entries[-1]["ahead"] == 0
    assert rule(2, 0.4) is None and len(rule.entries) == 1  # not a rung: nothing decided
    assert rule.last_promoted == 1


def test_seeds_are_trained_in_full_but_ranked(hand_study):
    study, _ = hand_study
    rule, _ = halving(study, [1.5, 1.5], seed=True)
    assert rule(1, 0.22) is None
    entry = rule.entries[-1]
    assert entry["decision"] == "promoted" and entry["ahead"] == 2 and "seed" in entry["why"]


def test_running_trials_count_and_decisions_made_stand(hand_study):
    study, n = hand_study
    running = study.ask()  # another worker's trial, still training, already past rung 1
    running.set_user_attr("macs", 0.1)
    running.set_user_attr("cio", 0.1)
    running.set_user_attr("rungs", [rung(1, 0.5)])
    rule, _ = halving(study, [1.2, 1.2])
    rule(1, 0.35)
    # R = (0.5, 0.1, 0.1) dominates everyone, X included: X is in front 2 with R alone ahead; 6 at the
    # rung, the top third holds 2 -> X goes on
    entry = rule.entries[-1]
    assert running.number in entry["against"] and entry["decision"] == "promoted"
    assert (entry["n"], entry["k"], entry["ahead"], entry["front"]) == (6, 2, 1, 2)
    # an earlier run of the same trial was promoted here: that decision is kept, not taken again
    again, _ = halving(study, [1.2, 1.2], decided=[dict(rung(1, 0.35), n=5)])
    assert again(1, 0.35) is None and again.entries == [dict(rung(1, 0.35), n=5)]


def test_hyperband_ranks_within_the_bracket(hand_study):
    study, n = hand_study
    rule, _ = halving(study, [1.5, 1.5], schedule=Schedule("hyperband", 1, 3, 9), bracket=1)
    assert rule.ladder == (3, 9)
    assert rule(1, 0.1) is None and not rule.entries  # bracket 1 starts at 3 epochs
    rule(3, 0.22)
    assert rule.entries[-1]["against"] == [] and rule.entries[-1]["decision"] == "promoted"
    rule1, _ = halving(study, [1.5, 1.5], schedule=Schedule("hyperband", 1, 3, 9), bracket=1)
    rule1.decide(1, 0.1)  # (asked directly) at rung 1 of bracket 1 only the other-bracket trial counts
    assert rule1.entries[-1]["against"] == [n["other bracket"]]


def test_screen_decisions_by_hand():
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for score, macs, cio in ((0.9, 1.0, 1.0), (0.5, 2.0, 2.0), (0.1, 3.0, 3.0)):
        study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={
            "macs": macs, "cio": cio, "screen": {"score": score, "passed": True}}))
    trials = study.get_trials()
    screen = Screen("naswot", 1 / 3, 3)
    # (0.6, 1.5, 1.5): front 2 behind (0.9, 1, 1); 4 screened, the top third holds 1 -> not trained
    entry = screen_decision(screen, 0.6, {"macs": 1.5, "cio": 1.5}, trials, number=9,
                            cost_names=["macs", "cio"], seed=False)
    assert (entry["passed"], entry["n"], entry["k"], entry["ahead"], entry["front"]) == (False, 4, 1, 1, 2)
    assert screen_decision(screen, 0.95, {"macs": 1.5, "cio": 1.5}, trials, number=9,
                           cost_names=["macs", "cio"], seed=False)["passed"]
    assert screen_decision(screen, 0.0, {"macs": 9, "cio": 9}, trials, number=9, cost_names=["macs", "cio"],
                           seed=True)["passed"]
    few = Screen("naswot", 1 / 3, 4)  # only 3 screened before: everyone is trained
    assert screen_decision(few, 0.0, {"macs": 9, "cio": 9}, trials, number=9, cost_names=["macs", "cio"],
                           seed=False)["why"] == "fewer than 4 screened before"


def test_samplers_accept_pruned_trials_in_a_multi_objective_study():
    """NSGA-II and TPE (and the cost-aware sampler, in the searches below) must go on after pruned trials."""
    for sampler in (optuna.samplers.NSGAIISampler(seed=0, population_size=4),
                    optuna.samplers.TPESampler(seed=0, n_startup_trials=2)):
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
        for i in range(12):
            trial = study.ask()
            x = trial.suggest_float("x", 0, 1)
            trial.suggest_int("depth", 1, 8)
            if i % 3:
                study.tell(trial, state=TrialState.PRUNED)
            else:
                study.tell(trial, [x, 1 - x])
        assert len(study.get_trials(states=(TrialState.PRUNED,))) == 8


# -- real searches ------------------------------------------------------------------------------------------
def check_decisions(study: optuna.Study) -> int:
    """Rank every recorded decision again from the rung values of the trials it names; the number checked."""
    trials = {t.number: t for t in study.get_trials()}
    objectives = study.user_attrs["hardsearch.objectives"]
    costs = [o for o in objectives if o != "proxy"]
    eta = study.user_attrs["hardsearch.proxy"]["schedule"]["eta"]
    checked = 0
    for t in trials.values():
        for entry in t.user_attrs.get("rungs") or ():
            others = []
            for number in entry["against"]:
                other = next(e for e in trials[number].user_attrs["rungs"]
                             if e["epochs"] == entry["epochs"] and e["bracket"] == entry["bracket"])
                others.append(([trials[number].user_attrs[c] for c in costs], other["accuracy"]))
            points = [[-a, *c] for c, a in others] + [[-entry["accuracy"], *(t.user_attrs[c] for c in costs)]]
            promote, k, ahead, front, _ = in_top(points, len(points) - 1, 1 / eta)
            assert (entry["n"], entry["k"], entry["ahead"], entry["front"]) == (len(points), k, ahead, front)
            if entry["decision"] != "final":
                assert entry["decision"] == ("promoted" if promote or t.user_attrs.get("seed") else "stopped")
            checked += 1
    return checked


def outcome(study):
    return [(t.state.name, t.params, [(e["epochs"], e["decision"]) for e in t.user_attrs.get("rungs", [])],
             t.user_attrs.get("accuracy_per_epoch")) for t in study.get_trials()]


@pytest.mark.slow
def test_a_search_with_successive_halving(tmp_path):
    result = run(tiny(tmp_path))
    study = result.study
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(trials) == 8 and pruned and complete
    assert check_decisions(study) >= len(trials)
    for t in pruned:  # its reason, the accuracy per epoch it reached, and its objectives there
        assert t.user_attrs["pruned_reason"].startswith("rung 1 epochs: held-out accuracy")
        assert len(t.user_attrs["accuracy_per_epoch"]) == 1
        assert t.user_attrs["fidelity"] == {"epochs": 1, "budget": 3, "full": False}
        reached = [t.user_attrs["accuracy_per_epoch"][0], t.user_attrs["macs"], t.user_attrs["cio"]]
        assert t.user_attrs["fidelity_values"] == reached
    for t in complete:
        assert [e["decision"] for e in t.user_attrs["rungs"]] == ["promoted", "final"]
        per_epoch = t.user_attrs["accuracy_per_epoch"]
        assert t.values[0] == per_epoch[-1] and len(per_epoch) == 3
    assert not list((tmp_path / "study" / "checkpoints").glob("*.pt"))  # removed once a trial ends
    report = json.loads((tmp_path / "study" / "pareto.json").read_text())
    assert report["fidelity"]["budget"] == 3 and all(row["epochs"] in (1, 3) for row in report["front"])
    # the same seed with one worker: the same decisions
    again = run(tiny(tmp_path / "again")).study
    assert outcome(again) == outcome(study)
    # resumed with another schedule: refused, nothing changed
    before = outcome(study)
    with pytest.raises(UserError, match=r"proxy.schedule: got None, but the study's scores were measured"):
        run(tiny(tmp_path, "budget.n_trials=9", schedule="null"))
    assert outcome(study) == before


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["nsga2", "tpe"])
def test_generic_samplers_run_on_with_pruned_trials(tmp_path, sampler):
    options = tiny(tmp_path, f"sampler={sampler}", trials=10)
    if sampler == "nsga2":
        options["sampler"]["population_size"] = 4
    study = run(options).study
    states = [t.state for t in study.get_trials()]
    assert states.count(TrialState.PRUNED) >= 3 and TrialState.FAIL not in states and len(states) == 10
    check_decisions(study)


@pytest.mark.slow
def test_hyperband_and_the_screen(tmp_path):
    options = tiny(tmp_path, "proxy.screen={proxy: naswot, top: 0.5, min_trials: 2}", trials=10,
                   schedule="hyperband")
    study = run(options).study
    trials = study.get_trials()
    screened_out = [t for t in trials if t.user_attrs.get("pruned_reason", "").startswith("screen: naswot")]
    assert screened_out, [t.user_attrs.get("pruned_reason") for t in trials]
    for t in screened_out:
        assert "accuracy_per_epoch" not in t.user_attrs and not t.user_attrs["screen"]["passed"]
    trained = [t for t in trials if t.user_attrs.get("screen", {}).get("passed")]
    assert all("accuracy_per_epoch" in t.user_attrs for t in trained)
    # rungs 1 -> 3: bracket 0 gets 3 trials of every 5, bracket 1 (trained in full, ranked at 3) gets 2
    for t in trained:
        assert t.user_attrs["bracket"] == (0 if t.number % 5 < 3 else 1)
        if t.user_attrs["bracket"] == 1:
            assert t.state == TrialState.COMPLETE and [e["epochs"] for e in t.user_attrs["rungs"]] == [3]
    check_decisions(study)
    # the screen's decisions, again from what it recorded
    for t in trials:
        entry = t.user_attrs.get("screen")
        if entry and "k" in entry:
            others = [trials[n] for n in entry["against"]]
            points = [[-o.user_attrs["screen"]["score"], o.user_attrs["macs"], o.user_attrs["cio"]]
                      for o in others]
            points.append([-entry["score"], t.user_attrs["macs"], t.user_attrs["cio"]])
            assert in_top(points, len(points) - 1, 0.5)[0] == entry["passed"]


@pytest.mark.slow
def test_resume_continues_a_promoted_candidate_from_its_rung(tmp_path, monkeypatch):
    save = halving_module.Checkpoints.save
    calls = []

    def save_then_interrupt(self, digest, epoch, state):  # Ctrl-C right after the rung's state is saved
        path = save(self, digest, epoch, state)
        calls.append(epoch)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(halving_module.Checkpoints, "save", save_then_interrupt)
    options = tiny(tmp_path, trials=2)
    first = run(options)
    assert first.interrupted
    trials = first.study.get_trials()
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs["rungs"][0]["decision"] == "promoted"
    assert len(list((tmp_path / "study" / "checkpoints").glob("*-e1.pt"))) == 1
    # meanwhile a far better and cheaper candidate reached rung 1: ranked again, trial 0 would stop there
    first.study.add_trial(create_trial(state=TrialState.COMPLETE, values=[0.99, 1.0, 1.0], user_attrs={
        "macs": 1.0, "cio": 1.0, "rungs": [rung(1, 0.99), rung(3, 0.99, "final")]}))
    result = run(options)
    assert not result.interrupted
    retried = next(t for t in result.study.get_trials() if t.user_attrs.get("requeued_from") == 0)
    assert retried.state == TrialState.COMPLETE
    assert retried.user_attrs["resumed_from_epoch"] == 1  # from the saved state, not from scratch
    assert retried.user_attrs["rungs"][0] == trials[0].user_attrs["rungs"][0]  # the decision stands
    # and it learnt exactly what training that never stopped learns
    data = load_data("cifar10_sample", resolution=32)
    whole = train_arch(arch_from_dict(retried.user_attrs["arch"]), data,
                       TrainSettings(epochs=3, batch_size=100, lr=0.05, threads=1))
    assert tuple(retried.user_attrs["accuracy_per_epoch"]) == whole.per_epoch
    assert not list((tmp_path / "study" / "checkpoints").glob("*.pt"))


WORKER = textwrap.dedent("""
    import sys, yaml
    sys.path.insert(0, {tests!r})
    from searching import compose_search
    from hardsearch.app import run_search
    options = compose_search("+space=harmonic", "proxy=train", "proxy.epochs=3", "proxy.batch_size=100",
                             "proxy.lr=0.05", "proxy.threads=1", "proxy.schedule=sha", "sampler=random",
                             "budget.n_trials=12", "logger=none", "storage=url", "storage.url={url}",
                             "study=sha", "worker={name}", "dir={folder}", "seed={seed}")
    options["space"] = yaml.safe_load(open({space!r}).read())
    run_search(options)
""")


@pytest.mark.slow
def test_two_workers_on_one_storage_decide_consistently(tmp_path, postgres):
    procs = []
    for i, name in enumerate(("w1", "w2")):
        code = WORKER.format(tests=str(ROOT / "tests"), url=postgres.url_without_password, name=name,
                             folder=str(tmp_path / name), seed=i, space=str(ROOT / "tests/spaces/tiny.yaml"))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PGPASSWORD": postgres.password}
        procs.append(subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env))
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    study = optuna.load_study(study_name="sha", storage=postgres.url)
    trials = study.get_trials()
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 12
    assert {t.user_attrs.get("worker") for t in trials} == {"w1", "w2"}
    assert check_decisions(study) >= 12
    # a worker ranks what the other had reported: some decision names a trial of the other worker
    crossed = [t for t in trials for e in t.user_attrs.get("rungs", ())
               if any(trials[n].user_attrs["worker"] != t.user_attrs["worker"] for n in e["against"])]
    assert crossed


def test_the_report_tool_parses_full_budget():
    conf = yaml.safe_load((ROOT / "conf/report.yaml").read_text())
    assert conf["full_budget"] is False
    assert Path(ROOT / "conf/proxy/train.yaml").read_text().count("schedule: null") == 1


def test_a_retried_trial_knows_its_origin(tmp_path):
    """After a dead worker, Optuna's retry carries the failed trial's number in a system attribute that a live
    trial no longer shows; after Ctrl-C, the requeue carries it as a user attribute."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", directions=["maximize", "minimize"])
    study.add_trial(create_trial(state=TrialState.WAITING, params={}, distributions={},
                                 system_attrs={"failed_trial": 7}))
    study.enqueue_trial({}, user_attrs={"requeued_from": 3})
    first, second = study.ask(), study.ask()
    assert halving_module.origin_of(first) == 7 and halving_module.origin_of(second) == 3
    assert halving_module.origin_of(study.ask()) is None


def test_the_cost_aware_sampler_learns_from_one_rung():
    """BOHB's rule: the highest rung n_startup_trials finished trials reached, each at its accuracy there."""
    from hardsearch.study.fidelity import at_rung, model_rung

    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    full = [rung(1, 0.2), rung(3, 0.5, "final")]
    add(study, TrialState.COMPLETE, 0.5, 1.0, 2.0, rungs=full)
    add(study, TrialState.PRUNED, 0.1, 3.0, 4.0)
    add(study, TrialState.PRUNED, 0.3, 5.0, 6.0)
    add(study, TrialState.FAIL, 0.9, 0.1, 0.1)  # never counts
    trials = study.get_trials()
    assert model_rung(trials, 3) == 1 and model_rung(trials, 1) == 3 and model_rung(trials, 9) == 1
    assert model_rung(study.get_trials()[:0], 1) is None
    seen = at_rung(trials, 1, ["proxy", "macs", "cio"])
    assert [(t.number, t.state, t.values) for t in seen] == [
        (0, TrialState.COMPLETE, [0.2, 1.0, 2.0]), (1, TrialState.COMPLETE, [0.1, 3.0, 4.0]),
        (2, TrialState.COMPLETE, [0.3, 5.0, 6.0])]
    assert [t.values for t in at_rung(trials, 3, ["proxy", "macs", "cio"])] == [[0.5, 1.0, 2.0]]
    assert study.get_trials()[1].state == TrialState.PRUNED  # stored trials unchanged


@pytest.mark.slow
def test_the_default_sampler_under_successive_halving(tmp_path):
    options = tiny(tmp_path, "sampler=cost_aware", "sampler.n_startup_trials=3", "sampler.candidates=32",
                   trials=9)
    study = run(options).study
    trials = study.get_trials()
    assert len(trials) == 9 and TrialState.FAIL not in {t.state for t in trials}
    modes = [(t.system_attrs.get("cost_aware:mode") or {}).get("mode") for t in trials]
    assert "model" in modes  # the surrogate was fitted on rung-1 accuracies of stopped candidates too
    assert len({t.user_attrs["digest"] for t in trials}) == 9  # no candidate proposed twice
    check_decisions(study)
