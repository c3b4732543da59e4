"""A per-device latency model, fitted to measurements:
latency ≈ a·MACs + b·CIO + c·concat + d·convs + f·weights_beyond_cache + g·cio_beyond_cache + e.

Pure arithmetic on the exact cost terms of :mod:`hardsearch.arch.costs`; nothing here runs a model.
The two ``…_beyond_cache`` terms are the memory traffic the device's last-level cache cannot hold,
layer by layer: ``weights_beyond_cache`` (:func:`hardsearch.arch.costs.weights_beyond`), the weight
elements a layer reads beyond the cache (at batch 1 a layer with more weights than fit streams them
from memory, and on a small feature map that sets its time), and ``cio_beyond_cache``
(:func:`hardsearch.arch.costs.cio_beyond`), a layer's input and output elements beyond it (at high
resolution the early feature maps outgrow the cache).

* :func:`fit` solves for non-negative coefficients that minimise the squared *relative* error
  (a 1 ms network off by 0.5 ms matters as much as a 100 ms one off by 50 ms), by non-negative
  least squares on the rows divided by their latency.
* :func:`held_out` predicts every member from a fit on the others (leave-one-out), and
  :func:`evaluate` scores those predictions (Spearman, Kendall, MAPE) for the full model and for
  each cost alone, so a profile says how much better it is than MACs alone on members it never saw.
* :func:`partial_rank_correlation` is the paper's claim tested: does CIO still rank latency once
  MACs and the number of convolutions are known?
* :class:`LatencyProfile` is the device profile (YAML) a search loads to predict latency in
  microseconds per candidate (:meth:`LatencyProfile.predict_us`), with one-line errors for a bad file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import yaml

from hardsearch.arch.config import ArchConfig
from hardsearch.arch.costs import latency_costs
from hardsearch.core.errors import UserError

__all__ = ["TERMS", "COSTS", "SINGLE", "BASELINES", "LatencyModel", "Quality", "LatencyProfile", "fit",
           "held_out", "evaluate", "partial_rank_correlation", "split_half", "load_profile", "save_profile",
           "PROFILE_FORMAT"]

#: The terms of the fitted model, in the order of its coefficients.
TERMS = ("macs", "cio", "concat", "convs", "weights_beyond_cache", "cio_beyond_cache")
#: Every cost a row carries; each is also scored alone as a baseline.
COSTS = ("macs", "cio", "concat", "convs", "weights", "params", "weights_beyond_cache", "cio_beyond_cache")
#: The costs scored alone as baselines (weights beyond the cache is zero for most members).
SINGLE = ("macs", "cio", "concat", "convs", "weights", "params")
#: The models scored side by side on held-out members: each cost alone, the pairs that answer
#: "does CIO add to MACs (and to MACs with the layer count)?", and the full fit.
BASELINES: dict[str, tuple[str, ...]] = {
    **{cost: (cost,) for cost in SINGLE},
    "macs+convs": ("macs", "convs"),
    "macs+cio": ("macs", "cio"),
    "macs+cio+convs": ("macs", "cio", "convs"),
    "macs+cio+concat+convs": ("macs", "cio", "concat", "convs"),
    "macs+cio+concat+convs+weights_beyond_cache": ("macs", "cio", "concat", "convs", "weights_beyond_cache"),
    "fit": TERMS,
}
PROFILE_FORMAT = 1
ALLOWED_PROFILE = "a device profile written by python -m hardsearch.latency"


@dataclass(frozen=True)
class LatencyModel:
    """``intercept + Σ coefficient·cost`` in microseconds; every coefficient ≥ 0 (µs per unit)."""

    terms: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float

    def predict(self, costs: Mapping[str, float]) -> float:
        """Microseconds for a mapping of the terms' costs (:func:`hardsearch.arch.costs.latency_costs`)."""
        return self.intercept + sum(c * float(costs[t]) for t, c in zip(self.terms, self.coefficients,
                                                                        strict=True))


def _matrix(rows: Sequence[Mapping[str, float]], terms: Sequence[str]) -> np.ndarray:
    return np.array([[float(r[t]) for t in terms] for r in rows], dtype=float).reshape(len(rows), len(terms))


def fit(rows: Sequence[Mapping[str, float]], latency_us: Sequence[float],
        terms: Sequence[str] = TERMS) -> LatencyModel:
    """Non-negative coefficients and intercept minimising Σ((prediction − latency)/latency)²."""
    from scipy.optimize import nnls

    y = np.asarray(latency_us, dtype=float)
    if len(rows) != len(y) or len(y) < 2:
        raise ValueError(f"fit needs >= 2 rows and one latency per row, got {len(rows)} and {len(y)}")
    if np.any(~np.isfinite(y)) or np.any(y <= 0):
        raise ValueError("latencies must be finite and > 0")
    design = np.column_stack([_matrix(rows, terms), np.ones(len(y))]) / y[:, None]
    scale = np.linalg.norm(design, axis=0)
    scale[scale == 0] = 1.0
    solution, _ = nnls(design / scale, np.ones(len(y)), maxiter=50 * design.shape[1])
    theta = solution / scale
    return LatencyModel(tuple(terms), tuple(float(v) for v in theta[:-1]), float(theta[-1]))


def held_out(rows: Sequence[Mapping[str, float]], latency_us: Sequence[float],
             terms: Sequence[str] = TERMS) -> np.ndarray:
    """Each member's prediction by a model fitted on every other member (leave-one-out)."""
    n = len(rows)
    out = np.empty(n)
    for i in range(n):
        keep = [j for j in range(n) if j != i]
        model = fit([rows[j] for j in keep], [latency_us[j] for j in keep], terms)
        out[i] = model.predict(rows[i])
    return out


class Quality(NamedTuple):
    """How held-out predictions agree with measured latency."""

    n: int
    spearman: float
    kendall: float
    mape: float  # mean absolute percentage error, in per cent
    max_ape: float  # the worst member's, in per cent

    def as_dict(self) -> dict[str, float]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self._asdict().items()}


def quality(predicted: Sequence[float], measured: Sequence[float]) -> Quality:
    from scipy import stats

    p, y = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    ape = np.abs(p - y) / y * 100
    rho = stats.spearmanr(p, y).statistic if len(y) > 2 and np.ptp(p) > 0 else math.nan
    tau = stats.kendalltau(p, y).statistic if len(y) > 2 and np.ptp(p) > 0 else math.nan
    return Quality(len(y), float(rho), float(tau), float(ape.mean()), float(ape.max()))


def evaluate(rows: Sequence[Mapping[str, float]], latency_us: Sequence[float],
             models: Mapping[str, Sequence[str]] = BASELINES) -> dict[str, tuple[Quality, np.ndarray]]:
    """Held-out quality and predictions of every model (name → terms), side by side."""
    return {name: (quality(pred := held_out(rows, latency_us, terms), latency_us), pred)
            for name, terms in models.items()}


def split_half(times: Sequence[Sequence[float]]) -> float:
    """How well the measurement ranks itself: Spearman of each member's median over its odd repeats
    against its median over its even repeats (nan with fewer than 2 repeats or 3 members). A model
    of the measured medians cannot be expected to rank them much better than this."""
    from scipy import stats

    if len(times) < 3 or min(len(t) for t in times) < 2:
        return math.nan
    odd = [float(np.median(t[0::2])) for t in times]
    even = [float(np.median(t[1::2])) for t in times]
    return float(stats.spearmanr(odd, even).statistic)


def partial_rank_correlation(x: Sequence[float], y: Sequence[float],
                             controls: Sequence[Sequence[float]]) -> float:
    """Spearman correlation of ``x`` and ``y`` with the ranks of every control partialled out: the
    Pearson correlation of the residuals of rank(x) and rank(y) regressed on the controls' ranks."""
    from scipy import stats

    rx, ry = stats.rankdata(x), stats.rankdata(y)
    design = np.column_stack([np.ones(len(rx)), *[stats.rankdata(c) for c in controls]])
    resid = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in (rx, ry)]
    norms = [float(np.linalg.norm(r)) for r in resid]
    if min(norms) < 1e-9 * len(rx):
        return math.nan
    return float(np.dot(resid[0], resid[1]) / (norms[0] * norms[1]))


@dataclass(frozen=True)
class LatencyProfile:
    """What one device's measurements say: the model, where it holds, and how well."""

    model: LatencyModel
    device: str
    backend: str
    threads: int
    input_size: tuple[int, int]
    batch: int
    quality: dict[str, Any] = field(default_factory=dict)  # held-out figures, as written
    extra: dict[str, Any] = field(default_factory=dict)  # provenance: members, torch version, date
    cache_elements: int = 0  # the last-level cache in weight elements (weights_beyond_cache)

    def costs(self, arch: ArchConfig) -> dict[str, int]:
        """Every cost term of ``arch`` at the profile's input size (closed form, one memoised pass)."""
        return latency_costs(arch, self.input_size, self.cache_elements)

    def predict_us(self, arch: ArchConfig) -> float:
        """Predicted latency of ``arch`` in microseconds at the profile's input size and batch."""
        return self.model.predict(self.costs(arch))

    def describe(self) -> str:
        h, w = self.input_size
        return (f"{self.device}, {self.backend}, {self.threads} thread{'s' * (self.threads != 1)}, "
                f"{h}x{w}, batch {self.batch}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "hardsearch_latency_profile": PROFILE_FORMAT,
            "device": self.device,
            "backend": self.backend,
            "threads": self.threads,
            "input_size": list(self.input_size),
            "batch": self.batch,
            "cache_elements": self.cache_elements,
            "unit": "microseconds",
            "intercept": self.model.intercept,
            "coefficients": dict(zip(self.model.terms, self.model.coefficients, strict=True)),
            "quality": self.quality,
            **self.extra,
        }


def save_profile(profile: LatencyProfile, path: str | Path) -> Path:
    from hardsearch.core.files import write_text_atomic

    text = ("# hardsearch latency profile: latency (µs) = intercept + Σ coefficient · cost of the "
            "architecture\n# at input_size and batch below (costs from hardsearch.profile). Search on it "
            "with latency.profile=THIS_FILE.\n" + yaml.safe_dump(profile.to_dict(), sort_keys=False))
    return write_text_atomic(Path(path), text)


def _number(data: Mapping[str, Any], key: str, source: str, *, minimum: float, integer: bool = False) -> Any:
    value = data.get(key)
    kind = "an integer" if integer else "a number"
    ok = (not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
          and math.isfinite(value) and value >= minimum)
    if not ok:
        raise UserError(f"{source}: {key}: got {value!r}; allowed: {kind} >= {minimum:g}")
    return value


def load_profile(path: str | Path, key: str = "latency.profile") -> LatencyProfile:
    """Read and check a device profile; a bad file is a one-line :class:`UserError` naming the key."""
    source = str(path)
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{key}: {source}: no such file; allowed: {ALLOWED_PROFILE}")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{key}: {source}: not readable YAML ({type(exc).__name__}); allowed: "
                        f"{ALLOWED_PROFILE}") from None
    if not isinstance(data, dict) or "hardsearch_latency_profile" not in data:
        raise UserError(f"{key}: {source}: not a latency profile (no hardsearch_latency_profile key); "
                        f"allowed: {ALLOWED_PROFILE}")
    if data["hardsearch_latency_profile"] != PROFILE_FORMAT:
        raise UserError(f"{source}: hardsearch_latency_profile: got {data['hardsearch_latency_profile']!r}; "
                        f"allowed: {PROFILE_FORMAT}")
    if data.get("unit") != "microseconds":
        raise UserError(f"{source}: unit: got {data.get('unit')!r}; allowed: microseconds")
    coefficients = data.get("coefficients")
    if not isinstance(coefficients, dict) or not coefficients:
        raise UserError(f"{source}: coefficients: got {coefficients!r}; allowed: a mapping of cost terms "
                        f"({', '.join(COSTS)}) to numbers >= 0")
    for term in coefficients:
        if term not in COSTS:
            raise UserError(f"{source}: coefficients.{term}: unknown cost term; allowed: {', '.join(COSTS)}")
        _number(coefficients, term, f"{source}: coefficients", minimum=0)
    intercept = _number(data, "intercept", source, minimum=0)
    size = data.get("input_size")
    if (not isinstance(size, list) or len(size) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size)):
        raise UserError(f"{source}: input_size: got {size!r}; allowed: [height, width], integers >= 1")
    for text_key in ("device", "backend"):
        if not isinstance(data.get(text_key), str) or not data[text_key]:
            raise UserError(f"{source}: {text_key}: got {data.get(text_key)!r}; allowed: a non-empty string")
    threads = _number(data, "threads", source, minimum=1, integer=True)
    cache = _number(data, "cache_elements", source, minimum=0, integer=True) if (
        "cache_elements" in data or {"weights_beyond_cache", "cio_beyond_cache"} & coefficients.keys()) else 0
    batch = _number(data, "batch", source, minimum=1, integer=True)
    quality_figures = data.get("quality") or {}
    if not isinstance(quality_figures, dict):
        raise UserError(f"{source}: quality: got {quality_figures!r}; allowed: a mapping")
    known = {"hardsearch_latency_profile", "device", "backend", "threads", "input_size", "batch", "unit",
             "intercept", "coefficients", "quality", "cache_elements"}
    model = LatencyModel(tuple(coefficients), tuple(float(v) for v in coefficients.values()),
                         float(intercept))
    return LatencyProfile(model, data["device"], data["backend"], int(threads), (size[0], size[1]),
                          int(batch), quality_figures, {k: v for k, v in data.items() if k not in known},
                          int(cache))
