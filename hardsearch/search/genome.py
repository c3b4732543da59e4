"""Genome operators on a search space: random points, mutation, crossover, and features.

A point of a space is its fixed-length genome (:meth:`SearchSpace.genes`): a dict from gene
name to value. The operators here work on that dict and never leave the space: every value
they write is one the gene's range or choices allows. They take a NumPy ``Generator``, so a
seed gives the same candidates.

- **mutation** redraws each gene with probability ``rate`` (at least one gene always): an
  ordered gene (a numeric range, or numeric choices) moves one to three steps up or down with
  probability 0.7 (a step past the end of its range stops at the end, so it may stay where it
  was) and jumps to another value otherwise; a categorical gene takes another choice.
- **crossover** takes whole units from one parent or the other: the top-level genes one by one,
  and each level (its block count and all its blocks' genes) as one unit, so a level's layout
  travels with its blocks.
- **features** describe a point for a surrogate model: the top-level genes and, per level, the
  blocks used, their total depth, mean growth and last output width, each scaled to [0, 1] by
  its range, plus the log of the closed-form costs (see :func:`features`).
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any, Mapping, Sequence

import numpy as np

from hardsearch.arch.space import Param, SearchSpace

__all__ = ["Genome", "grid", "random_genome", "mutate", "crossover", "genome_key", "features",
           "LOCAL_MOVE"]

Genome = dict[str, Any]

LOCAL_MOVE = 0.7  # probability that a mutated ordered gene moves 1-3 steps instead of jumping
_CONTINUOUS_STEPS = 32  # a range without a step is mutated on this many steps


def grid(param: Param) -> list[Any] | None:
    """Every value an ordered or categorical gene allows, in order; None for a continuous range."""
    values = _grid(param)
    return None if values is None else list(values)


@functools.lru_cache(maxsize=1024)
def _grid(param: Param) -> tuple[Any, ...] | None:
    values = _grid_list(param)
    return None if values is None else tuple(values)


def _grid_list(param: Param) -> list[Any] | None:
    if param.fixed:
        return [param.constant]
    if param.choices is not None:
        return list(param.choices)
    if param.step:
        n = int(round((param.high - param.low) / param.step))
        values = [param.low + k * param.step for k in range(n + 1)]
        return [int(v) for v in values] if param.integer else [round(v, 10) for v in values]
    if param.integer:
        return list(range(int(param.low), int(param.high) + 1))
    return None


@functools.lru_cache(maxsize=1024)
def _ordered(values: tuple[Any, ...]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


@functools.lru_cache(maxsize=1024)
def _range(param: Param) -> tuple[tuple[Any, ...] | None, bool, Any, Any]:
    """A gene's grid, whether it is ordered (numbers, or a continuous range), its low and high end."""
    values = _grid(param)
    if values is None:
        return None, True, param.low, param.high
    if not _ordered(values):
        return values, False, None, None
    return values, True, min(values), max(values)


def _uniform(param: Param, rng: np.random.Generator) -> Any:
    values = _grid(param)
    if values is not None:
        return values[int(rng.integers(len(values)))]
    if param.log:
        return float(math.exp(rng.uniform(math.log(param.low), math.log(param.high))))
    return float(rng.uniform(param.low, param.high))


def random_genome(space: SearchSpace, rng: np.random.Generator) -> Genome:
    """A uniformly random point of the space (every gene drawn)."""
    return {key: _uniform(param, rng) for key, param in space.genes()}


def _mutate_gene(param: Param, value: Any, rng: np.random.Generator) -> Any:
    values = _grid(param)
    if values is None:  # a continuous range: move on a grid of _CONTINUOUS_STEPS steps
        low, high = (math.log(param.low), math.log(param.high)) if param.log else (param.low, param.high)
        x = math.log(value) if param.log else value
        if rng.random() < LOCAL_MOVE:
            x = min(high, max(low, x + (high - low) / _CONTINUOUS_STEPS * rng.choice([-3, -2, -1, 1, 2, 3])))
        else:
            x = rng.uniform(low, high)
        return float(math.exp(x)) if param.log else float(x)
    if len(values) < 2:
        return value
    index = _index(values, value)
    if _ordered(tuple(values)) and rng.random() < LOCAL_MOVE:
        moved = index + int(rng.choice([-3, -2, -1, 1, 2, 3]))
        return values[min(len(values) - 1, max(0, moved))] if moved != index else values[index]
    others = [v for k, v in enumerate(values) if k != index]
    return others[int(rng.integers(len(others)))]


def _index(values: Sequence[Any], value: Any) -> int:
    for k, v in enumerate(values):
        if v == value or (isinstance(v, float) and isinstance(value, (int, float)) and abs(v - value) < 1e-9):
            return k
    return min(range(len(values)), key=lambda k: abs(values[k] - value)) if _ordered(tuple(values)) else 0


def mutate(space: SearchSpace, genome: Mapping[str, Any], rng: np.random.Generator, *,
           rate: float | None = None) -> Genome:
    """A mutant of ``genome``: each gene is redrawn with probability ``rate`` (default 1/genes; at
    least one gene is)."""
    genes = space.genes()
    rate = (1.0 / len(genes)) if rate is None else rate
    child = dict(genome)
    chosen = [k for k in range(len(genes)) if rng.random() < rate]
    if not chosen:
        chosen = [int(rng.integers(len(genes)))]
    for k in chosen:
        key, param = genes[k]
        child[key] = _mutate_gene(param, child[key], rng)
    return child


_LEVEL = re.compile(r"l(\d+)_")


def _unit(key: str) -> str:
    """The crossover unit of a gene: its level (``l2``) or, for a top-level gene, itself."""
    match = _LEVEL.match(key)
    return f"l{match.group(1)}" if match else key


def crossover(space: SearchSpace, a: Mapping[str, Any], b: Mapping[str, Any],
              rng: np.random.Generator) -> Genome:
    """A child taking each unit (a top-level gene, or a whole level) from ``a`` or ``b`` at random."""
    units = sorted({_unit(key) for key, _ in space.genes()})
    from_a = {u: bool(rng.random() < 0.5) for u in units}
    return {key: (a if from_a[_unit(key)] else b)[key] for key, _ in space.genes()}


def genome_key(space: SearchSpace, genome: Mapping[str, Any]) -> tuple:
    """What the architecture of ``genome`` depends on: its used genes (an unused block's are left out),
    rounded so that representation noise in stepped floats does not tell equal points apart."""
    out = []
    for key, blocks, block in space.used_when:
        if block and block > (blocks if isinstance(blocks, int) else genome[blocks]):
            continue  # a gene of a block the point does not use
        value = genome[key]
        out.append(round(value, 9) if isinstance(value, float) else value)
    return tuple(out)


def _scaled(param: Param, value: Any) -> float:
    """A gene's value on [0, 1] over its range (choices: by position if not numeric)."""
    if isinstance(value, bool):
        return float(value)
    values, ordered, low, high = _range(param)
    if not ordered:
        return _index(values, value) / max(1, len(values) - 1)
    if param.log and low > 0:
        return (math.log(value) - math.log(low)) / max(1e-12, math.log(high) - math.log(low))
    return (value - low) / (high - low) if high > low else 0.0


def features(space: SearchSpace, genome: Mapping[str, Any], costs: Mapping[str, float]) -> list[float]:
    """A point described for a surrogate: scaled top-level genes, per-level summaries, log costs.

    Per level: the blocks used (scaled by the most it may hold), their total depth and mean
    growth, and the last block's output width, each scaled by its gene's range. The costs
    (``params``, ``macs``, ``cio``) enter as natural logs.
    """
    row: list[float] = []
    params = dict(space.genes())
    for key in ("stem0", "stem1", "multiplier", "link_base", "dropout", "depthwise", "keep_base"):
        if key in params:
            row.append(_scaled(params[key], genome[key]))
    for i, level in enumerate(space.levels, start=1):
        blocks = level.blocks.constant if level.blocks.fixed else genome[f"l{i}_blocks"]
        most = max(grid(level.blocks) or [blocks])
        depth = grid(level.depth) or [level.depth.low, level.depth.high]
        used = range(1, blocks + 1)

        def value(gene: str, param: Param, j: int, i: int = i) -> float:
            return param.constant if param.fixed else genome[f"l{i}_b{j}_{gene}"]

        depths = [value("depth", level.depth, j) for j in used]
        growths = [_scaled(level.growth, value("growth", level.growth, j)) if not level.growth.fixed else 0.0
                   for j in used]
        out = value("out", level.out_channels, blocks)
        row += [blocks / most, sum(depths) / (max(depth) * most), float(np.mean(growths)),
                _scaled(level.out_channels, out) if not level.out_channels.fixed else 0.0]
    row += [math.log(max(1.0, costs[k])) for k in ("params", "macs", "cio")]
    return row
