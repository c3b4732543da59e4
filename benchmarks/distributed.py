"""Benchmark: trials per second of 1, 2, 4 and 8 workers on one PostgreSQL study, and nothing lost.

    python benchmarks/distributed.py [--workers 1 2 4 8] [--trials 200] [--out FILE]

Starts a throwaway PostgreSQL server (``tests/pgserver.py``). For each worker count N, a fresh
study of ``--trials`` trials is run by N real worker processes started at once, each exactly as
a user would start one: ``python -m hardsearch +space=harmonic proxy=params logger=none
storage=url storage.url=... study=bench-wN worker=wK dir=...``, the password in ``PGPASSWORD``.
The objective is cheap (costs only; the ``params`` proxy scores by parameter count, no images),
so the figures are the distributed loop's own overhead: claiming trials under the study's lock,
the sampler, the storage round trips. From the stored trials: how many completed, how many were
lost or extra against the budget, trial numbers stored twice, the seed architectures (run once
however many workers start), and how many workers took a share. The search loop's wall time
runs from the first trial's start to the last trial's end (the processes' Python and torch
start-up is reported apart, in ``process_s``); ``speedup_vs_1`` is trials per second against
the 1-worker row of the same run. Results go to ``benchmarks/results/distributed.json``. Exits
non-zero if a worker fails or a row lost, duplicated or added trials.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState

from hardsearch.core.paths import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from pgserver import PostgresServer  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "distributed.json"
SPACE = "harmonic"
PROXY = "params"
SEEDS = 2  # hardnet68 and hardnet85, enqueued once per study
PROCESS_TIMEOUT = 3600


def launch(pg: PostgresServer, study: str, trials: int, worker: str, folder: Path) -> subprocess.Popen:
    """One worker process, as a user would start it; its output to files in ``folder``."""
    folder.mkdir(parents=True)
    command = [sys.executable, "-m", "hardsearch", f"+space={SPACE}", f"proxy={PROXY}", "logger=none",
               "storage=url", f"storage.url={pg.url_without_password}", f"study={study}",
               f"budget.n_trials={trials}", f"worker={worker}", f"dir={folder / 'results'}"]
    with open(folder / "stdout.txt", "w") as out, open(folder / "stderr.txt", "w") as err:
        return subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err,
                                env={**os.environ, "PGPASSWORD": pg.password})


def run_workers(pg: PostgresServer, study: str, trials: int, n: int, tmp: Path) -> float:
    """Start ``n`` workers at once and wait for all; the seconds until the last one exited."""
    start = time.perf_counter()
    procs = {f"w{k}": launch(pg, study, trials, f"w{k}", tmp / study / f"w{k}") for k in range(n)}
    deadline = start + PROCESS_TIMEOUT
    for proc in procs.values():
        try:
            proc.wait(timeout=max(1.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    elapsed = time.perf_counter() - start
    failed = [(name, proc.returncode) for name, proc in procs.items() if proc.returncode != 0]
    if failed:
        for name, code in failed:
            tail = (tmp / study / name / "stderr.txt").read_text()[-3000:]
            print(f"worker {name} of {study} exited with {code}:\n{tail}", file=sys.stderr)
        raise SystemExit(f"{len(failed)} of {n} workers of {study} failed")
    return elapsed


def measure(pg: PostgresServer, trials: int, n: int, tmp: Path) -> dict:
    study_name = f"bench-w{n}"
    process_s = run_workers(pg, study_name, trials, n, tmp)
    stored = optuna.load_study(study_name=study_name, storage=pg.url).get_trials(deepcopy=False)
    numbers = [t.number for t in stored]
    complete = sum(t.state == TrialState.COMPLETE for t in stored)
    states = Counter(t.state.name for t in stored)
    started = [t.datetime_start for t in stored if t.datetime_start is not None]
    ended = [t.datetime_complete for t in stored if t.datetime_complete is not None]
    wall_s = (max(ended) - min(started)).total_seconds() if started and ended else 0.0
    return {
        "workers": n,
        "complete": complete,
        "lost": max(0, trials - complete),
        "extra": max(0, complete - trials),
        "duplicated": len(numbers) - len(set(numbers)),
        "seed_trials": sum("seed" in t.user_attrs for t in stored),
        "workers_used": len({t.user_attrs["worker"] for t in stored if "worker" in t.user_attrs}),
        "states": {state.name: states.get(state.name, 0) for state in
                   (TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING,
                    TrialState.PRUNED)},
        "wall_s": wall_s,
        "process_s": process_s,
        "trials_per_s": complete / wall_s if wall_s > 0 else 0.0,
    }


def incorrect(row: dict) -> list[str]:
    problems = [f"{key}={row[key]}" for key in ("lost", "extra", "duplicated") if row[key] > 0]
    if row["seed_trials"] != SEEDS:
        problems.append(f"seed_trials={row['seed_trials']} (expected {SEEDS})")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    with PostgresServer() as pg, tempfile.TemporaryDirectory(prefix="hardsearch-distributed-") as folder:
        postgres_version = pg.sql("SHOW server_version").strip()
        for n in args.workers:
            row = measure(pg, args.trials, n, Path(folder))
            rows.append(row)
            print(f"{n} workers: {row['complete']} trials in {row['wall_s']:.1f} s "
                  f"({row['trials_per_s']:.2f}/s; processes {row['process_s']:.1f} s)", flush=True)
    base = next((r["trials_per_s"] for r in rows if r["workers"] == 1), None)
    for row in rows:
        row["speedup_vs_1"] = row["trials_per_s"] / base if base else None
    print(f"\n{'workers':>7} {'complete':>8} {'lost':>4} {'extra':>5} {'dup':>3} {'seeds':>5} {'used':>4} "
          f"{'wall_s':>7} {'process_s':>9} {'trials/s':>8} {'speedup':>7}")
    for r in rows:
        speedup = f"{r['speedup_vs_1']:.2f}" if r["speedup_vs_1"] is not None else "-"
        print(f"{r['workers']:>7} {r['complete']:>8} {r['lost']:>4} {r['extra']:>5} {r['duplicated']:>3} "
              f"{r['seed_trials']:>5} {r['workers_used']:>4} {r['wall_s']:>7.1f} {r['process_s']:>9.1f} "
              f"{r['trials_per_s']:>8.2f} {speedup:>7}")
    result = {
        "benchmark": "distributed",
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "optuna": optuna.__version__, "postgres": postgres_version, "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "config": {"trials": args.trials, "workers": args.workers, "proxy": PROXY, "space": SPACE},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    problems = {r["workers"]: incorrect(r) for r in rows if incorrect(r)}
    if problems:
        raise SystemExit(f"trials lost, duplicated or extra: {problems}")


if __name__ == "__main__":
    main()
