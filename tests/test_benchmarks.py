"""The benchmark scripts run and write their figures (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hardsearch.accuracy.proxies import PROXY_NAMES
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
    assert set(row["proxies"]) == set(PROXY_NAMES)
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
