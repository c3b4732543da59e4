"""The Pareto report of a study as plain data: the front, the seeds against it, the hypervolume.

Hypervolume is computed on normalised objectives, all turned into minimisation: each objective
is scaled to [0, 1] by its minimum and maximum over the study's feasible complete trials, and
the reference point is 1.1 in every normalised dimension (10 % beyond the worst value seen).
The report states the reference point in the objectives' own units too. Renderers
(:mod:`~hardsearch.report.text`, :mod:`~hardsearch.report.plots`, :mod:`~hardsearch.report.html`,
:mod:`~hardsearch.report.dashboard`) draw it; they compute nothing.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from optuna.trial import FrozenTrial

from hardsearch.arch.config import summarize_arch
from hardsearch.study.front import feasible, pareto_front, update_front

__all__ = ["SeedComparison", "ParetoReport", "COSTS", "build_report", "hypervolume"]

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
