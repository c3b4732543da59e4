"""hardsearch: search for fast, memory-frugal convolutional networks (harmonic dense blocks).

The package is a pipeline of layers, each importing only the ones below it (checked by
import-linter, see pyproject.toml): ``arch`` (the network as data, its exact costs) →
``accuracy`` (proxies, training) → ``study`` (storage, the Pareto front) → ``search`` (the
trials) → ``report`` (what users look at and take away) → ``app`` (the search command). ``core``
holds the plumbing under all of them. The top-level ``profile``, ``calibrate`` and ``export``
modules are the commands users type.

The public API is imported lazily, so command-line tools that need no torch start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ArchConfig": "hardsearch.arch.config",
    "StageConfig": "hardsearch.arch.config",
    "arch_from_dict": "hardsearch.arch.config",
    "load_arch": "hardsearch.arch.config",
    "save_arch": "hardsearch.arch.config",
    "build_model": "hardsearch.arch.model",
    "count_costs": "hardsearch.arch.costs",
    "CostReport": "hardsearch.arch.costs",
    "load_seed": "hardsearch.arch.seeds",
    "resolve_arch": "hardsearch.arch.seeds",
    "load_in_order": "hardsearch.arch.checkpoint",
    "UserError": "hardsearch.core.errors",
    "SearchSpace": "hardsearch.arch.space",
    "load_space": "hardsearch.arch.space",
    "score_proxy": "hardsearch.accuracy.proxies",
    "PROXY_NAMES": "hardsearch.accuracy.proxies",
    "create_proxy": "hardsearch.accuracy.objective",
    "load_data": "hardsearch.accuracy.data",
    "proxy_batch": "hardsearch.accuracy.data",
    "train_arch": "hardsearch.accuracy.training",
    "TrainSettings": "hardsearch.accuracy.training",
    "rank_correlation": "hardsearch.accuracy.stats",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hardsearch' has no attribute {name!r}")
