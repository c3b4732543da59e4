"""Benchmark: successive halving by Pareto rank against plain short training, at equal training time.

    python benchmarks/multifidelity.py [--seeds 1 2 3] [--trials 30] [--space harmonic_ds]
    python benchmarks/multifidelity.py --summarise   # figures from the runs already done

Two arms, each the real search (``open_search`` and the worker loop of ``python -m hardsearch``,
SQLite in a temporary folder, no logger, one torch thread, the default sampler), on the packaged
CIFAR-10 sample (800 train / 200 test images at 32²), with one recipe (``RECIPE``: SGD, one-cycle
to lr 0.05, batch 32) and a full budget of ``--epochs`` (9):

- ``sha``: ``proxy=train proxy.schedule=sha proxy.min_epochs=1 proxy.eta=3`` (rungs 1 → 3 → 9),
  ``budget.n_trials=--trials``;
- ``plain``: ``proxy=train proxy.early_stop=null``: every candidate trained for the full budget,
  run until its training time (the sum of the trials' ``proxy_seconds``) reaches the ``sha`` run's
  of the same seed.

Both start with the space's seeds (trained in full in both arms). Every finished run writes
``benchmarks/results/multifidelity/<arm>-<seed>.json`` (every trial: state, objectives, fidelity,
training seconds, epochs trained), so the benchmark resumes run by run.

The figures (``benchmarks/results/multifidelity.json``, ``multifidelity.png``) use one common
normalisation: every objective minimised (accuracy negated), scaled by its minimum and maximum
over all full-budget trials of all runs, reference point 1.1. Per arm and seed: the training
time, the epochs trained, the trials, and the hypervolume of the front of the members that
reached the full budget (the fair comparison: one fidelity), with the plain arm cut at the
``sha`` run's training time (its trials up to and including the one that crosses it, so it never
gets less time; without that trial too, as a bound from below); the front as the report shows it
(partial members at the accuracy they reached) is given for ``sha`` too. The curve is hypervolume
(full budget) against training time.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from hardsearch.study.front import hypervolume

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RUNS = RESULTS / "multifidelity"
OBJECTIVES = ("proxy", "macs", "cio")
RECIPE = ("proxy=train", "proxy.batch_size=32", "proxy.lr=0.05", "proxy.threads=1", "proxy.early_stop=null")


class _Enough(Exception):
    """The plain arm has used the training time of the sha arm."""


def run_file(arm: str, seed: int, runs: Path = RUNS) -> Path:
    return runs / f"{arm}-{seed}.json"


def _options(overrides: list[str]) -> dict:
    from search_throughput import compose_search  # the search's config, composed as the command line does

    return compose_search(overrides)


def _trial_row(t) -> dict:
    a = t.user_attrs
    fidelity = a.get("fidelity") or {}
    per_epoch = a.get("accuracy_per_epoch") or []
    return {"number": t.number, "state": t.state.name, "seed": a.get("seed"), "digest": a.get("digest"),
            "values": list(t.values) if t.values else None, "fidelity_values": a.get("fidelity_values"),
            "epochs": len(per_epoch), "full": bool(fidelity.get("full", t.state.name == "COMPLETE")),
            "proxy_seconds": float(a.get("proxy_seconds", 0.0)), "macs": a.get("macs"), "cio": a.get("cio"),
            "pruned_reason": a.get("pruned_reason"), "rungs": a.get("rungs")}


def one_run(arm: str, seed: int, *, trials: int, epochs: int, space: str, limit: float | None) -> dict:
    """One search of ``arm`` in this process; ``limit``: the plain arm's training seconds."""
    import torch

    from hardsearch.search.options import parse_options
    from hardsearch.search.run import open_search, run_trials

    torch.set_num_threads(1)
    overrides = [f"+space={space}", *RECIPE, f"proxy.epochs={epochs}", f"seed={seed}", "study=bench",
                 "logger=none"]
    if arm == "sha":
        overrides += ["proxy.schedule=sha", "proxy.min_epochs=1", "proxy.eta=3", f"budget.n_trials={trials}"]
    else:
        overrides += [f"budget.n_trials={10 * trials}"]  # ended by the training time instead
    spent = [0.0]

    def enough(study, trial) -> None:
        spent[0] += float(trial.user_attrs.get("proxy_seconds", 0.0))
        if limit is not None and spent[0] >= limit:
            raise _Enough

    with tempfile.TemporaryDirectory() as folder:
        options = _options(overrides + [f"dir={folder}"])
        start = time.perf_counter()
        with redirect_stdout(io.StringIO()):
            opened = open_search(parse_options(options))
            try:
                run_trials(opened, n_trials=opened.remaining + opened.done, timeout=None, callbacks=[enough])
            except _Enough:
                opened.progress.close()
        wall = time.perf_counter() - start
        study = opened.study
        rows = [_trial_row(t) for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)]
        bounds = study.user_attrs.get("hardsearch.bounds")
    return {"arm": arm, "seed": seed, "space": space, "epochs": epochs, "trials_asked": trials,
            "recipe": list(RECIPE), "limit_seconds": limit, "wall_seconds": wall,
            "train_seconds": sum(r["proxy_seconds"] for r in rows), "bounds": bounds, "trials": rows,
            "machine": platform.processor() or platform.machine()}


# -- figures ----------------------------------------------------------------------------------
def _signed(values) -> np.ndarray:
    return np.array([-values[0], *values[1:]], dtype=float)


def _points(run: dict, *, limit: float | None = None, partial: bool = False,
            strict: bool = False) -> tuple[list, float, int]:
    """Full-budget points (and, with ``partial``, stopped members at the accuracy reached) of the trials
    up to ``limit`` training seconds, with the seconds and epochs they used. The trial that crosses
    the limit is counted (the plain arm gets at least the sha run's time), or with ``strict`` left out."""
    points, spent, epochs = [], 0.0, 0
    for t in run["trials"]:
        if limit is not None and (spent >= limit or (strict and spent + t["proxy_seconds"] > limit + 1e-9)):
            break
        spent += t["proxy_seconds"]
        epochs += t["epochs"]
        values = t["values"] if t["state"] == "COMPLETE" else (t["fidelity_values"] if partial else None)
        if values is not None and np.all(np.isfinite(values)):
            points.append(_signed(values))
    return points, spent, epochs


def _hv(points: list, low: np.ndarray, span: np.ndarray) -> float:
    if not points:
        return 0.0
    return hypervolume((np.array(points) - low) / span, np.full(len(low), 1.1))


def _curve(run: dict, low, span, grid) -> list[float]:
    return [_hv(_points(run, limit=g)[0], low, span) for g in grid]


def summarise(rows: list[dict]) -> dict:
    by = {(r["arm"], r["seed"]): r for r in rows}
    seeds = sorted({s for (arm, s) in by if arm == "sha" and ("plain", s) in by})
    if not seeds:
        return {}
    allpts = [p for s in seeds for arm in ("sha", "plain") for p in _points(by[(arm, s)])[0]]
    allpts = np.array(allpts)
    low, high = allpts.min(axis=0), allpts.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    table: dict = {"sha": [], "plain": []}
    curves: dict = {"sha": [], "plain": []}
    for s in seeds:
        sha, plain = by[("sha", s)], by[("plain", s)]
        budget = sha["train_seconds"]
        grid = [budget * f for f in np.linspace(0.1, 1.0, 10)]
        for arm, run, limit in (("sha", sha, None), ("plain", plain, budget)):
            pts, spent, epochs = _points(run, limit=limit)
            entry = {"seed": s, "train_seconds": spent, "epochs_trained": epochs,
                     "trials_within": _count_within(run, limit), "full_budget_members": len(pts),
                     "hv_full": _hv(pts, low, span)}
            if arm == "plain":  # without the trial that crosses the sha run's time: a bound from below
                strict, strict_spent, _ = _points(run, limit=limit, strict=True)
                entry.update(hv_full_strict=_hv(strict, low, span), train_seconds_strict=strict_spent)
            if arm == "sha":
                entry["hv_as_reported"] = _hv(_points(run, partial=True)[0], low, span)
                entry["pruned"] = sum(t["state"] == "PRUNED" for t in run["trials"])
                entry["stopped_at"] = {str(e): sum(1 for t in run["trials"] if t["state"] == "PRUNED"
                                                   and t["epochs"] == e) for e in (1, 3)}
            table[arm].append(entry)
            curves[arm].append(_curve(run, low, span, grid))
    summary = {"seeds": seeds, "space": rows[0]["space"], "epochs": rows[0]["epochs"],
               "recipe": rows[0]["recipe"], "rungs": [1, 3, rows[0]["epochs"]],
               "normalisation": {"minimised": ["-accuracy", "macs", "cio"], "low": low.tolist(),
                                 "high": high.tolist(), "reference": 1.1,
                                 "over": "all full-budget trials of all runs"},
               "arms": table, "curve_fractions": [round(f, 2) for f in np.linspace(0.1, 1.0, 10)],
               "curves": {a: np.array(c).tolist() for a, c in curves.items()}}
    for arm in ("sha", "plain"):
        hv = np.array([e["hv_full"] for e in table[arm]])
        summary[f"{arm}_hv_mean"] = float(hv.mean())
        summary[f"{arm}_hv_std"] = float(hv.std(ddof=1)) if len(hv) > 1 else 0.0
        summary[f"{arm}_seconds_mean"] = float(np.mean([e["train_seconds"] for e in table[arm]]))
        summary[f"{arm}_trials_mean"] = float(np.mean([e["trials_within"] for e in table[arm]]))
    summary["sha_wins"] = int(sum(a["hv_full"] > b["hv_full"]
                                  for a, b in zip(table["sha"], table["plain"], strict=True)))
    summary["ratio"] = summary["sha_hv_mean"] / summary["plain_hv_mean"] if summary["plain_hv_mean"] else None
    return summary


def _count_within(run: dict, limit: float | None) -> int:
    spent, n = 0.0, 0
    for t in run["trials"]:
        if limit is not None and spent >= limit:
            break
        spent += t["proxy_seconds"]
        n += 1
    return n


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.array(summary["curve_fractions"]) * 100
    for arm, label in (("sha", "successive halving (1 → 3 → 9 epochs)"), ("plain", "plain: 9 epochs each")):
        c = np.array(summary["curves"][arm])
        ax.plot(x, c.mean(axis=0), marker="o", label=label)
        if len(c) > 1:
            ax.fill_between(x, c.min(axis=0), c.max(axis=0), alpha=0.15)
    ax.set_xlabel("training time, % of the sha run's total")
    ax.set_ylabel("hypervolume, full-budget members")
    ax.set_title(f"{summary['space']}: {len(summary['seeds'])} seeds (band: min to max)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(summary: dict) -> str:
    lines = ["| arm | seed | training s | epochs trained | trials | full-budget members | HV (full budget) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for arm in ("sha", "plain"):
        for e in summary["arms"][arm]:
            lines.append(f"| {arm} | {e['seed']} | {e['train_seconds']:.0f} | {e['epochs_trained']} | "
                         f"{e['trials_within']} | {e['full_budget_members']} | {e['hv_full']:.4f} |")
    lines += ["", f"mean HV: sha {summary['sha_hv_mean']:.4f} ± {summary['sha_hv_std']:.4f}, plain "
              f"{summary['plain_hv_mean']:.4f} ± {summary['plain_hv_std']:.4f} "
              f"(ratio {summary['ratio']:.3f}); "
              f"sha ahead on {summary['sha_wins']} of {len(summary['seeds'])} seeds"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--space", default="harmonic_ds")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--summarise", action="store_true")
    args = parser.parse_args()
    runs = args.results / "multifidelity"
    runs.mkdir(parents=True, exist_ok=True)
    if not args.summarise:
        todo = [(arm, s) for s in args.seeds for arm in ("sha", "plain")
                if not run_file(arm, s, runs).exists()]
        print(f"{len(todo)} runs to do", flush=True)
        for seed in args.seeds:
            for arm in ("sha", "plain"):
                path = run_file(arm, seed, runs)
                if path.exists():
                    continue
                limit = None
                if arm == "plain":
                    limit = json.loads(run_file("sha", seed, runs).read_text())["train_seconds"]
                row = one_run(arm, seed, trials=args.trials, epochs=args.epochs, space=args.space,
                              limit=limit)
                path.write_text(json.dumps(row, indent=1) + "\n")
                print(f"{path.name}: {row['train_seconds']:.0f} s training, {len(row['trials'])} trials, "
                      f"{row['wall_seconds']:.0f} s wall", flush=True)
    rows = [json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))]
    summary = summarise(rows)
    if not summary:
        print("no seed with both arms yet")
        return
    (args.results / "multifidelity.json").write_text(json.dumps(summary, indent=1) + "\n")
    (args.results / "multifidelity.md").write_text(markdown(summary))
    plot(summary, args.results / "multifidelity.png")
    print(markdown(summary))


if __name__ == "__main__":
    main()
