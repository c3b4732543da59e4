"""Rank correlations that tell whether a proxy ranks networks like their trained accuracy does.

Spearman's ρ and Kendall's τ-b come from SciPy. The partial rank correlation of a proxy x
with accuracy y controlling for a cost z (MACs) is the Pearson correlation of the ranks of x
and y after the ranks of z are regressed out of both, which equals the closed form

    ρ_xy·z = (ρ_xy − ρ_xz ρ_yz) / sqrt((1 − ρ_xz²)(1 − ρ_yz²))

on Spearman coefficients. It is the part of the ranking that the cost objectives of a search
do not already provide: a proxy that only tracks MACs scores about zero here.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
from scipy import stats as _stats

__all__ = ["RankCorrelation", "spearman", "kendall", "partial_spearman", "rank_correlation"]


class RankCorrelation(NamedTuple):
    """How one proxy's ranking agrees with accuracy over ``n`` networks."""

    n: int
    spearman: float  # ρ
    spearman_p: float  # two-sided p-value of ρ
    kendall: float  # τ-b
    kendall_p: float
    partial_spearman: float  # ρ controlling for the cost (nan without one)


def _check(x: Sequence[float], y: Sequence[float], *, names: tuple[str, str] = ("x", "y")) -> None:
    if len(x) != len(y):
        raise ValueError(f"{names[0]} and {names[1]} must have the same length; got {len(x)} and {len(y)}")
    if len(x) < 3:
        raise ValueError(f"rank correlations need at least 3 values; got {len(x)}")


def _test(statistic, x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    _check(x, y)
    if _constant(x) or _constant(y):
        return math.nan, math.nan
    result = statistic(x, y)
    return float(result.statistic), float(result.pvalue)


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman's ρ with average ranks for ties, and its two-sided p-value (nan if constant)."""
    return _test(_stats.spearmanr, x, y)


def kendall(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Kendall's τ-b (ties counted as in SciPy) and its two-sided p-value (nan if constant)."""
    return _test(_stats.kendalltau, x, y)


def partial_spearman(x: Sequence[float], y: Sequence[float], z: Sequence[float]) -> float:
    """Spearman correlation of ``x`` and ``y`` with the ranks of ``z`` partialled out.

    nan when x or y is constant or fully determined by the ranks of z.
    """
    _check(x, y)
    _check(x, z, names=("x", "z"))
    if _constant(x) or _constant(y):
        return math.nan
    if _constant(z):
        return spearman(x, y)[0]
    r_xy, r_xz, r_yz = (spearman(a, b)[0] for a, b in ((x, y), (x, z), (y, z)))
    denominator = (1.0 - r_xz**2) * (1.0 - r_yz**2)
    if denominator <= 1e-12:
        return math.nan
    value = (r_xy - r_xz * r_yz) / math.sqrt(denominator)
    return float(min(1.0, max(-1.0, value)))


def rank_correlation(proxy: Sequence[float], accuracy: Sequence[float],
                     cost: Sequence[float] | None = None) -> RankCorrelation:
    """All the agreement figures of one proxy against accuracy (partial one needs ``cost``)."""
    rho, rho_p = spearman(proxy, accuracy)
    tau, tau_p = kendall(proxy, accuracy)
    partial = math.nan if cost is None else partial_spearman(proxy, accuracy, cost)
    return RankCorrelation(len(proxy), rho, rho_p, tau, tau_p, partial)


def _constant(values: Sequence[float]) -> bool:
    array = np.asarray(values, dtype=float)
    return bool(np.all(array == array[0]))
