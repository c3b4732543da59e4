"""One trial of the search: draw an architecture, count its costs, apply the limits, score the proxy.

Costs are counted in closed form at the space's input size (and latency measured if asked, or
predicted by a device profile: ``latency_model``, in microseconds at the profile's input size); a
candidate over a limit is recorded as infeasible without paying for the proxy. An architecture
proposed again (same content hash) reuses the values of its earlier trial.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna
from optuna.trial import FrozenTrial, TrialState

from hardsearch.accuracy.objective import AccuracyProxy, ProxyResult
from hardsearch.arch.config import arch_to_dict
from hardsearch.arch.costs import count_costs
from hardsearch.arch.latency import measure_latency
from hardsearch.arch.latency_model import LatencyProfile
from hardsearch.arch.space import SearchSpace, SpaceError, arch_digest
from hardsearch.core.errors import UserError, first_line
from hardsearch.search.halving import Checkpoints, Halving, origin_of, screen_decision

__all__ = ["CandidateError", "Objective"]


class CandidateError(Exception):
    """A candidate that cannot be built or evaluated; its trial fails with the reason stored."""


class Objective:
    """Evaluates one trial: decode, costs, limits, proxy."""

    def __init__(self, *, space: SearchSpace, proxy: AccuracyProxy, objectives: list[str],
                 limits: Mapping[str, float], latency: Mapping[str, Any], study: optuna.Study,
                 name_prefix: str, profile: LatencyProfile | None = None,
                 checkpoints: Path | None = None) -> None:
        self.space = space
        self.proxy = proxy
        self.objectives = objectives
        self.limits = dict(limits)
        self.latency = dict(latency)
        self.study = study
        self.name_prefix = name_prefix
        self.needs_latency = "latency" in objectives or "latency" in limits
        self.profile = profile
        self.multi_fidelity = proxy.name == "train" and (getattr(proxy, "schedule", None) is not None
                                                         or getattr(proxy, "screen", None) is not None)
        self.checkpoints = None
        if self.multi_fidelity and checkpoints is not None:
            self.checkpoints = Checkpoints(checkpoints, {"train": proxy.train._asdict(),
                                                         "data": proxy.data.name,
                                                         "resolution": proxy.data.resolution})

    def _evaluated(self, digest: str, number: int) -> FrozenTrial | None:
        """An earlier complete trial of the same architecture (by content hash), if any; under a
        multi-fidelity schedule or screen also one it pruned (its outcome stands)."""
        states = (TrialState.COMPLETE, TrialState.PRUNED) if self.multi_fidelity else (TrialState.COMPLETE,)
        for other in self.study.get_trials(deepcopy=False, states=states):
            if other.number != number and other.user_attrs.get("digest") == digest:
                if other.state == TrialState.PRUNED and "pruned_reason" not in other.user_attrs:
                    continue
                return other
        return None

    def _fail(self, trial: optuna.Trial, reason: str) -> CandidateError:
        trial.set_user_attr("fail_reason", reason)
        return CandidateError(reason)

    def __call__(self, trial: optuna.Trial) -> list[float]:
        seed = trial.user_attrs.get("seed")
        name = seed or f"{self.name_prefix}-t{trial.number}"
        try:
            arch = self.space.suggest(trial, name=name)
        except SpaceError as exc:
            raise self._fail(trial, f"invalid architecture: {exc}") from None
        digest = arch_digest(arch)
        trial.set_user_attr("arch", arch_to_dict(arch))
        trial.set_user_attr("digest", digest)
        earlier = self._evaluated(digest, trial.number)
        if earlier is not None:  # samplers propose an architecture again: reuse, do not re-score
            for key in ("params", "macs", "cio", "peak_activations", "latency", "latency_model",
                        "constraints", "infeasible", "proxy_raw", "proxy_normalised", "accuracy_per_epoch",
                        "fidelity", "fidelity_values", "pruned_reason"):
                if key in earlier.user_attrs:
                    trial.set_user_attr(key, earlier.user_attrs[key])
            for key, value in earlier.constraints.items():
                trial.set_constraint(key, value)
            trial.set_user_attr("duplicate_of", earlier.number)
            if earlier.state == TrialState.PRUNED:  # its rungs are not copied: one architecture ranks once
                raise optuna.TrialPruned(earlier.user_attrs["pruned_reason"])
            return list(earlier.values)
        start = time.perf_counter()
        try:
            costs = count_costs(arch, self.space.input_size)
        except UserError as exc:
            raise self._fail(trial, f"costs: {exc}") from None
        values: dict[str, float] = {"params": costs.params, "macs": costs.macs, "cio": costs.cio,
                                    "peak_activations": costs.peak_activations}
        if self.profile is not None:
            try:
                values["latency_model"] = self.profile.predict_us(arch)
            except UserError as exc:  # the input vanishes at the profile's input size
                raise self._fail(trial, f"latency_model: {exc}") from None
        if self.needs_latency:
            try:
                values["latency"] = measure_latency(arch, self.space.input_size, **self.latency)
            except (RuntimeError, MemoryError) as exc:
                raise self._fail(trial, f"latency: {type(exc).__name__}: {first_line(exc)}") from None
        for key, value in values.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("cost_seconds", time.perf_counter() - start)
        violations = [values[key] - limit for key, limit in self.limits.items()]
        trial.set_user_attr("constraints", violations)
        for key, violation in zip(self.limits, violations, strict=True):
            trial.set_constraint(key, float(violation))  # NSGA-II/III, TPE and GP rank by these
        over = [f"{key} {values[key]:.4g} > {limit:.4g}" for key, limit in self.limits.items()
                if values[key] > limit]
        if over:
            trial.set_user_attr("infeasible", "over the limit: " + ", ".join(over))
            return [-math.inf if o == "proxy" else values[o] for o in self.objectives]
        if self.multi_fidelity:
            return self._multi_fidelity(trial, arch, digest, values)
        return self._train_in_full(trial, arch, values)

    def _train_in_full(self, trial: optuna.Trial, arch: Any, values: dict[str, float]) -> list[float]:
        """The proxy in one go (for ``train``: every epoch, with the quantile stop if it has one)."""
        stop = self.proxy.stop_rule(lambda: self.study.get_trials(deepcopy=False, states=(
            TrialState.COMPLETE, TrialState.PRUNED)), exclude=trial.number)
        return self._scored(trial, self._score(trial, lambda: self.proxy(arch, stop=stop)), values)

    def _score(self, trial: optuna.Trial, run: Callable[[], ProxyResult]) -> ProxyResult:
        try:
            return run()
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of one candidate fails its trial only
            reason = f"proxy {self.proxy.name}: {type(exc).__name__}: {first_line(exc)}"
            raise self._fail(trial, reason) from None

    def _scored(self, trial: optuna.Trial, result: ProxyResult, values: dict[str, float]) -> list[float]:
        trial.set_user_attr("proxy_seconds", result.seconds)
        if result.raw:
            trial.set_user_attr("proxy_raw", result.raw)
        if result.normalised:
            trial.set_user_attr("proxy_normalised", result.normalised)
        if result.per_epoch:
            trial.set_user_attr("accuracy_per_epoch", list(result.per_epoch))
        if result.pruned:
            trial.set_user_attr("pruned_reason", result.reason)
            raise optuna.TrialPruned(result.reason)
        if not math.isfinite(result.value):
            raise self._fail(trial, f"proxy {self.proxy.name}: the score is {result.value}")
        values["proxy"] = result.value
        return [values[o] for o in self.objectives]

    def _multi_fidelity(self, trial: optuna.Trial, arch: Any, digest: str,
                        values: dict[str, float]) -> list[float]:
        """``proxy=train`` under a schedule and/or a screen (:mod:`hardsearch.search.halving`)."""
        proxy, schedule = self.proxy, self.proxy.schedule
        cost_names = [o for o in self.objectives if o != "proxy"]
        is_seed = bool(trial.user_attrs.get("seed"))
        all_trials = lambda: self.study.get_trials(deepcopy=False)  # noqa: E731
        origin = None
        origin_number = origin_of(trial)
        if origin_number is not None:
            origin = next((t for t in all_trials() if t.number == origin_number), None)
        earlier = origin.user_attrs if origin is not None else {}
        if proxy.screen is not None:
            entry = earlier.get("screen")
            if not (isinstance(entry, Mapping) and entry.get("passed")):  # a decision made stands
                screened = self._score(trial, lambda: proxy.screen_proxy(arch))
                entry = screen_decision(proxy.screen, screened.value, values, all_trials(),
                                        number=trial.number, cost_names=cost_names, seed=is_seed)
                entry["seconds"] = screened.seconds
            trial.set_user_attr("screen", dict(entry))
            if not entry["passed"]:
                reason = (f"screen: {proxy.screen.proxy} {entry['score']:.4g} with its costs is not in the "
                          f"top {proxy.screen.top:g} of {entry['n']} screened trials ({entry['why']})")
                trial.set_user_attr("pruned_reason", reason)
                raise optuna.TrialPruned(reason)
        if schedule is None:  # screened, then trained in full
            return self._train_in_full(trial, arch, values)
        bracket = earlier.get("bracket", schedule.bracket_of(trial.number))
        trial.set_user_attr("bracket", bracket)
        halving = Halving(schedule, number=trial.number, bracket=bracket,
                          costs=[values[c] for c in cost_names], cost_names=cost_names, trials=all_trials,
                          record=lambda rungs: trial.set_user_attr("rungs", rungs), seed=is_seed,
                          decided=earlier.get("rungs") or ())
        if halving.entries:  # run again: the rungs it reached count for the others from the start
            trial.set_user_attr("rungs", list(halving.entries))
        resume = None
        if halving.last_promoted and self.checkpoints is not None:
            resume = self.checkpoints.load(digest, halving.last_promoted)
        trial.set_user_attr("resumed_from_epoch", resume["epoch"] if resume is not None else 0)
        per_epoch = list(resume["accuracies"]) if resume is not None else []

        def on_epoch(epoch: int, accuracy: float) -> None:
            per_epoch.append(accuracy)
            trial.set_user_attr("accuracy_per_epoch", list(per_epoch))

        def checkpoint(epoch: int, state: Callable[[], dict]) -> None:
            if self.checkpoints is not None and epoch in halving.ladder:
                self.checkpoints.save(digest, epoch, state())
                self.checkpoints.remove(digest, [e for e in schedule.rungs if e < epoch])

        try:
            result = self._score(trial, lambda: proxy(arch, stop=halving, on_epoch=on_epoch,
                                                      checkpoint=checkpoint, resume=resume))
        except CandidateError:  # it cannot be trained (e.g. diverged): nothing to resume
            self._forget(digest)
            raise
        self._forget(digest)
        reached = len(result.per_epoch)
        trial.set_user_attr("fidelity", {"epochs": reached, "budget": schedule.epochs,
                                         "full": reached == schedule.epochs})
        if result.pruned:
            trial.set_user_attr("fidelity_values", [result.value if o == "proxy" else values[o]
                                                    for o in self.objectives])
            return self._scored(trial, result, values)
        if math.isfinite(result.value):
            halving.finish(reached, result.value)
        return self._scored(trial, result, values)

    def _forget(self, digest: str) -> None:
        """Remove a candidate's rung checkpoints once its trial has an outcome."""
        if self.checkpoints is not None:
            self.checkpoints.remove(digest, self.proxy.schedule.rungs)
