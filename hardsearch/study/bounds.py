"""The fixed hypervolume bounds of a study: each objective's best and worst value, as plain data.

A hypervolume is only comparable with another one computed on the same normalisation. The
bounds fix it: for each objective a best and a worst value in the objective's own units (for a
maximised one, such as the proxy, best is the highest), and where they come from. They are
fixed once per study from the space and the proxy's calibration (:mod:`hardsearch.search.bounds`)
and stored in the study as a user attribute (plain JSON), so every worker, every resumed run and
every report normalises the same way, and two studies of the same space and proxy compare.

:meth:`Bounds.normalise` maps an objective vector to minimisation space: best -> 0, worst -> 1
(a value beyond the best goes below 0, one beyond the worst above 1). An objective without a
fixed bound (``latency``, measured per trial) has no entry; the report normalises it per study.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Sequence

from hardsearch.core.errors import UserError

__all__ = ["STUDY_KEY", "Bound", "Bounds", "read_bounds"]

#: The study user attribute that holds the bounds.
STUDY_KEY = "hardsearch.bounds"
_VERSION = 1


class Bound(NamedTuple):
    """One objective's best and worst value (its own units), and where they come from."""

    best: float
    worst: float
    source: str  # e.g. "the space's corner members and seeds (26 architectures)"

    def normalise(self, value: float) -> float:
        """0 at the best value, 1 at the worst (either direction: the bound knows which is which)."""
        return (value - self.best) / (self.worst - self.best)


class Bounds(NamedTuple):
    """Every objective's fixed bound, and what they were fixed for (space, proxy, input size)."""

    objectives: dict[str, Bound]  # only the objectives with a fixed bound
    space: str | None = None
    proxy: str | None = None
    input_size: tuple[int, int] | None = None  # where the costs were counted

    def normalise(self, values: Sequence[float], objectives: Sequence[str]) -> list[float]:
        """``values`` (one per objective, in ``objectives`` order) in minimisation space: best -> 0,
        worst -> 1. A ``KeyError`` names an objective without a fixed bound."""
        return [self.objectives[o].normalise(v) for o, v in zip(objectives, values, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return {"version": _VERSION, "space": self.space, "proxy": self.proxy,
                "input_size": list(self.input_size) if self.input_size else None,
                "objectives": {name: {"best": float(b.best), "worst": float(b.worst), "source": b.source}
                               for name, b in self.objectives.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bounds:
        """The bounds :meth:`to_dict` wrote; a one-line :class:`UserError` for anything else."""
        where = "stored hypervolume bounds"
        if not isinstance(data, Mapping) or data.get("version") != _VERSION:
            got = data.get("version") if isinstance(data, Mapping) else data
            raise UserError(f"{where}: version: got {got!r}; allowed: {_VERSION}")
        objectives = {}
        for name, entry in dict(data.get("objectives") or {}).items():
            try:
                bound = Bound(float(entry["best"]), float(entry["worst"]), str(entry["source"]))
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{where}: objectives.{name}: got {entry!r}; allowed: "
                                "{best: number, worst: number, source: text}") from None
            if not (math.isfinite(bound.best) and math.isfinite(bound.worst)) or bound.best == bound.worst:
                raise UserError(f"{where}: objectives.{name}: got best {bound.best!r}, worst "
                                f"{bound.worst!r}; allowed: two different finite numbers")
            objectives[str(name)] = bound
        size = data.get("input_size")
        return cls(objectives, data.get("space"), data.get("proxy"), tuple(size) if size else None)


def read_bounds(study: Any) -> Bounds | None:
    """The bounds stored in ``study``; None for a study from before they were fixed."""
    stored = study.user_attrs.get(STUDY_KEY)
    if stored is None:
        return None
    try:
        return Bounds.from_dict(stored)
    except UserError as exc:
        raise UserError(f"study {study.study_name}: {exc}") from None
