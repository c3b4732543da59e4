"""The Pareto report: front membership, seed dominance and hypervolume against independent checks."""

from __future__ import annotations

import json
import subprocess
import sys

import matplotlib.image
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from hardsearch.core.paths import ROOT
from hardsearch.report.pareto import build_report, hypervolume
from hardsearch.report.text import to_markdown

from searching import run, small


def test_hypervolume_by_hand():
    # three steps under (4, 4): 3x1 + 2x1 + 1x1
    assert hypervolume(np.array([[1, 3], [2, 2], [3, 1]]), np.array([4.0, 4.0])) == pytest.approx(6.0)
    assert hypervolume(np.array([[0, 0, 0]]), np.array([1.0, 2.0, 3.0])) == pytest.approx(6.0)
    # a point beyond the reference adds nothing
    assert hypervolume(np.array([[1, 3], [5, 0]]), np.array([4.0, 4.0])) == pytest.approx(3.0)


def _trial(number, proxy, macs, seed=None, over=False):
    trial = optuna.trial.create_trial(values=[proxy, macs], user_attrs={
        "constraints": [1.0 if over else -1.0], "digest": f"d{number}", **({"seed": seed} if seed else {})})
    trial.number = number
    return trial


def test_report_numbers_by_hand():
    trials = [_trial(0, 0.0, 10.0, seed="hardnet68"), _trial(1, 1.0, 5.0), _trial(2, 2.0, 20.0),
              _trial(3, -1.0, 1.0), _trial(4, 5.0, 1.0, over=True)]
    report = build_report("s", trials, ["proxy", "macs"], ["maximize", "minimize"])
    assert [row["trial"] for row in report.front] == [1, 2, 3]  # 0 is dominated, 4 is infeasible
    (seed,) = report.seeds
    assert seed.seed == "hardnet68" and not seed.on_front
    assert seed.dominated_by == [{"trial": 1, "gains": {"proxy": 1.0, "macs": -0.5}}]
    # normalised (proxy negated): low (-2, 1), span (3, 19), reference 1.1 in each dimension; the
    # front is t2 (0, 1), t1 (1/3, 4/19), t3 (1, 0). Sweeping x: [0, 1/3) under y = 1, [1/3, 1)
    # under y = 4/19, [1, 1.1) under y = 0.
    expected = (1 / 3) * (1.1 - 1) + (2 / 3) * (1.1 - 4 / 19) + 0.1 * 1.1
    assert report.hypervolume_front == pytest.approx(expected)
    assert report.hypervolume_seeds == pytest.approx((1.1 - 2 / 3) * (1.1 - 9 / 19))
    assert report.reference_point == pytest.approx([-(-2 + 1.1 * 3), 1 + 1.1 * 19])
    assert [n for n, _ in report.hypervolume_history] == [0, 1, 2, 3]
    assert report.hypervolume_history[-1][1] == pytest.approx(report.hypervolume_front)
    markdown = to_markdown(report)
    assert "- trial 1: proxy +1.0000, macs -50.0 %" in markdown


def _independent_front(study):
    done = [t for t in study.get_trials() if t.state == TrialState.COMPLETE
            and all(v <= 0 for v in t.user_attrs.get("constraints", []))]
    front, seen = [], set()
    for t in done:
        beaten = any(o.values[0] >= t.values[0]
                     and all(a <= b for a, b in zip(o.values[1:], t.values[1:], strict=True))
                     and o.values != t.values for o in done)
        if not beaten and t.user_attrs["digest"] not in seen:
            seen.add(t.user_attrs["digest"])
            front.append(t.number)
    return sorted(front)


def test_search_writes_the_report_and_the_cli_rewrites_it(tmp_path):
    result = run(small(tmp_path, "constraints.macs=6e9", trials=10))
    folder = result.study_dir
    data = json.loads((folder / "pareto.json").read_text())
    assert [row["trial"] for row in data["front"]] == _independent_front(result.study)
    for row in data["front"]:
        assert (folder / row["arch_file"]).is_file()
    assert (folder / "report.md").read_text().startswith("# Pareto report: study `harmonic`")
    for name, panels in (("pareto.png", 3), ("hypervolume.png", 1)):  # real images, one panel per pair
        image = matplotlib.image.imread(folder / name)
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert image.shape[1] > 500 * (1 if panels == 1 else 2) and image.std() > 0.01
    assert [row["trial"] for row in data["points"] if row["on_front"]] == [r["trial"] for r in data["front"]]
    header = (folder / "pareto.csv").read_text().splitlines()[0]
    assert header.startswith("trial,seed,proxy,macs,cio,cost_params,cost_macs")
    (folder / "pareto.json").unlink()
    cli = subprocess.run([sys.executable, "-m", "hardsearch.report", "study=harmonic", f"dir={folder}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert json.loads((folder / "pareto.json").read_text())["front"] == data["front"]
    url = f"sqlite:///{folder / 'study.db'}"
    other = tmp_path / "elsewhere"
    cli = subprocess.run([sys.executable, "-m", "hardsearch.report", "study=harmonic", f"storage.url={url}",
                          f"dir={other}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert (other / "report.md").is_file()


@pytest.mark.parametrize("args,message", [
    (["study=nope"], "study nope:"),
    ([], "study: missing; allowed: the name of a study"),
])
def test_report_errors(tmp_path, args, message):
    cli = subprocess.run([sys.executable, "-m", "hardsearch.report", *args, f"dir={tmp_path}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2 and message in cli.stderr and cli.stderr.count("\n") == 1
