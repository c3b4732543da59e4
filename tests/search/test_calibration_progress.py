"""While the proxy ensemble is calibrated, the search says how far it got (a bar, or lines in a log); then
a line per finished trial, an accuracy proxy in per cent."""

from __future__ import annotations

import io

import optuna
import pytest

from hardsearch.search.progress import CalibrationProgress, Progress, trial_line

from searching import run, small


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_calibration_progress_lines_for_a_log_and_a_bar_for_a_terminal(monkeypatch):
    lines = []
    clock = iter(range(100))
    progress = CalibrationProgress(lines.append, bar=True, clock=lambda: next(clock))  # 1 s per member
    for i in range(1, 35):
        progress(i, 34, f"a{i}")
    assert lines == [f"calibrating: {i}/34 members scored ({i} s)" for i in (9, 18, 27, 34)]  # quarters
    lines.clear()
    clock = iter(range(0, 1000, 20))
    progress = CalibrationProgress(lines.append, bar=False, clock=lambda: next(clock))  # 20 s per member
    for i in range(1, 6):
        progress(i, 5, f"a{i}")
    assert lines == [f"calibrating: {i}/5 members scored ({20 * i} s)" for i in range(1, 6)]  # every 10 s

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    lines.clear()
    progress = CalibrationProgress(lines.append, bar=True)
    for i in range(1, 35):
        progress(i, 34, f"a{i}")
    assert "calibrating:" in terminal.getvalue() and "/34 [" in terminal.getvalue()  # tqdm's bar, cleared
    assert len(lines) == 1 and lines[0].startswith("calibrating: 34/34 members scored")


def test_trial_lines_and_the_bar_show_an_accuracy_proxy_in_per_cent(monkeypatch):
    objectives = ["proxy", "macs", "cio"]
    trial = optuna.trial.create_trial(values=[0.7342, 4.246e9, 11.47e6],
                                      user_attrs={"constraints": [-1.0], "seed": "hardnet68"})
    trial.number = 0
    assert trial_line(trial, objectives, proxy="train") == \
        "trial 0 [seed hardnet68]: proxy 73.42 %  macs 4.246 G  cio 11.47 M  (0.0 s)"
    assert trial_line(trial, objectives, proxy={"name": "predictor"}).startswith(
        "trial 0 [seed hardnet68]: proxy 73.42 %  macs")
    assert trial_line(trial, objectives, proxy="ensemble") == trial_line(trial, objectives) == \
        "trial 0 [seed hardnet68]: proxy +0.7342  macs 4.246 G  cio 11.47 M  (0.0 s)"

    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.add_trial(trial)
    for proxy, best in (("train", "best_proxy=73.42 %"), ("naswot", "best_proxy=+0.7342")):
        terminal = Terminal()
        monkeypatch.setattr("sys.stderr", terminal)
        progress = Progress(total=2, done=0, objectives=objectives, bar=True, quiet=True, proxy=proxy)
        progress(study, study.trials[0])
        progress.close()
        assert best in terminal.getvalue()


@pytest.mark.slow
def test_a_search_shows_the_calibration_and_labels_the_proxy(tmp_path):
    """A short real search with the ensemble: progress lines (not a terminal), the proxy recorded in the
    study and named on the report's axis, and the pick after the front table."""
    lines = []
    result = run(small(tmp_path, "proxy=ensemble", "proxy.reference=4", trials=3), lines)
    start = lines.index("calibrating the ensemble on 2 seeds + 4 random members of harmonic ...")
    scored = [line for line in lines if line.startswith("calibrating: ")]
    assert lines[start + 1:start + 1 + len(scored)] == scored  # right after, before the study line
    counts = [int(line.split()[1].split("/")[0]) for line in scored]
    assert {2, 4, 6} <= set(counts) and counts == sorted(set(counts)) and scored[-1].startswith(
        "calibrating: 6/6 members scored (")
    proxy = result.study.user_attrs["hardsearch.proxy"]
    assert proxy == {"name": "ensemble", "resolution": 32, "classes": 10, "data": "cifar10_sample",
                     "members": ["naswot", "synflow", "jacob_cov"]}
    table = next(i for i, line in enumerate(lines) if line.startswith("trial  seed"))
    assert lines[table + 1].startswith("\nbalanced choice: trial ")
    assert "\ninstead of a seed: hardnet68" in lines[table + 1]
    markdown = (result.study_dir / "report.md").read_text()
    assert "Proxy: ensemble of naswot, synflow, jacob_cov, mean robust z-score" in markdown
    assert "measured at 32x32 px on cifar10_sample (10 classes); higher is better" in markdown
    again = []
    run(small(tmp_path, "proxy=ensemble", "proxy.reference=4", trials=3), again)  # resumed: stored
    assert not [line for line in again if line.startswith("calibrating")]
