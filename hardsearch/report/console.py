"""The Pareto front as a console table (the search's closing summary)."""

from __future__ import annotations

from typing import Sequence

from optuna.trial import FrozenTrial

from hardsearch.arch.config import summarize_arch
from hardsearch.study.objectives import format_objective

__all__ = ["format_front"]


def format_front(front: Sequence[FrozenTrial], objectives: Sequence[str]) -> str:
    """The Pareto front as an aligned table, seeds marked."""
    head = ["trial", "seed"] + list(objectives) + ["architecture (depth x growth > out, / = downsample)"]
    rows = [[str(t.number), t.user_attrs.get("seed", "")]
            + [format_objective(o, v) for o, v in zip(objectives, t.values, strict=True)]
            + [summarize_arch(t.user_attrs.get("arch"))]
            for t in front]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i in (1, len(head) - 1) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
             for r in [head, *rows]]
    return "\n".join(lines)
