"""The Pareto report as text files: ``pareto.csv``, ``pareto.json`` and ``report.md``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from hardsearch.core.files import atomic_path, write_text_atomic
from hardsearch.report.pareto import COSTS, ParetoReport
from hardsearch.study.objectives import format_objective

__all__ = ["to_markdown", "write_report"]


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
