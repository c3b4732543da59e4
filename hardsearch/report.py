"""The Pareto report of a study as plain data, and its renderers (CSV, JSON, Markdown).

``python -m hardsearch.report study=NAME [storage.url=URL] [dir=DIR]`` writes, into the study's
folder: ``pareto.csv`` and ``pareto.json`` (every Pareto-optimal trial with its parameters,
objectives, costs and exported architecture file) and ``report.md`` (the front, how the found
architectures beat each seed, and the hypervolume of the front and of the seeds alone).

Hypervolume is computed on normalised objectives, all turned into minimisation: each objective
is scaled to [0, 1] by its minimum and maximum over the study's feasible complete trials, and
the reference point is 1.1 in every normalised dimension (10 % beyond the worst value seen).
The report states the reference point in the objectives' own units too.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from optuna.trial import FrozenTrial

from hardsearch.arch import summarize_arch
from hardsearch.files import atomic_path, write_text_atomic
from hardsearch.search import feasible, format_objective, pareto_front, update_front

__all__ = ["SeedComparison", "ParetoReport", "build_report", "hypervolume", "write_report", "to_markdown"]

REFERENCE_MARGIN = 0.1  # the reference point lies this fraction of the range beyond the worst value


class SeedComparison(NamedTuple):
    """A seed's trial and the found architectures that dominate it, with the gain on each objective."""

    seed: str
    trial: int
    values: list[float]
    on_front: bool
    dominated_by: list[dict[str, Any]]  # {"trial": n, "gains": {objective: gain}}


class ParetoReport(NamedTuple):
    """Everything the report says, as plain data."""

    study: str
    objectives: list[str]
    directions: list[str]
    n_trials: int
    n_feasible: int
    front: list[dict[str, Any]]
    seeds: list[SeedComparison]
    reference_point: list[float]  # in the objectives' own units
    hypervolume_front: float
    hypervolume_seeds: float
    hypervolume_history: list[tuple[int, float]]  # (trial number, hypervolume of the front so far)
    points: list[dict[str, Any]]  # every feasible complete trial: trial, seed, objectives, on_front


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume dominated by ``points`` (minimisation) up to ``reference`` (Optuna's WFG)."""
    from optuna._hypervolume import compute_hypervolume

    points = np.asarray(points, dtype=float).reshape(-1, len(reference))
    inside = points[np.all(points < reference, axis=1)]
    if len(inside) == 0:
        return 0.0
    return float(compute_hypervolume(inside, np.asarray(reference, dtype=float)))


def _signed(values: Sequence[float], directions: Sequence[str]) -> np.ndarray:
    pairs = zip(values, directions, strict=True)
    return np.array([v if d == "minimize" else -v for v, d in pairs], dtype=float)


def _gain(objective: str, direction: str, seed: float, found: float) -> float:
    """Proxy: the difference (higher is better); a cost: the relative change (negative = cheaper)."""
    if objective == "proxy" or seed == 0:
        return found - seed
    return (found - seed) / abs(seed)


COSTS = ("params", "macs", "cio", "peak_activations", "latency")


def _costs(trial: FrozenTrial) -> dict[str, float]:
    return {k: trial.user_attrs[k] for k in COSTS if k in trial.user_attrs}


def _row(trial: FrozenTrial, objectives: Sequence[str], arch_file: str | None) -> dict[str, Any]:
    return {
        "trial": trial.number, "seed": trial.user_attrs.get("seed"),
        "objectives": dict(zip(objectives, trial.values, strict=True)),
        "costs": _costs(trial),
        "parameters": dict(trial.params), "digest": trial.user_attrs.get("digest"),
        "arch": trial.user_attrs.get("arch"), "summary": summarize_arch(trial.user_attrs.get("arch")),
        "arch_file": arch_file,
    }


def build_report(study_name: str, trials: Sequence[FrozenTrial], objectives: Sequence[str],
                 directions: Sequence[str], arch_files: Mapping[int, str] | None = None) -> ParetoReport:
    """The report of a study's trials (pure: no storage access)."""
    arch_files = dict(arch_files or {})
    ok = sorted((t for t in trials if feasible(t)), key=lambda t: t.number)
    front = pareto_front(trials, directions)
    front_numbers = {t.number for t in front}
    points = np.array([_signed(t.values, directions) for t in ok]) if ok else np.zeros((0, len(objectives)))
    if len(points):
        low, high = points.min(axis=0), points.max(axis=0)
        span = np.where(high > low, high - low, 1.0)
    else:
        low, span = np.zeros(len(objectives)), np.ones(len(objectives))
    reference_norm = np.full(len(objectives), 1.0 + REFERENCE_MARGIN)
    reference = low + reference_norm * span
    reference_units = [float(r if d == "minimize" else -r)
                       for r, d in zip(reference, directions, strict=True)]

    def hv(group: Sequence[FrozenTrial]) -> float:
        if not group:
            return 0.0
        signed = np.array([_signed(t.values, directions) for t in group])
        return hypervolume((signed - low) / span, reference_norm)

    history = []
    so_far: list[FrozenTrial] = []
    for t in ok:  # the front grows one trial at a time instead of being recomputed from scratch
        so_far = update_front(so_far, t, directions)
        history.append((t.number, hv(so_far)))
    seed_trials = [t for t in ok if t.user_attrs.get("seed")]
    seeds = []
    for s in seed_trials:
        mine = _signed(s.values, directions)
        beaters = []
        for f in front:
            theirs = _signed(f.values, directions)
            if f.number != s.number and np.all(theirs <= mine) and np.any(theirs < mine):
                beaters.append({"trial": f.number, "gains": {
                    o: _gain(o, d, sv, fv) for o, d, sv, fv in zip(objectives, directions, s.values, f.values,
                                                                   strict=True)}})
        seeds.append(SeedComparison(s.user_attrs["seed"], s.number, list(s.values), s.number in front_numbers,
                                    beaters))
    return ParetoReport(
        study=study_name, objectives=list(objectives), directions=list(directions), n_trials=len(trials),
        n_feasible=len(ok), front=[_row(t, objectives, arch_files.get(t.number)) for t in front],
        seeds=seeds, reference_point=reference_units, hypervolume_front=hv(front),
        hypervolume_seeds=hv(pareto_front(seed_trials, directions)), hypervolume_history=history,
        points=[{"trial": t.number, "seed": t.user_attrs.get("seed"), "on_front": t.number in front_numbers,
                 "objectives": dict(zip(objectives, t.values, strict=True)), "costs": _costs(t),
                 "summary": summarize_arch(t.user_attrs.get("arch"))} for t in ok],
    )


def _fmt_gain(objective: str, gain: float) -> str:
    return f"{gain:+.4f}" if objective == "proxy" else f"{100 * gain:+.1f} %"


def to_markdown(report: ParetoReport) -> str:
    """``report.md``: the front, the seeds against it, and the hypervolumes."""
    o = report.objectives
    lines = [f"# Pareto report: study `{report.study}`", "",
             f"{report.n_trials} trials, {report.n_feasible} feasible and complete; "
             f"{len(report.front)} on the Pareto front. Objectives: " + ", ".join(f"{x} ({d[:3]})" for x, d in
                                                       zip(o, report.directions, strict=True)) + ".", "",
             "## Front", "", "| trial | seed | " + " | ".join(o) + " | architecture file |",
             "|---:|---|" + "---:|" * len(o) + "---|"]
    for row in report.front:
        cells = " | ".join(format_objective(x, row["objectives"][x]) for x in o)
        lines.append(f"| {row['trial']} | {row['seed'] or ''} | {cells} | {row['arch_file'] or ''} |")
    lines += ["", "## Seeds", ""]
    for s in report.seeds:
        head = f"**{s.seed}** (trial {s.trial}: " + ", ".join(
            f"{x} {format_objective(x, v)}" for x, v in zip(o, s.values, strict=True)) + ")"
        if not s.dominated_by:
            lines.append(f"- {head}: not dominated by any found architecture"
                         + (" (on the front)." if s.on_front else "."))
            continue
        lines.append(f"- {head}: dominated by {len(s.dominated_by)} found architecture(s):")
        for d in s.dominated_by:
            lines.append(f"  - trial {d['trial']}: " + ", ".join(
                f"{x} {_fmt_gain(x, g)}" for x, g in d["gains"].items()))
    ref = ", ".join(f"{x} {format_objective(x, v)}" for x, v in zip(o, report.reference_point, strict=True))
    lines += ["", "## Hypervolume", "",
              f"- front: **{report.hypervolume_front:.4f}**; seeds alone: **{report.hypervolume_seeds:.4f}**",
              "- computed on objectives normalised to [0, 1] by their minimum and maximum over the feasible "
              "trials (maximised ones negated), up to the reference point 1.1 in every dimension: "
              f"{ref}.", ""]
    return "\n".join(lines)


def write_report(report: ParetoReport, folder: Path) -> list[Path]:
    """``pareto.csv``, ``pareto.json`` and ``report.md`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [write_text_atomic(folder / "pareto.json",
                                 json.dumps(report._asdict(), indent=2, default=list) + "\n"),
               write_text_atomic(folder / "report.md", to_markdown(report))]
    path = folder / "pareto.csv"
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        param_keys = sorted({k for row in report.front for k in row["parameters"]})
        writer.writerow(["trial", "seed", *report.objectives, *(f"cost_{k}" for k in COSTS), "digest",
                         "arch_file", *param_keys])
        for row in report.front:
            values = (row["objectives"][x] for x in report.objectives)
            writer.writerow([row["trial"], row["seed"] or "", *values,
                             *(row["costs"].get(k, "") for k in COSTS), row["digest"],
                             row["arch_file"] or "",
                             *(row["parameters"].get(k, "") for k in param_keys)])
    written.append(path)
    return written


def report_study(study: Any, folder: Path) -> tuple[ParetoReport, list[Path]]:
    """Export the front's architectures to ``folder/archs/`` and write the report into ``folder``."""
    from hardsearch.export import export_front

    objectives = study.user_attrs.get("hardsearch.objectives") or study.metric_names
    directions = [d.name.lower() for d in study.directions]
    input_size = study.user_attrs.get("hardsearch.input_size", [224, 224])
    trials = study.get_trials(deepcopy=False)
    front = pareto_front(trials, directions)
    files = export_front(front, folder / "archs", study=study.study_name, objectives=objectives,
                         input_size=input_size)
    report = build_report(study.study_name, trials, objectives, directions, files)
    from hardsearch.html_report import write_html
    from hardsearch.plots import write_plots

    return report, write_report(report, folder) + write_plots(report, folder) + [write_html(report, folder)]


def report(options: Mapping[str, Any]) -> ParetoReport:
    """The command: the report of ``study`` (in its folder, or ``dir``)."""
    from hardsearch.export import load_study

    study, folder = load_study(options)
    result, written = report_study(study, folder)
    print(f"{len(result.front)} Pareto-optimal trials; hypervolume {result.hypervolume_front:.4f} "
          f"(seeds alone {result.hypervolume_seeds:.4f})")
    for path in written:
        print(f"wrote {path}")
    return result


def main() -> None:
    from hardsearch.cli import hydra_main

    hydra_main("hardsearch.report", "report", report)


if __name__ == "__main__":
    main()
