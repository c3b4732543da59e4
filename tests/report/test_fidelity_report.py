"""Reports under a multi-fidelity schedule: a member stopped at a rung enters at the accuracy it reached.

A hand-made study (no training, no search) in a real SQLite storage, as the search stores one under
``proxy.schedule`` (successive halving, rungs 1 -> 3 -> 9 epochs):

- trial 0: the seed hardnet68, trained in full (9 epochs): 80 %, 4.0 G MACs, 20 M CIO;
- trial 1: trained in full: 70 %, 2.0 G, 10 M;
- trial 2: stopped at the first rung (1 epoch): 30 %, 0.5 G, 2 M (no other member is as cheap: on the front);
- trial 3: stopped at the second rung (3 epochs): 60 %, 3.0 G, 15 M (trial 1 dominates it);
- trial 4: pruned by the quantile early stop, without ``fidelity_values``: never a member or a point.
"""

from __future__ import annotations

import csv
import html
import os
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hardsearch.arch.config import arch_to_dict, summarize_arch
from hardsearch.arch.seeds import load_seed
from hardsearch.core.errors import UserError
from hardsearch.core.paths import RESULTS_DIR
from hardsearch.report.__main__ import report as report_command
from hardsearch.report.console import format_front
from hardsearch.report.dashboard import logged_objective, pareto_rows, trial_metrics
from hardsearch.report.html import hover_text
from hardsearch.report.writer import report_study
from hardsearch.study.fidelity import at_fidelity, fidelity_of, format_epochs, partial
from hardsearch.study.front import pareto_front

from browser import find_chromium, open_page

#: Where the test run keeps its screenshot (git-ignored, like all of results/).
ARTIFACTS = Path(os.environ.get("HARDSEARCH_TEST_ARTIFACTS", RESULTS_DIR / "test-artifacts"))

OBJECTIVES = ["proxy", "macs", "cio"]
DIRECTIONS = ["maximize", "minimize", "minimize"]
SCHEDULE = {"kind": "sha", "min_epochs": 1, "eta": 3, "epochs": 9, "rungs": [1, 3, 9]}
PROXY = {"name": "train", "resolution": 32, "classes": 10, "data": "cifar10_sample", "members": None,
         "epochs": 9, "schedule": SCHEDULE, "screen": None}
STUDY = "harmonic"
MULTIPLIER = FloatDistribution(1.4, 2.0)

# The study's values, by trial: (proxy, macs, cio); for trials 2 and 3 their fidelity_values.
VALUES = {0: [0.80, 4.0e9, 20.0e6], 1: [0.70, 2.0e9, 10.0e6], 2: [0.30, 0.5e9, 2.0e6],
          3: [0.60, 3.0e9, 15.0e6]}
NAMES = {0: "hardnet68", 1: "wide", 2: "tiny", 3: "slow", 4: "quitter"}
# Per-study normalisation of the feasible points 0-3 (0 = best, proxy negated): low (-0.8, 0.5 G, 2 M),
# span (0.5, 3.5 G, 18 M): t0 (0, 1, 1), t1 (0.2, 3/7, 4/9), t2 (1, 0, 0), t3 (0.4, 5/7, 13/18).
# Hypervolume up to 1.1 everywhere, by inclusion-exclusion of the boxes of t0, t1, t2 (A = t1's box
# in macs x cio): 0.011 + 0.9 A + 0.121 - 0.009 - 0.001 - 0.1 A + 0.001 = 0.123 + 0.8 A.
HV_ALL = 0.123 + 0.8 * (1.1 - 3 / 7) * (1.1 - 4 / 9)
# Full budget only, points 0 and 1: t0 (0, 1, 1), t1 (1, 0, 0): their boxes 1.1 x 0.1 x 0.1 and
# 0.1 x 1.1 x 1.1 share the cube [1, 1.1]^3.
HV_FULL = 1.1 * 0.1 * 0.1 + 0.1 * 1.1 * 1.1 - 0.1**3


def _arch(number: int) -> dict:
    if number == 0:
        return arch_to_dict(load_seed("hardnet68"))
    return arch_to_dict(replace(load_seed("hardnet39ds"), name=NAMES[number]))


def _attrs(number: int, macs: float, cio: float) -> dict:
    return {"arch": _arch(number), "digest": f"digest{number}", "macs": macs, "cio": cio,
            "params": 1.0e6 * (number + 1), "constraints": [-1.0],
            **({"seed": "hardnet68"} if number == 0 else {})}


def _params(number: int) -> dict:
    return {"params": {"multiplier": 1.4 + 0.1 * number}, "distributions": {"multiplier": MULTIPLIER}}


def _full(number: int, schedule: bool = True) -> optuna.trial.FrozenTrial:
    proxy, macs, cio = VALUES[number]
    fidelity = {"fidelity": {"epochs": 9, "budget": 9, "full": True}} if schedule else {}
    return optuna.trial.create_trial(values=VALUES[number], **_params(number), user_attrs={
        **_attrs(number, macs, cio), **fidelity, "accuracy_per_epoch": [proxy / 2] * 8 + [proxy]})


def _stopped(number: int, epochs: int) -> optuna.trial.FrozenTrial:
    proxy, macs, cio = VALUES[number]
    return optuna.trial.create_trial(state=TrialState.PRUNED, **_params(number), user_attrs={
        **_attrs(number, macs, cio), "fidelity": {"epochs": epochs, "budget": 9, "full": False},
        "fidelity_values": VALUES[number], "accuracy_per_epoch": [proxy] * epochs,
        "pruned_reason": f"rung {epochs} epochs: accuracy {proxy} is not in the top 1/3 of its rung"})


def _early_stopped() -> optuna.trial.FrozenTrial:
    """The quantile early stop's pruned trial: no fidelity, no values, so cheap it would be on the front."""
    return optuna.trial.create_trial(state=TrialState.PRUNED, **_params(4), user_attrs={
        **_attrs(4, 0.1e9, 1.0e6), "accuracy_per_epoch": [0.05, 0.06],
        "pruned_reason": "epoch 2: accuracy 0.06 below the 0.25 quantile of 5 trials"})


def _make_study(folder: Path, proxy: dict, trials: list) -> optuna.Study:
    """The study in ``folder/study.db``, where ``python -m hardsearch.report dir=folder`` finds it."""
    folder.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(storage=_url(folder), study_name=STUDY, directions=DIRECTIONS)
    study.set_user_attr("hardsearch.objectives", OBJECTIVES)
    study.set_user_attr("hardsearch.proxy", proxy)
    study.set_user_attr("hardsearch.input_size", [224, 224])
    for trial in trials:
        study.add_trial(trial)
    return study


def _url(folder: Path) -> str:
    return f"sqlite:///{folder / 'study.db'}"


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fidelity") / STUDY
    _make_study(folder, PROXY, [_full(0), _full(1), _stopped(2, 1), _stopped(3, 3), _early_stopped()])
    return folder


@pytest.fixture
def scheduled(study_dir) -> optuna.Study:
    """The study with a schedule, opened afresh for each test (no test writes to it)."""
    return optuna.load_study(study_name=STUDY, storage=_url(study_dir))


@pytest.fixture(scope="module")
def written(study_dir, tmp_path_factory):
    """The default report (every member at the fidelity it reached), written once: (report, folder)."""
    folder = tmp_path_factory.mktemp("all")
    report, _ = report_study(optuna.load_study(study_name=STUDY, storage=_url(study_dir)), folder)
    return report, folder


def _csv(folder: Path) -> tuple[list[str], list[dict[str, str]]]:
    with (folder / "pareto.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _lines(folder: Path) -> list[str]:
    return (folder / "report.md").read_text().splitlines()


def test_partial_trials_enter_as_complete_copies_and_the_storage_is_unchanged(scheduled, study_dir):
    trials = scheduled.get_trials(deepcopy=False)
    assert [partial(t) for t in trials] == [False, False, True, True, False]
    assert [(fidelity_of(t) or {}).get("epochs") for t in trials] == [9, 9, 1, 3, None]
    assert (format_epochs(1, 9), format_epochs(9, 9), format_epochs(3, None), format_epochs(None, 9)) == \
        ("1 of 9", "9", "3", "-")

    seen = at_fidelity(trials)
    assert [t.number for t in seen] == [0, 1, 2, 3, 4]
    assert [t.state for t in seen] == [TrialState.COMPLETE] * 4 + [TrialState.PRUNED]
    assert [t.values for t in seen] == [VALUES[0], VALUES[1], VALUES[2], VALUES[3], None]
    for n in (0, 1, 4):  # not partial: the very same objects
        assert seen[n] is trials[n]
    for n in (2, 3):  # partial: a copy, with everything else of the trial
        assert seen[n] is not trials[n] and seen[n].user_attrs == trials[n].user_attrs
        assert seen[n].params == {"multiplier": pytest.approx(1.4 + 0.1 * n)}
        assert seen[n].number == n and fidelity_of(seen[n]) == {"epochs": [1, 3][n - 2], "budget": 9,
                                                                 "full": False}

    # full budget only: every trial as it is, so partial ones stay pruned (counted, never members)
    full = at_fidelity(trials, full_only=True)
    assert [t.number for t in full] == [0, 1, 2, 3, 4] and all(t is trials[t.number] for t in full)
    assert [t.state for t in full] == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED] * 3

    # nothing stored changed: neither the study's own trials nor a fresh read of the storage
    fresh = optuna.load_study(study_name=STUDY, storage=_url(study_dir)).get_trials()
    for source in (trials, scheduled.get_trials(deepcopy=False), fresh):
        assert [t.state for t in source] == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED] * 3
        assert [t.values for t in source] == [VALUES[0], VALUES[1], None, None, None]


def test_the_report_places_a_member_stopped_at_a_rung_by_the_accuracy_it_reached(written):
    report, folder = written
    assert [(row["trial"], row["epochs"]) for row in report.front] == [(0, 9), (1, 9), (2, 1)]
    assert report.front[2]["objectives"] == {"proxy": 0.30, "macs": 0.5e9, "cio": 2.0e6}
    assert report.front[2]["arch_file"] == "archs/trial0002_tiny.yaml"
    assert (folder / "archs/trial0002_tiny.yaml").is_file()
    # every feasible point, the dominated partial trial 3 included; the early-stopped trial 4 nowhere
    assert [(p["trial"], p["epochs"], p["on_front"]) for p in report.points] == \
        [(0, 9, True), (1, 9, True), (2, 1, True), (3, 3, False)]
    assert (report.n_trials, report.n_feasible) == (5, 4)
    assert report.fidelity == {"budget": 9, "rungs": [1, 3, 9], "kind": "sha", "full_budget_only": False}
    assert report.hypervolume_front == pytest.approx(HV_ALL)
    assert report.hypervolume_seeds == pytest.approx(1.1 * 0.1 * 0.1)  # the seed t0 (0, 1, 1) alone
    assert report.knee["trial"] == 1  # distances: t0 sqrt(2), t1 sqrt(0.04 + 9/49 + 16/81) = 0.649, t2 1

    lines = _lines(folder)
    assert "| trial | seed | proxy | macs | cio | epochs | architecture file |" in lines
    assert "|---:|---|---:|---:|---:|---:|---|" in lines
    assert "| 0 | hardnet68 | 80.00 % | 4.000 G | 20.00 M | 9 | archs/trial0000_hardnet68.yaml |" in lines
    assert "| 1 |  | 70.00 % | 2.000 G | 10.00 M | 9 | archs/trial0001_wide.yaml |" in lines
    assert "| 2 |  | 30.00 % | 0.500 G | 2.00 M | 1 of 9 | archs/trial0002_tiny.yaml |" in lines
    assert ("Trained with sha (rungs 1 -> 3 -> 9 epochs). Each member's accuracy is the one at the highest "
            "budget it reached (column epochs; 1 of 3 stopped below the full 9 epochs); python -m "
            "hardsearch.report study=NAME full_budget=true keeps only members trained in full.") in lines
    assert not any(line.startswith(("| 3 |", "| 4 |")) for line in lines)

    header, rows = _csv(folder)
    assert header[:7] == ["trial", "seed", "proxy", "macs", "cio", "epochs", "cost_params"]
    assert [(r["trial"], r["epochs"], r["proxy"]) for r in rows] == [("0", "9", "0.8"), ("1", "9", "0.7"),
                                                                     ("2", "1", "0.3")]
    assert sorted(p.name for p in (folder / "archs").iterdir()) == \
        ["trial0000_hardnet68.yaml", "trial0001_wide.yaml", "trial0002_tiny.yaml"]


def _expect_full_budget_only(report, folder: Path) -> None:
    assert [(row["trial"], row["epochs"]) for row in report.front] == [(0, 9), (1, 9)]
    assert [p["trial"] for p in report.points] == [0, 1]  # neither partial trial is a point
    assert (report.n_trials, report.n_feasible) == (5, 2)  # but every trial is counted
    assert report.fidelity == {"budget": 9, "rungs": [1, 3, 9], "kind": "sha", "full_budget_only": True}
    assert report.hypervolume_front == pytest.approx(HV_FULL)
    text = (folder / "report.md").read_text()
    assert ("Trained with sha (rungs 1 -> 3 -> 9 epochs). Only members trained to the full budget (9 epochs) "
            "are shown (full_budget=true).") in text.splitlines()
    assert "| 2 |" not in text and " of 9 |" not in text
    assert [(r["trial"], r["epochs"]) for r in _csv(folder)[1]] == [("0", "9"), ("1", "9")]
    assert sorted(p.name for p in (folder / "archs").iterdir()) == \
        ["trial0000_hardnet68.yaml", "trial0001_wide.yaml"]
    page = (folder / "report.html").read_text()
    assert "1 of 9" not in page and "3 of 9" not in page and "Only members trained to the full budget" in page


def test_full_budget_keeps_only_members_trained_in_full(scheduled, tmp_path):
    report, _ = report_study(scheduled, tmp_path, full_budget=True)
    _expect_full_budget_only(report, tmp_path)


def test_the_report_command_takes_full_budget(study_dir, capsys):
    report = report_command({"study": STUDY, "dir": str(study_dir), "full_budget": True})
    _expect_full_budget_only(report, study_dir)
    assert capsys.readouterr().out.startswith("2 Pareto-optimal trials; hypervolume 0.1310 ")
    # without it (the default, false), every member at the fidelity it reached; the partial one's file returns
    report = report_command({"study": STUDY, "dir": str(study_dir)})
    assert [(row["trial"], row["epochs"]) for row in report.front] == [(0, 9), (1, 9), (2, 1)]
    assert (study_dir / "archs/trial0002_tiny.yaml").is_file()


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_full_budget_must_be_a_boolean(tmp_path, value):
    with pytest.raises(UserError, match=rf"^full_budget: got {value!r}; allowed: true \(only members trained "
                                        r"to the full budget of a multi-fidelity schedule\) or false$"):
        report_command({"study": STUDY, "dir": str(tmp_path), "full_budget": value})
    assert list(tmp_path.iterdir()) == []  # refused before the study is even looked for


@pytest.mark.parametrize("proxy", [{k: v for k, v in PROXY.items() if k != "schedule"},
                                   {**PROXY, "schedule": None}], ids=["no schedule key", "schedule null"])
def test_without_a_schedule_the_report_is_as_before(tmp_path, proxy):
    study = _make_study(tmp_path / STUDY, proxy, [_full(0, schedule=False), _full(1, schedule=False),
                                                  _early_stopped()])
    folder = tmp_path / "report"
    report, _ = report_study(study, folder)
    assert report.fidelity is None
    assert [(row["trial"], row["epochs"]) for row in report.front] == [(0, None), (1, None)]
    assert [(p["trial"], p["epochs"]) for p in report.points] == [(0, None), (1, None)]
    text = (folder / "report.md").read_text()
    assert "| trial | seed | proxy | macs | cio | architecture file |" in text.splitlines()
    assert "|---:|---|---:|---:|---:|---|" in text.splitlines()
    assert "| 1 |  | 70.00 % | 2.000 G | 10.00 M | archs/trial0001_wide.yaml |" in text.splitlines()
    assert "epochs" not in text and "Trained with" not in text
    header, rows = _csv(folder)
    assert header[:6] == ["trial", "seed", "proxy", "macs", "cio", "cost_params"] and "epochs" not in header
    assert [r["trial"] for r in rows] == ["0", "1"]
    columns, _ = pareto_rows(report)
    assert columns[:6] == ["trial", "seed", "proxy", "macs", "cio", "cost_params"]
    page = (folder / "report.html").read_text()
    assert "<th>epochs</th>" not in page and "epochs: " not in page
    table = format_front(pareto_front(at_fidelity(study.get_trials()), DIRECTIONS), OBJECTIVES, proxy=proxy)
    assert "epochs" not in table


def test_wandb_logs_a_partial_trial_at_the_epochs_it_reached(scheduled, written):
    trials = scheduled.get_trials()
    stopped = trial_metrics(trials[2], OBJECTIVES, proxy=PROXY)
    assert (stopped["trial/state"], stopped["trial/epochs"], stopped["trial/full_budget"]) == ("pruned", 1, 0)
    assert logged_objective("proxy", 0.30, proxy=PROXY) == pytest.approx(30.0)  # an accuracy: in per cent
    assert stopped["objective/proxy"] == pytest.approx(30.0)
    assert (stopped["objective/macs"], stopped["objective/cio"]) == (0.5e9, 2.0e6)
    assert (stopped["cost/macs"], stopped["cost/cio"], stopped["cost/params"]) == (0.5e9, 2.0e6, 3.0e6)
    assert trials[2].state == TrialState.PRUNED and trials[2].values is None  # the trial itself unchanged
    dominated = trial_metrics(trials[3], OBJECTIVES, proxy=PROXY)
    assert (dominated["trial/epochs"], dominated["trial/full_budget"]) == (3, 0)
    assert dominated["objective/proxy"] == pytest.approx(60.0)
    for n in (0, 1):
        full = trial_metrics(trials[n], OBJECTIVES, proxy=PROXY)
        assert (full["trial/state"], full["trial/epochs"], full["trial/full_budget"]) == ("complete", 9, 1)
        assert full["objective/proxy"] == pytest.approx(100 * VALUES[n][0])
        assert full["objective/macs"] == VALUES[n][1]
    early = trial_metrics(trials[4], OBJECTIVES, proxy=PROXY)  # no schedule's record, no values
    assert early["trial/state"] == "pruned" and not any(k.startswith(("objective/", "trial/epochs",
                                                                      "trial/full_budget")) for k in early)

    columns, rows = pareto_rows(written[0])
    assert columns[:7] == ["trial", "seed", "proxy", "macs", "cio", "epochs", "cost_params"]
    table = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    assert sorted(table) == [0, 1, 2]
    assert [table[n]["epochs"] for n in (0, 1, 2)] == [9, 9, 1]
    assert table[2]["proxy"] == pytest.approx(30.0) and table[2]["macs"] == 0.5e9
    assert table[2]["architecture"] == summarize_arch(trials[2].user_attrs["arch"])


def test_the_console_front_shows_the_epochs_each_member_reached(scheduled):
    front = pareto_front(at_fidelity(scheduled.get_trials()), DIRECTIONS)
    assert [t.number for t in front] == [0, 1, 2]
    lines = format_front(front, OBJECTIVES, proxy=PROXY).splitlines()
    assert lines[0].split()[:6] == ["trial", "seed", "proxy", "macs", "cio", "epochs"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == ["0", "1", "2"]
    assert rows["2"].split()[:7] == ["2", "30.00", "%", "0.500", "G", "2.00", "M"]
    assert " 1 of 9  m=1.6 " in rows["2"]
    assert rows["0"].split()[1:9] == ["hardnet68", "80.00", "%", "4.000", "G", "20.00", "M", "9"]
    assert "of 9" not in rows["0"] + rows["1"]


def test_the_html_report_shows_the_epochs_in_hover_and_table(written):
    report, folder = written
    page = (folder / "report.html").read_text()
    head = "".join(f"<th>{h}</th>" for h in ["trial", "seed", "proxy", "macs", "cio", "epochs"])
    assert head + "<th>architecture</th><th>file</th>" in page
    assert "<td>2</td><td></td><td>30.00 %</td><td>0.500 G</td><td>2.00 M</td><td>1 of 9</td>" in page
    assert "<td>1</td><td></td><td>70.00 %</td><td>2.000 G</td><td>10.00 M</td><td>9</td>" in page
    sentence = ("Trained with sha (rungs 1 -> 3 -> 9 epochs). Each member's accuracy is the one at the "
                "highest budget it reached (column epochs; 1 of 3 stopped below the full 9 epochs)")
    assert f"<p>{html.escape(sentence)}" in page
    by_trial = {p["trial"]: p for p in report.points}
    hovers = {n: hover_text(p, OBJECTIVES, proxy=PROXY, budget=9) for n, p in by_trial.items()}
    assert hovers[2].split("<br>")[:5] == ["<b>trial 2</b> - on the front", "proxy: 30.00 %", "macs: 0.500 G",
                                           "cio: 2.00 M", "epochs: 1 of 9"]
    assert "epochs: 3 of 9" in hovers[3] and "epochs: 9<br>" in hovers[1]
    # each hover text once per panel (3 pairs of 3 objectives), in plotly's JSON ("<", ">", "/" escaped); a
    # partial member's twice more: the orange ring drawn around it carries its text too
    for n, text in hovers.items():
        escaped = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("/", "\\u002f")
        assert page.count(escaped) == (6 if n in (2, 3) else 3), n
    assert page.count("epochs: 1 of 9") == 6 and page.count("epochs: 3 of 9") == 6
    assert page.count('"name":"stopped below the full budget"') == 3


# Plotly draws every marker of every trace as an SVG path with class "point".
READY = """(() => {
  const plots = document.querySelectorAll('.js-plotly-plot');
  return plots.length === 2 && [...plots].every(p => p._fullLayout)
    && document.querySelectorAll('#pareto .scatterlayer .point').length > 0;
})()"""

# Where trial 2 (stopped at the first rung, on the front) is drawn in the first panel.
PARTIAL_MEMBER = """(() => {
  const gd = document.getElementById('pareto');
  const front = gd._fullData.find(d => d.name === 'Pareto front' && d.xaxis === 'x');
  const i = front.hovertext.findIndex(t => t.startsWith('<b>trial 2</b>'));
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.d2p(front.x[i]), y: box.top + ya._offset + ya.d2p(front.y[i])};
})()"""

HOVER = """(async () => {
  await new Promise(done => setTimeout(done, 300));
  const gd = document.getElementById('pareto');
  return {hover: gd.querySelector('.hoverlayer').textContent,
          panels: gd.querySelectorAll('.cartesianlayer .subplot').length,
          points: gd.querySelectorAll('.scatterlayer .point').length,
          table: [...document.querySelectorAll('table')].map(t => t.innerText).join('\\n')};
})()"""


@pytest.mark.slow
def test_chromium_shows_a_partial_member_at_the_epochs_it_reached(written):
    if find_chromium() is None:
        pytest.fail("Debian's chromium is not installed; ./dev.sh test installs it (apt-get install "
                    "chromium)")
    _, folder = written
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report_fidelity_html.png"
    shot.unlink(missing_ok=True)
    page = open_page(folder / "report.html", ready_js=READY, mouse_at_js=PARTIAL_MEMBER, after_ready_js=HOVER,
                     screenshot=shot, timeout=60)
    assert page.errors == [], page.errors
    # 4 feasible points in 3 panels, and an orange ring around each of the 2 partial ones
    assert page.value["panels"] == 3 and page.value["points"] == 3 * (4 + 2)
    assert "trial 2 - on the front" in page.value["hover"] and "epochs: 1 of 9" in page.value["hover"]
    assert "1 of 9" in page.value["table"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
