"""The short-training proxy: train a candidate briefly on real images, report held-out top-1.

Training is SGD with Nesterov momentum and a one-cycle learning rate over the whole budget
(epochs, or a number of steps), random-crop and flip augmentation, at the proxy resolution.
It is deterministic for a seed on a given machine and thread count, and uses every core.

Multi-objective Optuna studies cannot prune, so early stopping is done here:
:class:`QuantileStop` ends a candidate whose accuracy after an epoch is below a quantile of
what earlier trials had after the same epoch; the result says it was pruned and why.
"""

from __future__ import annotations

import copy
import math
import os
import time
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hardsearch.accuracy.data import ImageData, normalise
from hardsearch.arch.config import ArchConfig, with_classes
from hardsearch.arch.model import build_model
from hardsearch.core.errors import UserError

__all__ = ["TrainSettings", "TrainResult", "TrainingError", "QuantileStop", "Checkpoint", "train_arch",
           "train_model", "study_history", "train_settings"]


class TrainingError(RuntimeError):
    """Training diverged (a non-finite loss); the candidate cannot be scored."""


class TrainSettings(NamedTuple):
    """The budget and recipe of the short-training proxy (``conf/proxy/train.yaml``)."""

    epochs: int = 1  # full passes over the training split (ignored when steps is set)
    steps: int | None = None  # optimiser steps instead of epochs; accuracy is still reported per epoch
    batch_size: int = 128
    lr: float = 0.01  # peak of the one-cycle schedule
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True  # random crop (padding 4) and horizontal flip
    threads: int = 0  # torch threads; 0 = every core
    seed: int = 0
    eval_batch_size: int = 500


class TrainResult(NamedTuple):
    """What one short training produced. ``accuracy`` is the last held-out top-1 measured."""

    accuracy: float
    per_epoch: tuple[float, ...]  # held-out top-1 after each epoch (or partial last epoch)
    train_loss: tuple[float, ...]  # mean training loss of each epoch
    steps: int
    seconds: float
    pruned: bool = False
    reason: str | None = None


DEFAULT_TRAIN = TrainSettings()
#: Keys of the ``proxy`` group for ``train`` that are not training settings (how candidates stop).
PROXY_KEYS = ("name", "early_stop", "schedule", "min_epochs", "eta", "screen")


def train_settings(options: Mapping[str, object], *, source: str = "proxy") -> TrainSettings:
    """Validate a mapping of training options (e.g. the ``proxy`` config) into :class:`TrainSettings`."""
    known = TrainSettings._fields
    values = {}
    for key, value in options.items():
        if key in PROXY_KEYS:
            continue
        if key not in known:
            allowed = ", ".join(known + PROXY_KEYS[1:])
            raise UserError(f"{source}.{key}: unknown key; allowed keys: {allowed}")
        values[key] = value
    settings = TrainSettings(**values)

    def need(ok: bool, key: str, allowed: str) -> None:
        if not ok:
            raise UserError(f"{source}.{key}: got {getattr(settings, key)!r}; allowed: {allowed}")

    def is_int(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    need(is_int(settings.epochs) and settings.epochs >= 1, "epochs", "an integer >= 1")
    need(settings.steps is None or (is_int(settings.steps) and settings.steps >= 1), "steps",
         "null or an integer >= 1")
    need(is_int(settings.batch_size) and settings.batch_size >= 2, "batch_size", "an integer >= 2")
    need(is_int(settings.eval_batch_size) and settings.eval_batch_size >= 1, "eval_batch_size",
         "an integer >= 1")
    for key in ("lr", "momentum", "weight_decay"):
        v = getattr(settings, key)
        need(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0,
             key, "a number >= 0")
    need(settings.lr > 0, "lr", "a number > 0")
    need(isinstance(settings.augment, bool), "augment", "true or false")
    need(is_int(settings.threads) and settings.threads >= 0, "threads", "an integer >= 0 (0 = every core)")
    need(is_int(settings.seed), "seed", "an integer")
    return settings


class QuantileStop:
    """Stop a candidate whose accuracy after an epoch is below the ``quantile`` of earlier trials.

    ``history(epoch)`` returns the accuracies that earlier trials reached after ``epoch``
    (1-based). Nothing is stopped until ``min_trials`` earlier trials reached that epoch.
    """

    def __init__(self, history: Callable[[int], Sequence[float]], *, quantile: float = 0.25,
                 min_trials: int = 5) -> None:
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1); got {quantile!r}")
        if min_trials < 1:
            raise ValueError(f"min_trials must be >= 1; got {min_trials!r}")
        self.history = history
        self.quantile = quantile
        self.min_trials = min_trials

    def __call__(self, epoch: int, accuracy: float) -> str | None:
        """The reason to stop after ``epoch`` with ``accuracy``, or None to go on."""
        earlier = [a for a in self.history(epoch) if math.isfinite(a)]
        if len(earlier) < self.min_trials:
            return None
        threshold = float(np.quantile(earlier, self.quantile))
        if accuracy < threshold:
            return (f"epoch {epoch}: held-out accuracy {100 * accuracy:.2f}% is below the {self.quantile:g} "
                    f"quantile {100 * threshold:.2f}% of {len(earlier)} earlier trials at that epoch")
        return None


def study_history(trials: Callable[[], Iterable[object]], *, key: str = "accuracy_per_epoch",
                  exclude: int | None = None) -> Callable[[int], list[float]]:
    """A ``history`` for :class:`QuantileStop` from Optuna trials' ``user_attrs[key]`` lists.

    ``trials`` is called at each check (e.g. ``lambda: study.get_trials(deepcopy=False)``), so
    trials finished by other workers meanwhile count too; trial number ``exclude`` is skipped.
    """

    def history(epoch: int) -> list[float]:
        values = []
        for trial in trials():
            if exclude is not None and getattr(trial, "number", None) == exclude:
                continue
            per_epoch = getattr(trial, "user_attrs", {}).get(key)
            if isinstance(per_epoch, (list, tuple)) and len(per_epoch) >= epoch:
                values.append(float(per_epoch[epoch - 1]))
        return values

    return history


#: ``checkpoint(epoch, state)``: called after each epoch the candidate goes on from; ``state()``
#: returns everything :func:`train_model` needs to resume there (``resume=``), as tensors and numbers.
Checkpoint = Callable[[int, Callable[[], dict]], None]


def train_arch(arch: ArchConfig, data: ImageData, settings: TrainSettings = DEFAULT_TRAIN, *,
               stop: Callable[[int, float], str | None] | None = None,
               on_epoch: Callable[[int, float], None] | None = None,
               checkpoint: Checkpoint | None = None,
               resume: Mapping[str, object] | None = None) -> TrainResult:
    """Build ``arch`` for ``data``'s classes (weights seeded by ``settings.seed``) and train it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = build_model(with_classes(arch, data.num_classes))
    return train_model(model, data, settings, stop=stop, on_epoch=on_epoch, checkpoint=checkpoint,
                       resume=resume)


def train_model(model: nn.Module, data: ImageData, settings: TrainSettings = DEFAULT_TRAIN, *,
                stop: Callable[[int, float], str | None] | None = None,
                on_epoch: Callable[[int, float], None] | None = None,
                checkpoint: Checkpoint | None = None,
                resume: Mapping[str, object] | None = None) -> TrainResult:
    """Train ``model`` in place on ``data``'s train split; evaluate on its test split each epoch.

    ``stop(epoch, accuracy)`` may return a reason to end early (the result is then pruned);
    it is not asked after the last epoch, where stopping would save nothing. ``checkpoint`` is
    offered the training state after every epoch the candidate goes on from; ``resume`` (such a
    state) continues from its epoch, with the same floats as a run that never stopped.
    """
    n = int(data.train_y.numel())
    if n == 0 or int(data.test_y.numel()) == 0:
        raise UserError(f"data {data.name}: the training proxy needs real images with a train and a test "
                        "split; allowed: data=cifar10_sample, cifar10 or imagefolder (noise is data-free)")
    batch = min(settings.batch_size, n)
    per_epoch_steps = n // batch
    total = settings.steps if settings.steps is not None else settings.epochs * per_epoch_steps
    epochs = math.ceil(total / per_epoch_steps)
    threads = settings.threads or os.cpu_count() or 1
    previous_threads = torch.get_num_threads()
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                nesterov=settings.momentum > 0, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=total,
                                                   pct_start=0.25, anneal_strategy="linear")
    accuracies: list[float] = []
    losses: list[float] = []
    start = time.perf_counter()
    step, first, before = 0, 1, 0.0
    if resume is not None:
        resume = copy.deepcopy(dict(resume))  # the optimiser would otherwise train the caller's buffers
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        schedule.load_state_dict(resume["schedule"])
        generator.set_state(resume["generator"])
        accuracies, losses = list(resume["accuracies"]), list(resume["losses"])
        step, first, before = int(resume["step"]), int(resume["epoch"]) + 1, float(resume["seconds"])

    def state(epoch: int) -> dict:  # a copy: training goes on changing the live tensors
        return copy.deepcopy({"epoch": epoch, "step": step, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "generator": generator.get_state(),
                "rng": torch.get_rng_state(), "accuracies": list(accuracies), "losses": list(losses),
                "seconds": before + time.perf_counter() - start})

    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)  # dropout masks
            if resume is not None:
                torch.set_rng_state(resume["rng"])
            for epoch in range(first, epochs + 1):
                model.train()
                order = torch.randperm(n, generator=generator)
                running, count = 0.0, 0
                for i in range(per_epoch_steps):
                    if step == total:
                        break
                    index = order[i * batch:(i + 1) * batch]
                    x = data.train_x[index]
                    if settings.augment:
                        x = augment(x, generator)
                    logits = model(normalise(data, x))
                    loss = F.cross_entropy(logits, data.train_y[index])
                    if not torch.isfinite(loss):
                        raise TrainingError(f"training diverged at step {step + 1}: loss is {loss.item()}")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    step += 1
                    running += loss.item()
                    count += 1
                losses.append(running / max(count, 1))
                accuracy = evaluate(model, data, batch_size=settings.eval_batch_size)
                accuracies.append(accuracy)
                if on_epoch is not None:
                    on_epoch(epoch, accuracy)
                if stop is not None and epoch < epochs:
                    reason = stop(epoch, accuracy)
                    if reason:
                        return TrainResult(accuracy, tuple(accuracies), tuple(losses), step,
                                           before + time.perf_counter() - start, True, reason)
                if checkpoint is not None and epoch < epochs:
                    checkpoint(epoch, lambda epoch=epoch: state(epoch))
    finally:
        torch.set_num_threads(previous_threads)
    return TrainResult(accuracies[-1], tuple(accuracies), tuple(losses), step,
                       before + time.perf_counter() - start)


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageData, *, batch_size: int = 500) -> float:
    """Top-1 accuracy on ``data``'s test split (model in eval mode)."""
    model.eval()
    correct = 0
    for i in range(0, int(data.test_y.numel()), batch_size):
        logits = model(normalise(data, data.test_x[i:i + batch_size]))
        correct += int((logits.argmax(1) == data.test_y[i:i + batch_size]).sum())
    return correct / int(data.test_y.numel())


def augment(x: torch.Tensor, generator: torch.Generator, *, pad: int = 4) -> torch.Tensor:
    """Random crop after zero padding, and a random horizontal flip, per image (uint8 NCHW)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (B, 1, W)
    flip = torch.rand(b, generator=generator) < 0.5
    cols = torch.where(flip[:, None, None], cols.flip(-1), cols)
    images = torch.arange(b)[:, None, None]
    return padded.permute(0, 2, 3, 1)[images, rows, cols].permute(0, 3, 1, 2).contiguous()
