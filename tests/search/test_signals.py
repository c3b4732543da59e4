"""Ctrl-C and SIGTERM against a running search (real processes, real signals).

A test-only ``sitecustomize`` (on PYTHONPATH) makes chosen steps of the real search slow and
says on stdout when it reaches them, so each signal arrives at a known moment.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hardsearch.core.paths import ROOT

pytestmark = pytest.mark.slow

HOOKS = '''
import os, sys, time

def _slow(module, name, label):
    import importlib
    mod = importlib.import_module(module)
    owner, _, attr = name.rpartition(".")
    target = getattr(mod, owner) if owner else mod
    original = getattr(target, attr)
    def slow(*args, **kwargs):
        print(f"HOOK {label}", flush=True)
        time.sleep(float(os.environ["HOOK_SLEEP"]))
        return original(*args, **kwargs)
    setattr(target, attr, slow)

for spec in filter(None, os.environ.get("HOOK_SLOW", "").split(",")):
    module, name, label = spec.split(":")
    _slow(module, name, label)
'''

SLOW_TRIAL = "hardsearch.search.objective:Objective.__call__:trial"
SLOW_WRAPUP = "hardsearch.app:format_front:wrapup"           # before the report is written
SLOW_WRITING = "hardsearch.report.writer:write_html:writing"  # while the report files are written


def start(tmp_path: Path, study_dir: Path, *args: str, slow: str = "", sleep: float = 60,
          trials: int = 4) -> subprocess.Popen:
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(HOOKS)
    env = {**os.environ, "PYTHONPATH": str(hooks), "HOOK_SLOW": slow, "HOOK_SLEEP": str(sleep)}
    return subprocess.Popen([sys.executable, "-m", "hardsearch", "+space=harmonic", "proxy=naswot",
                             "logger=console", f"budget.n_trials={trials}", f"dir={study_dir}", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, text: str, seen: list[str]) -> None:
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"the search ended before printing {text!r}: {''.join(seen)}")


def finish(proc: subprocess.Popen, seen: list[str]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=300)
    return "".join(seen) + out, err


def load(study_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name="harmonic", storage=f"sqlite:///{study_dir / 'study.db'}")


def report_files(study_dir: Path) -> dict[str, str]:
    names = ("pareto.csv", "pareto.json", "report.md", "report.html", "pareto.png", "hypervolume.png")
    return {n: hashlib.sha256((study_dir / n).read_bytes()).hexdigest() for n in names}


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_seed_runs_again_on_the_next_start(tmp_path, signum, code):
    study_dir = tmp_path / "study"
    proc = start(tmp_path, study_dir, slow=SLOW_TRIAL)
    seen: list[str] = []
    wait_for(proc, "HOOK trial", seen)  # trial 0, the first seed (HarDNet-68), is running
    proc.send_signal(signum)
    out, err = finish(proc, seen)
    assert proc.returncode == code, err
    assert "interrupted: finished trials are kept" in out
    assert "Pareto front (" in out and (study_dir / "report.md").is_file()  # the wrap-up ran
    assert "Traceback" not in err
    trials = load(study_dir).get_trials()
    first = trials[0]
    assert first.state == TrialState.FAIL and first.user_attrs["interrupted"] is True
    assert first.user_attrs["seed"] == "hardnet68"
    assert not [t for t in trials if t.state == TrialState.RUNNING]  # nothing left for the heartbeat
    (queued,) = [t for t in trials if t.state == TrialState.WAITING
                 and t.user_attrs.get("seed") == "hardnet68"]
    assert queued.user_attrs["requeued_from"] == 0
    # the next start runs it, and the study ends with both seeds evaluated and its exact budget
    again = subprocess.run([sys.executable, "-m", "hardsearch", "+space=harmonic", "proxy=naswot",
                            "logger=none", "budget.n_trials=4", f"dir={study_dir}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    study = load(study_dir)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 4
    assert sorted(t.user_attrs.get("seed") for t in complete if t.user_attrs.get("seed")) == \
        ["hardnet68", "hardnet85"]
    seeded = next(t for t in complete if t.user_attrs.get("seed") == "hardnet68")
    assert seeded.params == first.system_attrs["fixed_params"]  # the same architecture as the seed


def test_a_second_ctrl_c_in_the_wrapup_leaves_the_previous_report(tmp_path):
    study_dir = tmp_path / "study"
    done = subprocess.run([sys.executable, "-m", "hardsearch", "+space=harmonic", "proxy=naswot",
                           "logger=none", "budget.n_trials=3", f"dir={study_dir}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    before = report_files(study_dir)
    proc = start(tmp_path, study_dir, slow=f"{SLOW_TRIAL},{SLOW_WRAPUP}", trials=6)
    seen: list[str] = []
    wait_for(proc, "HOOK trial", seen)
    proc.send_signal(signal.SIGINT)
    wait_for(proc, "HOOK wrapup", seen)  # reading the study, before any report file is written
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, seen)
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("hardsearch: interrupted: finished trials are kept and the report files are whole")
    assert report_files(study_dir) == before  # the previous report, byte for byte
    assert not list(study_dir.glob(".*.tmp"))


def test_a_second_signal_while_writing_lets_the_report_finish(tmp_path):
    study_dir = tmp_path / "study"
    proc = start(tmp_path, study_dir, slow=f"{SLOW_TRIAL},{SLOW_WRITING}", sleep=5, trials=4)
    seen: list[str] = []
    wait_for(proc, "HOOK trial", seen)
    proc.send_signal(signal.SIGTERM)
    wait_for(proc, "HOOK writing", seen)  # some report files written, the page not yet
    proc.send_signal(signal.SIGTERM)
    out, err = finish(proc, seen)
    assert proc.returncode == 143, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    report = json.loads((study_dir / "pareto.json").read_text())  # every file whole and of this run
    assert report["n_trials"] == len(load(study_dir).get_trials())
    assert "</html>" in (study_dir / "report.html").read_text()
    assert not list(study_dir.glob(".*.tmp"))
