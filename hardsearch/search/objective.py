"""One trial of the search: draw an architecture, count its costs, apply the limits, score the proxy.

Costs are counted in closed form at the space's input size (and latency measured if asked, or
predicted by a device profile: ``latency_model``, in microseconds at the profile's input size); a
candidate over a limit is recorded as infeasible without paying for the proxy. An architecture
proposed again (same content hash) reuses the values of its earlier trial.
"""

from __future__ import annotations

import math
import time
from typing import Any, Mapping

import optuna
from optuna.trial import FrozenTrial, TrialState

from hardsearch.accuracy.objective import AccuracyProxy
from hardsearch.arch.config import arch_to_dict
from hardsearch.arch.costs import count_costs
from hardsearch.arch.latency import measure_latency
from hardsearch.arch.latency_model import LatencyProfile
from hardsearch.arch.space import SearchSpace, SpaceError, arch_digest
from hardsearch.core.errors import UserError, first_line

__all__ = ["CandidateError", "Objective"]


class CandidateError(Exception):
    """A candidate that cannot be built or evaluated; its trial fails with the reason stored."""


class Objective:
    """Evaluates one trial: decode, costs, limits, proxy."""

    def __init__(self, *, space: SearchSpace, proxy: AccuracyProxy, objectives: list[str],
                 limits: Mapping[str, float], latency: Mapping[str, Any], study: optuna.Study,
                 name_prefix: str, profile: LatencyProfile | None = None) -> None:
        self.space = space
        self.proxy = proxy
        self.objectives = objectives
        self.limits = dict(limits)
        self.latency = dict(latency)
        self.study = study
        self.name_prefix = name_prefix
        self.needs_latency = "latency" in objectives or "latency" in limits
        self.profile = profile

    def _evaluated(self, digest: str, number: int) -> FrozenTrial | None:
        """An earlier complete trial of the same architecture (by content hash), if any."""
        for other in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if other.number != number and other.user_attrs.get("digest") == digest:
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
                        "constraints", "infeasible", "proxy_raw", "proxy_normalised", "accuracy_per_epoch"):
                if key in earlier.user_attrs:
                    trial.set_user_attr(key, earlier.user_attrs[key])
            for key, value in earlier.constraints.items():
                trial.set_constraint(key, value)
            trial.set_user_attr("duplicate_of", earlier.number)
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
        stop = self.proxy.stop_rule(lambda: self.study.get_trials(deepcopy=False, states=(
            TrialState.COMPLETE, TrialState.PRUNED)), exclude=trial.number)
        try:
            result = self.proxy(arch, stop=stop)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of one candidate fails its trial only
            reason = f"proxy {self.proxy.name}: {type(exc).__name__}: {first_line(exc)}"
            raise self._fail(trial, reason) from None
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
