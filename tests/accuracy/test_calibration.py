"""Calibration of proxy scores: robust z-scores, the ensemble, and storage in an Optuna study."""

from __future__ import annotations

import json
import math

import optuna
import pytest

from hardsearch.accuracy.calibration import (
    STUDY_KEY,
    Calibration,
    calibrate_scores,
    load_or_calibrate,
    robust_scale,
)
from hardsearch.core.errors import UserError


def test_robust_scale_by_hand():
    # quartiles of 1..5 are 2 and 4: spread (4 - 2) / 1.349
    assert robust_scale([5, 1, 4, 2, 3]) == (3.0, 2 / 1.349)
    assert robust_scale([7, 7, 7]) == (7.0, 1.0)  # no spread at all: unit scale
    center, scale = robust_scale([0, 0, 0, 0, 0, 0, 0, 10])  # IQR 0: falls back to the std
    assert center == 0.0 and scale == pytest.approx(math.sqrt(7 * 1.5625 + 76.5625) / math.sqrt(8))
    with pytest.raises(ValueError, match="finite"):
        robust_scale([1.0, math.inf])


def test_ensemble_is_the_weighted_mean_of_robust_z_scores():
    cal = calibrate_scores({"a": [1, 2, 3, 4, 5], "b": [10, 20, 30, 40, 50]},
                           reference=list("vwxyz"), weights={"a": 1.0, "b": 3.0})
    z_a = (4 - 3) / (2 / 1.349)
    z_b = (10 - 30) / (20 / 1.349)
    assert cal.normalise({"a": 4, "b": 10}) == pytest.approx({"a": z_a, "b": z_b})
    assert cal.ensemble({"a": 4, "b": 10}) == pytest.approx((z_a + 3 * z_b) / 4)
    # beyond the reference range the order is kept (no saturation)
    assert cal.ensemble({"a": 100, "b": 30}) < cal.ensemble({"a": 200, "b": 30})
    with pytest.raises(ValueError, match="missing"):
        cal.ensemble({"a": 1})


def test_calibration_arguments_are_checked():
    with pytest.raises(ValueError, match="3 references"):
        calibrate_scores({"a": [1, 2]}, reference=["x", "y", "z"])
    with pytest.raises(ValueError, match="exactly the members"):
        calibrate_scores({"a": [1, 2, 3]}, reference="xyz", weights={"b": 1.0})
    with pytest.raises(ValueError, match="not all zero"):
        calibrate_scores({"a": [1, 2, 3]}, reference="xyz", weights={"a": 0.0})


def test_json_round_trip_is_exact():
    cal = calibrate_scores({"naswot": [0.1 * i**1.5 for i in range(9)],
                            "synflow": [1e-3 * i for i in range(9)]},
                           reference=[f"r{i}" for i in range(9)], settings={"batch_size": 64})
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal
    with pytest.raises(UserError, match="version"):
        Calibration.from_dict({**cal.to_dict(), "version": 99})


def _study(tmp_path, name="s"):
    return optuna.create_study(study_name=name, storage=f"sqlite:///{tmp_path / 'study.db'}",
                               directions=["maximize", "minimize"], load_if_exists=True)


def test_stored_once_and_reused(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return calibrate_scores({"a": [1.0, 2.5, 4.0]}, reference=["x", "y", "z"])

    settings = {"members": ["a"], "batch_size": 64, "resolution": (32, 32)}
    first, created = load_or_calibrate(_study(tmp_path), settings=settings, build=build)
    assert created and len(calls) == 1
    second, created = load_or_calibrate(_study(tmp_path), settings=settings, build=build)
    assert not created and len(calls) == 1
    assert second == first
    stored = _study(tmp_path).user_attrs[STUDY_KEY]
    assert stored["settings"]["resolution"] == [32, 32]
    with pytest.raises(UserError) as err:
        load_or_calibrate(_study(tmp_path), settings={**settings, "batch_size": 128}, build=build)
    assert "\n" not in str(err.value)
    assert str(err.value) == ("study s: proxy calibration: batch_size: got 128, but the study was calibrated "
                              "with 64; allowed: the study's settings, or a new study name")
