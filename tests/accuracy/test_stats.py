"""Rank correlations against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from hardsearch.accuracy.stats import kendall, partial_spearman, rank_correlation, spearman


def test_spearman_textbook_example():
    # IQ against hours of TV per week (the classic worked example): sum d^2 = 194, n = 10,
    # rho = 1 - 6 * 194 / (10 * 99) = -29/165.
    iq = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110]
    tv = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17]
    rho, p = spearman(iq, tv)
    assert rho == pytest.approx(-29 / 165, abs=1e-12)
    assert 0 < p < 1


def test_kendall_by_counting_pairs():
    # Pairs of [3, 4, 1, 2, 5] in order: 6 concordant, 4 discordant, so tau = (6 - 4) / 10.
    tau, _ = kendall([1, 2, 3, 4, 5], [3, 4, 1, 2, 5])
    assert tau == pytest.approx(0.2, abs=1e-12)


def test_monotone_and_reversed():
    x = [0.1, 5.0, 2.0, 9.0, 3.0]
    assert spearman(x, [v**3 for v in x])[0] == pytest.approx(1.0)
    assert kendall(x, [-v for v in x])[0] == pytest.approx(-1.0)


def test_partial_spearman_hand_case():
    # Ranks differ by sum d^2 = 4, 4 and 14: rho_xy = 0.8, rho_xz = 0.8, rho_yz = 0.3, so
    # rho_xy.z = (0.8 - 0.8 * 0.3) / sqrt((1 - 0.64) * (1 - 0.09)).
    x, y, z = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5], [1, 3, 2, 5, 4]
    expected = (0.8 - 0.24) / math.sqrt(0.36 * 0.91)
    assert partial_spearman(x, y, z) == pytest.approx(expected, abs=1e-12)


def test_partial_equals_correlation_of_rank_residuals():
    rng = np.random.default_rng(3)
    z = rng.normal(size=40)
    x = z + rng.normal(size=40)
    y = z + 0.5 * x + rng.normal(size=40)
    rx, ry, rz = (scipy_stats.rankdata(v) for v in (x, y, z))
    design = np.column_stack([np.ones_like(rz), rz])
    residual = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in (rx, ry)]
    expected = np.corrcoef(residual[0], residual[1])[0, 1]
    assert partial_spearman(x, y, z) == pytest.approx(expected, abs=1e-10)


def test_a_proxy_that_only_tracks_cost_scores_zero_partial():
    rng = np.random.default_rng(0)
    macs = rng.uniform(1, 10, size=200)
    accuracy = np.log(macs) + rng.normal(scale=0.3, size=200)
    proxy = macs**2  # the cost itself, nothing more
    result = rank_correlation(proxy, accuracy, macs)
    assert result.spearman > 0.8
    assert math.isnan(result.partial_spearman)  # fully determined by the cost's ranks
    noisy = rank_correlation(macs + rng.normal(scale=0.5, size=200), accuracy, macs)
    assert abs(noisy.partial_spearman) < 0.2


def test_constant_inputs_and_bad_lengths():
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])[0])
    assert math.isnan(partial_spearman([1, 2, 3], [1, 1, 1], [3, 2, 1]))
    assert partial_spearman([1, 2, 3, 4], [1, 3, 2, 4], [5, 5, 5, 5]) == pytest.approx(spearman(
        [1, 2, 3, 4], [1, 3, 2, 4])[0])
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        kendall([1, 2], [2, 1])
