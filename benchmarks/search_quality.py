"""Benchmark: which sampler finds the best front, by hypervolume at equal budget, over several seeds.

    python benchmarks/search_quality.py [--proxies synflow ensemble] [--samplers ...]
                                        [--seeds 1 2 3] [--trials 96] [--jobs 2]
    python benchmarks/search_quality.py --summarise   # figures from the runs already done

Each run is the real search command (``python -m hardsearch +space=harmonic sampler=S proxy=P
seed=N budget.n_trials=96``, SQLite in a temporary folder, no logger) in its own process with
one torch thread; ``--jobs`` runs that many at once. Every finished run writes one file,
``benchmarks/results/search_quality/<proxy>-<sampler>-<seed>.json``, with every trial's
objectives in trial order, and a run whose file exists is not run again: the benchmark resumes
run by run.

The figures (``benchmarks/results/search_quality.json`` and ``search_quality.png``) use one
common normalisation per proxy: every objective turned into minimisation (the proxy negated),
scaled to [0, 1] by its minimum and maximum over the feasible trials of *all* runs with that
proxy, reference point 1.1 in every dimension. Hypervolume of each run's front after 24, 48 and
96 trials; per sampler the mean, standard deviation and ratio of means to random sampling. The
front of all runs' trials pooled is given too: what all samplers found between them, a mark no
single run of that budget is likely to pass in that normalisation. The
same is given in the bounds each study stored (``hardsearch.bounds``: the space's corner members
and the proxy's reference sample), which are the same for every run of a proxy.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hardsearch.study.front import hypervolume

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RUNS = RESULTS / "search_quality"
SAMPLERS = ("random", "nsga2", "nsga3", "tpe", "gp", "cost_aware")
CHECKPOINTS = (24, 48, 96)
OBJECTIVES = ("proxy", "macs", "cio")


def run_file(proxy: str, sampler: str, seed: int, runs: Path = RUNS) -> Path:
    return runs / f"{proxy}-{sampler}-{seed}.json"


def one_run(proxy: str, sampler: str, seed: int, trials: int, space: str) -> dict:
    """One search, in this process; returns the row written to its run file."""
    import io
    from contextlib import redirect_stdout

    import optuna
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from hardsearch.app import run_search
    from hardsearch.core.cli import register_search_path
    from hardsearch.core.paths import CONF_DIR

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        register_search_path()
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = compose("search", overrides=[f"+space={space}", f"sampler={sampler}", f"proxy={proxy}",
                                               f"seed={seed}", f"budget.n_trials={trials}", f"dir={folder}",
                                               "study=bench", "logger=none"])
        GlobalHydra.instance().clear()
        options = OmegaConf.to_container(cfg, resolve=True)
        start = time.perf_counter()
        with redirect_stdout(io.StringIO()):
            result = run_search(options)
        wall = time.perf_counter() - start
        study = result.study
        trials_out = []
        for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
            ok = t.state == optuna.trial.TrialState.COMPLETE and all(
                v <= 0 for v in t.user_attrs.get("constraints", ()))
            trials_out.append({"number": t.number, "state": t.state.name, "feasible": ok,
                               "values": list(t.values) if t.values else None,
                               "seed": t.user_attrs.get("seed"), "digest": t.user_attrs.get("digest"),
                               "proxy_seconds": t.user_attrs.get("proxy_seconds", 0.0),
                               "seconds": (t.datetime_complete - t.datetime_start).total_seconds()
                               if t.datetime_complete and t.datetime_start else None})
        bounds = study.user_attrs.get("hardsearch.bounds")
    return {"proxy": proxy, "sampler": sampler, "seed": seed, "space": space, "budget": trials,
            "wall_seconds": wall, "bounds": bounds, "trials": trials_out}


def _launch(proxy: str, sampler: str, seed: int, trials: int, space: str, results: Path) -> str:
    path = run_file(proxy, sampler, seed, results / "search_quality")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", WANDB_MODE="disabled")
    cmd = [sys.executable, __file__, "--one", proxy, sampler, str(seed), "--trials", str(trials),
           "--space", space, "--results", str(results)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not path.exists():
        return f"{path.name}: FAILED rc {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"
    row = json.loads(path.read_text())
    return f"{path.name}: {row['wall_seconds']:.0f} s"


# -- figures ----------------------------------------------------------------------------------
def _signed(values: list[float]) -> list[float]:
    return [-values[0]] + list(values[1:])


def _curve(row: dict, low: np.ndarray, span: np.ndarray, budget: int) -> list[float]:
    """Hypervolume of the front after each of the first ``budget`` trials (normalised by low/span)."""
    reference = np.full(len(low), 1.1)
    points, out = [], []
    for t in row["trials"][:budget]:
        if t["feasible"] and t["values"] is not None and np.all(np.isfinite(t["values"])):
            points.append((np.array(_signed(t["values"])) - low) / span)
        out.append(hypervolume(np.array(points), reference) if points else 0.0)
    return out


def _fixed_normalisation(bounds: dict | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(low, span) in minimisation from a study's stored bounds, if it has them for every objective."""
    if not bounds:
        return None
    per = bounds.get("objectives", bounds)
    try:
        best = [-float(per["proxy"]["best"])] + [float(per[o]["best"]) for o in OBJECTIVES[1:]]
        worst = [-float(per["proxy"]["worst"])] + [float(per[o]["worst"]) for o in OBJECTIVES[1:]]
    except (KeyError, TypeError):
        return None
    low, high = np.array(best), np.array(worst)
    return low, np.where(high > low, high - low, 1.0)


def summarise(rows: list[dict]) -> dict:
    out: dict = {"objectives": list(OBJECTIVES), "checkpoints": list(CHECKPOINTS), "proxies": {}}
    for proxy in sorted({r["proxy"] for r in rows}):
        runs = [r for r in rows if r["proxy"] == proxy]
        budget = min(r["budget"] for r in runs)
        allpts = np.array([_signed(t["values"]) for r in runs for t in r["trials"][:budget]
                           if t["feasible"] and t["values"] is not None and np.all(np.isfinite(t["values"]))])
        low, high = allpts.min(axis=0), allpts.max(axis=0)
        span = np.where(high > low, high - low, 1.0)
        marks = sorted({k for k in CHECKPOINTS if k <= budget} | {budget})
        fixed = _fixed_normalisation(runs[0].get("bounds"))
        same_bounds = all(r.get("bounds") == runs[0].get("bounds") for r in runs)
        table: dict = {}
        curves: dict = {}
        for sampler in [s for s in SAMPLERS if any(r["sampler"] == s for r in runs)]:
            mine = sorted((r for r in runs if r["sampler"] == sampler), key=lambda r: r["seed"])
            c = np.array([_curve(r, low, span, budget) for r in mine])
            curves[sampler] = c
            entry = {"seeds": [r["seed"] for r in mine],
                     "wall_seconds_mean": float(np.mean([r["wall_seconds"] for r in mine]))}
            for k in marks:
                if k <= budget:
                    vals = c[:, k - 1]
                    entry[f"hv@{k}"] = [float(v) for v in vals]
                    entry[f"hv@{k}_mean"] = float(vals.mean())
                    entry[f"hv@{k}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
            if fixed is not None:
                fixed_hv = [_curve(r, *fixed, budget)[-1] for r in mine]
                entry[f"hv_fixed@{budget}"] = fixed_hv
                entry[f"hv_fixed@{budget}_mean"] = float(np.mean(fixed_hv))
            table[sampler] = entry
        if "random" in table:
            for entry in table.values():
                for k in marks:
                    key = f"hv@{k}_mean"
                    if key in entry:
                        entry[f"ratio_to_random@{k}"] = entry[key] / table["random"][key]
                if fixed is not None and f"hv_fixed@{budget}_mean" in entry:
                    entry[f"fixed_ratio_to_random@{budget}"] = (entry[f"hv_fixed@{budget}_mean"]
                                                                / table["random"][f"hv_fixed@{budget}_mean"])
        if "tpe" in table:
            for entry in table.values():
                if f"hv@{budget}_mean" in entry:
                    key = f"hv@{budget}_mean"
                    entry[f"ratio_to_tpe@{budget}"] = entry[key] / table["tpe"][key]
        ranking = sorted(table, key=lambda s: -table[s].get(f"hv@{budget}_mean", 0.0))
        # The front of every trial of every run together: what all the runs found between them, an
        # upper mark for any one run of this budget in this normalisation.
        pooled = hypervolume((allpts - low) / span, np.full(len(low), 1.1))
        pooled_entry = {"hv": float(pooled), "trials": int(len(allpts))}
        if "random" in table:
            pooled_entry["ratio_to_random"] = float(pooled / table["random"][f"hv@{budget}_mean"])
        out["proxies"][proxy] = {
            "budget": budget, "runs": len(runs), "checkpoints": marks,
            "normalisation": {"minimised": ["-proxy", *OBJECTIVES[1:]], "low": low.tolist(),
                              "high": high.tolist(), "reference": 1.1,
                              "over": f"all feasible trials of the {len(runs)} runs"},
            "fixed_bounds": runs[0].get("bounds") if same_bounds else "differ between runs",
            "samplers": table, "ranking": ranking, "pooled": pooled_entry,
            "curves_mean": {s: c.mean(axis=0).tolist() for s, c in curves.items()},
            "curves_std": {s: (c.std(axis=0, ddof=1) if len(c) > 1 else np.zeros(c.shape[1])).tolist()
                           for s, c in curves.items()},
        }
    return out


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    proxies = list(summary["proxies"])
    fig, axes = plt.subplots(1, len(proxies), figsize=(6.5 * len(proxies), 4.6), squeeze=False)
    for ax, proxy in zip(axes[0], proxies, strict=True):
        data = summary["proxies"][proxy]
        for sampler, mean in data["curves_mean"].items():
            mean = np.array(mean)
            std = np.array(data["curves_std"][sampler])
            x = np.arange(1, len(mean) + 1)
            line, = ax.plot(x, mean, label=f"{sampler} ({len(data['samplers'][sampler]['seeds'])} seeds)",
                            lw=2.2 if sampler == "cost_aware" else 1.3,
                            color=plt.get_cmap("tab10")(SAMPLERS.index(sampler)))  # one colour per sampler
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.12)
        for k in data["checkpoints"]:
            ax.axvline(k, color="0.85", lw=0.8, zorder=0)
        if "pooled" in data:
            ax.axhline(data["pooled"]["hv"], color="0.4", ls="--", lw=1.0,
                       label=f"all runs' trials pooled ({data['pooled']['trials']})")
        ax.set_title(f"proxy={proxy}: hypervolume of the front (mean ± sd)")
        ax.set_xlabel("trials")
        ax.set_ylabel("hypervolume (common normalisation, ref 1.1)")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proxies", nargs="*", default=["synflow", "ensemble"])
    parser.add_argument("--samplers", nargs="*", default=list(SAMPLERS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument("--trials", type=int, default=96)
    parser.add_argument("--space", default="harmonic")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the run files and figures")
    parser.add_argument("--summarise", action="store_true", help="only write the figures from finished runs")
    parser.add_argument("--one", nargs=3, metavar=("PROXY", "SAMPLER", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    runs = args.results / "search_quality"
    if args.one:
        proxy, sampler, seed = args.one[0], args.one[1], int(args.one[2])
        row = one_run(proxy, sampler, seed, args.trials, args.space)
        row["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "threads": 1}
        runs.mkdir(parents=True, exist_ok=True)
        path = run_file(proxy, sampler, seed, runs)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(row) + "\n")
        tmp.replace(path)
        return
    if not args.summarise:
        todo = [(p, s, seed) for p in args.proxies for seed in args.seeds for s in args.samplers
                if not run_file(p, s, seed, runs).exists()]
        print(f"{len(todo)} runs to do", flush=True)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for line in pool.map(lambda job: _launch(*job, args.trials, args.space, args.results), todo):
                print(line, flush=True)
    rows = [json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))]
    rows = [r for r in rows if r["proxy"] in args.proxies and r["sampler"] in args.samplers
            and r["seed"] in args.seeds]
    if not rows:
        print("no finished runs")
        return
    summary = summarise(rows)
    (args.results / "search_quality.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(summary, args.results / "search_quality.png")
    for proxy, data in summary["proxies"].items():
        b = data["budget"]
        print(f"proxy={proxy} ({data['runs']} runs, {b} trials):")
        for sampler in data["ranking"]:
            e = data["samplers"][sampler]
            ratios = " ".join(f"x{e.get(f'ratio_to_random@{k}', float('nan')):.2f}@{k}"
                              for k in data["checkpoints"])
            mean, std = e[f"hv@{b}_mean"], e[f"hv@{b}_std"]
            print(f"  {sampler:<11} hv@{b} {mean:.4f} ± {std:.4f}  vs random {ratios}")
        pooled = data["pooled"]
        print(f"  all {pooled['trials']} trials pooled: hv {pooled['hv']:.4f}"
              + (f" (x{pooled['ratio_to_random']:.2f} random@{b})" if "ratio_to_random" in pooled else ""))
    print(f"wrote {args.results / 'search_quality.json'} and {args.results / 'search_quality.png'}")


if __name__ == "__main__":
    main()
