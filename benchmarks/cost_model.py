"""Benchmark: the analytic cost model against fvcore's traced count, per seed and resolution.

    python benchmarks/cost_model.py [--sizes 224 1024] [--archs hardnet68 …] [--out FILE]

Both are timed in the same run on the same machine; the figure that matters is the ratio.
fvcore is timed as a user would call it on a built model: JIT trace, forward and count
(model construction excluded). Results go to ``benchmarks/results/cost_model.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

from hardsearch.arch.costs import count_costs
from hardsearch.arch.model import build_model
from hardsearch.arch.seeds import SEED_NAMES, load_seed
from hardsearch.arch.tracing import trace_macs

from _timing import median_seconds

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cost_model.json"


def run(archs: list[str], sizes: list[int], analytic_reps: int, trace_reps: int) -> dict:
    rows = []
    for name in archs:
        arch = load_seed(name)
        model = build_model(arch).eval()
        for size in sizes:
            count_costs(arch, size)  # warm the block-plan cache, as a search does after trial 1
            analytic = median_seconds(lambda a=arch, s=size: count_costs(a, s), analytic_reps)
            traced_macs = trace_macs(model, (size, size))["macs"]  # warm-up, and a cross-check
            traced = median_seconds(lambda m=model, s=size: trace_macs(m, (s, s)), trace_reps)
            report = count_costs(arch, size)
            if report.macs != traced_macs:
                raise SystemExit(f"{name}@{size}: analytic MACs {report.macs} != fvcore {traced_macs}")
            row = {"arch": name, "input_size": size, "analytic_ms": analytic * 1e3,
                   "fvcore_ms": traced * 1e3, "speedup": traced / analytic,
                   "macs": report.macs, "cio": report.cio}
            rows.append(row)
            print(f"{name:12s} {size:5d}²  analytic {row['analytic_ms']:8.3f} ms   "
                  f"fvcore {row['fvcore_ms']:10.1f} ms   ×{row['speedup']:,.0f}", flush=True)
    return {
        "benchmark": "cost_model",
        "analytic_reps": analytic_reps,
        "fvcore_reps": trace_reps,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "processor": platform.processor() or platform.machine()},
        "rows": rows,
        "min_speedup": min(r["speedup"] for r in rows),
        "max_analytic_ms": max(r["analytic_ms"] for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(SEED_NAMES), choices=SEED_NAMES)
    parser.add_argument("--sizes", nargs="+", type=int, default=[224, 1024])
    parser.add_argument("--analytic-reps", type=int, default=300)
    parser.add_argument("--trace-reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = run(args.archs, args.sizes, args.analytic_reps, args.trace_reps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"min speedup ×{result['min_speedup']:,.0f}; slowest analytic "
          f"{result['max_analytic_ms']:.3f} ms; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
