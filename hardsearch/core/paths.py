"""Where hardsearch finds its configs, seed architectures and results.

hardsearch runs from a clone (installed editable); ``HARDSEARCH_ROOT`` points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ROOT", "CONF_DIR", "SEARCH_SPACES_DIR", "ARCHS_DIR", "RESULTS_DIR", "cifar10_subset"]

ROOT = Path(os.environ.get("HARDSEARCH_ROOT", Path(__file__).resolve().parents[2]))
CONF_DIR = ROOT / "conf"
SEARCH_SPACES_DIR = ROOT / "search_spaces"
ARCHS_DIR = SEARCH_SPACES_DIR / "archs"
RESULTS_DIR = ROOT / "results"


def cifar10_subset() -> Path:
    """The shared CIFAR-10 JPEG subset (tests, benchmarks, the packaged sample's source).

    ``HARDSEARCH_CIFAR10_SUBSET`` overrides the default ``../shared/data/cifar10-subset`` beside
    the project root; read at call time so tests can point it elsewhere.
    """
    override = os.environ.get("HARDSEARCH_CIFAR10_SUBSET")
    return Path(override) if override else ROOT.parent / "shared" / "data" / "cifar10-subset"
