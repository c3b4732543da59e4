"""Multi-fidelity schedules (rungs, Hyperband brackets, the screen), their options, and training that
resumes from a rung with the same floats as training that never stopped."""

from __future__ import annotations

import pytest
import torch
import yaml

from hardsearch.accuracy.data import load_data
from hardsearch.accuracy.objective import check_proxy_options
from hardsearch.accuracy.schedule import Schedule, Screen, rungs
from hardsearch.accuracy.training import TrainSettings, train_arch
from hardsearch.arch.space import space_from_dict
from hardsearch.core.errors import UserError
from hardsearch.core.paths import ROOT


def test_rungs():
    assert rungs(1, 3, 9) == (1, 3, 9)
    assert rungs(1, 3, 10) == (1, 3, 9, 10)  # the full budget is always the last rung
    assert rungs(2, 2, 8) == (2, 4, 8)
    assert rungs(1, 3, 2) == (1, 2)


def test_hyperband_brackets():
    hb = Schedule("hyperband", 1, 3, 9)
    # Hyperband's n_i = ceil((s + 1) / (s - b + 1) * eta ** (s - b)) with s = 2: 9, 5 (4.5 up), 3
    assert hb.shares() == (9, 5, 3) and hb.brackets == 3
    cycle = [hb.bracket_of(n) for n in range(17)]
    assert cycle == [0] * 9 + [1] * 5 + [2] * 3
    assert [hb.bracket_of(n) for n in range(17, 34)] == cycle  # the same cycle for every worker
    assert hb.ladder(0) == (1, 3, 9) and hb.ladder(1) == (3, 9) and hb.ladder(2) == (9,)
    sha = Schedule("sha", 1, 3, 9)
    assert sha.brackets == 1 and {sha.bracket_of(n) for n in range(20)} == {0}


GOOD = {"name": "train", "epochs": 9, "schedule": "sha", "min_epochs": 1, "eta": 3}


def test_options_are_checked():
    checked = check_proxy_options(dict(GOOD, early_stop={"quantile": 0.25, "min_trials": 5}))
    assert checked.schedule == Schedule("sha", 1, 3, 9)
    assert checked.early_stop is None  # the schedule decides who stops
    screened = check_proxy_options(dict(GOOD, screen={"proxy": "naswot", "top": 0.25}))
    assert screened.screen == Screen("naswot", 0.25, 5)
    assert check_proxy_options({"name": "train", "epochs": 3}).schedule is None


@pytest.mark.parametrize("change, message", [
    ({"schedule": "asha"},
     "proxy.schedule: got 'asha'; allowed: null (train every candidate for proxy.epochs), sha, hyperband"),
    ({"steps": 10}, "proxy.steps: got 10; allowed: null with proxy.schedule=sha"),
    ({"min_epochs": 9}, "proxy.min_epochs: got 9; allowed: fewer than proxy.epochs (9)"),
    ({"min_epochs": 0}, "proxy.min_epochs: got 0; allowed: an integer >= 1"),
    ({"eta": 1}, "proxy.eta: got 1; allowed: an integer >= 2"),
    ({"eta": 2.5}, "proxy.eta: got 2.5; allowed: an integer >= 2"),
    ({"screen": "predictor"}, "proxy.screen: got 'predictor'; allowed: null or {proxy: NAME"),
    ({"screen": {"proxy": "magic"}}, "proxy.screen.proxy: got 'magic'; allowed: predictor, naswot"),
    ({"screen": {"top": 0}}, "proxy.screen.top: got 0; allowed: a fraction in (0, 1]"),
    ({"screen": {"top": 0.5, "every": 2}},
     "proxy.screen.every: unknown key; allowed keys: proxy, top, min_trials"),
    ({"screen": {"min_trials": 0}}, "proxy.screen.min_trials: got 0; allowed: an integer >= 1"),
    ({"bracket": 1}, "proxy.bracket: unknown key; allowed keys:"),
])
def test_bad_options_are_one_line(change, message):
    with pytest.raises(UserError) as error:
        check_proxy_options(dict(GOOD, **change))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_zero_cost_screen_needs_a_batch():
    with pytest.raises(UserError, match=r"data.batch_size: got 1; allowed: an integer >= 2 \(proxy.screen"):
        check_proxy_options(dict(GOOD, screen={"proxy": "naswot"}), {"batch_size": 1})


@pytest.fixture(scope="module")
def tiny():
    space = space_from_dict(yaml.safe_load((ROOT / "tests/spaces/tiny.yaml").read_text()))
    return space.sample(1, seed=3)[0], load_data("cifar10_sample", resolution=32)


def test_training_resumes_from_a_rung_with_the_same_floats(tiny):
    arch, data = tiny
    settings = TrainSettings(epochs=3, batch_size=100, threads=1, lr=0.05)
    whole = train_arch(arch, data, settings)
    saved = {}
    first = train_arch(arch, data, settings, checkpoint=lambda epoch, state: saved.setdefault(epoch, state()),
                       stop=lambda epoch, accuracy: "stop" if epoch == 2 else None)
    assert first.pruned and sorted(saved) == [1]  # offered after each epoch it went on from
    state = saved[1]
    assert state["epoch"] == 1 and state["accuracies"] == [whole.per_epoch[0]]
    resumed = train_arch(arch, data, settings, resume=state)
    assert resumed.per_epoch == whole.per_epoch  # bitwise: same weights, optimiser, schedule, data order
    assert resumed.train_loss == whole.train_loss and resumed.steps == whole.steps
    # a state survives a round trip through a file, as the search keeps it
    path = ROOT / ".pytest_cache" / "resume-test.pt"
    path.parent.mkdir(exist_ok=True)
    torch.save(state, path)
    again = train_arch(arch, data, settings, resume=torch.load(path, weights_only=True))
    path.unlink()
    assert again.per_epoch == whole.per_epoch


def test_the_screen_scores_with_the_predictor_or_a_zero_cost_proxy(tiny):
    from hardsearch.accuracy.objective import create_proxy

    arch, data = tiny
    for name in ("predictor", "naswot"):
        proxy = create_proxy(dict(GOOD, screen={"proxy": name}), data=data, data_options={"batch_size": 16})
        assert proxy.schedule == Schedule("sha", 1, 3, 9) and proxy.screen.proxy == name
        score = proxy.screen_proxy(arch)
        assert proxy.screen_proxy.name == name and score.value == score.value  # finite, not NaN
        if name == "predictor":
            assert 0 < score.value < 1  # a predicted top-1 accuracy
