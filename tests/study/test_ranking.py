"""Pareto ranks (NSGA-II's order) held to hand computations and to a brute-force definition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hardsearch.study.ranking import ahead_of, crowding_distances, in_top, pareto_fronts

# Minimised (-accuracy, macs, cio). A dominates B, D and X; C is cheaper in MACs than A; X dominates
# B; B dominates D. Fronts by hand: A, C -> 1; X -> 2; B -> 3; D -> 4.
A, B, C, D, X = [-0.30, 1.0, 1.0], [-0.20, 2.0, 2.0], [-0.25, 0.5, 3.0], [-0.10, 3.0, 3.0], [-0.22, 1.5, 1.5]


def test_fronts_by_hand():
    assert pareto_fronts([A, B, C, D, X]).tolist() == [1, 3, 1, 4, 2]


def test_crowding_distance_by_hand():
    # one front of four points in two objectives, each ranging over 4
    points = [[0, 4], [1, 2], [2, 1], [4, 0]]
    d = crowding_distances(points)
    assert math.isinf(d[0]) and math.isinf(d[3])
    # (1, 2): (2 - 0) / 4 along the first objective + (4 - 1) / 4 along the second = 1.25; (2, 1) likewise
    assert d[1] == pytest.approx(1.25) and d[2] == pytest.approx(1.25)
    # fronts of one or two points are all at infinite distance; a constant objective adds nothing
    assert np.isinf(crowding_distances([[0, 1], [1, 0]])).all()
    flat = crowding_distances([[0, 4, 5], [1, 2, 5], [4, 0, 5]])  # one front; the third objective is flat
    assert np.isinf(flat[[0, 2]]).all() and flat[1] == pytest.approx(4 / 4 + 4 / 4)


def test_ahead_of_and_the_top():
    points = [A, B, C, D, X]
    assert ahead_of(points, 4)[:2] == (2, 2)  # X: A and C are ahead of it, in front 2
    # five points, eta = 3: the top holds max(1, 5 // 3) = 1 place; X has 2 ahead -> out
    assert in_top(points, 4, 1 / 3)[:3] == (False, 1, 2)
    # eta = 2: still 2 places, still 2 ahead -> out; top half of 5 with fraction 0.6: 3 places -> in
    assert in_top(points, 4, 1 / 2)[:3] == (False, 2, 2)
    assert in_top(points, 4, 0.6)[:3] == (True, 3, 2)
    # a tie at the cut goes on: A and C are both in front 1 at infinite distance, neither is ahead
    assert in_top(points, 0, 1 / 3)[:3] == (True, 1, 0)
    assert in_top(points, 2, 1 / 3)[:3] == (True, 1, 0)
    # the first of a rung always goes on
    assert in_top([X], 0, 1 / 3)[0]


def test_a_better_point_in_front_one_by_hand():
    # X' (0.35, 1.2, 1.2) is not dominated by A (more MACs) nor C: front 1 = {A, C, X'}. By hand, along
    # accuracy X' and C are the ends, along MACs C and X', along CIO A and C: all three at infinity.
    x = [-0.35, 1.2, 1.2]
    points = [A, B, C, D, x]
    assert pareto_fronts(points).tolist() == [1, 2, 1, 3, 1]
    assert np.isinf(crowding_distances(points)[[0, 2, 4]]).all()
    assert in_top(points, 4, 1 / 3)[:3] == (True, 1, 0)


@pytest.mark.parametrize("seed", range(5))
def test_front_one_is_exactly_the_non_dominated(seed):
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 6, size=(40, 3)).astype(float)  # many ties
    fronts = pareto_fronts(points)

    def dominated(i, among):
        return any(np.all(points[j] <= points[i]) and np.any(points[j] < points[i]) for j in among if j != i)

    remaining = list(range(len(points)))
    level = 0
    while remaining:
        level += 1
        current = [i for i in remaining if not dominated(i, remaining)]
        assert sorted(np.flatnonzero(fronts == level).tolist()) == current
        remaining = [i for i in remaining if i not in current]


def test_bad_points():
    with pytest.raises(ValueError, match="2-D"):
        pareto_fronts([1.0, 2.0])
