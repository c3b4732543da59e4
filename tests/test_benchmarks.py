"""The benchmark scripts run and write their figures (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

from hardsearch.paths import ROOT


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
