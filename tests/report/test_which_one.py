"""Which front member to pick, and what the proxy axis is: computed by hand, rendered everywhere."""

from __future__ import annotations

import html
import json
import math

import matplotlib.pyplot
import optuna
import pytest

from hardsearch.report.console import format_front, format_recommendation
from hardsearch.report.html import to_html
from hardsearch.report.pareto import build_report, describe_proxy, knee, widest_margin
from hardsearch.report.plots import SEED_LABEL_OFFSETS, write_plots
from hardsearch.report.text import format_gain, to_markdown, write_report

OBJECTIVES = ["proxy", "macs", "cio"]
DIRECTIONS = ["maximize", "minimize", "minimize"]
PROXY = {"name": "ensemble", "members": ["naswot", "synflow", "jacob_cov"], "resolution": 32, "classes": 10,
         "data": "cifar10_sample"}


def _trial(number, proxy, macs, cio, seed=None):
    trial = optuna.trial.create_trial(values=[proxy, macs, cio], user_attrs={
        "constraints": [-1.0], "digest": f"d{number}", **({"seed": seed} if seed else {})})
    trial.number = number
    return trial


def _report():
    """Every objective spans 0..10 over the feasible trials, so a normalised value is (worse side) / 10:
    proxy p -> (10 - p) / 10, a cost c -> c / 10 (0 = the best value seen)."""
    trials = [
        _trial(0, 2.0, 9.0, 9.0, seed="A"),     # (0.8, 0.9, 0.9): dominated by 3, 4, 5 and 6
        _trial(1, 10.0, 10.0, 10.0),            # (0.0, 1.0, 1.0): distance sqrt(2)
        _trial(2, 0.0, 0.0, 0.0),               # (1.0, 0.0, 0.0): distance 1
        _trial(3, 6.0, 4.0, 5.0),               # (0.4, 0.4, 0.5): distance sqrt(0.57) = 0.755
        _trial(4, 5.0, 3.0, 3.0),               # (0.5, 0.3, 0.3): distance sqrt(0.43) = 0.656, the knee
        _trial(5, 9.0, 7.0, 2.0),               # (0.1, 0.7, 0.2): distance sqrt(0.54) = 0.735
        _trial(6, 8.0, 8.5, 1.0, seed="B"),     # (0.2, 0.85, 0.1): on the front, distance 0.879
    ]
    return build_report("s", trials, OBJECTIVES, DIRECTIONS, proxy=PROXY, input_size=[224, 224])


def test_knee_and_widest_margin_by_hand():
    report = _report()
    assert [row["trial"] for row in report.front] == [1, 2, 3, 4, 5, 6]
    # the knee: the member closest to the ideal point (0, 0, 0) in the normalised objectives
    assert report.knee["trial"] == 4 and report.knee["seed"] is None
    assert report.knee["distance"] == pytest.approx(math.sqrt(0.25 + 0.09 + 0.09))
    assert report.knee["normalised"] == pytest.approx({"proxy": 0.5, "macs": 0.3, "cio": 0.3})
    # seed A (0.8, 0.9, 0.9): gains of 3 = (0.4, 0.5, 0.4), min 0.4 (sum 1.3); of 4 = (0.3, 0.6, 0.6), min
    # 0.3 (sum 1.5); of 5 = (0.7, 0.2, 0.7), min 0.2 (sum 1.6); of seed B, 6 = (0.6, 0.05, 0.8), min 0.05
    # (sum 1.45). The widest margin is 3's, although 6 and 5 have the largest total gains and 4 is the knee.
    (pick,) = report.seed_picks
    assert (pick["seed"], pick["seed_trial"], pick["trial"]) == ("A", 0, 3)
    assert pick["margin"] == pytest.approx(0.4)
    assert pick["gains"] == pytest.approx({"proxy": 0.4, "macs": 0.5, "cio": 0.4})
    a, b = report.seeds
    assert [d["trial"] for d in a.dominated_by] == [3, 4, 5, 6] and b.on_front and not b.dominated_by


def test_ties_go_to_the_larger_total_gain_then_the_earlier_trial():
    assert knee({7: [0.3, 0.4], 2: [0.4, 0.3], 9: [0.5, 0.5]}) == (2, pytest.approx(0.5))
    assert knee({}) is None
    seed = [1.0, 1.0]
    assert widest_margin(seed, {5: [0.5, 0.8], 3: [0.8, 0.5], 8: [0.6, 0.8]}) == (3, pytest.approx(0.2),
                                                                                pytest.approx([0.2, 0.5]))
    assert widest_margin(seed, {5: [0.5, 0.8], 8: [0.6, 0.8]})[0] == 5  # same margin, larger total
    assert widest_margin(seed, {4: [1.0, 0.5]}) == (4, 0.0, [0.0, 0.5])  # a tie on one objective
    assert widest_margin(seed, {}) is None


def test_the_pick_is_explained_in_markdown_html_console_and_json(tmp_path):
    report = _report()
    markdown = to_markdown(report)
    section = markdown.split("## Which one to pick\n\n")[1].split("\n\n")[0].splitlines()
    assert section[0].startswith("- Balanced choice: trial 4, proxy +5.0000, macs 0.000 G, cio 0.00 M. It is "
                                 "the knee of the front: the member closest to the ideal point")
    assert "(distance 0.656; 0 would be best at everything)." in section[0]
    # the gains in the objectives' own terms: proxy 6 - 2, macs (4 - 9) / 9, cio (5 - 9) / 9
    assert section[1] == ("- Instead of A: trial 3, of the 4 found architecture(s) that dominate it the one "
                          "with the widest margin: better on every objective by at least 40.0 % of that "
                          "objective's range over the feasible trials (proxy +4.0000, macs -55.6 %, "
                          "cio -44.4 %).")
    assert section[2] == "- Instead of B: no found architecture dominates it (it is on the front)."
    assert ("Proxy: ensemble of naswot, synflow, jacob_cov, mean robust z-score (0 = the median of the "
            "study's reference sample, 1 = one robust standard deviation above it), measured at 32x32 px on "
            "cifar10_sample (10 classes); higher is better. Costs are counted at 224x224.") in markdown

    page = to_html(report)
    assert "<h2>Which one to pick</h2>" in page and html.escape(section[1][2:]) in page
    for trial, gains in ((3, "proxy +4.0000, macs -55.6 %, cio -44.4 %"),
                         (4, "proxy +3.0000, macs -66.7 %, cio -66.7 %"),
                         (5, "proxy +7.0000, macs -22.2 %, cio -77.8 %"),
                         (6, "proxy +6.0000, macs -5.6 %, cio -88.9 %")):  # every dominator, with gains
        assert f"<li>trial {trial}: {gains}" + (" <b>(widest margin)</b>" if trial == 3 else "</li>") in page
    assert "mean robust z-score\\u003cbr\\u003e(at 32x32 px, 10 classes, higher is better)" in page

    assert format_recommendation(report) == [
        "balanced choice: trial 4 (the knee: the member closest to the best value of every objective at "
        "once; see 'Which one to pick' in report.md)",
        "instead of a seed: A -> trial 3 (better everywhere by >= 40.0 % of each objective's range); "
        "B: not dominated"]

    write_report(report, tmp_path)
    data = json.loads((tmp_path / "pareto.json").read_text())
    assert {"front", "seeds", "points", "hypervolume_front", "reference_point"} <= set(data)  # kept
    assert data["knee"]["trial"] == 4 and data["seed_picks"][0]["trial"] == 3 and data["proxy"] == PROXY
    assert data["bounds"]["macs"] == {"best": 0.0, "worst": 10.0, "fixed": False,  # no stored bounds
                                      "source": "this study's feasible trials; the study stores no fixed "
                                                "bounds"}


def test_an_empty_study_recommends_nothing():
    report = build_report("s", [], OBJECTIVES, DIRECTIONS)
    assert report.knee is None and report.seed_picks == []
    assert format_recommendation(report) == []
    assert "- No feasible architecture yet: nothing to pick." in to_markdown(report)


@pytest.mark.parametrize("proxy,label", [
    (PROXY, ("proxy: ensemble of naswot, synflow, jacob_cov, mean robust z-score",
             "at 32x32 px, 10 classes, higher is better")),
    ({"name": "train", "resolution": 64, "classes": 100},
     ("proxy: held-out top-1 accuracy (%) after a short training",
      "at 64x64 px, 100 classes, higher is better")),
    ({"name": "predictor", "recipe": "200 epochs at 224x224", "classes": 1000},
     ("proxy: predicted top-1 accuracy (%) at 200 epochs at 224x224", "1000 classes, higher is better")),
    ({"name": "predictor"}, ("proxy: predicted top-1 accuracy (%)", "higher is better")),
    ({"name": "predictor", "recipe": None}, ("proxy: predicted top-1 accuracy (%)", "higher is better")),
    ({"name": "naswot", "resolution": 32, "classes": 10},
     ("proxy: naswot score (raw)", "at 32x32 px, 10 classes, higher is better")),
    (None, ("proxy accuracy", "higher is better")),  # a study from before the proxy was recorded
])
def test_the_proxy_axis_says_what_the_proxy_is(proxy, label):
    assert describe_proxy(proxy) == label


def test_png_axes_name_the_proxy_and_seed_labels_stand_off_their_stars(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(matplotlib.pyplot, "close", figures.append)  # keep the figures to look at
    write_plots(_report(), tmp_path)
    monkeypatch.undo()
    first = figures[0].axes[0]
    assert first.get_xlabel() == ("proxy: ensemble of naswot, synflow, jacob_cov, mean robust z-score\n"
                                  "(at 32x32 px, 10 classes, higher is better)")
    assert first.get_ylabel() == "MACs (G)"
    labels = [t for t in first.texts if t.get_text() in ("A", "B")]
    assert [t.get_text() for t in labels] == ["A", "B"]
    for label, offset in zip(labels, SEED_LABEL_OFFSETS, strict=True):
        assert label.xyann == offset and min(abs(v) for v in offset) >= 9  # clear of the 140-pt² star
        assert label.get_bbox_patch().get_facecolor()[:3] == (1.0, 1.0, 1.0)  # on white, over other points
    assert "knee (balanced choice)" in [t.get_text() for t in first.get_legend().get_texts()]
    for figure in figures:
        matplotlib.pyplot.close(figure)



TRAIN = {"name": "train", "resolution": 32, "classes": 10, "data": "cifar10_sample", "members": None}


def _accuracy_report():
    """:func:`_report` with a short-training proxy: the proxy values divided by 10 (fractions, 0..1)."""
    trials = [_trial(p["trial"], p["objectives"]["proxy"] / 10, p["objectives"]["macs"],
                     p["objectives"]["cio"], seed=p["seed"]) for p in _report().points]
    return build_report("s", trials, OBJECTIVES, DIRECTIONS, proxy=TRAIN, input_size=[224, 224])


def test_an_accuracy_proxy_reads_in_per_cent_in_markdown_html_png_and_console(tmp_path, monkeypatch):
    report = _accuracy_report()
    assert report.front[0]["objectives"]["proxy"] == 1.0  # stored: a fraction
    markdown = to_markdown(report)
    assert "Proxy: held-out top-1 accuracy (%) after a short training, measured at 32x32 px" in markdown
    assert "- Balanced choice: trial 4, proxy 50.00 %, macs 0.000 G, cio 0.00 M. It is" in markdown
    assert "(proxy +40.00 pp, macs -55.6 %, cio -44.4 %)." in markdown  # a difference: percentage points
    assert "| 1 |  | 100.00 % | 0.000 G | 0.00 M |  |" in markdown
    assert "- **A** (trial 0: proxy 20.00 %, macs 0.000 G, cio 0.00 M): dominated by 4" in markdown
    assert "proxy best 100.00 % worst 0.00 % (this study's" in markdown and "proxy -10.00 %, macs" in markdown
    assert "+0.4000" not in markdown and "+1.0000" not in markdown

    page = to_html(report)
    assert "<td>100.00 %</td>" in page and "<li>trial 3: proxy +40.00 pp, macs -55.6 %, cio -44.4 %" in page
    assert "(proxy: difference in percentage points; costs: relative change)" in page
    assert "proxy: 20.00 %\\u003cbr\\u003emacs: 0.000 G" in page  # seed A's hover text
    assert '"x":[20.0,80.0]' in page  # the seeds' stars on the first panel's proxy axis, in per cent
    assert "held-out top-1 accuracy (%) after a short training\\u003cbr\\u003e(at 32x32 px" in page

    figures = []
    monkeypatch.setattr(matplotlib.pyplot, "close", figures.append)
    write_plots(report, tmp_path)
    monkeypatch.undo()
    first = figures[0].axes[0]
    assert first.get_xlabel() == ("proxy: held-out top-1 accuracy (%) after a short training\n"
                                  "(at 32x32 px, 10 classes, higher is better)")
    xs = sorted({float(x) for c in first.collections for x, _ in c.get_offsets()})
    assert xs == pytest.approx([0.0, 20.0, 50.0, 60.0, 80.0, 90.0, 100.0])  # every trial, in per cent
    for figure in figures:
        matplotlib.pyplot.close(figure)

    front = [_trial(1, 0.7342, 4.246e9, 11.47e6)]
    assert format_front(front, OBJECTIVES, proxy="train").splitlines()[1].split()[:4] == ["1", "73.42", "%",
                                                                                          "4.246"]
    assert format_front(front, OBJECTIVES).splitlines()[1].split()[:3] == ["1", "+0.7342", "4.246"]

    write_report(report, tmp_path)  # the files for programs keep the stored fraction
    assert json.loads((tmp_path / "pareto.json").read_text())["front"][0]["objectives"]["proxy"] == 1.0
    assert (tmp_path / "pareto.csv").read_text().splitlines()[1].startswith("1,,1.0,")


def test_gains_over_a_seed_in_percentage_points_for_an_accuracy():
    assert format_gain("proxy", 0.0123, proxy="train") == "+1.23 pp"
    assert format_gain("proxy", -0.5, proxy={"name": "predictor"}) == "-50.00 pp"
    assert format_gain("proxy", 0.0123) == format_gain("proxy", 0.0123, proxy="ensemble") == "+0.0123"
    assert format_gain("macs", -0.556, proxy="train") == "-55.6 %"
