"""A study's objectives: their directions and how their values are shown.

The proxy objective's unit depends on the proxy: an accuracy (``ACCURACY_PROXIES``) is stored as
a fraction in [0, 1] and shown in per cent (``73.42 %``); any other proxy is a score shown as it
is stored (``+0.4740``). Stored values never change, only what is shown.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

__all__ = ["OBJECTIVES", "ACCURACY_PROXIES", "ProxyLike", "is_accuracy", "display_value", "format_objective"]

#: Every objective a study may have, with its direction.
OBJECTIVES = {"proxy": "maximize", "macs": "minimize", "cio": "minimize", "params": "minimize",
              "peak_activations": "minimize", "latency": "minimize", "latency_model": "minimize"}

#: The proxies whose value is a top-1 accuracy: stored as a fraction in [0, 1], shown in per cent.
ACCURACY_PROXIES = ("train", "predictor")

#: A study's proxy as callers know it: its name, its ``hardsearch.proxy`` settings, or None (unknown).
ProxyLike = str | Mapping[str, Any] | None

_UNITS = {"proxy": (1.0, "{:+.4f}"), "macs": (1e9, "{:.3f} G"), "cio": (1e6, "{:.2f} M"),
          "params": (1e6, "{:.2f} M"), "peak_activations": (1e6, "{:.3f} M"), "latency": (1e-3, "{:.1f} ms"),
          "latency_model": (1e3, "{:.2f} ms")}  # stored in microseconds (a device profile's unit)
_PERCENT = (0.01, "{:.2f} %")


def is_accuracy(proxy: ProxyLike) -> bool:
    """Whether the proxy (its name, or a study's ``hardsearch.proxy`` settings) is a top-1 accuracy."""
    name = proxy.get("name") if isinstance(proxy, Mapping) else proxy
    return name in ACCURACY_PROXIES


def _unit(objective: str, proxy: ProxyLike) -> tuple[float, str]:
    return _PERCENT if objective == "proxy" and is_accuracy(proxy) else _UNITS[objective]


def display_value(objective: str, value: float, *, proxy: ProxyLike = None) -> float:
    """An objective's value in its display unit (what plots draw): G MACs, M CIO, ms, and an accuracy
    proxy in per cent; ``proxy`` is the study's proxy (name or settings), None for a score."""
    return value / _unit(objective, proxy)[0]


def format_objective(objective: str, value: float, *, proxy: ProxyLike = None) -> str:
    """An objective's value in its display unit, e.g. ``4.246 G`` MACs, ``+0.4740`` proxy, or ``73.42 %``
    for an accuracy proxy (``proxy``: the study's proxy name or settings)."""
    scale, fmt = _unit(objective, proxy)
    if not math.isfinite(value):
        return str(value)
    return fmt.format(value / scale)
