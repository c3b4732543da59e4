"""Calibration of zero-cost proxies, so that scores on incomparable scales can be averaged.

A raw proxy score means little alone (naswot is a log-determinant, synflow a log of a sum of
saliencies), and a rank needs a population. At the start of a study a reference sample of the
space (its seeds plus random members) is scored once; each proxy's calibration is the median
and a robust spread (interquartile range / 1.349, the standard deviation of a normal) of its
reference scores. A raw score ``s`` normalises to ``(s - median) / spread``, a robust z-score
that keeps ordering beyond the reference range (unlike a percentile, it never saturates). The
ensemble is the weighted mean of its members' normalised scores.

The calibration is stored in the study (a study user attribute, plain JSON), so every trial,
every worker and every resumed run maps a raw score to the same normalised value.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from hardsearch.core.errors import UserError

__all__ = ["ProxyCalibration", "Calibration", "calibrate_scores", "STUDY_KEY", "load_or_calibrate"]

#: The study user attribute that holds the calibration.
STUDY_KEY = "hardsearch.calibration"
_VERSION = 1


class ProxyCalibration(NamedTuple):
    """The reference distribution of one proxy's raw scores."""

    center: float  # median of the reference scores
    scale: float  # IQR / 1.349 (falls back to the standard deviation, then 1.0)
    reference: tuple[float, ...]  # the raw reference scores, in reference order

    def normalise(self, raw: float) -> float:
        return (raw - self.center) / self.scale


class Calibration(NamedTuple):
    """Every member's calibration, the ensemble weights, and what the reference sample was."""

    members: dict[str, ProxyCalibration]
    weights: dict[str, float]
    reference: tuple[str, ...]  # names of the reference architectures
    settings: dict[str, Any]  # what the scores depend on (proxy batch, data, seed): must match on reuse

    def normalise(self, raw: Mapping[str, float]) -> dict[str, float]:
        return {name: cal.normalise(raw[name]) for name, cal in self.members.items()}

    def ensemble(self, raw: Mapping[str, float]) -> float:
        """The weighted mean of the members' normalised scores."""
        missing = [m for m in self.members if m not in raw]
        if missing:
            raise ValueError(f"raw scores missing for ensemble members {missing}")
        z = self.normalise(raw)
        total = sum(self.weights.values())
        return float(sum(self.weights[m] * z[m] for m in self.members) / total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "members": {name: {"center": c.center, "scale": c.scale, "reference": list(c.reference)}
                        for name, c in self.members.items()},
            "weights": dict(self.weights),
            "reference": list(self.reference),
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        if data.get("version") != _VERSION:
            raise UserError(f"stored calibration: version: got {data.get('version')!r}; allowed: {_VERSION}")
        members = {name: ProxyCalibration(float(m["center"]), float(m["scale"]),
                                          tuple(float(v) for v in m["reference"]))
                   for name, m in data["members"].items()}
        return cls(members, {k: float(v) for k, v in data["weights"].items()},
                   tuple(data["reference"]), dict(data["settings"]))


def robust_scale(values: Sequence[float]) -> tuple[float, float]:
    """Median and IQR/1.349 of ``values`` (std, then 1.0, when the spread is zero)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"calibration needs finite reference scores; got {list(values)}")
    q1, median, q3 = np.quantile(array, [0.25, 0.5, 0.75])
    scale = (q3 - q1) / 1.349
    if not scale > 0:
        scale = float(np.std(array))
    if not scale > 0:
        scale = 1.0
    return float(median), float(scale)


def calibrate_scores(scores: Mapping[str, Sequence[float]], *, reference: Sequence[str],
                     weights: Mapping[str, float] | None = None,
                     settings: Mapping[str, Any] | None = None) -> Calibration:
    """A :class:`Calibration` from each member's raw scores over the reference architectures."""
    if not scores:
        raise ValueError("scores must name at least one proxy")
    for name, values in scores.items():
        if len(values) != len(reference):
            raise ValueError(f"scores[{name!r}] has {len(values)} values for {len(reference)} references")
    weights = {m: 1.0 for m in scores} if weights is None else dict(weights)
    if set(weights) != set(scores):
        raise ValueError(f"weights must name exactly the members {sorted(scores)}; got {sorted(weights)}")
    if any(not (math.isfinite(w) and w >= 0) for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all zero; got {weights}")
    members = {}
    for name, values in scores.items():
        center, scale = robust_scale(values)
        members[name] = ProxyCalibration(center, scale, tuple(float(v) for v in values))
    return Calibration(members, {k: float(v) for k, v in weights.items()}, tuple(reference),
                       dict(settings or {}))


def load_or_calibrate(study: Any, *, settings: Mapping[str, Any],
                      build: Callable[[], Calibration]) -> tuple[Calibration, bool]:
    """The study's stored calibration, or a new one from ``build()`` stored in the study.

    Returns ``(calibration, created)``. A stored calibration made with other ``settings``
    (another proxy batch, data set or member list) is a user error: its normalised values would
    not be comparable with the study's earlier trials. Several workers that start at once may
    each build one; the build is deterministic, and every worker then uses the stored copy.
    """
    settings = _plain(settings)
    stored = study.user_attrs.get(STUDY_KEY)
    if stored is None:
        calibration = build()._replace(settings=settings)
        study.set_user_attr(STUDY_KEY, _plain(calibration.to_dict()))
        stored = study.user_attrs[STUDY_KEY]  # read back: what every later reader gets
        return Calibration.from_dict(stored), True
    calibration = Calibration.from_dict(stored)
    if _plain(calibration.settings) != settings:
        changed = sorted(k for k in set(settings) | set(calibration.settings)
                         if calibration.settings.get(k) != settings.get(k))
        key = changed[0] if changed else "?"
        raise UserError(
            f"study {study.study_name}: proxy calibration: {key}: got {settings.get(key)!r}, but the study "
            f"was calibrated with {calibration.settings.get(key)!r}; allowed: the study's settings, "
            "or a new study name")
    return calibration, False


def _plain(value: Any) -> Any:
    """JSON-shaped copy (tuples become lists) so stored and fresh settings compare equal."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
