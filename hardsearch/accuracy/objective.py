"""Proxy accuracy of an architecture: one zero-cost proxy, the calibrated ensemble, or training.

``create_proxy(options, data=…, space=…, study=…)`` turns the ``proxy`` config group into a
callable ``proxy(arch) -> ProxyResult`` whose ``value`` a search maximises:

- a zero-cost proxy by name (``naswot``, ``synflow``, …, ``params``, ``macs``): its raw score;
- ``ensemble``: the weighted mean of the members' normalised scores, with the
  calibration read from the study or made once and stored there (:mod:`hardsearch.accuracy.calibration`);
- ``train``: held-out top-1 after a short training (:mod:`hardsearch.accuracy.training`), with the
  quantile early stop when a study provides the history;
- ``predictor`` (the default): the top-1 accuracy a learned predictor expects
  (:mod:`hardsearch.accuracy.predictor`), from zero-cost scores measured on the predictor's own
  data, costs and the encoding.

Every model is built for the data's classes with weights seeded by the proxy's ``seed`` and
scored on one fixed batch, so a score depends only on the architecture and the settings.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import torch
from torch import nn

from hardsearch.accuracy.calibration import Calibration, calibrate_scores, load_or_calibrate
from hardsearch.accuracy.data import ImageData, load_data_options, proxy_batch
from hardsearch.accuracy.predictor import Predictor, load_predictor
from hardsearch.accuracy.proxies import PROXY_NAMES, score_proxy
from hardsearch.accuracy.schedule import Schedule, Screen, parse_schedule, parse_screen
from hardsearch.accuracy.training import (
    Checkpoint,
    QuantileStop,
    TrainSettings,
    study_history,
    train_arch,
    train_settings,
)
from hardsearch.arch.config import ArchConfig, with_classes
from hardsearch.arch.model import build_model
from hardsearch.arch.space import seed_archs
from hardsearch.core.errors import UserError

__all__ = ["PROXY_CHOICES", "ProxyResult", "ZeroCostScorer", "AccuracyProxy", "ProxyOptions",
           "check_proxy_options", "create_proxy", "reference_archs"]

PROXY_CHOICES = ("ensemble", "train", "predictor") + PROXY_NAMES
DEFAULT_MEMBERS = ("naswot", "synflow", "jacob_cov")
SCREEN_PROXIES = ("predictor",) + PROXY_NAMES  # what may screen candidates for proxy=train


class ProxyResult(NamedTuple):
    """The proxy accuracy of one architecture (higher is better) and how it was reached."""

    value: float
    raw: dict[str, float]  # raw zero-cost scores (for the ensemble: every member's)
    normalised: dict[str, float]  # the members' calibrated scores (ensemble only)
    per_epoch: tuple[float, ...] = ()  # held-out accuracy per epoch (train only)
    pruned: bool = False
    reason: str | None = None
    seconds: float = 0.0
    steps: int = 0  # optimiser steps taken (train only)


class ZeroCostScorer:
    """Scores architectures with zero-cost proxies on one fixed batch of ``data``."""

    def __init__(self, data: ImageData, *, batch_size: int = 64, seed: int = 0) -> None:
        self.data = data
        self.seed = seed
        self.inputs, self.targets = proxy_batch(data, batch_size=batch_size, seed=seed)

    def model(self, arch: ArchConfig) -> nn.Module:
        """The model of ``arch`` for the data's classes, with weights seeded by ``seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return build_model(with_classes(arch, self.data.num_classes))

    def score(self, arch: ArchConfig | nn.Module, names: Sequence[str]) -> dict[str, float]:
        """Every proxy of ``names`` on ``arch`` (a model passed in is scored on copies, left unchanged).

        For an architecture each proxy gets a model of its own, built with the same seed (the
        weights a copy would have), and scores it in place: the peak memory of scoring is one
        float32 model plus what one proxy needs (synflow: its float64 weights), not two models.
        """
        x, y, seed = self.inputs, self.targets, self.seed
        if isinstance(arch, nn.Module):
            return {name: score_proxy(name, arch, x, y, seed=seed) for name in names}
        scores = {}
        for name in names:
            model = self.model(arch)
            scores[name] = score_proxy(name, model, x, y, seed=seed, copy_model=False)
            del model
        return scores


class AccuracyProxy:
    """``proxy(arch) -> ProxyResult``; see :func:`create_proxy`."""

    def __init__(self, name: str, *, scorer: ZeroCostScorer | None = None,
                 calibration: Calibration | None = None, data: ImageData | None = None,
                 train: TrainSettings | None = None, early_stop: Mapping[str, Any] | None = None,
                 predictor: Predictor | None = None, schedule: Schedule | None = None,
                 screen: Screen | None = None, screen_proxy: AccuracyProxy | None = None) -> None:
        self.name = name
        self.schedule = schedule  # train only: successive halving or Hyperband over train.epochs
        self.screen = screen  # train only: the cheap signal that decides who trains at all
        self.screen_proxy = screen_proxy
        self.predictor = predictor
        self.scorer = scorer
        self.calibration = calibration
        self.data = data
        self.train = train
        self.early_stop = dict(early_stop) if early_stop else None

    def stop_rule(self, trials: Callable[[], Any], *, exclude: int | None = None) -> QuantileStop | None:
        """The quantile early stop over ``trials()`` (a study's trials), if the proxy has one."""
        if self.name != "train" or not self.early_stop:
            return None
        return QuantileStop(study_history(trials, exclude=exclude), **self.early_stop)

    def __call__(self, arch: ArchConfig, *, stop: Callable[[int, float], str | None] | None = None,
                 on_epoch: Callable[[int, float], None] | None = None, checkpoint: Checkpoint | None = None,
                 resume: Mapping[str, Any] | None = None) -> ProxyResult:
        start = time.perf_counter()
        if self.name == "train":
            result = train_arch(arch, self.data, self.train, stop=stop, on_epoch=on_epoch,
                                checkpoint=checkpoint, resume=resume)
            return ProxyResult(result.accuracy, {}, {}, result.per_epoch, result.pruned, result.reason,
                               result.seconds, result.steps)
        if self.name == "predictor":
            raw = self.scorer.score(arch, list(self.predictor.spec.proxies))
            value, normalised = self.predictor.predict(arch, raw), {}
        elif self.name == "ensemble":
            raw = self.scorer.score(arch, list(self.calibration.members))
            value = self.calibration.ensemble(raw)
            normalised = self.calibration.normalise(raw)
        else:
            raw = self.scorer.score(arch, [self.name])
            value, normalised = raw[self.name], {}
        if not math.isfinite(value):
            raise ValueError(f"proxy {self.name}: score is {value}")
        return ProxyResult(value, raw, normalised, seconds=time.perf_counter() - start)


def reference_archs(space: Any, *, random: int, seed: int) -> list[ArchConfig]:
    """The ensemble's reference sample: the space's seeds, then ``random`` random members."""
    return seed_archs(space) + space.sample(random, seed=seed)


class ProxyOptions(NamedTuple):
    """The ``proxy`` config group, checked (plain data); see :func:`check_proxy_options`."""

    name: str
    seed: int
    batch_size: int
    train: TrainSettings | None = None
    early_stop: dict[str, Any] | None = None
    schedule: Schedule | None = None  # train only
    screen: Screen | None = None  # train only
    members: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    reference: int = 0
    reference_seed: int = 0
    path: str | None = None  # predictor only: its JSON (None: the packaged one)


def check_proxy_options(options: Mapping[str, Any], data_options: Mapping[str, Any] | None = None, *,
                        space: Any = None) -> ProxyOptions:
    """Check the ``proxy`` group (and the batch it scores) before anything is built or stored.

    One-line errors name the key and what is allowed. For ``ensemble`` with a ``space``, the
    reference sample (the space's seeds plus ``reference`` random members) must hold at least 3
    architectures.
    """
    options = dict(options)
    name = options.get("name")
    if name not in PROXY_CHOICES:
        raise UserError(f"proxy.name: got {name!r}; allowed: {', '.join(PROXY_CHOICES)}")
    batch_size = dict(data_options or {}).get("batch_size", 64)
    if name == "train":
        settings = train_settings(options)
        schedule = parse_schedule(options, epochs=settings.epochs, steps=settings.steps)
        screen = parse_screen(options.get("screen"), allowed_proxies=SCREEN_PROXIES)
        early = options.get("early_stop")
        if early is not None:
            early = _early_stop(early)
        if schedule is not None:
            early = None  # the schedule decides who stops
        if screen is not None and screen.proxy != "predictor":
            _batch(batch_size, f"proxy.screen.proxy={screen.proxy}")
        return ProxyOptions(name, 0, batch_size, train=settings, early_stop=early, schedule=schedule,
                            screen=screen)
    if name == "predictor":
        _known(options, ("name", "path"))
        path = options.get("path")
        if path is not None and (not isinstance(path, str) or not path):
            raise UserError(f"proxy.path: got {path!r}; allowed: null (the packaged predictor) or the path "
                            "of a JSON written by python -m hardsearch.predictor")
        return ProxyOptions(name, 0, batch_size, path=path)
    _batch(batch_size, f"proxy={name}")
    seed = _int(options, "seed", 0)
    _known(options, ("name", "seed") + (("members", "weights", "reference", "reference_seed")
                                        if name == "ensemble" else ()))
    if name != "ensemble":
        return ProxyOptions(name, seed, batch_size)
    members = options.get("members")
    if members is None:
        members = list(DEFAULT_MEMBERS)
    if not isinstance(members, (list, tuple)) or not members or any(m not in PROXY_NAMES for m in members):
        raise UserError(f"proxy.members: got {members!r}; allowed: a non-empty list of "
                        + ", ".join(PROXY_NAMES) + f" (null: {', '.join(DEFAULT_MEMBERS)})")
    if len(set(members)) != len(members):
        raise UserError(f"proxy.members: got {members!r}; allowed: each proxy at most once")
    weights = options.get("weights")
    if weights is None:
        weights = [1.0] * len(members)
    if (not isinstance(weights, (list, tuple)) or len(weights) != len(members)
            or any(isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0
                   for w in weights) or sum(weights) <= 0):
        raise UserError(f"proxy.weights: got {weights!r}; allowed: null or {len(members)} numbers >= 0, "
                        "not all zero (one per member)")
    reference = _int(options, "reference", 32, minimum=0)
    reference_seed = _int(options, "reference_seed", 0)
    if space is not None and len(space.seeds) + reference < 3:
        raise UserError(f"proxy.reference: got {reference}; allowed: enough random members for at least "
                        f"3 reference architectures (the space has {len(space.seeds)} seeds)")
    return ProxyOptions(name, seed, batch_size, members=tuple(members),
                        weights=tuple(float(w) for w in weights), reference=reference,
                        reference_seed=reference_seed)


def create_proxy(options: Mapping[str, Any], *, data: ImageData, space: Any = None, study: Any = None,
                 data_options: Mapping[str, Any] | None = None,
                 progress: Callable[[int, int, str], None] | None = None) -> AccuracyProxy:
    """The proxy the ``proxy`` config group asks for (validated by :func:`check_proxy_options`).

    For ``ensemble`` the calibration comes from ``study`` if it holds one; otherwise the
    reference sample of ``space`` is scored (``progress(i, n, name)`` after each) and the
    result stored in ``study``.
    """
    checked = check_proxy_options(options, data_options, space=space)
    name, batch_size, seed = checked.name, checked.batch_size, checked.seed
    if name == "train":
        screen_proxy = None
        if checked.screen is not None:
            screen_proxy = create_proxy({"name": checked.screen.proxy}, data=data, data_options=data_options)
        return AccuracyProxy(name, data=data, train=checked.train, early_stop=checked.early_stop,
                             schedule=checked.schedule, screen=checked.screen, screen_proxy=screen_proxy)
    if name == "predictor":
        predictor = load_predictor(checked.path)
        own = load_data_options(predictor.spec.data)
        scorer = ZeroCostScorer(own, batch_size=predictor.spec.data.get("batch_size", 64),
                                seed=predictor.spec.seed)
        return AccuracyProxy(name, scorer=scorer, predictor=predictor)
    scorer = ZeroCostScorer(data, batch_size=batch_size, seed=seed)
    if name != "ensemble":
        return AccuracyProxy(name, scorer=scorer)
    members, weights = list(checked.members), list(checked.weights)
    reference, reference_seed = checked.reference, checked.reference_seed
    settings = {
        "members": list(members), "weights": [float(w) for w in weights], "seed": seed,
        "reference": reference, "reference_seed": reference_seed, "batch_size": batch_size,
        "resolution": data.resolution, "data": data.name,
        "space": getattr(space, "name", None),
    }

    def build() -> Calibration:
        if space is None:
            raise UserError("proxy=ensemble needs a search space for its reference sample; "
                            "allowed: +space=NAME (see search_spaces/space/)")
        archs = reference_archs(space, random=reference, seed=reference_seed)
        if len(archs) < 3:
            raise UserError(f"proxy.reference: got {reference}; allowed: enough random members for at least "
                            f"3 reference architectures (the space has {len(space.seeds)} seeds)")
        scores: dict[str, list[float]] = {m: [] for m in members}
        for i, arch in enumerate(archs, start=1):
            raw = scorer.score(arch, members)
            for m in members:
                scores[m].append(raw[m])
            if progress is not None:
                progress(i, len(archs), arch.name)
        return calibrate_scores(scores, reference=[a.name for a in archs],
                                weights=dict(zip(members, weights, strict=True)), settings=settings)

    if study is None:
        calibration = build()
    else:
        calibration, _ = load_or_calibrate(study, settings=settings, build=build)
    return AccuracyProxy(name, scorer=scorer, calibration=calibration)


def _batch(batch_size: Any, who: str) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise UserError(f"data.batch_size: got {batch_size!r}; allowed: an integer >= 2 ({who} scores "
                        "one batch, and every zero-cost proxy needs at least 2 images)")


def _int(options: Mapping[str, Any], key: str, default: int, *, minimum: int | None = None) -> int:
    value = options.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        allowed = "an integer" + (f" >= {minimum}" if minimum is not None else "")
        raise UserError(f"proxy.{key}: got {value!r}; allowed: {allowed}")
    return value


def _known(options: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in options:
        if key not in keys:
            raise UserError(f"proxy.{key}: unknown key for proxy={options.get('name')}; allowed keys: "
                            + ", ".join(keys))


def _early_stop(options: Any) -> dict[str, Any]:
    if not isinstance(options, Mapping):
        raise UserError(f"proxy.early_stop: got {options!r}; allowed: null or {{quantile: q, min_trials: n}}")
    for key in options:
        if key not in ("quantile", "min_trials"):
            raise UserError(f"proxy.early_stop.{key}: unknown key; allowed keys: quantile, min_trials")
    quantile = options.get("quantile", 0.25)
    min_trials = options.get("min_trials", 5)
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0 < quantile < 1:
        raise UserError(f"proxy.early_stop.quantile: got {quantile!r}; allowed: a number in (0, 1)")
    if isinstance(min_trials, bool) or not isinstance(min_trials, int) or min_trials < 1:
        raise UserError(f"proxy.early_stop.min_trials: got {min_trials!r}; allowed: an integer >= 1")
    return {"quantile": float(quantile), "min_trials": min_trials}
