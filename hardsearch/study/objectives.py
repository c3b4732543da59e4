"""A study's objectives: their directions and how their values are shown."""

from __future__ import annotations

import math

__all__ = ["OBJECTIVES", "format_objective"]

#: Every objective a study may have, with its direction.
OBJECTIVES = {"proxy": "maximize", "macs": "minimize", "cio": "minimize", "params": "minimize",
              "peak_activations": "minimize", "latency": "minimize"}


_UNITS = {"proxy": (1.0, "{:+.4f}"), "macs": (1e9, "{:.3f} G"), "cio": (1e6, "{:.2f} M"),
          "params": (1e6, "{:.2f} M"), "peak_activations": (1e6, "{:.3f} M"), "latency": (1e-3, "{:.1f} ms")}


def format_objective(objective: str, value: float) -> str:
    """An objective's value in its display unit, e.g. ``4.246 G`` MACs or ``+0.4740`` proxy."""
    scale, fmt = _UNITS[objective]
    if not math.isfinite(value):
        return str(value)
    return fmt.format(value / scale)
