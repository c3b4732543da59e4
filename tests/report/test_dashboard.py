"""W&B dashboards: a real offline run, read back from disk with W&B's own reader (`wandb leet inspect`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hardsearch.arch.config import summarize_arch
from hardsearch.core.errors import UserError
from hardsearch.core.paths import ROOT
from hardsearch.report import dashboard
from hardsearch.report.dashboard import pareto_rows, resolve_mode, start_dashboard, trial_metrics
from hardsearch.report.pareto import build_report
from hardsearch.study.front import pareto_front

from searching import run, small

WANDB = str(Path(sys.executable).with_name("wandb"))


def read_run(run_dir: Path) -> list[dict]:
    """Every record of an offline run's transaction log, as W&B's reader prints them."""
    out = subprocess.run([WANDB, "leet", "inspect", "--json", str(run_dir)], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def runs_of(study_dir: Path) -> list[Path]:
    return sorted((study_dir / "wandb").glob("offline-run-*"))


def history(records: list[dict]) -> list[dict]:
    return [r["history"]["item"] for r in records if r["type"] == "history"]


@pytest.mark.slow
def test_offline_run_holds_every_trial_the_pareto_table_plots_and_artifact(tmp_path, capsys):
    result = run(small(tmp_path, trials=6, logger="wandb"))
    (run_dir,) = runs_of(result.study_dir)
    records = read_run(run_dir)
    (head,) = [r["run"] for r in records if r["type"] == "run"]
    assert head["run_group"] == "harmonic" and head["project"] == "hardsearch"
    assert {"hardsearch", "space:harmonic", "sampler:cost_aware", "proxy:naswot"} <= set(head["tags"])
    assert head["config"]["update"]["study"] == "harmonic"

    rows = {row["trial"]: row for row in history(records) if "trial/state" in row}
    trials = result.study.get_trials()
    assert sorted(rows) == [t.number for t in trials]
    for t in trials:
        row = rows[t.number]
        assert row["trial/state"] == "complete" and row["trial/seed"] == (t.user_attrs.get("seed") or "")
        assert row["objective/proxy"] == pytest.approx(t.values[0])
        assert (row["objective/macs"], row["objective/cio"]) == (t.values[1], t.values[2])
        assert row["cost/params"] == t.user_attrs["params"] and row["cost/cio"] == t.user_attrs["cio"]
        assert {k[len("param/"):]: v for k, v in row.items() if k.startswith("param/")} == \
            pytest.approx(t.params)
        done = [u for u in trials if u.number <= t.number]
        assert row["front/size"] == len(pareto_front(done, ["maximize", "minimize", "minimize"]))

    # The Pareto table: one row per front member, with the architecture summary column.
    (report,) = [row for row in history(records) if "pareto/front._type" in row]
    assert report["pareto/front._type"] == "table-file"
    table = json.loads((run_dir / "files" / report["pareto/front.path"]).read_text())
    columns = table["columns"]
    assert columns[:5] == ["trial", "seed", "proxy", "macs", "cio"] and "architecture" in columns
    by_trial = {row[0]: dict(zip(columns, row, strict=True)) for row in table["data"]}
    front = pareto_front(trials, ["maximize", "minimize", "minimize"])
    assert sorted(by_trial) == [t.number for t in front]
    for t in front:
        assert by_trial[t.number]["architecture"] == summarize_arch(t.user_attrs["arch"])
        assert by_trial[t.number]["cost_cio"] == t.user_attrs["cio"]
    for key, kind in (("plots/pareto", "image-file"), ("plots/hypervolume", "image-file"),
                      ("plots/report", "html-file")):
        assert report[f"{key}._type"] == kind and (run_dir / "files" / report[f"{key}.path"]).is_file()
    curve = json.loads((run_dir / "files" / report["pareto/hypervolume_history.path"]).read_text())
    assert [row[0] for row in curve["data"]] == [t.number for t in trials]
    summary = {}
    for r in records:
        if r["type"] == "summary":
            summary.update(r["summary"]["update"])
    assert summary["pareto/size"] == len(front) and summary["pareto/n_trials"] == 6

    # The architecture files as an artifact, and a clean exit.
    (artifact,) = [r["artifact"] for r in records if r["type"] == "artifact" and
                   r["artifact"]["type"] == "architectures"]
    assert artifact["name"] == "harmonic-pareto"
    paths = {c["path"] for c in artifact["manifest"]["contents"]}
    assert {f"archs/{p.name}" for p in (result.study_dir / "archs").glob("*.yaml")} | \
        {"pareto.csv", "pareto.json", "report.md"} == paths and len(paths) == len(front) + 3
    assert [r["exit"]["exit_code"] for r in records if r["type"] == "exit"] == [0]
    assert "warning" not in capsys.readouterr().err


@pytest.mark.slow
def test_every_worker_of_a_study_logs_into_its_group(tmp_path):
    """Two search processes on one study (one after the other here): two runs, one group, all trials."""
    run(small(tmp_path, trials=3, logger="wandb"))
    result = run(small(tmp_path, trials=5, logger="wandb"))
    first, second = (read_run(d) for d in runs_of(result.study_dir))
    groups = {r["run"]["run_group"] for records in (first, second) for r in records if r["type"] == "run"}
    assert groups == {"harmonic"}
    numbers = [sorted(row["trial"] for row in history(records) if "trial/state" in row)
               for records in (first, second)]
    assert numbers == [[0, 1, 2], [3, 4]]


def test_mode_comes_from_the_config_then_wandb_mode_then_offline():
    assert resolve_mode({"mode": None}, {}) == "offline"
    assert resolve_mode({"mode": None}, {"WANDB_MODE": "disabled"}) == "disabled"
    assert resolve_mode({"mode": None}, {"WANDB_MODE": "dryrun"}) == "offline"
    assert resolve_mode({"mode": "online"}, {"WANDB_MODE": "disabled"}) == "online"
    with pytest.raises(UserError, match=r"WANDB_MODE: got 'sometimes'; allowed: offline, dryrun, online"):
        resolve_mode({"mode": None}, {"WANDB_MODE": "sometimes"})


@pytest.mark.parametrize("how", ["config", "environment"])
def test_disabled_mode_writes_no_run(tmp_path, monkeypatch, how):
    extra = ["logger.mode=disabled"] if how == "config" else []
    if how == "environment":
        monkeypatch.setenv("WANDB_MODE", "disabled")
    result = run(small(tmp_path, *extra, trials=2, logger="wandb"))
    assert len(result.study.get_trials()) == 2 and not (result.study_dir / "wandb").exists()


def test_bad_logger_options_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match=r"^conf/logger/wandb.yaml: logger.mode: got 'loud'; allowed: null "
                                        r"\(WANDB_MODE, else offline\), offline, online, disabled$"):
        run(small(tmp_path, "logger.mode=loud", logger="wandb"))
    with pytest.raises(UserError, match=r"logger.tags: got 'x'; allowed: a list of names"):
        run(small(tmp_path, "logger.tags=x", logger="wandb"))
    assert not (tmp_path / "study").exists()  # refused before anything was created


def test_search_goes_on_when_wandb_cannot_start(tmp_path, monkeypatch, capsys):
    """Online without an account (a real W&B failure on this offline machine): one warning, a full search."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NETRC", str(tmp_path / "home" / ".netrc"))
    result = run(small(tmp_path, "logger.mode=online", trials=3, logger="wandb"))
    assert len(result.study.get_trials()) == 3 and (result.study_dir / "report.html").is_file()
    err = capsys.readouterr().err
    assert "warning: W&B: could not start an online run (UsageError: No API key configured" in err
    assert err.count("warning: W&B") == 1 and "the search goes on without W&B" in err


def test_online_without_a_network_says_so_first_and_gives_up_soon(tmp_path, monkeypatch, capsys):
    """An API key but no way to reach W&B (this machine has no network; with one, the made-up key is
    refused): a line before trying, then one warning once the (short) init timeout is over."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WANDB_API_KEY", "0123456789" * 4)
    monkeypatch.setattr(dashboard, "ONLINE_INIT_TIMEOUT", 3)
    warnings = []
    started = time.monotonic()
    wandb_run = start_dashboard({"name": "wandb", "mode": "online"}, study="s", study_dir=tmp_path / "s",
                                objectives=["proxy"], config={}, front_size=lambda: 0, warn=warnings.append)
    assert wandb_run is None and time.monotonic() - started < 30
    out = capsys.readouterr().out
    assert out.startswith("W&B: connecting (online mode; gives up after 3 s without a network; "
                          f"logger.mode=offline or WANDB_MODE=offline logs into {tmp_path / 's' / 'wandb'} "
                          "instead) ...\n")
    assert len(warnings) == 1 and warnings[0].startswith("could not start an online run (")


def test_search_goes_on_when_wandb_fails_to_log(tmp_path, monkeypatch, capsys):
    import wandb.sdk.wandb_run

    calls = []

    def broken_log(self, data, *args, **kwargs):
        calls.append(data)
        raise OSError("disk full")

    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "log", broken_log)
    result = run(small(tmp_path, trials=4, logger="wandb"))
    assert len(result.study.get_trials()) == 4 and (result.study_dir / "pareto.csv").is_file()
    assert len(calls) == 1  # after the first failure the logger stops trying
    err = capsys.readouterr().err
    assert err.count("warning: W&B: could not log trial 0 (OSError: disk full)") == 1
    (run_dir,) = runs_of(result.study_dir)
    assert [r["exit"]["exit_code"] for r in read_run(run_dir) if r["type"] == "exit"] == [1]


def test_an_accuracy_proxy_is_logged_in_per_cent_and_costs_as_stored():
    trial = optuna.trial.create_trial(values=[0.7342, 4.246e9, 11.47e6], params={"multiplier": 1.7},
                                      distributions={"multiplier": FloatDistribution(1.4, 2.0)},
                                      user_attrs={"constraints": [-1.0], "cio": 11.47e6})
    objectives = ["proxy", "macs", "cio"]
    for proxy in ("train", "predictor", {"name": "train", "resolution": 32}):
        row = trial_metrics(trial, objectives, proxy=proxy)
        assert row["objective/proxy"] == pytest.approx(73.42)
        assert (row["objective/macs"], row["objective/cio"], row["cost/cio"]) == (4.246e9, 11.47e6, 11.47e6)
    for proxy in (None, "ensemble", "naswot"):  # a score: as stored, as before
        assert trial_metrics(trial, objectives, proxy=proxy)["objective/proxy"] == 0.7342
    trial.number = 0
    for proxy, shown in (({"name": "train"}, pytest.approx(73.42)), ({"name": "ensemble"}, 0.7342)):
        report = build_report("s", [trial], objectives, ["maximize", "minimize", "minimize"], proxy=proxy)
        columns, rows = pareto_rows(report)
        row = dict(zip(columns, rows[0], strict=True))
        assert (row["proxy"], row["macs"], row["cost_cio"]) == (shown, 4.246e9, 11.47e6)


@pytest.mark.slow
def test_a_short_training_search_reads_in_per_cent_on_the_console_report_and_wandb(tmp_path, capsys):
    """proxy=train, one optimiser step per trial on the tiny space: the study stores fractions; the trial
    lines, the front table, report.md, report.html and the offline W&B run show per cent."""
    options = small(tmp_path, "proxy=train", "proxy.steps=1", "proxy.threads=1", "proxy.early_stop=null",
                    "sampler=random", trials=4, logger="wandb")
    options["space"] = yaml.safe_load((ROOT / "tests/spaces/tiny.yaml").read_text())
    lines = []
    result = run(options, lines)
    trials = result.study.get_trials()
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(0.0 <= t.values[0] <= 1.0 for t in trials) and max(t.values[0] for t in trials) > 0  # stored
    shown = {t.number: f"{100 * t.values[0]:.2f} %" for t in trials}
    front = pareto_front(trials, ["maximize", "minimize", "minimize"])

    out = capsys.readouterr().out  # the trial lines, then the front table
    for t in trials:
        assert f"trial {t.number}: proxy {shown[t.number]}  macs " in out
    table = next(line for line in lines if line.startswith("trial  seed")).splitlines()
    assert sorted(row.split()[1] + " " + row.split()[2] for row in table[1:]) == \
        sorted(shown[t.number] for t in front)

    markdown = (result.study_dir / "report.md").read_text()
    assert "Proxy: held-out top-1 accuracy (%) after a short training, measured at 32x32 px" in markdown
    page = (result.study_dir / "report.html").read_text()
    assert "held-out top-1 accuracy (%) after a short training\\u003cbr\\u003e(at 32x32 px" in page
    for t in front:
        assert f"| {t.number} |  | {shown[t.number]} | " in markdown
        assert f"<td>{shown[t.number]}</td>" in page

    (run_dir,) = runs_of(result.study_dir)
    records = read_run(run_dir)
    rows = {row["trial"]: row for row in history(records) if "trial/state" in row}
    for t in trials:  # exactly 100 x the stored fraction; the costs as stored
        assert rows[t.number]["objective/proxy"] == pytest.approx(100 * t.values[0], abs=1e-9)
        assert rows[t.number]["objective/macs"] == t.values[1]
    assert max(row["objective/proxy"] for row in rows.values()) > 1
    (report,) = [row for row in history(records) if "pareto/front._type" in row]
    table = json.loads((run_dir / "files" / report["pareto/front.path"]).read_text())
    logged = {row[0]: dict(zip(table["columns"], row, strict=True)) for row in table["data"]}
    assert sorted(logged) == sorted(t.number for t in front)
    for t in front:
        assert logged[t.number]["proxy"] == pytest.approx(100 * t.values[0], abs=1e-9)
    summary = {}
    for r in records:
        if r["type"] == "summary":
            summary.update(r["summary"]["update"])
    best = max(t.values[0] for t in trials)
    assert summary["objective/proxy"]["max"] == pytest.approx(100 * best, abs=1e-9)


@pytest.mark.slow
def test_a_successive_halving_search_logs_the_fidelity_to_wandb(tmp_path):
    """proxy.schedule=sha on the tiny space, an offline run read back: each trial's epochs reached, a
    stopped member's objectives at the rung it reached, and the Pareto table's epochs column."""
    options = small(tmp_path, "proxy=train", "proxy.epochs=3", "proxy.batch_size=100", "proxy.threads=1",
                    "proxy.schedule=sha", "sampler=random", trials=6, logger="wandb")
    options["space"] = yaml.safe_load((ROOT / "tests/spaces/tiny.yaml").read_text())
    result = run(options)
    trials = result.study.get_trials()
    assert {t.state for t in trials} == {TrialState.COMPLETE, TrialState.PRUNED}
    (run_dir,) = runs_of(result.study_dir)
    records = read_run(run_dir)
    rows = {row["trial"]: row for row in history(records) if "trial/state" in row}
    for t in trials:
        reached = t.user_attrs["fidelity"]
        assert rows[t.number]["trial/epochs"] == reached["epochs"]
        assert rows[t.number]["trial/full_budget"] == int(reached["full"])
        values = t.values if t.state == TrialState.COMPLETE else t.user_attrs["fidelity_values"]
        assert rows[t.number]["objective/proxy"] == pytest.approx(100 * values[0], abs=1e-9)
        assert rows[t.number]["objective/cio"] == values[2]
    (report,) = [row for row in history(records) if "pareto/front._type" in row]
    table = json.loads((run_dir / "files" / report["pareto/front.path"]).read_text())
    assert "epochs" in table["columns"]
    logged = {row[0]: dict(zip(table["columns"], row, strict=True)) for row in table["data"]}
    for number, row in logged.items():
        assert row["epochs"] == trials[number].user_attrs["fidelity"]["epochs"]
