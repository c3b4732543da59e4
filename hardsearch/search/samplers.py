"""The Optuna samplers the ``sampler`` config group names: NSGA-II/III, TPE, GP and random."""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import optuna

from hardsearch.core.errors import UserError

__all__ = ["SAMPLERS", "create_sampler"]

SAMPLERS = ("nsga2", "nsga3", "tpe", "random", "gp")


def create_sampler(options: Mapping[str, Any], *, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler the ``sampler`` config group names, seeded.

    Limits reach the samplers as trial constraints (``Trial.set_constraint``), so NSGA-II/III,
    TPE and GP rank infeasible candidates by their violation.
    """
    options = dict(options)
    name = options.pop("name", None)
    if name not in SAMPLERS:
        raise UserError(f"sampler.name: got {name!r}; allowed: {', '.join(SAMPLERS)}")
    known = {"nsga2": ("population_size",), "nsga3": ("population_size",),
             "tpe": ("n_startup_trials", "multivariate"), "random": (), "gp": ("n_startup_trials",)}[name]
    for key in options:
        if key not in known:
            raise UserError(f"sampler.{key}: unknown key for sampler={name}; allowed keys: "
                            + (", ".join(known) or "(none)"))
    for key in ("population_size", "n_startup_trials"):
        if key in options and (isinstance(options[key], bool) or not isinstance(options[key], int)
                               or options[key] < (2 if key == "population_size" else 0)):
            raise UserError(f"sampler.{key}: got {options[key]!r}; allowed: an integer >= "
                            f"{2 if key == 'population_size' else 0}")
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, **options)
    if name == "nsga3":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.NSGAIIISampler(seed=seed, **options)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False,
                                         independent_sampler=optuna.samplers.RandomSampler(seed=seed),
                                         **options)
    return optuna.samplers.RandomSampler(seed=seed)
