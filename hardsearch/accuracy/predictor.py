"""A learned predictor of trained top-1 accuracy for harmonic networks (``proxy=predictor``).

Features of an architecture, in three groups (:class:`FeatureSpec` says which):

- zero-cost scores (e.g. naswot, meco) measured on one fixed batch of the predictor's own data,
  so that a prediction does not depend on the search's ``data`` group;
- closed-form costs at the predictor's input size, as log10 (params, MACs, CIO, peak activations);
- the encoding: stem widths, multiplier, link base, dropout, and per resolution level the number
  of blocks, their mean depth and growth and the level's output width.

The model is small (ridge regression, a Gaussian process or gradient boosting, from
scikit-learn) and fitted on rows of trained networks (``python -m hardsearch.calibrate``). A saved
predictor is plain JSON: its settings, its rows' features and accuracies, and its
cross-validated quality. Loading fits the model again on those rows, which is deterministic and
takes milliseconds, so nothing is pickled and a file works across library versions.

Accuracy is a fraction in [0, 1] here, as the training proxy stores it; reports show percent.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from hardsearch.accuracy.stats import rank_correlation
from hardsearch.arch.config import ArchConfig
from hardsearch.arch.costs import cost_totals
from hardsearch.core.errors import UserError
from hardsearch.core.files import write_text_atomic

__all__ = ["MODELS", "COST_FEATURES", "FORMAT", "FeatureSpec", "Predictor", "CrossValidation",
           "arch_levels", "encode_arch", "feature_row", "build_estimator", "fit_estimator", "cross_validate",
           "load_predictor", "PACKAGED_PREDICTOR"]

FORMAT = "hardsearch-predictor/1"
MODELS = ("ridge", "gp", "gbm")
COST_FEATURES = ("params", "macs", "cio", "peak_activations")
PACKAGED_PREDICTOR = Path(__file__).with_name("predictors") / "harmonicbench.json"


class FeatureSpec(NamedTuple):
    """What a predictor reads of an architecture, and where its zero-cost scores are measured."""

    proxies: tuple[str, ...]  # zero-cost scores
    costs: tuple[str, ...]  # closed-form costs (log10) at input_size
    encoding: bool  # the architecture's encoding (per level)
    levels: int  # resolution levels in the encoding (architectures with fewer are padded)
    input_size: tuple[int, int]  # where the costs are counted
    data: dict[str, Any]  # the data options the scores are measured on (hardsearch.accuracy.data)
    seed: int  # weight initialisation and proxy batch of the scores

    def names(self) -> list[str]:
        """The feature names, in the order of the model's columns."""
        names = [f"score:{p}" for p in self.proxies] + [f"log10_{c}" for c in self.costs]
        if self.encoding:
            names += ["stem0", "stem1", "multiplier", "link_base", "dropout", "depthwise", "keep_base"]
            for level in range(1, self.levels + 1):
                names += [f"L{level}_{k}" for k in ("blocks", "depth", "growth", "width")]
        return names

    def to_json(self) -> dict[str, Any]:
        return {"proxies": list(self.proxies), "costs": list(self.costs), "encoding": self.encoding,
                "levels": self.levels, "input_size": list(self.input_size), "data": dict(self.data),
                "seed": self.seed}


def arch_levels(arch: ArchConfig) -> list[list[Any]]:
    """The stages of ``arch`` grouped by resolution level: a level ends with a downsampling stage."""
    levels: list[list[Any]] = [[]]
    for stage in arch.stages:
        levels[-1].append(stage)
        if stage.downsample:
            levels.append([])
    return [level for level in levels if level]


def encode_arch(arch: ArchConfig, levels: int) -> dict[str, float]:
    """The architecture as numbers: global genes, then per level blocks, mean depth, mean growth, width.

    Levels past the architecture's last are zero; more levels than ``levels`` is an error.
    """
    grouped = arch_levels(arch)
    if len(grouped) > levels:
        raise UserError(f"predictor: architecture {arch.name} has {len(grouped)} resolution levels; the "
                        f"predictor encodes at most {levels}; allowed: retrain it on rows of this space")
    features = {"stem0": float(arch.stem[0]), "stem1": float(arch.stem[1]), "multiplier": arch.multiplier,
                "link_base": float(arch.link_base), "dropout": arch.dropout,
                "depthwise": float(arch.depthwise), "keep_base": float(arch.keep_base)}
    for i in range(levels):
        level = grouped[i] if i < len(grouped) else []
        n = len(level)
        features[f"L{i + 1}_blocks"] = float(n)
        features[f"L{i + 1}_depth"] = sum(s.depth for s in level) / n if n else 0.0
        features[f"L{i + 1}_growth"] = sum(s.growth for s in level) / n if n else 0.0
        features[f"L{i + 1}_width"] = float(level[-1].out_channels) if n else 0.0
    return features


def feature_row(arch: ArchConfig, scores: Mapping[str, float], spec: FeatureSpec) -> list[float]:
    """The feature vector of ``arch`` (its zero-cost ``scores`` measured as ``spec`` says)."""
    missing = [p for p in spec.proxies if p not in scores]
    if missing:
        raise ValueError(f"feature_row: scores miss {', '.join(missing)}")
    values = {f"score:{p}": float(scores[p]) for p in spec.proxies}
    totals = cost_totals(arch, spec.input_size)._asdict()
    values.update({f"log10_{c}": math.log10(max(float(totals[c]), 1.0)) for c in spec.costs})
    if spec.encoding:
        values.update(encode_arch(arch, spec.levels))
    row = [values[name] for name in spec.names()]
    bad = [name for name, v in zip(spec.names(), row, strict=True) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"predictor: feature {bad[0]} of {arch.name} is not finite")
    return row


def build_estimator(model: str, *, seed: int = 0) -> Any:
    """A fresh scikit-learn regressor of accuracy from standardised features.

    ridge: L2 regression, its strength chosen by efficient leave-one-out on the training rows;
    gp: a Gaussian process with a Matérn-5/2 kernel plus noise, fitted by marginal likelihood;
    gbm: gradient-boosted depth-2 trees (deterministic for ``seed``).
    """
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "ridge":
        regressor = RidgeCV(alphas=np.logspace(-2, 4, 25))
    elif model == "gp":
        kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * Matern(length_scale=3.0, length_scale_bounds=(1e-1, 1e3),
                                                             nu=2.5) + WhiteKernel(0.1, (1e-4, 1e1)))
        regressor = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2,
                                             random_state=seed)
    elif model == "gbm":
        regressor = GradientBoostingRegressor(n_estimators=200, learning_rate=0.05, max_depth=2,
                                              subsample=0.8, random_state=seed)
    else:
        raise UserError(f"predictor model: got {model!r}; allowed: {', '.join(MODELS)}")
    return make_pipeline(StandardScaler(), regressor)


def fit_estimator(model: str, x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> Any:
    """:func:`build_estimator` fitted on ``x``, ``y``; a hyperparameter at its bound is not a fault here."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return build_estimator(model, seed=seed).fit(x, y)


class CrossValidation(NamedTuple):
    """Held-out quality of a predictor: out-of-fold predictions against the trained accuracy."""

    n: int
    folds: int
    spearman: float
    kendall: float
    partial_spearman: float  # given MACs
    mae: float  # mean absolute error, in accuracy points (0-100)
    predictions: tuple[float, ...]  # out-of-fold, fractions, in the rows' order

    def to_json(self) -> dict[str, Any]:
        return {**self._asdict(), "predictions": list(self.predictions)}


def cross_validate(features: Sequence[Sequence[float]], accuracy: Sequence[float], macs: Sequence[float], *,
                   model: str, folds: int = 5, seed: int = 0) -> CrossValidation:
    """K-fold (shuffled with ``seed``) out-of-fold predictions and their rank agreement with accuracy.

    Every fold fits a fresh model (ridge picks its strength inside the fold), so no held-out row
    informs its own prediction. Needs at least 4 rows; ``folds`` is capped at the number of rows.
    """
    from sklearn.model_selection import KFold

    x, y = np.asarray(features, dtype=float), np.asarray(accuracy, dtype=float)
    if len(y) < 4:
        raise UserError(f"predictor: {len(y)} rows; allowed: at least 4 trained networks to cross-validate")
    k = max(2, min(folds, len(y)))
    predicted = np.empty_like(y)
    for train, test in KFold(n_splits=k, shuffle=True, random_state=seed).split(x):
        predicted[test] = fit_estimator(model, x[train], y[train], seed=seed).predict(x[test])
    predicted = np.clip(predicted, 0.0, 1.0)
    agreement = rank_correlation(predicted, y, macs)
    return CrossValidation(len(y), k, agreement.spearman, agreement.kendall, agreement.partial_spearman,
                           float(np.mean(np.abs(predicted - y)) * 100), tuple(float(p) for p in predicted))


class Predictor:
    """A fitted predictor: ``predict(arch, scores)`` is the predicted top-1 accuracy (a fraction)."""

    def __init__(self, *, spec: FeatureSpec, model: str, rows: Sequence[Mapping[str, Any]],
                 recipe: str = "", source: Sequence[str] = (), cv: CrossValidation | None = None,
                 seed: int = 0, path: Path | None = None) -> None:
        if model not in MODELS:
            raise UserError(f"predictor model: got {model!r}; allowed: {', '.join(MODELS)}")
        self.spec, self.model, self.rows = spec, model, [dict(r) for r in rows]
        self.recipe, self.source, self.cv, self.seed, self.path = recipe, list(source), cv, seed, path
        names = spec.names()
        for row in self.rows:
            if len(row["features"]) != len(names):
                raise ValueError(f"predictor row {row.get('name')}: {len(row['features'])} features; "
                                 f"the spec has {len(names)}")
        x = np.asarray([r["features"] for r in self.rows], dtype=float)
        y = np.asarray([r["accuracy"] for r in self.rows], dtype=float)
        self._estimator = fit_estimator(model, x, y, seed=seed)

    def predict_features(self, features: Sequence[float]) -> float:
        value = float(self._estimator.predict(np.asarray([features], dtype=float))[0])
        return min(1.0, max(0.0, value))

    def predict(self, arch: ArchConfig, scores: Mapping[str, float]) -> float:
        """Predicted top-1 accuracy of ``arch`` at the predictor's recipe, a fraction in [0, 1]."""
        return self.predict_features(feature_row(arch, scores, self.spec))

    def digest(self) -> str:
        """A fingerprint of what decides the predictions: model, seed, features and rows."""
        content = {"model": self.model, "seed": self.seed, "features": self.spec.to_json(),
                   "rows": [[r["features"], r["accuracy"]] for r in self.rows]}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "model": self.model, "seed": self.seed, "recipe": self.recipe,
                "source": self.source, "features": self.spec.to_json(), "feature_names": self.spec.names(),
                "cv": self.cv.to_json() if self.cv else None, "rows": self.rows}

    def save(self, path: Path) -> Path:
        return write_text_atomic(path, json.dumps(self.to_json(), indent=1) + "\n")


def load_predictor(path: str | Path | None = None, *, key: str = "proxy.path") -> Predictor:
    """A saved predictor (None: the packaged HarmonicBench one), fitted again on its rows.

    Every fault is a one-line :class:`UserError` naming ``key``, the file and what is allowed.
    """
    file = PACKAGED_PREDICTOR if path is None else Path(path)
    allowed = "a predictor JSON written by python -m hardsearch.predictor (null: the packaged one)"
    if not file.is_file():
        raise UserError(f"{key}: {file}: no such file; allowed: {allowed}")
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{key}: {file}: not readable JSON ({type(exc).__name__}); "
                        f"allowed: {allowed}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise UserError(f"{key}: {file}: format {got!r}; allowed: {allowed} (format {FORMAT})")
    try:
        f = data["features"]
        size = (int(f["input_size"][0]), int(f["input_size"][1]))
        spec = FeatureSpec(tuple(f["proxies"]), tuple(f["costs"]), bool(f["encoding"]), int(f["levels"]),
                           size, dict(f["data"]), int(f["seed"]))
        if data.get("feature_names") != spec.names():
            raise ValueError("feature_names do not match the feature settings")
        rows = data["rows"]
        if len(rows) < 2 or any(not 0.0 <= float(r["accuracy"]) <= 1.0 for r in rows):
            raise ValueError("it needs at least 2 rows with an accuracy in [0, 1]")
        cv = data.get("cv")
        cv = CrossValidation(**{**cv, "predictions": tuple(cv["predictions"])}) if cv else None
        return Predictor(spec=spec, model=data["model"], rows=rows, recipe=data.get("recipe", ""),
                         source=data.get("source", []), cv=cv, seed=int(data.get("seed", 0)), path=file)
    except UserError as exc:
        raise UserError(f"{key}: {file}: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise UserError(f"{key}: {file}: broken predictor ({type(exc).__name__}: {exc}); "
                        f"allowed: {allowed}") from None
