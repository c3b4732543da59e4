"""The samplers the ``sampler`` config group names: hardsearch's cost-aware sampler, and Optuna's
NSGA-II/III, TPE, GP and random."""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import optuna

from hardsearch.arch.latency_model import LatencyProfile
from hardsearch.arch.space import SearchSpace
from hardsearch.core.errors import UserError
from hardsearch.search.cost_aware import CostAwareSampler

__all__ = ["SAMPLERS", "create_sampler", "SeededNSGAII", "SeededNSGAIII"]

SAMPLERS = ("cost_aware", "nsga2", "nsga3", "tpe", "random", "gp")


class _Generations:
    """Every trial joins a generation when it starts, queued ones included.

    Optuna's GA samplers give a trial its generation only when they draw one of its parameters;
    a queued trial (a seed, a retried trial) whose parameters are all fixed never gets one, so
    it is scored but never becomes a parent. Tagging it in ``before_trial`` makes the seeds part
    of the first generation, and so parents of the second, for every worker and after a resume
    (the tag is stored with the trial). A seed queued into a resumed study joins the generation
    running then. The generation key stays Optuna's, so studies made before keep their history.
    """

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        super().before_trial(study, trial)  # type: ignore[misc]
        self.get_trial_generation(study, trial)  # type: ignore[attr-defined]


class SeededNSGAII(_Generations, optuna.samplers.NSGAIISampler):
    """NSGA-II whose first generation holds the queued seeds."""


class SeededNSGAIII(_Generations, optuna.samplers.NSGAIIISampler):
    """NSGA-III whose first generation holds the queued seeds."""


for _cls, _base in ((SeededNSGAII, optuna.samplers.NSGAIISampler),
                    (SeededNSGAIII, optuna.samplers.NSGAIIISampler)):
    _cls._GENERATION_KEY = _base._GENERATION_KEY  # type: ignore[attr-defined]
    _cls._PARENT_CACHE_KEY_PREFIX = _base._PARENT_CACHE_KEY_PREFIX  # type: ignore[attr-defined]


def create_sampler(options: Mapping[str, Any], *, seed: int, space: SearchSpace | None = None,
                   objectives: Sequence[str] = ("proxy", "macs", "cio"),
                   limits: Mapping[str, float] | None = None,
                   seeds: Sequence[Mapping[str, Any]] = (),
                   profile: LatencyProfile | None = None) -> optuna.samplers.BaseSampler:
    """The sampler the ``sampler`` config group names, seeded.

    Limits reach Optuna's samplers as trial constraints (``Trial.set_constraint``), so NSGA-II/III,
    TPE and GP rank infeasible candidates by their violation; the cost-aware sampler (which needs
    the ``space``, the ``objectives``, the ``limits``, the seeds' genomes and any device ``profile``)
    never proposes a point over a closed-form limit.
    """
    options = dict(options)
    name = options.pop("name", None)
    if name not in SAMPLERS:
        raise UserError(f"sampler.name: got {name!r}; allowed: {', '.join(SAMPLERS)}")
    known = {"nsga2": ("population_size",), "nsga3": ("population_size",),
             "tpe": ("n_startup_trials", "multivariate"), "random": (), "gp": ("n_startup_trials",),
             "cost_aware": ("candidates", "n_startup_trials", "refit_every", "random_fraction",
                            "refine_rounds", "refine_top")}[name]
    for key in options:
        if key not in known:
            raise UserError(f"sampler.{key}: unknown key for sampler={name}; allowed keys: "
                            + (", ".join(known) or "(none)"))
    minimum = {"population_size": 2, "n_startup_trials": 0, "candidates": 1, "refit_every": 1,
               "refine_rounds": 0, "refine_top": 1}
    for key, low in minimum.items():
        if key in options and (isinstance(options[key], bool) or not isinstance(options[key], int)
                               or options[key] < low):
            raise UserError(f"sampler.{key}: got {options[key]!r}; allowed: an integer >= {low}")
    if "random_fraction" in options:
        value = options["random_fraction"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise UserError(f"sampler.random_fraction: got {value!r}; allowed: a number from 0 to 1")
    if name == "cost_aware":
        if space is None:
            raise UserError("sampler=cost_aware needs a search space; allowed: +space=NAME")
        return CostAwareSampler(space, objectives, limits or {}, seeds=seeds, seed=seed, profile=profile,
                                **options)
    if name == "nsga2":
        return SeededNSGAII(seed=seed, **options)
    if name == "nsga3":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return SeededNSGAIII(seed=seed, **options)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False,
                                         independent_sampler=optuna.samplers.RandomSampler(seed=seed),
                                         **options)
    return optuna.samplers.RandomSampler(seed=seed)
