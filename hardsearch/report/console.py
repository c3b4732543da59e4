"""The Pareto front as a console table, which member to pick and the hypervolume (the search's closing
summary)."""

from __future__ import annotations

from typing import Sequence

from optuna.trial import FrozenTrial

from hardsearch.arch.config import summarize_arch
from hardsearch.report.pareto import ParetoReport
from hardsearch.report.text import per_study
from hardsearch.study.fidelity import fidelity_of, format_epochs
from hardsearch.study.objectives import ProxyLike, format_objective

__all__ = ["format_front", "format_recommendation", "format_hypervolume"]


def format_front(front: Sequence[FrozenTrial], objectives: Sequence[str], *, proxy: ProxyLike = None) -> str:
    """The Pareto front as an aligned table, seeds marked; an accuracy ``proxy`` (the study's) in per cent."""
    fidelity = [fidelity_of(t) for t in front]
    epochs = any(f is not None for f in fidelity)  # a multi-fidelity schedule: the epochs each reached
    head = ["trial", "seed"] + list(objectives) + (["epochs"] if epochs else []) + [
        "architecture (depth x growth > out, / = downsample)"]
    rows = [[str(t.number), t.user_attrs.get("seed", "")]
            + [format_objective(o, v, proxy=proxy) for o, v in zip(objectives, t.values, strict=True)]
            + ([format_epochs(f.get("epochs"), f.get("budget")) if f else "-"] if epochs else [])
            + [summarize_arch(t.user_attrs.get("arch"))]
            for t, f in zip(front, fidelity, strict=True)]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i in (1, len(head) - 1) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
             for r in [head, *rows]]
    return "\n".join(lines)


def format_recommendation(report: ParetoReport) -> list[str]:
    """One or two lines: the knee of the front, and what to take instead of each seed."""
    if report.knee is None:
        return []
    lines = [f"balanced choice: trial {report.knee['trial']} (the knee: the member closest to the best value "
             "of every objective at once; see 'Which one to pick' in report.md)"]
    picks = {p["seed_trial"]: p for p in report.seed_picks}
    instead = []
    for s in report.seeds:
        pick = picks.get(s.trial)
        if pick is None:
            instead.append(f"{s.seed}: not dominated")
        elif pick["margin"] > 0:
            instead.append(f"{s.seed} -> trial {pick['trial']} (better everywhere by >= "
                           f"{100 * pick['margin']:.1f} % of each objective's range)")
        else:
            instead.append(f"{s.seed} -> trial {pick['trial']} (dominates it)")
    if instead:
        lines.append("instead of a seed: " + "; ".join(instead))
    return lines


def format_hypervolume(report: ParetoReport) -> str:
    """The hypervolumes and whether they compare with other studies' (the bounds are in report.md)."""
    loose = per_study(report)
    how = ("bounds fixed in the study: compares with studies of the same space and proxy" if not loose else
           "normalised per study, not comparable across studies: " + ", ".join(loose))
    return (f"hypervolume {report.hypervolume_front:.4f} (seeds alone {report.hypervolume_seeds:.4f}; "
            f"{how})")
