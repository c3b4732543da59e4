"""Pareto ranks of points (NSGA-II's order), for successive halving in a multi-objective study.

Points are rows of objective values, all minimised (negate a maximised one). The order is
NSGA-II's: first by **front** (1 = not dominated by any point; 2 = not dominated once front 1 is
removed; …), then within a front by **crowding distance**, larger first (a point at either end of
a front along any objective has infinite distance). :func:`ahead_of` counts the points strictly
ahead of one point in that order, so ties (same front, same distance) are never decided by
anything but the values themselves.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["pareto_fronts", "crowding_distances", "ahead_of", "in_top"]


def _as_points(points: object) -> np.ndarray:
    array = np.asarray(points, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"points must be a 2-D array (one row per point); got shape {array.shape}")
    return array


def pareto_fronts(points: object) -> np.ndarray:
    """The front (1, 2, …) of each row: non-dominated sorting of minimised objectives."""
    p = _as_points(points)
    n = len(p)
    no_worse = np.all(p[:, None, :] <= p[None, :, :], axis=2)
    better = np.any(p[:, None, :] < p[None, :, :], axis=2)
    dominates = no_worse & better  # dominates[i, j]: row i dominates row j
    fronts = np.zeros(n, dtype=int)
    remaining = np.ones(n, dtype=bool)
    front = 0
    while remaining.any():
        front += 1
        dominated = np.any(dominates[remaining][:, remaining], axis=0)
        current = np.flatnonzero(remaining)[~dominated]
        fronts[current] = front
        remaining[current] = False
    return fronts


def crowding_distances(points: object, fronts: np.ndarray | None = None) -> np.ndarray:
    """NSGA-II's crowding distance of each row within its front (objectives scaled by the front's range).

    The points at both ends of a front along an objective get ``inf``; a front of one or two
    points is all ``inf``. An objective on which the whole front is equal adds nothing.
    """
    p = _as_points(points)
    fronts = pareto_fronts(p) if fronts is None else np.asarray(fronts)
    distance = np.zeros(len(p))
    for front in np.unique(fronts):
        members = np.flatnonzero(fronts == front)
        if len(members) <= 2:
            distance[members] = np.inf
            continue
        for m in range(p.shape[1]):
            values = p[members, m]
            order = members[np.argsort(values, kind="stable")]
            low, high = p[order[0], m], p[order[-1], m]
            if high == low:  # no ends to keep along an objective the whole front shares
                continue
            distance[order[0]] = distance[order[-1]] = np.inf
            gaps = (p[order[2:], m] - p[order[:-2], m]) / (high - low)
            distance[order[1:-1]] += gaps
    return distance


def ahead_of(points: object, index: int) -> tuple[int, int, float]:
    """(points strictly ahead of row ``index`` in NSGA-II's order, its front, its crowding distance)."""
    p = _as_points(points)
    fronts = pareto_fronts(p)
    distances = crowding_distances(p, fronts)
    mine_front, mine_distance = int(fronts[index]), float(distances[index])
    ahead = int(np.sum((fronts < mine_front) | ((fronts == mine_front) & (distances > mine_distance))))
    return ahead, mine_front, mine_distance


def in_top(points: object, index: int, fraction: float) -> tuple[bool, int, int, int, float]:
    """Whether row ``index`` is in the top ``fraction`` of the points in NSGA-II's order.

    The top holds ``k = max(1, floor(n * fraction))`` places (with ``fraction = 1/eta`` this is
    asynchronous successive halving's ``n // eta``, and the first of a rung always goes on); a point
    is in it when fewer than ``k`` points are strictly ahead of it, so a tie at the cut goes on.
    Returns (in the top, k, points ahead, front, crowding distance).
    """
    p = _as_points(points)
    k = max(1, int(math.floor(len(p) * fraction + 1e-9)))
    ahead, front, distance = ahead_of(p, index)
    return ahead < k, k, ahead, front, distance

