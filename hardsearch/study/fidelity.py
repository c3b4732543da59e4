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
import math
from typing import Any, Mapping, Sequence

from optuna.trial import FrozenTrial, TrialState

__all__ = ["at_fidelity", "fidelity_of", "partial", "format_epochs", "at_rung", "model_rung"]


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


def _rung_accuracy(trial: FrozenTrial, epochs: int) -> float | None:
    for entry in trial.user_attrs.get("rungs") or ():
        accuracy = entry.get("accuracy")
        if entry.get("epochs") == epochs and isinstance(accuracy, (int, float)) and math.isfinite(accuracy):
            return float(accuracy)
    return None


def at_rung(trials: Sequence[FrozenTrial], epochs: int, objectives: Sequence[str]) -> list[FrozenTrial]:
    """The finished trials that reached rung ``epochs``, as complete copies whose values are the
    accuracy there and their costs (``objectives``: the study's, the proxy first): one fidelity."""
    out = []
    for trial in trials:
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        accuracy = _rung_accuracy(trial, epochs)
        costs = [trial.user_attrs.get(o) for o in objectives[1:]]
        if accuracy is None or any(not isinstance(c, (int, float)) for c in costs):
            continue
        view = copy.copy(trial)
        view.state = TrialState.COMPLETE
        view.values = [accuracy, *(float(c) for c in costs)]
        out.append(view)
    return out


def model_rung(trials: Sequence[FrozenTrial], minimum: int) -> int | None:
    """The rung a model of the study's accuracy should learn from (BOHB's rule): the highest one at
    least ``minimum`` finished trials reached, else the lowest; None when no trial has rungs."""
    reached: dict[int, int] = {}
    for trial in trials:
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        for entry in trial.user_attrs.get("rungs") or ():
            if _rung_accuracy(trial, entry.get("epochs")) is not None:
                reached[entry["epochs"]] = reached.get(entry["epochs"], 0) + 1
    if not reached:
        return None
    enough = [epochs for epochs, n in reached.items() if n >= minimum]
    return max(enough) if enough else min(reached)
