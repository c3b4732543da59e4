"""The short-training proxy: determinism, budgets, both cores, and the quantile early stop."""

from __future__ import annotations

import os

import optuna
import pytest
import torch
from torch import nn

from hardsearch.accuracy.data import load_data
from hardsearch.accuracy.training import (
    QuantileStop,
    TrainingError,
    TrainSettings,
    augment,
    study_history,
    train_arch,
    train_model,
    train_settings,
)
from hardsearch.arch.config import arch_from_dict
from hardsearch.core.errors import UserError

TINY = arch_from_dict({
    "name": "tiny", "stem": [8, 16], "multiplier": 1.7, "num_classes": 10,
    "stages": [{"growth": 4, "depth": 2, "out_channels": 16, "downsample": True},
               {"growth": 6, "depth": 2, "out_channels": 24, "downsample": False}],
})


@pytest.fixture(scope="module")
def sample():
    return load_data("cifar10_sample")


def test_augment_crops_and_flips_each_image():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 6, 6), dtype=torch.uint8)
    out = augment(x, g, pad=2)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):  # each output is a 6x6 window of its padded image, maybe mirrored
        windows = [padded[i, :, r:r + 6, c:c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)
    assert torch.equal(augment(x, torch.Generator().manual_seed(0), pad=2), out)


def test_training_is_deterministic_and_reports_each_epoch(sample):
    settings = TrainSettings(epochs=2, batch_size=100, seed=3)
    first = train_arch(TINY, sample, settings)
    again = train_arch(TINY, sample, settings)
    assert first.per_epoch == again.per_epoch and first.train_loss == again.train_loss
    assert len(first.per_epoch) == 2 and first.steps == 16  # 800 images, batch 100
    assert first.accuracy == first.per_epoch[-1] and 0.0 <= first.accuracy <= 1.0
    assert not first.pruned and first.reason is None
    other = train_arch(TINY, sample, settings._replace(seed=4))
    assert other.train_loss != first.train_loss


def test_steps_budget_spans_epochs(sample):
    result = train_arch(TINY, sample, TrainSettings(steps=20, batch_size=100))
    assert result.steps == 20
    assert len(result.per_epoch) == 3  # 8 steps per epoch: 8, 8, then 4


def test_short_training_learns_something(sample):
    result = train_arch(TINY, sample, TrainSettings(epochs=3, batch_size=50, lr=0.1))
    assert result.accuracy > 0.2  # chance is 0.1
    assert result.train_loss[-1] < result.train_loss[0]


def test_uses_every_core_and_restores_threads(sample):
    seen = []
    before = torch.get_num_threads()
    train_arch(TINY, sample, TrainSettings(steps=2, batch_size=50),
               on_epoch=lambda epoch, acc: seen.append(torch.get_num_threads()))
    assert seen == [os.cpu_count()]
    assert torch.get_num_threads() == before


def test_quantile_stop_by_hand():
    earlier = {1: [0.1, 0.2, 0.3, 0.4, 0.5], 2: [0.3, 0.4]}
    stop = QuantileStop(lambda epoch: earlier.get(epoch, []), quantile=0.25, min_trials=5)
    # numpy's linear quantile of five values at 0.25 is the second value, 0.2
    assert stop(1, 0.15) == ("epoch 1: held-out accuracy 15.00% is below the 0.25 quantile 20.00% of 5 "
                             "earlier trials at that epoch")
    assert stop(1, 0.25) is None
    assert stop(2, 0.0) is None  # only 2 earlier trials reached epoch 2
    with pytest.raises(ValueError, match="quantile"):
        QuantileStop(lambda e: [], quantile=1.0)


def test_stop_is_not_asked_after_the_last_epoch(sample):
    asked = []

    def stop(epoch, accuracy):
        asked.append(epoch)
        return None

    train_arch(TINY, sample, TrainSettings(epochs=2, batch_size=200), stop=stop)
    assert asked == [1]


def test_early_stop_prunes_a_multi_objective_trial(sample):
    """Optuna cannot prune multi-objective studies; the quantile rule does, with the reason kept."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"])
    for accuracy in (0.9, 0.92, 0.94, 0.96, 0.98):  # earlier trials that learnt far more
        study.add_trial(optuna.trial.create_trial(values=[accuracy, 1.0],
                                                  user_attrs={"accuracy_per_epoch": [accuracy, accuracy]}))

    def objective(trial):
        rule = QuantileStop(study_history(lambda: study.get_trials(deepcopy=False), exclude=trial.number))
        result = train_arch(TINY, sample, TrainSettings(epochs=3, batch_size=200), stop=rule)
        trial.set_user_attr("accuracy_per_epoch", list(result.per_epoch))
        if result.pruned:
            trial.set_user_attr("pruned_reason", result.reason)
            raise optuna.TrialPruned(result.reason)
        return result.accuracy, 1.0

    study.optimize(objective, n_trials=1)
    trial = study.trials[-1]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert len(trial.user_attrs["accuracy_per_epoch"]) == 1  # stopped after the first epoch
    assert trial.user_attrs["pruned_reason"].startswith("epoch 1: held-out accuracy")
    assert "of 5 earlier trials" in trial.user_attrs["pruned_reason"]


def test_divergence_raises(sample):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 10)

        def forward(self, x):
            return self.fc(x.mean((2, 3))) * float("nan")

    with pytest.raises(TrainingError, match="diverged at step 1"):
        train_model(Broken(), sample, TrainSettings(steps=1, batch_size=10))


def test_noise_data_cannot_train():
    with pytest.raises(UserError, match="needs real images"):
        train_arch(TINY, load_data("noise"), TrainSettings(steps=1))


@pytest.mark.parametrize("options,message", [
    ({"epochs": 0}, "proxy.epochs: got 0; allowed: an integer >= 1"),
    ({"steps": -1}, "proxy.steps: got -1; allowed: null or an integer >= 1"),
    ({"lr": 0}, "proxy.lr: got 0; allowed: a number > 0"),
    ({"augment": "yes"}, "proxy.augment: got 'yes'; allowed: true or false"),
    ({"speed": 2}, "proxy.speed: unknown key; allowed keys: epochs, steps"),
])
def test_settings_errors(options, message):
    with pytest.raises(UserError) as err:
        train_settings({"name": "train", **options})
    assert message in str(err.value) and "\n" not in str(err.value)
