"""The benchmark scripts run and write their figures (no timing is asserted here)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from hardsearch.accuracy.proxies import PROXY_NAMES
from hardsearch.arch.config import arch_from_dict
from hardsearch.core.paths import ROOT


def test_cost_model_benchmark_writes_its_json(tmp_path):
    out = tmp_path / "cost_model.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/cost_model.py", "--archs", "hardnet39ds", "--sizes", "64",
         "--analytic-reps", "3", "--trace-reps", "1", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    (row,) = data["rows"]
    assert row["arch"] == "hardnet39ds" and row["input_size"] == 64
    assert row["analytic_ms"] > 0 and row["fvcore_ms"] > 0
    assert row["speedup"] == row["fvcore_ms"] / row["analytic_ms"]


def test_proxies_benchmark_writes_its_json(tmp_path, cifar10_folder):
    out = tmp_path / "proxies.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/proxies.py", "--archs", "hardnet39ds", "--reps", "1",
         "--epoch-steps", "2", "--train-data", str(cifar10_folder), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    (row,) = data["zero_cost"]["rows"]
    assert row["arch"] == "hardnet39ds" and row["train_step_s"] > 0
    assert set(row["proxies"]) == set(PROXY_NAMES) | {"predictor"}  # the default objective timed beside them
    for cell in row["proxies"].values():
        assert cell["ratio_to_train_step"] == cell["seconds"] / row["train_step_s"]
    training = data["short_training"]
    assert training["train_images"] == 800 and training["test_images"] == 200  # the packaged sample's
    (train_row,) = training["rows"]
    assert train_row["steps_timed"] == 2 and train_row["steps_per_epoch"] == 800 // training["batch_size"]
    assert train_row["epoch_seconds"] > train_row["eval_seconds"] > 0


def test_search_throughput_benchmark_writes_its_json(tmp_path):
    out = tmp_path / "search_throughput.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/search_throughput.py", "--trials", "4", "--override", "proxy=naswot",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())["rows"]
    assert row["trials"] == 4 and row["overrides"] == ["proxy=naswot"]
    assert 0 < row["proxy_seconds"] < row["loop_seconds"] <= row["total_seconds"]
    assert row["overhead_share"] == (row["loop_seconds"] - row["proxy_seconds"]) / row["loop_seconds"]
    assert row["trials_per_minute"] == 60 * 4 / row["loop_seconds"]


@pytest.mark.slow
def test_search_quality_benchmark_resumes_and_normalises_over_all_runs(tmp_path):
    args = [sys.executable, "benchmarks/search_quality.py", "--proxies", "params", "--samplers", "random",
            "cost_aware", "--seeds", "1", "2", "--trials", "5", "--results", str(tmp_path)]
    first = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    assert "4 runs to do" in first.stdout
    runs = sorted((tmp_path / "search_quality").glob("*.json"))
    assert [p.name for p in runs] == ["params-cost_aware-1.json", "params-cost_aware-2.json",
                                      "params-random-1.json", "params-random-2.json"]
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "0 runs to do" in again.stdout  # finished runs are not run again
    summary = json.loads((tmp_path / "search_quality.json").read_text())["proxies"]["params"]
    points = [[-t["values"][0], *t["values"][1:]] for p in runs for t in json.loads(p.read_text())["trials"]
              if t["feasible"]]
    # one normalisation over all runs
    assert summary["normalisation"]["low"] == [min(c) for c in zip(*points, strict=True)]
    assert summary["normalisation"]["high"] == [max(c) for c in zip(*points, strict=True)]
    table = summary["samplers"]
    assert summary["checkpoints"] == [5]  # 24, 48 and 96 lie beyond this budget: the budget itself
    assert table["random"]["ratio_to_random@5"] == 1.0
    for entry in table.values():
        assert entry["seeds"] == [1, 2] and len(entry["hv@5"]) == 2
        assert all(0 < v <= 1.1 ** 3 for v in entry["hv@5"])
    # every trial pooled: a front at least as good as any single run's
    assert summary["pooled"]["trials"] == len(points)
    assert summary["pooled"]["hv"] >= max(v for e in table.values() for v in e["hv@5"]) - 1e-12
    pooled_ratio = summary["pooled"]["hv"] / table["random"]["hv@5_mean"]
    assert summary["pooled"]["ratio_to_random"] == pytest.approx(pooled_ratio)
    assert (tmp_path / "search_quality.png").stat().st_size > 10_000


@pytest.mark.slow
def test_distributed_benchmark_writes_its_json(tmp_path):
    out = tmp_path / "d.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/distributed.py", "--workers", "1", "2", "--trials", "12",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [row["workers"] for row in rows] == [1, 2]
    for row in rows:
        assert row["complete"] == 12
        assert row["lost"] == row["extra"] == row["duplicated"] == 0
        assert row["seed_trials"] == 2 and row["trials_per_s"] > 0
    assert rows[0]["speedup_vs_1"] == 1.0
    assert rows[1]["speedup_vs_1"] == rows[1]["trials_per_s"] / rows[0]["trials_per_s"]


def _calibrate_folder(folder, accuracies, space="harmonic_ds"):
    """A calibrate output folder as hardsearch.calibrate writes it, for rows of known accuracy."""
    from hardsearch.accuracy.calibrate import _settings_key
    from hardsearch.arch.config import arch_to_dict
    from hardsearch.arch.costs import cost_totals
    from hardsearch.arch.space import arch_digest, load_space

    settings = {"space": space, "input_size": [224, 224], "data": "cifar10_sample", "resolution": 32,
                "batch_size": 64, "proxy_seed": 0,
                "train": {"epochs": 2, "steps": None, "batch_size": 128, "lr": 0.01, "momentum": 0.9,
                          "weight_decay": 5e-4, "augment": True, "threads": 0, "seed": 0,
                          "eval_batch_size": 500}}
    key = _settings_key(settings)
    archs = load_space(space).sample(len(accuracies), seed=5)
    rows = []
    for i, (arch, accuracy) in enumerate(zip(archs, accuracies, strict=True)):
        totals = cost_totals(arch, 224)
        rows.append({"name": arch.name, "digest": arch_digest(arch), "arch": arch_to_dict(arch),
                     "params": totals.params, "macs": totals.macs, "cio": totals.cio,
                     "scores": {"naswot": accuracy * 100 + (i % 2), "macs": totals.macs,
                                "params": totals.params},
                     "seconds": {"naswot": 0.1, "macs": 0.0, "params": 0.0}, "accuracy": accuracy,
                     "settings_key": key})
    repeats = [{"digest": r["digest"], "accuracy": r["accuracy"] + 0.01, "first_accuracy": r["accuracy"],
                "train_seed": 1} for r in rows[:4]]
    folder.mkdir()
    (folder / "calibration.json").write_text(json.dumps({"settings": settings, "repeats": repeats}))
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_evidence_benchmark_reports_every_candidate_and_applies_the_rule(tmp_path):
    folder = tmp_path / "bench"
    _calibrate_folder(folder, [0.30, 0.42, 0.35, 0.50, 0.38, 0.45])
    out = tmp_path / "evidence"
    result = subprocess.run(
        [sys.executable, "benchmarks/harmonicbench/evidence.py", "--rows", str(folder), "--models", "ridge",
         "--feature-sets", "naswot", "none", "--folds", "3", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "evidence.json").read_text())
    names = {e["proxy"]: e for e in data["evidence"]}
    assert {"naswot", "params", "macs", "rank(naswot+macs)", "ensemble(naswot+macs)",
            "predictor(ridge: naswot)",
            "predictor(ridge: costs+encoding)", "noise ceiling (train.seed=1)"} <= set(names)
    assert names["naswot"]["spearman"] > names["macs"]["spearman"]  # naswot follows accuracy here by design
    assert names["predictor(ridge: naswot)"]["held_out"] == "3-fold cross-validation"
    assert names["noise ceiling (train.seed=1)"]["spearman"] == 1.0
    assert data["default"] is not None and names[data["default"]]["kind"] not in ("baseline", "ceiling")
    assert "**(default)**" in (out / "evidence.md").read_text()
    assert data["within"] == {}  # one space: nothing to split


def test_evidence_benchmark_holds_each_space_to_its_own_rows(tmp_path):
    from hardsearch.accuracy.stats import rank_correlation

    ds, plain = tmp_path / "ds", tmp_path / "plain"
    _calibrate_folder(ds, [0.30, 0.42, 0.35, 0.50, 0.38, 0.45])
    _calibrate_folder(plain, [0.61, 0.55, 0.70, 0.52, 0.66], space="harmonic")
    out = tmp_path / "evidence"
    result = subprocess.run(
        [sys.executable, "benchmarks/harmonicbench/evidence.py", "--rows", str(ds), str(plain),
         "--models", "ridge", "--feature-sets", "naswot", "--folds", "3", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "evidence.json").read_text())
    assert list(data["within"]) == ["harmonic_ds", "harmonic"]
    within = {space: {e["proxy"]: e for e in found} for space, found in data["within"].items()}
    assert within["harmonic_ds"]["naswot"]["n"] == 6 and within["harmonic"]["naswot"]["n"] == 5
    # unfitted candidates are held to each space's rows alone: naswot's own ranking there
    rows = [json.loads(line) for line in (plain / "rows.jsonl").read_text().splitlines()]
    alone = rank_correlation([r["scores"]["naswot"] for r in rows], [r["accuracy"] for r in rows])
    assert within["harmonic"]["naswot"]["spearman"] == pytest.approx(alone.spearman)
    # the predictor keeps its out-of-fold predictions, split by space; the ceiling has only ds repeats
    assert within["harmonic"]["predictor(ridge: naswot)"]["held_out"] == "3-fold cross-validation"
    assert within["harmonic"]["predictor(ridge: naswot)"]["n"] == 5
    assert within["harmonic_ds"]["noise ceiling (train.seed=1)"]["n"] == 4
    assert within["harmonic"]["noise ceiling (train.seed=1)"]["n"] == 4
    markdown = (out / "evidence.md").read_text()
    header = "| candidate | harmonic_ds ρ | harmonic_ds partial ρ | harmonic ρ | harmonic partial ρ |"
    assert header in markdown


def test_harmonicbench_table_is_one_csv_row_per_network(tmp_path):
    folder = tmp_path / "bench"
    _calibrate_folder(folder, [0.30, 0.42, 0.35, 0.50])
    rows = [json.loads(line) for line in (folder / "rows.jsonl").read_text().splitlines()]
    rows[0]["per_epoch"], rows[0]["train_seconds"] = [0.21, 0.30], 12.34
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "table.csv"
    result = subprocess.run([sys.executable, "benchmarks/harmonicbench/table.py", "--rows", str(folder),
                             "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "4 networks (harmonic_ds), 4 trained twice; recipe: cifar10_sample at 32², 2 epochs" \
        in result.stdout
    with out.open() as f:
        table = list(csv.DictReader(f))
    assert [r["digest"] for r in table] == [r["digest"] for r in rows]
    first = table[0]
    assert (first["accuracy"], first["accuracy_epoch1"], first["accuracy_epoch2"]) == ("0.3", "0.21", "0.3")
    assert (first["accuracy_repeat"], first["repeat_train_seed"]) == ("0.31", "1")
    assert first["train_seconds"] == "12.3"
    assert table[1]["accuracy_epoch1"] == "" and float(first["score_naswot"]) == rows[0]["scores"]["naswot"]
    assert arch_from_dict(json.loads(first["arch"])) == arch_from_dict(rows[0]["arch"])
    assert int(first["macs"]) == rows[0]["macs"]
    bad = subprocess.run([sys.executable, "benchmarks/harmonicbench/table.py", "--rows",
                          str(tmp_path / "none")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no calibration.json" in bad.stderr


@pytest.mark.slow
def test_front_check_trains_the_front_with_the_table_recipe_and_resumes(tmp_path, cifar10_folder):
    import dataclasses

    from hardsearch.arch.config import save_arch
    from hardsearch.arch.costs import cost_totals
    from hardsearch.arch.seeds import load_seed
    from hardsearch.arch.space import arch_digest

    table = tmp_path / "table"
    _calibrate_folder(table, [0.30, 0.42, 0.35, 0.50], space="harmonic_ds")
    report = json.loads((table / "calibration.json").read_text())
    report["settings"]["data"] = f"imagefolder:{cifar10_folder}"
    report["settings"]["train"].update(steps=1, batch_size=16, eval_batch_size=100)
    (table / "calibration.json").write_text(json.dumps(report))
    # the rows were stored under the old settings: give them the new key, as calibrate would have
    from hardsearch.accuracy.calibrate import _settings_key
    key = _settings_key(report["settings"])
    lines = (table / "rows.jsonl").read_text().splitlines()
    rows = [{**json.loads(line), "settings_key": key} for line in lines]
    (table / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    archs = tmp_path / "archs"
    archs.mkdir()
    front = [("hardnet39ds", 0.41), ("hardnet68ds", 0.37), ("hardnet68", 0.45)]
    for i, (name, predicted) in enumerate(front):
        arch = load_seed(name)
        totals = cost_totals(arch, 224)
        meta = {"trial": i, "digest": arch_digest(arch), "objectives": {"proxy": predicted},
                "costs": {"macs": totals.macs, "params": totals.params}}
        save_arch(dataclasses.replace(arch, metadata=meta), archs / f"trial{i:04d}_{name}.yaml")
    out = tmp_path / "check"
    args = [sys.executable, "benchmarks/harmonicbench/front_check.py", "--archs", str(archs),
            "--table", str(table), "--out", str(out)]
    first = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    summary = json.loads((out / "front_check.json").read_text())
    assert summary["n"] == 3 and [r["predicted"] for r in summary["rows"]] == [0.41, 0.37, 0.45]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in summary["rows"])
    assert summary["mae_points"] == pytest.approx(
        100 * sum(abs(r["predicted"] - r["accuracy"]) for r in summary["rows"]) / 3)
    assert summary["inside_table_macs"] == sum(
        summary["table_macs"][0] <= r["macs"] <= summary["table_macs"][1] for r in summary["rows"])
    assert "3 front members: predicted against trained Spearman" in first.stdout
    rho = summary["spearman"]  # nan where one training step leaves every network at the same accuracy
    assert rho is not None and (rho != rho or -1.0 <= rho <= 1.0)
    # a second run trains nothing again: the rows come back from rows.jsonl
    stored = (out / "rows.jsonl").read_text()
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and (out / "rows.jsonl").read_text() == stored
    bad = subprocess.run(args[:3] + [str(tmp_path / "none"), *args[4:]], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "no architecture files" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_latency_benchmark_writes_its_summary_and_validates_on_unseen_members(tmp_path):
    out = tmp_path / "latency"
    command = [sys.executable, "benchmarks/latency.py", "--settings", "torch:32", "--n", "8", "--repeats",
               "2", "--warmup", "0", "--threads", "1", "--validate", "8", "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    row = summary["torch:32"]
    assert row["members"] == 8 and row["folder"] == "harmonic_torch_32x32_b1_t1"
    assert {"fit", "macs", "cio", "macs+cio+convs"} <= set(row["quality"])
    assert row["predict"]["candidates"] == 400 and row["predict"]["median_us"] > 0
    check = row["validation"]
    assert check["members"] == 8 and check["folder"] == "harmonic_torch_32x32_b1_t1_validation"
    def digests(folder: str) -> set[str]:
        return {json.loads(line)["digest"] for line in (out / folder / "rows.jsonl").read_text().splitlines()}

    first, unseen = digests(row["folder"]), digests(check["folder"])
    assert len(unseen) == 8 and not first & unseen  # validated on members the fit never saw
    assert "Scored on members of a second draw" in (out / "summary.md").read_text()
    for name in ("profile.yaml", "latency.md", "latency.png", "latency.html", "latency.json"):
        assert (out / row["folder"] / name).is_file(), name


def test_multifidelity_benchmark_matches_training_time_and_resumes(tmp_path):
    args = [sys.executable, "benchmarks/multifidelity.py", "--seeds", "1", "--trials", "3", "--epochs", "2",
            "--results", str(tmp_path)]
    first = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    assert "2 runs to do" in first.stdout
    runs = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "multifidelity").glob("*.json")}
    assert sorted(runs) == ["plain-1", "sha-1"]
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "0 runs to do" in again.stdout  # finished runs are not run again
    sha, plain = runs["sha-1"], runs["plain-1"]
    assert len(sha["trials"]) == 3 and plain["limit_seconds"] == pytest.approx(sha["train_seconds"])
    summary = json.loads((tmp_path / "multifidelity.json").read_text())
    entry_sha, entry_plain = summary["arms"]["sha"][0], summary["arms"]["plain"][0]
    # the plain arm gets at least the sha run's training time (the trial crossing it counts), and without
    # that trial no more than it
    assert entry_plain["train_seconds"] >= entry_sha["train_seconds"] - 1e-9
    assert entry_plain["train_seconds_strict"] <= entry_sha["train_seconds"] + 1e-9
    # one normalisation over the full-budget trials of both arms
    points = [[-t["values"][0], *t["values"][1:]] for r in runs.values() for t in r["trials"]
              if t["state"] == "COMPLETE"]
    assert summary["normalisation"]["low"] == [min(c) for c in zip(*points, strict=True)]
    assert summary["normalisation"]["high"] == [max(c) for c in zip(*points, strict=True)]
    for e in (entry_sha, entry_plain):
        assert 0 < e["hv_full"] <= 1.1 ** 3
    # every sha trial was trained 1 epoch (its first rung) or the full 2, and its seeds in full
    assert all(t["epochs"] in (1, 2) for t in sha["trials"])
    assert all(t["epochs"] == 2 for t in sha["trials"] if t["seed"])
    assert (tmp_path / "multifidelity.png").stat().st_size > 10_000
    assert "| sha | 1 |" in (tmp_path / "multifidelity.md").read_text()
