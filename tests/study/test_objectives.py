"""hardsearch.study.objectives: how each objective's value is shown, an accuracy proxy in per cent."""

from __future__ import annotations

import math

import pytest

from hardsearch.study.objectives import ACCURACY_PROXIES, display_value, format_objective, is_accuracy

TRAIN = {"name": "train", "resolution": 32, "classes": 10, "data": "cifar10_sample", "members": None}


@pytest.mark.parametrize("proxy", ["train", "predictor", TRAIN, {"name": "predictor", "recipe": "8 epochs"}])
def test_an_accuracy_proxy_is_shown_in_per_cent(proxy):
    assert is_accuracy(proxy)
    assert format_objective("proxy", 0.7342, proxy=proxy) == "73.42 %"
    assert format_objective("proxy", 1.0, proxy=proxy) == "100.00 %"
    assert format_objective("proxy", 0.0, proxy=proxy) == "0.00 %"
    assert format_objective("proxy", -0.05, proxy=proxy) == "-5.00 %"  # a reference point below 0
    assert display_value("proxy", 0.7342, proxy=proxy) == pytest.approx(73.42)
    assert format_objective("proxy", -math.inf, proxy=proxy) == "-inf"  # an infeasible trial's
    # the costs keep their units, whatever the proxy
    assert format_objective("macs", 4.246e9, proxy=proxy) == "4.246 G"
    assert display_value("macs", 4.246e9, proxy=proxy) == pytest.approx(4.246)


@pytest.mark.parametrize("proxy", [None, "ensemble", "naswot", {"name": "ensemble"}, {}, {"name": None}])
def test_any_other_proxy_is_shown_as_before(proxy):
    assert not is_accuracy(proxy)
    assert format_objective("proxy", 0.474, proxy=proxy) == "+0.4740"
    assert format_objective("proxy", 0.474) == "+0.4740"
    assert format_objective("proxy", -2.5467, proxy=proxy) == "-2.5467"
    assert display_value("proxy", 0.474, proxy=proxy) == 0.474


def test_the_accuracy_proxies_and_the_other_units():
    assert ACCURACY_PROXIES == ("train", "predictor")
    assert [format_objective(o, v) for o, v in (("cio", 11.47e6), ("params", 17.566e6),
                                                 ("peak_activations", 1.2344e6), ("latency", 0.0123))] == \
        ["11.47 M", "17.57 M", "1.234 M", "12.3 ms"]
