"""The study's hypervolume bounds, fixed once from the space and the proxy's calibration.

Each objective gets a best and a worst value (:class:`hardsearch.study.bounds.Bounds`) that do
not depend on what the search found, so two studies of the same space and proxy normalise their
hypervolumes alike:

- a cost (``params``, ``macs``, ``cio``, ``peak_activations``): its minimum and maximum over the
  space's *corner members* and its seeds. A corner takes every gene's smallest value (the low
  corner) or every gene's largest (the high corner), for each combination of the structural
  choices: ``link_base``, the blocks per level, and any choice that is not a number;
- ``proxy``: ``ensemble``: the lowest and highest ensemble value over its calibration's reference
  sample; ``train``: chance (1 / classes) to 1; any other proxy: its lowest and highest score
  over a fixed reference sample (the space's seeds + 8 random members, seed 0), scored once;
- ``latency_model`` (a device profile's prediction): like a cost, its minimum and maximum over the
  corners and the seeds, predicted at the profile's input size;
- ``latency`` is measured per trial: no fixed bound (the report normalises it per study).

:func:`load_or_fix_bounds` reads them from the study, or computes and stores them (the search
calls it once per study, under the study's lock).
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any, Callable, Sequence

from hardsearch.accuracy.objective import AccuracyProxy, reference_archs
from hardsearch.arch.config import ArchConfig
from hardsearch.arch.costs import count_costs
from hardsearch.arch.latency_model import LatencyProfile
from hardsearch.arch.space import Param, SearchSpace, SpaceError, seed_archs
from hardsearch.core.errors import UserError
from hardsearch.search.genome import grid
from hardsearch.study.bounds import STUDY_KEY, Bound, Bounds, read_bounds

__all__ = ["COST_OBJECTIVES", "REFERENCE_RANDOM", "REFERENCE_SEED", "corner_members", "cost_bounds",
           "proxy_bound", "scores_reference", "study_bounds", "load_or_fix_bounds"]

COST_OBJECTIVES = ("params", "macs", "cio", "peak_activations", "latency_model")
REFERENCE_RANDOM = 8  # random members in the reference sample a proxy without calibration is scored on
REFERENCE_SEED = 0


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _structural(name: str, choices: Sequence[Any]) -> bool:
    """A choice gene whose every value a corner tries: link_base, blocks per level, non-numbers."""
    if name == "link_base" or re.fullmatch(r"l\d+_blocks", name):
        return True
    return any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in choices)


def _end(param: Param, pick: Callable[[Sequence[Any]], Any]) -> Any:
    """A gene's smallest (``pick=min``) or largest (``max``) value: of its choices or step grid, or
    the end of a continuous range."""
    values = grid(param)
    return pick(values) if values is not None else pick((param.low, param.high))


def corner_members(space: SearchSpace) -> list[tuple[str, ArchConfig]]:
    """The space's corner members, labelled (e.g. ``low link_base=2 l2_blocks=1``): the low corner
    (every gene at its smallest value) and the high corner (every gene at its largest) for each
    combination of the structural choices. Invalid corners (:class:`SpaceError`) are left out."""
    genes = space.genes()
    structural = [(name, p.choices) for name, p in genes
                  if p.choices is not None and _structural(name, p.choices)]
    names = [name for name, _ in structural]
    out = []
    for end, pick in (("low", min), ("high", max)):
        base = {name: _end(p, pick) for name, p in genes if name not in names}
        for combination in itertools.product(*(choices for _, choices in structural)):
            chosen = dict(zip(names, combination, strict=True))
            try:
                arch = space.decode({**base, **chosen})
            except SpaceError:
                continue
            out.append((" ".join([end, *(f"{k}={v}" for k, v in chosen.items())]), arch))
    return out


def cost_bounds(space: SearchSpace, objectives: Sequence[str],
                profile: LatencyProfile | None = None) -> dict[str, Bound]:
    """Each cost objective's minimum (best) and maximum (worst) over the corners and the seeds,
    counted at the space's input size (``latency_model``: predicted by ``profile``)."""
    wanted = [o for o in objectives if o in COST_OBJECTIVES and (o != "latency_model" or profile)]
    if not wanted:
        return {}
    counted = {}
    for kind, archs in (("corner member", [arch for _, arch in corner_members(space)]),
                        ("seed", seed_archs(space))):
        counted[kind] = []
        for arch in archs:
            try:
                report = count_costs(arch, space.input_size)
                costs = {o: getattr(report, o) for o in wanted if o != "latency_model"}
                if profile is not None and "latency_model" in wanted:
                    costs["latency_model"] = profile.predict_us(arch)
                counted[kind].append(costs)
            except UserError:  # no feature map left at the input size: not a member a search can have
                continue
    costs = [c for group in counted.values() for c in group]
    source = "the space's " + " and ".join(_count(len(group), kind)
                                           for kind, group in counted.items() if group)
    out = {}
    for o in wanted:
        values = [float(c[o]) for c in costs]
        if values and min(values) < max(values):
            out[o] = Bound(min(values), max(values), source)
    return out


def proxy_bound(space: SearchSpace, proxy: AccuracyProxy, data: Any, *, random: int = REFERENCE_RANDOM,
                seed: int = REFERENCE_SEED) -> Bound | None:
    """The proxy's best (highest) and worst (lowest) value; None when they cannot be told apart."""
    if proxy.name == "train":
        classes = int(data.num_classes)
        return Bound(1.0, 1.0 / classes, f"chance (1/{classes}) to 1") if classes > 1 else None
    calibration = getattr(proxy, "calibration", None)
    if proxy.name == "ensemble" and calibration is not None:
        n = len(calibration.reference)
        values = [calibration.ensemble({m: c.reference[i] for m, c in calibration.members.items()})
                  for i in range(n)]
        source = f"the ensemble's calibration: {_count(n, 'reference architecture')}"
    else:
        archs = reference_archs(space, random=random, seed=seed)
        values = []
        for arch in archs:
            try:
                values.append(proxy(arch).value)
            except UserError:
                raise
            except Exception:  # noqa: BLE001 - a member the proxy cannot score is left out, as in a trial
                continue
        source = (f"{proxy.name} on the reference sample: the space's {_count(len(archs) - random, 'seed')} "
                  f"+ {_count(random, 'random member')}, seed {seed}")
        if len(values) < len(archs):
            source += f", {len(archs) - len(values)} not scored"
    values = [v for v in values if math.isfinite(v)]
    if len(values) < 2 or min(values) == max(values):
        return None
    return Bound(max(values), min(values), source)


def scores_reference(proxy: AccuracyProxy, objectives: Sequence[str]) -> bool:
    """Whether :func:`study_bounds` scores the reference sample with the proxy (it takes a while)."""
    if "proxy" not in objectives or proxy.name == "train":
        return False
    return proxy.name != "ensemble" or getattr(proxy, "calibration", None) is None


def study_bounds(space: SearchSpace, proxy: AccuracyProxy, objectives: Sequence[str], data: Any, *,
                 random: int = REFERENCE_RANDOM, seed: int = REFERENCE_SEED,
                 profile: LatencyProfile | None = None) -> Bounds:
    """The bounds of a study of ``space`` with ``proxy``, for each of ``objectives`` that can have one."""
    bounds = cost_bounds(space, objectives, profile)
    if "proxy" in objectives:
        bound = proxy_bound(space, proxy, data, random=random, seed=seed)
        if bound is not None:
            bounds["proxy"] = bound
    return Bounds({o: bounds[o] for o in objectives if o in bounds}, space.name, proxy.name,
                  tuple(space.input_size))


def load_or_fix_bounds(study: Any, *, space: SearchSpace, proxy: AccuracyProxy, objectives: Sequence[str],
                       data: Any, out: Callable[[str], None] = print,
                       profile: LatencyProfile | None = None) -> tuple[Bounds, bool]:
    """The study's stored bounds, or new ones from :func:`study_bounds` stored in the study.

    Returns ``(bounds, created)``; call it under the study's lock, so only the first process of a
    study computes them and every later one (a resumed run, another worker) reads the same ones.
    """
    stored = read_bounds(study)
    if stored is not None:
        return stored, False
    if scores_reference(proxy, objectives):
        out(f"fixing the hypervolume bounds on {space.name}'s corners, seeds and {REFERENCE_RANDOM} random "
            f"members (proxy {proxy.name}) ...")
    bounds = study_bounds(space, proxy, objectives, data, profile=profile)
    study.set_user_attr(STUDY_KEY, bounds.to_dict())
    return read_bounds(study), True
