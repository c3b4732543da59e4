"""Many workers on one study in a real PostgreSQL server; workers killed mid-trial; secrets kept out.

Workers are real ``python -m hardsearch`` processes. Slow trials (for killing a worker in the
middle of one) come from measuring latency with many repeats, not from a test hook.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hardsearch.core.paths import ROOT
from hardsearch.study.front import pareto_front

pytestmark = pytest.mark.slow

SLOW = ["objectives=[proxy,macs,cio,latency]", "latency.repeats=30", "latency.warmup=1", "latency.threads=1"]
CRASH_SAFE = ["storage.heartbeat_interval=1", "storage.grace_period=3"]


def start(tmp_path: Path, name: str, *overrides: str, env: dict | None = None) -> subprocess.Popen:
    """One worker, as on its own machine: its own results folder, the shared storage."""
    return subprocess.Popen(
        [sys.executable, "-m", "hardsearch", "+space=harmonic", "proxy=naswot", "logger=console",
         f"worker={name}", f"dir={tmp_path / name}", *overrides],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, **(env or {})})


def finish(proc: subprocess.Popen, timeout: float = 400) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    return out, err


def on_postgres(postgres, study: str) -> list[str]:
    """Overrides for a study in the test server, the password from PGPASSWORD (not the command line)."""
    return ["storage=url", f"storage.url={postgres.url_without_password}", f"study={study}"]


def load(postgres, study: str) -> optuna.Study:
    return optuna.load_study(study_name=study, storage=postgres.url)


def kill_when_running(proc: subprocess.Popen, study: optuna.Study, worker: str, timeout: float = 180) -> int:
    """SIGKILL the worker (and its process group) while it is in the middle of a trial; that trial."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            # past the seeds, its architecture drawn and costed: measuring latency
            if t.user_attrs.get("worker") == worker and t.number >= 2 and "macs" in t.user_attrs:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return t.number
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.1)
    raise AssertionError(f"worker {worker} never ran a trial")


def assert_exact_and_retried(study: optuna.Study, n_trials: int, killed: int) -> None:
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == n_trials  # exactly the budget: nothing lost, nothing extra
    assert trials[killed].state == TrialState.FAIL and "fail_reason" not in trials[killed].user_attrs
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE  # retried once
    assert retries[0].params == trials[killed].params  # the same architecture, evaluated once more
    assert retries[0].user_attrs["digest"] == trials[killed].user_attrs["digest"]
    assert [t.state for t in trials].count(TrialState.FAIL) == 1
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sum(t.user_attrs.get("seed") == "hardnet68" for t in complete) == 1
    assert sum(t.user_attrs.get("seed") == "hardnet85" for t in complete) == 1


def test_workers_on_postgres_share_one_study_exactly(tmp_path, postgres):
    """Three workers start at once: the seeds run once, the ensemble is calibrated once, the study
    ends with exactly n_trials, and any worker or hardsearch.report writes the full report."""
    env = {"PGPASSWORD": postgres.password}
    args = [*on_postgres(postgres, "shared"), "budget.n_trials=14", "proxy=ensemble", "proxy.reference=6"]
    workers = [start(tmp_path, f"w{i}", *args, env=env) for i in range(3)]
    outputs = [finish(w)[0] for w in workers]
    study = load(postgres, "shared")
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(14))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    seeds = sorted(t.user_attrs["seed"] for t in trials if "seed" in t.user_attrs)
    assert seeds == ["hardnet68", "hardnet85"]
    assert sum("calibrating the ensemble" in out for out in outputs) == 1
    assert len({t.user_attrs["worker"] for t in trials}) >= 2  # the work was shared
    assert len({t.user_attrs["digest"] for t in trials}) >= 12  # workers do not replay each other's draws
    front = {t.number for t in pareto_front(trials, ["maximize", "minimize", "minimize"])}
    last = max(range(3), key=lambda i: (tmp_path / f"w{i}" / "pareto.json").stat().st_mtime)
    report = json.loads((tmp_path / f"w{last}" / "pareto.json").read_text())
    assert {row["trial"] for row in report["front"]} == front and report["n_trials"] == 14
    cli = subprocess.run([sys.executable, "-m", "hardsearch.report", "study=shared",
                          f"storage.url={postgres.url_without_password}", f"dir={tmp_path / 'report'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert cli.returncode == 0, cli.stderr
    again = json.loads((tmp_path / "report" / "pareto.json").read_text())
    assert {row["trial"] for row in again["front"]} == front


def test_a_worker_killed_mid_trial_is_retried_by_another(tmp_path, postgres):
    env = {"PGPASSWORD": postgres.password}
    args = [*on_postgres(postgres, "killed"), "budget.n_trials=7", *SLOW, *CRASH_SAFE]
    victim = start(tmp_path, "victim", *args, env=env)
    study = None
    deadline = time.time() + 120
    while study is None and time.time() < deadline:
        try:
            study = load(postgres, "killed")
        except KeyError:
            time.sleep(0.2)
    killed = kill_when_running(victim, study, "victim")
    survivor = start(tmp_path, "survivor", *args, env=env)
    out, _ = finish(survivor)
    assert_exact_and_retried(load(postgres, "killed"), 7, killed)
    assert "1 lost with a dead or interrupted worker, and run again" in out


def test_a_killed_single_sqlite_search_resumes_the_same_way(tmp_path):
    args = ["budget.n_trials=6", *SLOW, *CRASH_SAFE]
    first = start(tmp_path, "only", *args)
    storage = f"sqlite:///{tmp_path / 'only' / 'study.db'}"
    deadline = time.time() + 120
    while not (tmp_path / "only" / "study.db").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    study = optuna.load_study(study_name="harmonic", storage=storage)
    killed = kill_when_running(first, study, "only")
    out, _ = finish(start(tmp_path, "only", *args))  # the same command again
    assert_exact_and_retried(optuna.load_study(study_name="harmonic", storage=storage), 6, killed)
    assert "1 lost with a dead or interrupted worker, and run again" in out


@pytest.mark.parametrize("host", ["127.0.0.1:1", "10.255.255.1:5432"])
def test_an_unreachable_database_is_a_clear_error_within_seconds(tmp_path, host):
    began = time.perf_counter()
    proc = start(tmp_path, "w", "storage=url", f"storage.url=postgresql://hardsearch:hunter2@{host}/db",
                 "storage.connect_timeout=3")
    out, err = proc.communicate(timeout=120)
    elapsed = time.perf_counter() - began
    assert proc.returncode == 2 and elapsed < 30  # Python and torch start in ~5 s; then 3 s at most
    head = f"hardsearch: error: storage.url: 'postgresql://hardsearch:***@{host}/db': cannot open the "
    assert err.startswith(head + "storage:") and err.count("\n") == 1
    assert "hunter2" not in out + err and not (tmp_path / "w").exists()


def test_the_password_is_never_written_anywhere(tmp_path, postgres):
    """Even given in the URL on the command line: not in the output, the report, the exported
    architectures, the W&B run, the study's attributes, or a saved Hydra config."""
    password = postgres.password
    proc = start(tmp_path, "w", "storage=url", f"storage.url={postgres.url}", "study=secret",
                 "budget.n_trials=3", "logger=wandb")
    out, err = finish(proc)
    assert password not in out + err and "hardsearch:***@127.0.0.1" in out
    files = [p for p in (tmp_path / "w").rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files) and any(p.name == "report.html" for p in files)
    for path in files:
        assert password.encode() not in path.read_bytes(), path
    assert not list(tmp_path.rglob(".hydra")) and not list(ROOT.glob(".hydra"))
    study = load(postgres, "secret")
    stored = json.dumps([study.user_attrs] + [[t.user_attrs, t.system_attrs] for t in study.get_trials()])
    assert password not in stored
    report = subprocess.run([sys.executable, "-m", "hardsearch.report", "study=secret",
                             f"storage.url={postgres.url}", f"dir={tmp_path / 'report'}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0 and password not in report.stdout + report.stderr


def test_the_hydra_multirun_recipe_starts_one_worker_per_job(tmp_path, postgres):
    """The README's recipe: one --multirun, the local submitit launcher, a process per worker."""
    command = [sys.executable, "-m", "hardsearch", "--multirun", "hydra/launcher=submitit_local",
               f"hydra.sweep.dir={tmp_path / 'multirun'}", "+space=harmonic", "proxy=naswot", "logger=none",
               *on_postgres(postgres, "multirun"), "budget.n_trials=8", f"dir={tmp_path / 'study'}",
               "worker=w1,w2"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PGPASSWORD": postgres.password})
    assert result.returncode == 0, result.stderr[-3000:]
    trials = load(postgres, "multirun").get_trials()
    assert len(trials) == 8 and all(t.state == TrialState.COMPLETE for t in trials)
    logs = list((tmp_path / "multirun").rglob("*_log.out"))
    assert len(logs) == 2  # two processes, each with its log
    workers = {t.user_attrs["worker"] for t in trials}
    assert workers <= {"w1", "w2"} and sum("running 8 more as worker" in p.read_text() for p in logs) == 2
