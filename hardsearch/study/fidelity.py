"""Trials as the front sees them under a multi-fidelity schedule.

A candidate that successive halving stopped at a rung is a pruned trial in Optuna (it has no
values: a multi-objective study cannot store intermediate ones). Its accuracy at the highest
budget it reached, with its costs, is in ``fidelity_values`` and the epochs in ``fidelity``.
:func:`at_fidelity` gives such trials to the front, the report and W&B as complete trials with
those values, marked by ``fidelity``; with ``full_only=True`` they stay pruned, so only trials that
reached the full budget (the complete ones) can be members and a front compares members at one
fidelity. Nothing stored changes.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from optuna.trial import FrozenTrial, TrialState

__all__ = ["at_fidelity", "fidelity_of", "partial", "format_epochs"]


def format_epochs(epochs: int | None, budget: int | None) -> str:
    """``9`` for a member trained to the full budget, ``3 of 9`` for one stopped at a rung, ``-`` without."""
    if epochs is None:
        return "-"
    return f"{epochs}" if epochs == budget or budget is None else f"{epochs} of {budget}"


def partial(trial: FrozenTrial) -> bool:
    """A pruned trial that holds the objectives it reached below the full budget."""
    values = trial.user_attrs.get("fidelity_values")
    return trial.state == TrialState.PRUNED and isinstance(values, (list, tuple)) and len(values) > 0


def fidelity_of(trial: FrozenTrial) -> Mapping[str, Any] | None:
    """``{"epochs", "budget", "full"}`` of a trial trained under a schedule; None otherwise."""
    fidelity = trial.user_attrs.get("fidelity")
    return fidelity if isinstance(fidelity, Mapping) else None


def at_fidelity(trials: Sequence[FrozenTrial], *, full_only: bool = False) -> list[FrozenTrial]:
    """``trials`` with each partial one (see :func:`partial`) as a complete copy holding its values.

    ``full_only``: leave partial trials as they are (pruned: counted, never on a front) instead.
    """
    if full_only:  # partial trials stay pruned: counted among the trials, never a member
        return list(trials)
    out = []
    for trial in trials:
        if partial(trial):
            view = copy.copy(trial)
            view.state = TrialState.COMPLETE
            view.values = [float(v) for v in trial.user_attrs["fidelity_values"]]
            out.append(view)
        else:
            out.append(trial)
    return out
