"""The Pareto front of a study's trials: feasible complete trials that no other one dominates,
and the hypervolume a set of points dominates.

Shared by the search's progress and sampler, the report and W&B, so all of them agree on the front.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from optuna.trial import FrozenTrial, TrialState

__all__ = ["feasible", "update_front", "pareto_front", "hypervolume"]


def feasible(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and all(v <= 0 for v in trial.user_attrs.get("constraints", ()))


def _dominates(a: Sequence[float], b: Sequence[float], sign: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` everywhere and better somewhere (``sign`` -1 for maximised)."""
    pairs = [(s * x, s * y) for s, x, y in zip(sign, a, b, strict=True)]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def update_front(front: list[FrozenTrial], trial: FrozenTrial,
                 directions: Sequence[str]) -> list[FrozenTrial]:
    """The front after adding one more feasible trial (trials must come in order of number).

    An architecture proposed again (same content hash) keeps its earliest trial.
    """
    sign = [1.0 if d == "minimize" else -1.0 for d in directions]
    digest = trial.user_attrs.get("digest", trial.number)
    for member in front:
        if member.user_attrs.get("digest", member.number) == digest or _dominates(member.values, trial.values,
                                                                                   sign):
            return front
    return [m for m in front if not _dominates(trial.values, m.values, sign)] + [trial]


def pareto_front(trials: Sequence[FrozenTrial], directions: Sequence[str]) -> list[FrozenTrial]:
    """Feasible complete trials that no other feasible trial dominates (ordered by trial number).

    Trials of the same architecture (same content hash) appear once, as the earliest.
    """
    front: list[FrozenTrial] = []
    for trial in sorted((t for t in trials if feasible(t)), key=lambda t: t.number):
        front = update_front(front, trial, directions)
    return front


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume dominated by ``points`` (minimisation) up to ``reference`` (Optuna's WFG)."""
    from optuna._hypervolume import compute_hypervolume

    points = np.asarray(points, dtype=float).reshape(-1, len(reference))
    inside = points[np.all(points < reference, axis=1)]
    if len(inside) == 0:
        return 0.0
    return float(compute_hypervolume(inside, np.asarray(reference, dtype=float)))
