"""Expected hypervolume improvement when only one objective is uncertain.

In hardsearch the costs of a candidate are exact (closed form) and only its proxy score is
unknown; a surrogate predicts it as a normal N(mean, sd). All objectives are minimised and
normalised here (the proxy negated). For a candidate with known costs ``c`` and uncertain first
objective ``f``, the hypervolume it adds to a front is

    HVI(f) = ∫_f^{R0} A(t) dt,

where ``A(t)`` is the area (volume, for several costs) of the cost box ``[c, R]`` that the
front's members with first objective ``<= t`` do not dominate. ``A`` is a step function that
changes at the members' first objectives, so the expectation is exact in closed form:

    EHVI = Σ_k A_k ∫_{t_k}^{t_{k+1}} Φ((t - mean) / sd) dt,
    ∫_a^b Φ((t - m) / s) dt = s [G((b - m) / s) - G((a - m) / s)],  G(z) = z Φ(z) + φ(z).

With two costs (the default ``[proxy, macs, cio]``) the areas of all candidates are computed at
once with array operations; with one cost a zero second cost is added; with three or more,
each candidate's volumes go through Optuna's hypervolume routine.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from hardsearch.study.front import hypervolume

__all__ = ["ehvi", "hypervolume_improvement"]


def _g(z: np.ndarray) -> np.ndarray:
    """G(z) = z Φ(z) + φ(z), the integral of Φ up to z; G(-inf) = 0, G(+inf) = z."""
    return z * ndtr(z) + np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


def _areas_2d(costs: np.ndarray, front_costs: np.ndarray, order: np.ndarray,
              reference: np.ndarray) -> np.ndarray:
    """Areas A_k (k = 0..n) of each candidate's cost box left undominated by the first k front members
    (in ``order``), shape (candidates, n + 1)."""
    n_c, n = len(costs), len(front_costs)
    rx, ry = reference
    box = np.clip(rx - costs[:, 0], 0, None) * np.clip(ry - costs[:, 1], 0, None)
    out = np.empty((n_c, n + 1))
    out[:, 0] = box
    if n == 0:
        return out
    by_x = np.argsort(front_costs[:, 0], kind="stable")
    xs = front_costs[by_x, 0]
    ys = front_costs[by_x, 1]
    # clipped to each candidate's box: (candidates, n)
    x_clip = np.clip(np.maximum(xs[None, :], costs[:, :1]), None, rx)
    y_clip = np.clip(np.maximum(ys[None, :], costs[:, 1:2]), None, ry)
    x_next = np.concatenate([x_clip[:, 1:], np.full((n_c, 1), rx)], axis=1)
    widths = np.clip(x_next - x_clip, 0, None)
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(n)  # position of each member (by index) in the order of the first objective
    rank_by_x = rank[by_x]
    for k in range(1, n + 1):
        active = rank_by_x < k
        y_active = np.where(active[None, :], y_clip, ry)
        run_min = np.minimum.accumulate(y_active, axis=1)
        covered = (widths * (ry - run_min)).sum(axis=1)
        out[:, k] = box - covered
    return np.clip(out, 0, None)


def _areas_nd(costs: np.ndarray, front_costs: np.ndarray, order: np.ndarray,
              reference: np.ndarray) -> np.ndarray:
    n_c, n = len(costs), len(front_costs)
    out = np.empty((n_c, n + 1))
    for c in range(n_c):
        box = float(np.prod(np.clip(reference - costs[c], 0, None)))
        out[c, 0] = box
        for k in range(1, n + 1):
            members = np.minimum(np.maximum(front_costs[order[:k]], costs[c]), reference)
            out[c, k] = box - hypervolume(members, reference)
    return np.clip(out, 0, None)


def ehvi(mean: np.ndarray, sd: np.ndarray, costs: np.ndarray, front: np.ndarray,
         reference: np.ndarray) -> np.ndarray:
    """Expected hypervolume improvement of each candidate (minimisation, normalised objectives).

    ``mean``, ``sd``: the first objective's prediction per candidate, shape (C,); ``costs``: the
    other objectives, exact, shape (C, m); ``front``: the current front, shape (n, 1 + m);
    ``reference``: the reference point, shape (1 + m,).
    """
    mean = np.asarray(mean, dtype=float)
    sd = np.maximum(np.asarray(sd, dtype=float), 1e-9)
    costs = np.asarray(costs, dtype=float).reshape(len(mean), -1)
    front = np.asarray(front, dtype=float).reshape(-1, 1 + costs.shape[1])
    reference = np.asarray(reference, dtype=float)
    r0, cost_ref = reference[0], reference[1:]
    front = front[front[:, 0] < r0]
    if costs.shape[1] == 1:  # one cost: a second, constant one keeps the 2-D routine
        costs = np.concatenate([costs, np.zeros((len(costs), 1))], axis=1)
        front = np.concatenate([front, np.zeros((len(front), 1))], axis=1)
        cost_ref = np.append(cost_ref, 1.0)
    order = np.argsort(front[:, 0], kind="stable")
    areas = (_areas_2d if costs.shape[1] == 2 else _areas_nd)(costs, front[:, 1:], order, cost_ref)
    breaks = np.concatenate([[-np.inf], front[order, 0], [r0]])  # t_0 .. t_{n+1}
    z = (breaks[None, :] - mean[:, None]) / sd[:, None]
    gz = np.where(np.isneginf(z), 0.0, _g(np.where(np.isneginf(z), 0.0, z)))
    integrals = sd[:, None] * (gz[:, 1:] - gz[:, :-1])  # ∫ over [t_k, t_{k+1}) of Φ, shape (C, n + 1)
    return np.clip((areas * integrals).sum(axis=1), 0, None)


def hypervolume_improvement(point: np.ndarray, front: np.ndarray, reference: np.ndarray) -> float:
    """The exact hypervolume ``point`` adds to ``front`` (minimisation): a check for :func:`ehvi`."""
    front = np.asarray(front, dtype=float).reshape(-1, len(reference))
    return hypervolume(np.vstack([front, point]), reference) - hypervolume(front, reference)
