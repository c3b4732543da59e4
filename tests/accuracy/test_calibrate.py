"""``python -m hardsearch.calibrate`` end to end on real CIFAR-10 images (the packaged sample)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from hardsearch.accuracy.calibrate import CalibrationReport, correlate, format_table
from hardsearch.accuracy.proxies import PROXY_NAMES
from hardsearch.accuracy.stats import rank_correlation
from hardsearch.core.paths import ROOT


def calibrate(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hardsearch.calibrate", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_calibrate_end_to_end_and_resume(tmp_path, cifar10_folder):
    subset = cifar10_folder  # real CIFAR-10 images the repository ships
    out = tmp_path / "cal"
    args = ["+space=harmonic_ds", "n=4", "seed=1", "data=imagefolder", f"root={subset}", "train.steps=2",
            "train.batch_size=32", f"out={out}"]
    first = calibrate(*args)
    assert first.returncode == 0, first.stderr
    assert "spearman" in first.stdout and "partial|MACs" in first.stdout
    report = json.loads((out / "calibration.json").read_text())
    assert report["space"] == "harmonic_ds" and report["data"].startswith("imagefolder:")
    assert len(report["rows"]) == 4
    names = [a["proxy"] for a in report["agreements"]]
    assert names == list(PROXY_NAMES) + ["ensemble(naswot+synflow+jacob_cov)"] + [
        f"rank({m}+macs)" for m in ("naswot", "jacob_cov", "zico", "meco", "nn_mass")]
    for row in report["rows"]:
        assert set(row["scores"]) == set(PROXY_NAMES)
        assert all(math.isfinite(v) for v in row["scores"].values())
        assert 0.0 <= row["accuracy"] <= 1.0 and row["train_steps"] == 2
    # the macs baseline (10 classes at 32x32) ranks like the counted MACs at 224x224
    macs = next(a for a in report["agreements"] if a["proxy"] == "macs")
    assert macs["n"] == 4
    markdown = (out / "calibration.md").read_text()
    assert "| proxy | Spearman ρ | p | Kendall τ | partial ρ given MACs | seconds / arch |" in markdown
    assert len((out / "rows.jsonl").read_text().splitlines()) == 4

    # an interrupted write leaves a torn last line; a re-run skips it and redoes nothing else
    with (out / "rows.jsonl").open("a") as f:
        f.write('{"name": "torn')
    second = calibrate(*args)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("measured before, reused") == 4
    assert "skipping an unreadable line" in second.stdout
    assert json.loads((out / "calibration.json").read_text())["rows"] == report["rows"]

    # rows measured before a proxy existed: the re-run scores it without training again
    lines = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()[:4]]
    for row in lines:
        del row["scores"]["zico"], row["seconds"]["zico"]
    (out / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in lines))
    third = calibrate(*args)
    assert third.returncode == 0, third.stderr
    assert third.stdout.count("(scored zico)") == 4
    rows = json.loads((out / "calibration.json").read_text())["rows"]
    assert [r["scores"] for r in rows] == [r["scores"] for r in report["rows"]]  # deterministic
    assert [r["train_seconds"] for r in rows] == [r["train_seconds"] for r in report["rows"]]
    assert len((out / "rows.jsonl").read_text().splitlines()) == 8  # the completed rows appended


def test_correlate_and_table_on_known_rows():
    rows = [{"name": f"a{i}", "accuracy": acc, "macs": macs,
             "scores": {"good": acc * 2, "cost": macs, "bad": -acc},
             "seconds": {"good": 0.1, "cost": 0.2, "bad": 0.3}}
            for i, (acc, macs) in enumerate([(0.1, 5), (0.3, 1), (0.2, 4), (0.5, 2), (0.4, 3)])]
    agreements = {a.proxy: a for a in correlate(rows, ["good", "cost", "bad"], ensemble=["good", "bad"])}
    assert agreements["good"].correlation.spearman == pytest.approx(1.0)
    assert agreements["bad"].correlation.kendall == pytest.approx(-1.0)
    assert agreements["cost"].correlation.spearman == pytest.approx(-0.7)  # sum d^2 = 34: 1 - 6*34/120
    assert agreements["good"].seconds == pytest.approx(0.1)
    # good and bad normalise to opposite z-scores, so their equal-weight ensemble is constant
    assert math.isnan(agreements["ensemble(good+bad)"].correlation.spearman)
    # a rank combination scores each row by its members' mean rank: good + cost gives
    # ranks (1+5)/2, (3+1)/2, (2+4)/2, (5+2)/2, (4+3)/2 = 3, 2, 3, 3.5, 3.5
    combined = correlate(rows, ["good", "cost"], combinations=[["good", "cost"]])[-1]
    assert combined.proxy == "rank(good+cost)" and combined.seconds == pytest.approx(0.3)
    accuracy = [r["accuracy"] for r in rows]
    assert combined.correlation == rank_correlation([3, 2, 3, 3.5, 3.5], accuracy, [r["macs"] for r in rows])
    table = format_table(CalibrationReport("s", "d", {}, rows, list(agreements.values())))
    assert table.splitlines()[0].startswith("5 architectures of space s, data d")
    assert table.splitlines()[3].startswith("good")  # best partial correlation first


@pytest.mark.parametrize("args,message", [
    ([], "space: missing; choose a search space with +space=NAME; allowed: harmonic, harmonic_ds"),
    (["+space=nope"], "'+space=nope': unknown space 'nope'; allowed: harmonic, harmonic_ds"),
    (["+space=harmonic", "data=mnist"],
     "'data=mnist': unknown data 'mnist'; allowed: cifar10, cifar10_sample"),
    (["+space=harmonic", "n=-1"], "n: got -1; allowed: an integer >= 0"),
    (["+space=harmonic", "proxies=[naswot,fisher]"], "proxies: got ['naswot', 'fisher']; allowed"),
    (["+space=harmonic", "data=imagefolder"], "data.root: got None with data.source=imagefolder"),
    (["+space=harmonic", "train.epochs=0"], "train.epochs: got 0; allowed: an integer >= 1"),
    (["+space=harmonic", "combinations=[[naswot]]"], "combinations: got [['naswot']]; allowed: a list of"),
    (["+space=harmonic", "combinations=[[naswot,fisher]]"], "combinations: got [['naswot', 'fisher']]"),
    (["+space=harmonic", "repeats=-1"], "repeats: got -1; allowed: an integer >= 0"),
    (["+space=harmonic", "repeats=2", "repeat_seed=0"], "repeat_seed: got 0, the same as train.seed"),
    (["+space=harmonic", "colour=red"], "unknown key 'colour'"),
])
def test_bad_command_lines_give_one_line(args, message):
    result = calibrate(*args, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_too_few_architectures_are_refused_before_any_training(tmp_path):
    result = calibrate("+space=harmonic_ds", "n=2", f"out={tmp_path / 'cal'}", timeout=300)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("hardsearch.calibrate: error: conf/calibrate.yaml: n: got 2; allowed: "
                                    "at least 3 architectures in all")
    assert not (tmp_path / "cal").exists()  # nothing measured, nothing written


@pytest.mark.slow
def test_repeats_give_the_noise_ceiling_and_resume(tmp_path, cifar10_folder):
    out = tmp_path / "cal"
    args = ["+space=harmonic_ds", "n=4", "seed=2", "data=imagefolder", f"root={cifar10_folder}",
            "train.steps=2", "train.batch_size=32", "repeats=3", "repeat_seed=7", "proxies=[params,macs]",
            "ensemble=[]", "combinations=[]", f"out={out}"]
    first = calibrate(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("trained again with train.seed=7") == 3
    report = json.loads((out / "calibration.json").read_text())
    ceiling = next(a for a in report["agreements"] if a["proxy"] == "noise ceiling (train.seed=7)")
    assert ceiling["n"] == 3
    repeats = report["repeats"]
    assert [r["digest"] for r in repeats] == [r["digest"] for r in report["rows"][:3]]
    assert all(r["train_seed"] == 7 and r["first_accuracy"] == row["accuracy"]
               for r, row in zip(repeats, report["rows"], strict=False))
    stored = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert sum(bool(r.get("repeat")) for r in stored) == 3 and len(stored) == 7
    assert "## Trained again" in (out / "calibration.md").read_text()
    # resumed: nothing is trained again, and the report is the same
    second = calibrate(*args)
    assert second.returncode == 0, second.stderr
    assert "trained again" not in second.stdout and second.stdout.count("measured before, reused") == 4
    assert json.loads((out / "calibration.json").read_text())["repeats"] == repeats
    # the thread count is how a row is computed, not what it measures: other threads resume too
    third = calibrate(*args, "train.threads=1")
    assert third.returncode == 0, third.stderr
    assert "trained again" not in third.stdout and third.stdout.count("measured before, reused") == 4
    assert "ignoring" not in third.stdout


def test_stored_rows_reads_the_rows_of_the_folder_settings(tmp_path):
    from hardsearch.accuracy.calibrate import _settings_key, stored_rows
    from hardsearch.core.errors import UserError

    # an older folder stored its thread count: its rows are found under the settings as written
    settings = {"space": "harmonic", "data": "imagefolder:/d", "resolution": 32, "batch_size": 64,
                "proxy_seed": 0, "train": {"epochs": 2, "threads": 1, "seed": 0}}
    key = _settings_key(settings)
    other = _settings_key({**settings, "resolution": 64})
    (tmp_path / "calibration.json").write_text(json.dumps({"settings": settings}))
    lines = [{"digest": "a", "settings_key": key, "accuracy": 0.1},
             {"digest": "b", "settings_key": other, "accuracy": 0.2},  # another recipe: left out
             {"digest": "c", "settings_key": key, "accuracy": 0.3},
             {"digest": "a", "settings_key": key, "accuracy": 0.4}]  # measured again: the last wins
    repeat = {"digest": "c", "settings_key": _settings_key({**settings, "repeat": True}), "accuracy": 0.5}
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines + [repeat]))
    got_settings, rows = stored_rows(tmp_path)
    assert got_settings == settings
    assert [(r["digest"], r["accuracy"]) for r in rows] == [("a", 0.4), ("c", 0.3)]
    with pytest.raises(UserError, match=r"^rows: .*no calibration.json and rows.jsonl there; allowed: "):
        stored_rows(tmp_path / "missing")
    (tmp_path / "calibration.json").write_text("{")
    with pytest.raises(UserError, match=r"calibration.json: unreadable \(JSONDecodeError\)"):
        stored_rows(tmp_path)


def test_stored_repeats_reads_the_repeat_records_of_a_folder(tmp_path):
    from hardsearch.accuracy.calibrate import stored_repeats
    from hardsearch.core.errors import UserError

    records = [{"digest": "a", "accuracy": 0.41, "first_accuracy": 0.40, "train_seed": 1, "macs": 5}]
    (tmp_path / "calibration.json").write_text(json.dumps({"settings": {}, "repeats": records}))
    assert stored_repeats(tmp_path) == records
    (tmp_path / "calibration.json").write_text(json.dumps({"settings": {}}))  # no repeats=N: none
    assert stored_repeats(tmp_path) == []
    (tmp_path / "calibration.json").write_text(json.dumps({"settings": {}, "repeats": [{"digest": "a"}]}))
    with pytest.raises(UserError, match=r"^rows: .*calibration.json: repeats: not a list of records"):
        stored_repeats(tmp_path)
    with pytest.raises(UserError, match=r"^table: .*missing: no calibration.json there; allowed: "):
        stored_repeats(tmp_path / "missing", key="table")
    (tmp_path / "calibration.json").write_text("[")
    with pytest.raises(UserError, match=r"calibration.json: unreadable \(JSONDecodeError\)"):
        stored_repeats(tmp_path)
