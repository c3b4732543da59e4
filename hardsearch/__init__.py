"""hardsearch: search for fast, memory-frugal convolutional networks (harmonic dense blocks).

The public API is imported lazily, so command-line tools that need no torch start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ArchConfig": "hardsearch.arch",
    "StageConfig": "hardsearch.arch",
    "arch_from_dict": "hardsearch.arch",
    "load_arch": "hardsearch.arch",
    "save_arch": "hardsearch.arch",
    "build_model": "hardsearch.model",
    "count_costs": "hardsearch.costs",
    "CostReport": "hardsearch.costs",
    "load_seed": "hardsearch.seeds",
    "resolve_arch": "hardsearch.seeds",
    "load_in_order": "hardsearch.checkpoint",
    "UserError": "hardsearch.errors",
    "SearchSpace": "hardsearch.space",
    "load_space": "hardsearch.space",
    "score_proxy": "hardsearch.proxies",
    "PROXY_NAMES": "hardsearch.proxies",
    "create_proxy": "hardsearch.accuracy",
    "load_data": "hardsearch.data",
    "proxy_batch": "hardsearch.data",
    "train_arch": "hardsearch.training",
    "TrainSettings": "hardsearch.training",
    "rank_correlation": "hardsearch.stats",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hardsearch' has no attribute {name!r}")
