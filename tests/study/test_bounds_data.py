"""hardsearch.study.bounds: the fixed hypervolume bounds as plain data."""

from __future__ import annotations

import json

import optuna
import pytest

from hardsearch.core.errors import UserError
from hardsearch.study.bounds import STUDY_KEY, Bound, Bounds, read_bounds

CORNERS = "the space's 24 corner members and 2 seeds"
BOUNDS = Bounds({"proxy": Bound(2.0, -3.0, "the ensemble's calibration: 6 reference architectures"),
                 "macs": Bound(1e8, 5e10, CORNERS), "cio": Bound(2e6, 4e7, CORNERS)},
                space="harmonic", proxy="ensemble", input_size=(224, 224))


def test_normalise_maps_best_to_0_and_worst_to_1_in_either_direction():
    objectives = ["proxy", "macs", "cio"]
    assert BOUNDS.normalise([2.0, 1e8, 2e6], objectives) == pytest.approx([0, 0, 0])
    assert BOUNDS.normalise([-3.0, 5e10, 4e7], objectives) == pytest.approx([1, 1, 1])
    # the proxy is maximised: a higher value is better, so closer to 0; beyond the best goes below 0
    assert BOUNDS.normalise([-0.5, 2.505e10, 2.1e7], objectives) == pytest.approx([0.5, 0.5, 0.5])
    assert BOUNDS.normalise([3.0, 5e7, 4.4e7], objectives) == pytest.approx([-0.2, -0.5 / 499,
                                                                             1.0 + 4e6 / 38e6])
    assert BOUNDS.normalise([1e8, -0.5], ["macs", "proxy"]) == pytest.approx([0, 0.5])  # any order
    with pytest.raises(KeyError, match="latency"):  # measured per trial: no fixed bound
        BOUNDS.normalise([1.0, 0.01], ["proxy", "latency"])


def test_to_dict_from_dict_round_trip_through_json():
    data = BOUNDS.to_dict()
    assert data == {"version": 1, "space": "harmonic", "proxy": "ensemble", "input_size": [224, 224],
                    "objectives": {
                        "proxy": {"best": 2.0, "worst": -3.0,
                                  "source": "the ensemble's calibration: 6 reference architectures"},
                        "macs": {"best": 1e8, "worst": 5e10, "source": CORNERS},
                        "cio": {"best": 2e6, "worst": 4e7, "source": CORNERS}}}
    again = Bounds.from_dict(json.loads(json.dumps(data)))
    assert again == BOUNDS and again.to_dict() == data


@pytest.mark.parametrize("data,message", [
    ({"version": 2, "objectives": {}}, "stored hypervolume bounds: version: got 2; allowed: 1"),
    ({"version": 1, "objectives": {"macs": {"best": 1.0}}},
     "stored hypervolume bounds: objectives.macs: got"),
    ({"version": 1, "objectives": {"macs": {"best": 1.0, "worst": 1.0, "source": "s"}}},
     "objectives.macs: got best 1.0, worst 1.0; allowed: two different finite numbers"),
])
def test_malformed_bounds_are_one_line(data, message):
    with pytest.raises(UserError, match=message.replace(".", r"\.").replace("(", r"\(")) as caught:
        Bounds.from_dict(data)
    assert "\n" not in str(caught.value)


def test_read_bounds_from_a_study():
    study = optuna.create_study(study_name="s", directions=["maximize", "minimize", "minimize"])
    assert read_bounds(study) is None  # a study from before the bounds
    study.set_user_attr(STUDY_KEY, BOUNDS.to_dict())
    assert read_bounds(study) == BOUNDS
    study.set_user_attr(STUDY_KEY, {"version": 0})
    with pytest.raises(UserError, match="^study s: stored hypervolume bounds: version: got 0"):
        read_bounds(study)
