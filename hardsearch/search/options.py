"""The search's options: the composed ``conf/search.yaml`` checked into plain data, one-line errors.

Everything a user can get wrong on the command line is caught here, before any storage, data
set or model is touched.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, NamedTuple

from hardsearch.arch.latency_model import LatencyProfile, load_profile
from hardsearch.arch.space import SearchSpace, space_from_dict, space_names, space_source
from hardsearch.core.errors import UserError
from hardsearch.core.options import check_int, fail, section
from hardsearch.study.objectives import OBJECTIVES

__all__ = ["CONSTRAINTS", "LOGGERS", "SearchOptions", "parse_options", "study_name", "parse_objectives",
           "parse_profile",
           "parse_constraints"]

CONSTRAINTS = ("macs", "cio", "params", "peak_activations", "latency", "latency_model")
LOGGERS = ("wandb", "console", "none")


class SearchOptions(NamedTuple):
    """The checked options of one search command (plain data)."""

    options: dict[str, Any]  # the composed config as it came
    space: SearchSpace
    raw_space: Mapping[str, Any]
    name: str  # the study's name
    seed: int
    objectives: list[str]
    limits: dict[str, float]
    n_trials: int
    timeout: float | None
    latency: dict[str, Any]  # how measured latency is timed (batch, repeats, warmup, threads)
    extra_seeds: list[str]
    logger: dict[str, Any]
    profile: LatencyProfile | None = None  # latency.profile: the device profile latency_model predicts with


def study_name(options: Mapping[str, Any], space: SearchSpace) -> str:
    name = options.get("study") or space.name
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise fail("study", name, "null or a name of letters, digits, '_', '.' and '-'")
    return name


def parse_objectives(options: Mapping[str, Any]) -> list[str]:
    objectives = options.get("objectives")
    allowed = f"a list starting with proxy, then distinct names from {', '.join(OBJECTIVES)}"
    if (not isinstance(objectives, (list, tuple)) or len(objectives) < 2 or objectives[0] != "proxy"
            or any(o not in OBJECTIVES for o in objectives) or len(set(objectives)) != len(objectives)):
        raise fail("objectives", objectives, allowed)
    return list(objectives)


def parse_constraints(options: Mapping[str, Any]) -> dict[str, float]:
    given = section(options, "constraints")
    limits = {}
    for key, value in given.items():
        if key not in CONSTRAINTS:
            raise UserError(f"conf/search.yaml: constraints.{key}: unknown key; allowed keys: "
                            + ", ".join(CONSTRAINTS))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value <= 0:
            raise fail(f"constraints.{key}", value, "null or a number > 0")
        limits[key] = float(value)
    return limits


def parse_options(options: Mapping[str, Any]) -> SearchOptions:
    """Check the composed ``conf/search.yaml``; a :class:`UserError` names the first bad key."""
    options = dict(options)
    if "space" not in options or not isinstance(options["space"], Mapping):
        raise UserError("space: missing; choose a search space with +space=NAME; allowed: "
                        + ", ".join(space_names()) + " (files in search_spaces/space/)")
    raw_space = options["space"]
    space = space_from_dict(raw_space, source=space_source(str(raw_space.get("name", "space"))))
    name = study_name(options, space)
    seed = options.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise fail("seed", seed, "an integer")
    objectives = parse_objectives(options)
    limits = parse_constraints(options)
    budget = section(options, "budget")
    for key in budget:
        if key not in ("n_trials", "timeout"):
            raise UserError(f"conf/search.yaml: budget.{key}: unknown key; allowed keys: n_trials, timeout")
    n_trials = check_int(budget.get("n_trials"), "budget.n_trials", minimum=1)
    timeout = budget.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout <= 0):
        raise fail("budget.timeout", timeout, "null or a number of seconds > 0")
    latency = section(options, "latency")
    profile_path = latency.pop("profile", None)
    for key in latency:
        if key not in ("batch", "repeats", "warmup", "threads"):
            raise UserError(f"conf/search.yaml: latency.{key}: unknown key; allowed keys: batch, repeats, "
                            "warmup, threads, profile")
        check_int(latency[key], f"latency.{key}", minimum=0 if key in ("warmup", "threads") else 1)
    profile = parse_profile(profile_path, objectives, limits)
    extra_seeds = options.get("seeds") or []
    if not isinstance(extra_seeds, (list, tuple)) or not all(isinstance(s, str) for s in extra_seeds):
        raise fail("seeds", extra_seeds, "a list of architecture YAML paths or seed names")
    logger = section(options, "logger")
    if logger.get("name") not in LOGGERS:
        raise fail("logger.name", logger.get("name"), ", ".join(LOGGERS))
    return SearchOptions(options, space, raw_space, name, seed, objectives, limits, n_trials, timeout,
                         latency, list(extra_seeds), logger, profile)


def parse_profile(path: Any, objectives: list[str], limits: Mapping[str, float]) -> LatencyProfile | None:
    """The device profile of ``latency.profile`` (checked), which ``latency_model`` needs."""
    wanted = "latency_model" in objectives or "latency_model" in limits
    if path is None:
        if wanted:
            where = "objectives" if "latency_model" in objectives else "constraints.latency_model"
            raise UserError(f"conf/search.yaml: {where}: latency_model needs a device profile; allowed: "
                            "latency.profile=PATH (written by python -m hardsearch.latency)")
        return None
    if not isinstance(path, str) or not path:
        raise fail("latency.profile", path, "null or a path to a profile written by python -m "
                   "hardsearch.latency")
    return load_profile(path)
