"""The Pareto report: front membership, seed dominance and hypervolume against independent checks."""

from __future__ import annotations

import html
import json
import subprocess
import sys

import matplotlib.image
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from hardsearch.core.paths import ROOT
from hardsearch.report.console import format_hypervolume
from hardsearch.report.html import to_html
from hardsearch.report.pareto import build_report, hypervolume
from hardsearch.report.text import to_markdown
from hardsearch.study.bounds import Bound, Bounds

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
    # no stored bounds (a study from before them): normalised per study, and the report says so
    per_study = "this study's feasible trials; the study stores no fixed bounds"
    assert report.bounds == {"proxy": {"best": 2.0, "worst": -1.0, "source": per_study, "fixed": False},
                             "macs": {"best": 1.0, "worst": 20.0, "source": per_study, "fixed": False}}
    assert ("- computed on objectives normalised per study, by the best and worst value over this study's "
            f"feasible trials (0 = best, 1 = worst): proxy best +2.0000 worst -1.0000 ({per_study}), macs "
            f"best 0.000 G worst 0.000 G ({per_study}); reference point 1.1 in every normalised dimension "
            "(the worst value plus 10 % of the range): proxy -1.3000, macs 0.000 G; normalised per study and "
            "thus not comparable with other studies' hypervolumes: proxy, macs.\n") in markdown
    assert format_hypervolume(report) == ("hypervolume 0.7363 (seeds alone 0.2714; normalised per study, not "
                                          "comparable across studies: proxy, macs)")


CALIBRATION = "the ensemble's calibration: 6 reference architectures"
CORNERS = "the space's 24 corner members and 2 seeds"
BOUNDS = Bounds({"proxy": Bound(3.0, -2.0, CALIBRATION), "macs": Bound(0.0, 20.0, CORNERS)}, "harmonic",
                "ensemble")


def test_fixed_bounds_normalise_the_hypervolume_by_hand():
    trials = [_trial(0, 0.0, 10.0, seed="hardnet68"), _trial(1, 1.0, 5.0), _trial(2, 2.0, 20.0),
              _trial(3, -1.0, 1.0), _trial(4, 5.0, 1.0, over=True)]
    report = build_report("s", trials, ["proxy", "macs"], ["maximize", "minimize"], bounds=BOUNDS)
    # normalised by the bounds (proxy: (3 - p) / 5, macs: m / 20): t2 (0.2, 1), t1 (0.4, 0.25), t3 (0.8,
    # 0.05), the seed t0 (0.6, 0.5). Sweeping x up to 1.1: [0.2, 0.4) under y = 1, [0.4, 0.8) under
    # y = 0.25, [0.8, 1.1) under y = 0.05.
    assert report.hypervolume_front == pytest.approx(0.2 * 0.1 + 0.4 * 0.85 + 0.3 * 1.05)
    assert report.hypervolume_seeds == pytest.approx(0.5 * 0.6)
    assert report.hypervolume_history[-1][1] == pytest.approx(report.hypervolume_front)
    assert report.reference_point == pytest.approx([-2.5, 22.0])  # the worst value + 10 % of the range
    by_hand = hypervolume(np.array([BOUNDS.normalise(t.values, ["proxy", "macs"]) for t in trials[:4]]),
                          np.array([1.1, 1.1]))
    assert report.hypervolume_front == pytest.approx(by_hand)
    assert report.bounds == {"proxy": {"best": 3.0, "worst": -2.0, "source": CALIBRATION, "fixed": True},
                             "macs": {"best": 0.0, "worst": 20.0, "source": CORNERS, "fixed": True}}
    # which one to pick stays per study: the same as without the bounds
    alone = build_report("s", trials, ["proxy", "macs"], ["maximize", "minimize"])
    assert report.knee == alone.knee and report.seed_picks == alone.seed_picks
    sentence = ("objectives normalised by bounds fixed by the space and the proxy's calibration, stored in "
                "the study (0 = best, 1 = worst, maximised ones negated): proxy best +3.0000 worst -2.0000 "
                f"({CALIBRATION}), macs best 0.000 G worst 0.000 G ({CORNERS}); reference point 1.1 in every "
                "normalised dimension (the worst value plus 10 % of the range): proxy -2.5000, macs 0.000 G, "
                "so studies of the same space and proxy compare.")
    assert f"- computed on {sentence}\n" in to_markdown(report)
    assert f"computed on {html.escape(sentence)}" in to_html(report)
    assert format_hypervolume(report) == ("hypervolume 0.6750 (seeds alone 0.3000; bounds fixed in the "
                                          "study: compares with studies of the same space and proxy)")


def test_an_objective_without_a_fixed_bound_is_normalised_per_study():
    trials = [_trial(0, 0.0, 10.0, seed="hardnet68"), _trial(1, 1.0, 5.0), _trial(2, 2.0, 20.0),
              _trial(3, -1.0, 1.0)]
    objectives = ["proxy", "latency"]  # latency is measured per trial: no fixed bound
    report = build_report("s", trials, objectives, ["maximize", "minimize"], bounds=BOUNDS)
    # proxy by its bound ((3 - p) / 5), latency over the feasible trials ((l - 1) / 19): t2 (0.2, 1),
    # t1 (0.4, 4/19), t3 (0.8, 0)
    assert report.hypervolume_front == pytest.approx(0.2 * 0.1 + 0.4 * (1.1 - 4 / 19) + 0.3 * 1.1)
    assert report.reference_point == pytest.approx([-2.5, 1 + 1.1 * 19])
    per_study = "this study's feasible trials; measured per trial, no fixed bound"
    assert report.bounds["latency"] == {"best": 1.0, "worst": 20.0, "source": per_study, "fixed": False}
    assert report.bounds["proxy"]["fixed"]
    markdown = to_markdown(report)
    assert (f"({CALIBRATION}); latency normalised per study, by the best and worst value over this study's "
            "feasible trials (0 = best, 1 = worst): latency best 1000.0 ms worst 20000.0 ms "
            f"({per_study}); reference point") in markdown
    assert "; normalised per study and thus not comparable with other studies' hypervolumes: latency.\n" \
        in markdown
    assert format_hypervolume(report).endswith("(seeds alone 0.3132; normalised per study, not comparable "
                                               "across studies: latency)")


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
    stored = result.study.user_attrs["hardsearch.bounds"]["objectives"]  # fixed when the study was created
    assert data["bounds"] == {o: {**b, "fixed": True} for o, b in stored.items()}
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
