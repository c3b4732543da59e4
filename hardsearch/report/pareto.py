"""The Pareto report of a study as plain data: the front, the seeds against it, the hypervolume.

Hypervolume is computed on normalised objectives, all turned into minimisation: each objective
is mapped so that its best value is 0 and its worst 1, by the bounds fixed once per study from
the space and the proxy's calibration and stored in the study
(:mod:`hardsearch.study.bounds`, :mod:`hardsearch.search.bounds`). The reference point is 1.1
in every normalised dimension (the worst bound plus 10 % of the range). The front, the seeds
alone and the history all use it, so studies of the same space and proxy compare. An objective
without a fixed bound (``latency``, measured per trial; every objective of a study from before
the bounds were stored) falls back to its best and worst value over the study's feasible
complete trials, and the report says which objectives are normalised per study and thus not
comparable across studies. The report states each objective's bounds, where they come from,
and the reference point in the objectives' own units.

It also says which member to pick, in a per-study normalisation (every objective scaled to
[0, 1] over the study's feasible trials, 0 = the best value seen, whatever the fixed bounds):

- the **knee**: the front member closest (Euclidean distance) to the ideal point, the point
  that has the best value seen of every objective at once (0 in every normalised dimension);
- for each seed a found member dominates, the one that dominates it by the **widest margin**:
  its gain on an objective is how much better than the seed it is there, as a fraction of that
  objective's range; its margin is its smallest gain over the objectives, and the pick has the
  largest margin (ties: the largest total gain, then the earliest trial).

Renderers (:mod:`~hardsearch.report.text`, :mod:`~hardsearch.report.plots`,
:mod:`~hardsearch.report.html`, :mod:`~hardsearch.report.console`,
:mod:`~hardsearch.report.dashboard`) draw it; they compute nothing.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from optuna.trial import FrozenTrial

from hardsearch.arch.config import summarize_arch
from hardsearch.study.bounds import Bounds
from hardsearch.study.fidelity import fidelity_of
from hardsearch.study.front import feasible, hypervolume, pareto_front, update_front

__all__ = ["SeedComparison", "ParetoReport", "COSTS", "build_report", "hypervolume", "knee",
           "widest_margin", "describe_proxy"]

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
    # What the proxy is (the study's): {"name", "resolution", "classes", "data", "members"} (a predictor's
    # also "recipe"); None: unknown. An accuracy proxy's values are fractions, shown in per cent
    proxy: dict[str, Any] | None = None
    input_size: list[int] | None = None  # where the costs were counted
    # Which one to pick (see the module's docstring): {"trial", "seed", "distance", "normalised"}
    knee: dict[str, Any] | None = None
    # Per dominated seed: {"seed", "seed_trial", "trial", "margin", "gains"} (gains normalised)
    seed_picks: Sequence[dict[str, Any]] = ()
    # The hypervolume's normalisation, per objective: {"best", "worst" (own units; None: no feasible
    # trial to take them from), "source", "fixed" (True: stored in the study; False: per study)}
    bounds: dict[str, dict[str, Any]] | None = None
    # Under a multi-fidelity schedule (proxy=train with proxy.schedule): the full budget in epochs, and
    # whether the report keeps only members that reached it (``full_budget=true``). Otherwise None.
    fidelity: dict[str, Any] | None = None


def knee(normalised: Mapping[int, Sequence[float]]) -> tuple[int, float] | None:
    """The member (trial number -> normalised objectives, 0 = best) closest to the ideal point 0.

    The report passes the per-study normalisation (over the study's feasible trials), not the
    fixed hypervolume bounds. Returns ``(trial, distance)``; ties go to the earliest trial; None
    for no members.
    """
    if not normalised:
        return None
    distances = {n: float(np.linalg.norm(np.asarray(v, dtype=float))) for n, v in normalised.items()}
    best = min(distances, key=lambda n: (distances[n], n))
    return best, distances[best]


def widest_margin(seed: Sequence[float],
                  dominators: Mapping[int, Sequence[float]]) -> tuple[int, float, list[float]] | None:
    """Of the members dominating ``seed`` (all normalised, lower is better), the one with the widest margin.

    A member's gain on an objective is ``seed - member`` there; its margin is its smallest gain.
    Returns ``(trial, margin, gains)`` for the largest margin (ties: the largest total gain, then
    the earliest trial); None for no dominators. The report passes the per-study normalisation,
    as for :func:`knee`.
    """
    if not dominators:
        return None
    mine = np.asarray(seed, dtype=float)
    gains = {n: mine - np.asarray(v, dtype=float) for n, v in dominators.items()}
    best = min(gains, key=lambda n: (-float(gains[n].min()), -float(gains[n].sum()), n))
    return best, float(gains[best].min()), [float(g) for g in gains[best]]


def describe_proxy(proxy: Mapping[str, Any] | None) -> tuple[str, str]:
    """What the proxy axis shows: (what it is and its scale, where it was measured).

    An accuracy proxy (``train``, ``predictor``: stored as a fraction) is shown in per cent
    (:func:`hardsearch.study.objectives.format_objective`), and its label says so.
    """
    proxy = dict(proxy or {})
    name = proxy.get("name")
    if name == "ensemble":
        members = ", ".join(proxy.get("members") or [])
        what = f"proxy: ensemble of {members}, mean robust z-score" if members else \
            "proxy: ensemble, mean robust z-score"
    elif name == "train":
        what = "proxy: held-out top-1 accuracy (%) after a short training"
    elif name == "predictor":
        recipe = proxy.get("recipe")
        what = "proxy: predicted top-1 accuracy (%)"
        if isinstance(recipe, str) and recipe:
            what += f" at {recipe}"
    elif name:
        what = f"proxy: {name} score (raw)"
    else:
        what = "proxy accuracy"
    where = []
    if proxy.get("resolution"):
        where.append(f"at {proxy['resolution']}x{proxy['resolution']} px")
    if proxy.get("classes"):
        where.append(f"{proxy['classes']} classes")
    where.append("higher is better")
    return what, ", ".join(where)


def _signed(values: Sequence[float], directions: Sequence[str]) -> np.ndarray:
    pairs = zip(values, directions, strict=True)
    return np.array([v if d == "minimize" else -v for v, d in pairs], dtype=float)


def _gain(objective: str, direction: str, seed: float, found: float) -> float:
    """Proxy: the difference (higher is better); a cost: the relative change (negative = cheaper)."""
    if objective == "proxy" or seed == 0:
        return found - seed
    return (found - seed) / abs(seed)


COSTS = ("params", "macs", "cio", "peak_activations", "latency", "latency_model")


def _costs(trial: FrozenTrial) -> dict[str, float]:
    return {k: trial.user_attrs[k] for k in COSTS if k in trial.user_attrs}


def epochs_of(trial: FrozenTrial) -> int | None:
    """The epochs a trial trained under a multi-fidelity schedule reached; None without a schedule."""
    fidelity = fidelity_of(trial)
    return int(fidelity["epochs"]) if fidelity and isinstance(fidelity.get("epochs"), int) else None


def _row(trial: FrozenTrial, objectives: Sequence[str], arch_file: str | None) -> dict[str, Any]:
    return {
        "trial": trial.number, "seed": trial.user_attrs.get("seed"), "epochs": epochs_of(trial),
        "objectives": dict(zip(objectives, trial.values, strict=True)),
        "costs": _costs(trial),
        "parameters": dict(trial.params), "digest": trial.user_attrs.get("digest"),
        "arch": trial.user_attrs.get("arch"), "summary": summarize_arch(trial.user_attrs.get("arch")),
        "arch_file": arch_file,
    }


def _normalisation(objectives: Sequence[str], directions: Sequence[str], points: np.ndarray,
                   bounds: Bounds | None) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, Any]]]:
    """The hypervolume's normalisation, ``(low, span)`` on the signed objectives (``(x - low) / span``:
    best 0, worst 1), from the fixed ``bounds`` where they hold the objective and otherwise over
    the study's feasible ``points``; and what it is per objective (:attr:`ParetoReport.bounds`)."""
    low, span, described = [], [], {}
    for i, (o, d) in enumerate(zip(objectives, directions, strict=True)):
        sign = 1.0 if d == "minimize" else -1.0
        bound = bounds.objectives.get(o) if bounds is not None else None
        if bound is not None and sign * (bound.worst - bound.best) > 0:
            low.append(sign * bound.best)
            span.append(sign * (bound.worst - bound.best))
            described[o] = {"best": bound.best, "worst": bound.worst, "source": bound.source, "fixed": True}
            continue
        why = ("the study stores no fixed bounds" if bounds is None else
               "measured per trial, no fixed bound" if o == "latency" else "no fixed bound stored")
        if len(points):
            lo, hi = float(points[:, i].min()), float(points[:, i].max())
            low.append(lo)
            span.append(hi - lo if hi > lo else 1.0)
            best, worst, source = sign * lo, sign * hi, f"this study's feasible trials; {why}"
        else:
            low.append(0.0)
            span.append(1.0)
            best, worst, source = None, None, f"no feasible trial yet; {why}"
        described[o] = {"best": best, "worst": worst, "source": source, "fixed": False}
    return np.array(low), np.array(span), described


def build_report(study_name: str, trials: Sequence[FrozenTrial], objectives: Sequence[str],
                 directions: Sequence[str], arch_files: Mapping[int, str] | None = None, *,
                 proxy: Mapping[str, Any] | None = None,
                 input_size: Sequence[int] | None = None, bounds: Bounds | None = None,
                 full_budget: bool = False) -> ParetoReport:
    """The report of a study's trials (pure: no storage access).

    ``bounds`` are the study's fixed hypervolume bounds (its ``hardsearch.bounds`` attribute;
    None for a study from before them): the hypervolumes are normalised by them, and an
    objective they do not hold by its best and worst value over the feasible trials. The knee
    and the seed picks always use that per-study normalisation. ``proxy`` says what the proxy
    objective is (the study's ``hardsearch.proxy`` attribute) and ``input_size`` where the costs
    were counted; both only label the report.
    """
    arch_files = dict(arch_files or {})
    ok = sorted((t for t in trials if feasible(t)), key=lambda t: t.number)
    front = pareto_front(trials, directions)
    front_numbers = {t.number for t in front}
    points = np.array([_signed(t.values, directions) for t in ok]) if ok else np.zeros((0, len(objectives)))
    # which one to pick: per study, over the feasible trials
    if len(points):
        low, high = points.min(axis=0), points.max(axis=0)
        span = np.where(high > low, high - low, 1.0)
    else:
        low, span = np.zeros(len(objectives)), np.ones(len(objectives))
    # the hypervolume: by the fixed bounds where the study has them
    hv_low, hv_span, described = _normalisation(objectives, directions, points, bounds)
    reference_norm = np.full(len(objectives), 1.0 + REFERENCE_MARGIN)
    reference = hv_low + reference_norm * hv_span
    reference_units = [float(r if d == "minimize" else -r)
                       for r, d in zip(reference, directions, strict=True)]

    def hv(group: Sequence[FrozenTrial]) -> float:
        if not group:
            return 0.0
        signed = np.array([_signed(t.values, directions) for t in group])
        return hypervolume((signed - hv_low) / hv_span, reference_norm)

    history = []
    so_far: list[FrozenTrial] = []
    for t in ok:  # the front grows one trial at a time instead of being recomputed from scratch
        so_far = update_front(so_far, t, directions)
        history.append((t.number, hv(so_far)))

    def normalised(trial: FrozenTrial) -> list[float]:
        return [float(v) for v in (_signed(trial.values, directions) - low) / span]

    front_norm = {t.number: normalised(t) for t in front}
    chosen = knee(front_norm)
    knee_row = None if chosen is None else {
        "trial": chosen[0], "seed": next(t.user_attrs.get("seed") for t in front if t.number == chosen[0]),
        "distance": chosen[1], "normalised": dict(zip(objectives, front_norm[chosen[0]], strict=True))}
    seed_trials = [t for t in ok if t.user_attrs.get("seed")]
    seeds, picks = [], []
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
        pick = widest_margin(normalised(s), {b["trial"]: front_norm[b["trial"]] for b in beaters})
        if pick is not None:
            picks.append({"seed": s.user_attrs["seed"], "seed_trial": s.number, "trial": pick[0],
                          "margin": pick[1], "gains": dict(zip(objectives, pick[2], strict=True))})
    return ParetoReport(
        study=study_name, objectives=list(objectives), directions=list(directions), n_trials=len(trials),
        n_feasible=len(ok), front=[_row(t, objectives, arch_files.get(t.number)) for t in front],
        seeds=seeds, reference_point=reference_units, hypervolume_front=hv(front),
        hypervolume_seeds=hv(pareto_front(seed_trials, directions)), hypervolume_history=history,
        points=[{"trial": t.number, "seed": t.user_attrs.get("seed"), "on_front": t.number in front_numbers,
                 "epochs": epochs_of(t),
                 "objectives": dict(zip(objectives, t.values, strict=True)), "costs": _costs(t),
                 "summary": summarize_arch(t.user_attrs.get("arch"))} for t in ok],
        proxy=dict(proxy) if proxy else None, input_size=list(input_size) if input_size else None,
        knee=knee_row, seed_picks=picks, bounds=described, fidelity=_fidelity(proxy, full_budget),
    )


def _fidelity(proxy: Mapping[str, Any] | None, full_budget: bool) -> dict[str, Any] | None:
    schedule = (proxy or {}).get("schedule")
    if not schedule:
        return None
    return {"budget": schedule.get("epochs"), "rungs": schedule.get("rungs"), "kind": schedule.get("kind"),
            "full_budget_only": bool(full_budget)}
