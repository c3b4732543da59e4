"""The search end to end: real configs composed with Hydra, shrunk to a few trials."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from hardsearch.accuracy.objective import ProxyResult
from hardsearch.core.errors import UserError
from hardsearch.core.paths import ROOT
from hardsearch.search import run as search_module

from searching import run, small

SPACES = {"harmonic": ["hardnet68", "hardnet85"], "harmonic_ds": ["hardnet39ds", "hardnet68ds"]}


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["cost_aware", "nsga2", "nsga3", "tpe", "random", "gp"])
@pytest.mark.parametrize("space", list(SPACES))
def test_short_search_for_every_space_and_sampler(tmp_path, space, sampler):
    extra = ["sampler.population_size=4"] if sampler.startswith("nsga") else []
    if sampler in ("tpe", "gp"):
        extra = ["sampler.n_startup_trials=3"]
    result = run(small(tmp_path, f"sampler={sampler}", *extra, space=space, trials=6))
    trials = result.study.get_trials()
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    assert [t.user_attrs.get("seed") for t in trials[:2]] == SPACES[space]  # seeds run first, once
    assert sum("seed" in t.user_attrs for t in trials) == 2
    assert result.study.metric_names == ["proxy", "macs", "cio"]
    assert result.front and (result.study_dir / "pareto.csv").is_file()
    seed_trial = trials[0]
    assert seed_trial.user_attrs["macs"] == seed_trial.values[1]
    assert seed_trial.user_attrs["arch"]["name"] == SPACES[space][0]


def test_seed_trials_evaluate_the_published_models(tmp_path):
    result = run(small(tmp_path, trials=2))
    h68, h85 = result.study.get_trials()
    assert (h68.values[1], h68.values[2]) == (4_246_114_304, 11_468_940)
    assert (h85.values[1], h85.values[2]) == (9_074_081_584, 17_469_284)
    assert h68.user_attrs["arch"] == yaml.safe_load((ROOT / "search_spaces/archs/hardnet68.yaml").read_text())


def test_resume_runs_only_the_missing_trials(tmp_path):
    first = run(small(tmp_path, trials=4))
    assert first.ran == 4
    lines = []
    again = run(small(tmp_path, trials=7), lines)
    assert again.ran == 3
    assert "4 of 7 trials done; running 3 more" in lines[0]
    trials = again.study.get_trials()
    assert len(trials) == 7 and sum("seed" in t.user_attrs for t in trials) == 2  # not re-queued
    digests = [t.user_attrs["digest"] for t in trials]
    assert len(set(digests)) == len(digests)  # the resumed sampler does not replay earlier draws
    done = run(small(tmp_path, trials=7), lines)
    assert done.ran == 0 and "nothing left to run" in lines[-4] or any("nothing left" in x for x in lines)


def test_same_seed_same_architectures(tmp_path):
    def sequence(folder, seed):
        result = run(small(folder, f"seed={seed}", trials=8))
        return [t.user_attrs["digest"] for t in result.study.get_trials()]

    a = sequence(tmp_path / "a", 3)
    assert a == sequence(tmp_path / "b", 3)
    assert a[2:] != sequence(tmp_path / "c", 4)[2:]


def test_journal_storage(tmp_path):
    result = run(small(tmp_path, "storage=journal", trials=3))
    assert (result.study_dir / "journal.log").is_file()
    assert run(small(tmp_path, "storage=journal", trials=4)).ran == 1


def test_any_sqlalchemy_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = run(small(tmp_path, "storage=url", f"storage.url={url}", trials=3))
    assert (tmp_path / "elsewhere.db").is_file() and not (result.study_dir / "study.db").exists()
    assert len(optuna.load_study(study_name="harmonic", storage=url).trials) == 3


class FlakyProxy:
    """Fails on its second call and returns NaN on its third; fine otherwise."""

    name = "flaky"

    def __init__(self):
        self.calls = 0

    def stop_rule(self, trials, *, exclude=None):
        return None

    def __call__(self, arch, *, stop=None, on_epoch=None):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("out of memory while scoring\nsecond line")
        value = math.nan if self.calls == 3 else float(self.calls)
        return ProxyResult(value, {}, {}, seconds=0.0)


def test_a_failing_candidate_does_not_stop_the_search(tmp_path, monkeypatch):
    proxy = FlakyProxy()
    monkeypatch.setattr(search_module, "create_proxy", lambda *a, **k: proxy)
    # the hypervolume bounds would score a reference sample with this proxy first: not the point here
    monkeypatch.setattr(search_module, "load_or_fix_bounds", lambda *a, **k: (None, False))
    result = run(small(tmp_path, trials=6))
    trials = result.study.get_trials()
    assert [t.state for t in trials].count(TrialState.FAIL) == 2
    assert trials[1].user_attrs["fail_reason"] == "proxy flaky: RuntimeError: out of memory while scoring"
    assert trials[2].user_attrs["fail_reason"] == "proxy flaky: the score is nan"
    assert len(trials) == 6 and trials[-1].state == TrialState.COMPLETE


def test_limits_skip_the_proxy_and_mark_infeasible(tmp_path, monkeypatch):
    proxy = FlakyProxy()
    proxy.calls = 10  # never fails
    monkeypatch.setattr(search_module, "create_proxy", lambda *a, **k: proxy)
    monkeypatch.setattr(search_module, "load_or_fix_bounds", lambda *a, **k: (None, False))  # counted below
    result = run(small(tmp_path, "constraints.macs=5e9", trials=8))
    trials = result.study.get_trials()
    over = [t for t in trials if t.user_attrs["macs"] > 5e9]
    assert over and trials[1].user_attrs.get("seed") == "hardnet85" and trials[1] in over
    for t in over:
        assert t.user_attrs["infeasible"].startswith("over the limit: macs")
        assert t.values[0] == -math.inf and "proxy_seconds" not in t.user_attrs
        assert t.constraints["macs"] > 0  # what NSGA-II ranks infeasible trials by
    assert proxy.calls == 10 + len(trials) - len(over)  # the proxy ran for the feasible ones only
    assert not set(t.number for t in over) & set(t.number for t in result.front)


def test_extra_objectives_and_user_seeds(tmp_path):
    user_seed = tmp_path / "mine.yaml"
    arch = yaml.safe_load((ROOT / "search_spaces/archs/hardnet68.yaml").read_text())
    arch["name"], arch["stages"][0]["growth"] = "mine", 16
    user_seed.write_text(yaml.safe_dump(arch))
    options = small(tmp_path, "objectives=[proxy,macs,cio,params,latency]", "latency.repeats=1",
                    "latency.warmup=0", f"seeds=[{user_seed}]", "space.input_size=[64,64]", trials=3)
    result = run(options)
    trials = result.study.get_trials()
    assert [t.user_attrs.get("seed") for t in trials] == ["hardnet68", "hardnet85", str(user_seed)]
    assert result.study.metric_names == ["proxy", "macs", "cio", "params", "latency"]
    assert all(t.values[4] > 0 and t.values[3] == t.user_attrs["params"] for t in trials)


@pytest.mark.parametrize("overrides,message", [
    (["objectives=[macs,proxy]"],
     "objectives: got ['macs', 'proxy']; allowed: a list starting with proxy"),
    (["constraints.macs=-1"], "constraints.macs: got -1; allowed: null or a number > 0"),
    (["storage=url"], "storage.url: missing; allowed: an SQLAlchemy URL"),
    (["storage.url=nosuchdb://x"],
     "storage.url: 'nosuchdb://x': unknown scheme 'nosuchdb'; allowed: sqlite, postgresql, mysql"),
    (["space.multiplier.low=3.0"], "multiplier: got low=3.0 > high=2.0; allowed: low <= high"),
    (["space.levels.0.growth.low=16"], "seed hardnet68: l1_b1_growth: got 14; allowed: 16..32 step 2"),
    (["study=a/b"], "study: got 'a/b'; allowed: null or a name"),
    (["seeds=[nope]"], "arch: unknown seed 'nope'; allowed:"),
    (["budget.n_trials=0"], "n_trials: got 0; allowed: an integer >= 1"),
    (["sampler.refine_top=0"], "sampler.refine_top: got 0; allowed: an integer >= 1"),
    (["sampler.refine_rounds=-1"], "sampler.refine_rounds: got -1; allowed: an integer >= 0"),
    (["sampler.random_fraction=2"], "sampler.random_fraction: got 2; allowed: a number from 0 to 1"),
    (["sampler=tpe", "+sampler.refine_top=3"],
     "sampler.refine_top: unknown key for sampler=tpe; allowed keys:"),
])
def test_bad_configs_give_one_line(tmp_path, overrides, message):
    with pytest.raises(UserError) as err:
        run(small(tmp_path, *overrides))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_changing_objectives_of_a_study_is_refused(tmp_path):
    run(small(tmp_path, trials=2))
    with pytest.raises(UserError, match=r"objectives: got \['proxy', 'macs'\], but the study was created"):
        run(small(tmp_path, "objectives=[proxy,macs]", trials=3))


def test_changing_the_proxy_of_a_study_is_refused_and_changes_nothing(tmp_path):
    """Scores of another proxy (or resolution) would not compare with the stored ones."""
    run(small(tmp_path, trials=2))
    storage = f"sqlite:///{tmp_path / 'study' / 'study.db'}"
    name = optuna.get_all_study_summaries(storage)[0].study_name
    study = optuna.load_study(study_name=name, storage=storage)
    before = [(t.number, t.values, t.state) for t in study.trials]
    with pytest.raises(UserError, match=r"proxy: got 'synflow', but the study's scores were measured with "
                                        r"'naswot'; allowed: the study's proxy, or a new study=NAME"):
        run(small(tmp_path, "proxy=synflow", trials=3))
    with pytest.raises(UserError, match=r"data.resolution: got 48, but the study's scores were measured "
                                        r"with 32"):
        run(small(tmp_path, "data.resolution=48", trials=3))
    after = optuna.load_study(study_name=name, storage=storage)
    assert [(t.number, t.values, t.state) for t in after.trials] == before
    run(small(tmp_path, trials=3))  # the same proxy resumes
    assert len(optuna.load_study(study_name=name, storage=storage).trials) == 3


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "hardsearch", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, **kwargs)


@pytest.mark.parametrize("args,message", [
    ([], "hardsearch: error: space: missing; choose a search space with +space=NAME; allowed: harmonic, "
         "harmonic_ds"),
    (["+space=nope"], "hardsearch: error: command line: '+space=nope': unknown space 'nope'; allowed: "
                      "harmonic, harmonic_ds"),
    (["+space=harmonic", "sampler=cmaes"],
     "unknown sampler 'cmaes'; allowed: cost_aware, gp, nsga2, nsga3, random, tpe"),
    (["+space=harmonic", "budget.trials=3"],
     "unknown key 'budget.trials'; allowed keys under budget: n_trials, timeout"),
])
def test_command_line_errors(args, message):
    result = _cli(*args)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_help_lists_the_groups_and_cfg_shows_the_config():
    result = _cli("--help")
    assert result.returncode == 0
    for line in ("sampler: cost_aware, gp, nsga2, nsga3, random, tpe", "space: harmonic, harmonic_ds",
                 "storage: journal, sqlite, url", "proxy: ensemble,", "data: cifar10, cifar10_sample"):
        assert line in result.stdout
    result = _cli("+space=harmonic_ds", "sampler=tpe", "--cfg", "job")
    assert result.returncode == 0
    config = yaml.safe_load(result.stdout)
    assert config["sampler"]["name"] == "tpe" and config["space"]["name"] == "harmonic_ds"
    assert config["budget"]["n_trials"] == 48 and config["objectives"] == ["proxy", "macs", "cio"]


@pytest.mark.slow
def test_ctrl_c_keeps_finished_trials_and_prints_the_summary(tmp_path):
    """Ctrl-C in a terminal reaches the whole process group, W&B's service included."""
    proc = subprocess.Popen([sys.executable, "-m", "hardsearch", "+space=harmonic", "proxy=naswot",
                             "budget.n_trials=200", f"dir={tmp_path}"], start_new_session=True,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    deadline = time.time() + 240
    while time.time() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if line.startswith("trial 3"):
            break
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: finished trials are kept" in out
    assert "Pareto front (" in out and (tmp_path / "pareto.csv").is_file()
    study = optuna.load_study(study_name="harmonic", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) >= 4
    assert "Traceback" not in err and "warning" not in err
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")  # the W&B run ends as interrupted
    inspect = subprocess.run([str(Path(sys.executable).with_name("wandb")), "leet", "inspect", "--summary",
                              "--json", str(run_dir)], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(inspect.stdout)["exit_code"] == 130


def test_an_architecture_proposed_again_is_not_scored_again(tmp_path, monkeypatch):
    proxy = FlakyProxy()
    proxy.calls = 10
    monkeypatch.setattr(search_module, "create_proxy", lambda *a, **k: proxy)
    monkeypatch.setattr(search_module, "load_or_fix_bounds", lambda *a, **k: (None, False))  # counted below
    options = small(tmp_path, "sampler=random", trials=6)
    options["space"] = {**yaml.safe_load((ROOT / "tests/spaces/tiny.yaml").read_text()),
                        "stem": [8, 8], "multiplier": 1.7, "link_base": {"choices": [2, 3]},
                        "levels": [{"blocks": 1, "depth": 2, "growth": 4, "out_channels": 16}]}
    result = run(options)
    trials = result.study.get_trials()
    assert len({t.user_attrs["digest"] for t in trials}) == 2
    assert proxy.calls == 12  # two architectures scored once each
    again = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert len(again) == 4
    for t in again:
        first = trials[t.user_attrs["duplicate_of"]]
        assert t.values == first.values and t.user_attrs["macs"] == first.user_attrs["macs"]
    assert len(result.front) <= 2


class SlowProxy(FlakyProxy):
    def __call__(self, arch, *, stop=None, on_epoch=None):
        time.sleep(0.3)
        return ProxyResult(1.0, {}, {}, seconds=0.3)


def test_timeout_ends_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(search_module, "create_proxy", lambda *a, **k: SlowProxy())
    monkeypatch.setattr(search_module, "load_or_fix_bounds", lambda *a, **k: (None, False))
    start = time.perf_counter()
    result = run(small(tmp_path, "budget.timeout=1", trials=100))
    assert 2 <= result.ran < 10 and time.perf_counter() - start < 30


def test_short_training_proxy_prunes_with_the_reason(tmp_path):
    options = small(tmp_path, "proxy=train", "proxy.epochs=2", "proxy.batch_size=100",
                    "proxy.early_stop.min_trials=3", "sampler=random", trials=7)
    options["space"] = yaml.safe_load((ROOT / "tests/spaces/tiny.yaml").read_text())
    (tmp_path / "study").mkdir()
    study = optuna.create_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}",
                                directions=["maximize", "minimize", "minimize"])
    for accuracy in (0.90, 0.92, 0.94, 0.96):  # earlier trials that learnt far more
        study.add_trial(optuna.trial.create_trial(values=[accuracy, 1.0, 1.0],
                                                  user_attrs={"accuracy_per_epoch": [accuracy, accuracy]}))
    result = run(options)
    new = result.study.get_trials()[4:]
    assert len(new) == 3 and all(t.state == TrialState.PRUNED for t in new)
    for i, t in enumerate(new):  # pruned trials count as earlier trials too: they were measured
        assert t.user_attrs["pruned_reason"].startswith("epoch 1: held-out accuracy")
        assert f"of {4 + i} earlier trials at that epoch" in t.user_attrs["pruned_reason"]
        assert len(t.user_attrs["accuracy_per_epoch"]) == 1
