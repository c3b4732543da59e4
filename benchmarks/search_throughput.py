"""Benchmark: trials per minute of the default search, and the share of time spent outside the proxy.

    python benchmarks/search_throughput.py [--trials 48] [--space harmonic] [--out FILE]
                                           [--override key=value ...]

Runs the real default configuration (``python -m hardsearch +space=harmonic``: the cost-aware
sampler, the calibrated ensemble proxy, SQLite storage, console logging to a null stream) in a temporary
study folder. The search loop's wall time runs from the first trial's start to the last
trial's end. The proxy's share is the sum of the trials' ``proxy_seconds``. Everything else in
the loop is the search's own overhead: sampler, storage, cost model, logging. The ensemble's
one-off calibration, before the first trial, is reported apart. Results go to
``benchmarks/results/search_throughput.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from optuna.trial import TrialState

from hardsearch.app import run_search
from hardsearch.core.cli import register_search_path
from hardsearch.core.paths import CONF_DIR

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "search_throughput.json"


def compose_search(overrides: list[str]) -> dict:
    register_search_path()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("search", overrides=overrides)
    GlobalHydra.instance().clear()
    return OmegaConf.to_container(cfg, resolve=True)


def run(space: str, trials: int, overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        options = compose_search([f"+space={space}", f"budget.n_trials={trials}", f"dir={folder}",
                                  "logger.progress_bar=false", *overrides])
        start = time.perf_counter()
        with redirect_stdout(io.StringIO()):  # the per-trial lines are produced, then dropped
            result = run_search(options)
        total = time.perf_counter() - start
        done = [t for t in result.study.get_trials() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    loop = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    proxy = sum(t.user_attrs.get("proxy_seconds", 0.0) for t in done)
    costs = sum(t.user_attrs.get("cost_seconds", 0.0) for t in done)
    return {
        "space": space, "trials": len(done), "overrides": overrides,
        "duplicates": sum("duplicate_of" in t.user_attrs for t in done),
        "total_seconds": total, "loop_seconds": loop, "setup_and_calibration_seconds": total - loop,
        "proxy_seconds": proxy, "cost_model_seconds": costs,
        "trials_per_minute": 60 * len(done) / loop,
        "overhead_share": (loop - proxy) / loop,
        "pareto_front": len(result.front),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="harmonic")
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--override", nargs="*", default=[], help="more Hydra overrides, e.g. proxy=naswot")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    row = run(args.space, args.trials, list(args.override))
    print(f"{row['trials']} trials in {row['loop_seconds']:.1f} s of search loop "
          f"({row['trials_per_minute']:.1f} trials/min); proxy {row['proxy_seconds']:.1f} s, "
          f"overhead {100 * row['overhead_share']:.1f} % (cost model {row['cost_model_seconds']:.2f} s); "
          f"setup and calibration {row['setup_and_calibration_seconds']:.1f} s")
    result = {
        "benchmark": "search_throughput",
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "rows": [row],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
