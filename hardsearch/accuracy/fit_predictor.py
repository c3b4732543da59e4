"""``python -m hardsearch.predictor rows=[DIR,...]``: fit the accuracy predictor on trained rows.

The rows are folders written by ``python -m hardsearch.calibrate`` (HarmonicBench's, or the
user's own on their data and budget), all trained with one recipe. Each architecture's features
are measured (zero-cost scores on the predictor's ``data``; a row's stored score is reused when it
was measured on the same data, resolution, batch and seed), the model is cross-validated
(Spearman ρ, Kendall τ, partial ρ given MACs, mean absolute error) beside MACs alone, then fitted
on every row and saved as JSON for ``proxy=predictor proxy.path=…``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from hardsearch.accuracy.calibrate import stored_rows
from hardsearch.accuracy.data import load_data_options
from hardsearch.accuracy.objective import ZeroCostScorer
from hardsearch.accuracy.predictor import (
    COST_FEATURES,
    MODELS,
    CrossValidation,
    FeatureSpec,
    Predictor,
    cross_validate,
    feature_row,
)
from hardsearch.accuracy.proxies import TOPOLOGY, ZERO_COST
from hardsearch.accuracy.stats import rank_correlation
from hardsearch.arch.config import arch_from_dict
from hardsearch.arch.costs import normalize_input_size
from hardsearch.core.cli import hydra_main
from hardsearch.core.errors import UserError
from hardsearch.core.paths import RESULTS_DIR

__all__ = ["recipe_text", "gather_rows", "fit_predictor", "format_fit", "main"]

_RECIPE_KEYS = ("data", "resolution", "train")


def recipe_text(settings: Mapping[str, Any]) -> str:
    """The training recipe of calibrate ``settings`` in words, e.g. ``cifar10-subset at 32², 2 epochs, …``."""
    data = str(settings["data"])
    source, _, root = data.partition(":")
    where = f"{source}:{Path(root).name}" if root else source
    t = settings["train"]
    budget = f"{t['steps']} steps" if t.get("steps") else f"{t['epochs']} epochs"
    augment = "crop+flip" if t.get("augment") else "no augmentation"
    return (f"{where} at {settings['resolution']}², {budget}, batch {t['batch_size']}, "
            f"one-cycle lr {t['lr']}, weight decay {t['weight_decay']}, {augment}, train.seed {t['seed']}")


def gather_rows(folders: Sequence[str | Path]) -> tuple[dict[str, Any], list[tuple[dict[str, Any], dict]]]:
    """The rows of ``folders`` (calibrate outputs of one recipe) with their folder's settings.

    Architectures trained in more than one folder keep their first row.
    """
    recipe: dict[str, Any] | None = None
    first = ""
    gathered: list[tuple[dict[str, Any], dict]] = []
    seen: set[str] = set()
    for folder in folders:
        settings, rows = stored_rows(Path(folder))
        this = {k: settings[k] for k in _RECIPE_KEYS}
        if recipe is None:
            recipe, first = this, str(folder)
        elif this != recipe:
            raise UserError(f"rows: {folder} was trained with another recipe than {first} "
                            f"({recipe_text(settings)}); allowed: folders of one recipe")
        for row in rows:
            if row["digest"] not in seen and row.get("accuracy") is not None:
                seen.add(row["digest"])
                gathered.append((settings, row))
    if recipe is None:
        raise UserError("rows: empty; allowed: a list of folders written by python -m hardsearch.calibrate")
    return gathered[0][0] if gathered else {}, gathered


def _scores(settings: Mapping[str, Any], row: Mapping[str, Any], spec: FeatureSpec, data_name: str,
            resolution: int, scorer_of: Callable[[], ZeroCostScorer], arch) -> tuple[dict[str, float], bool]:
    """The row's zero-cost scores as ``spec`` measures them, and whether the stored ones were reused."""
    same = (settings.get("data") == data_name and settings.get("resolution") == resolution
            and settings.get("batch_size") == spec.data.get("batch_size", 64)
            and settings.get("proxy_seed") == spec.seed)
    stored = row.get("scores") or {}
    if same and all(p in stored for p in spec.proxies):
        return {p: float(stored[p]) for p in spec.proxies}, True
    return scorer_of().score(arch, list(spec.proxies)), False


def fit_predictor(*, folders: Sequence[str | Path], data_options: Mapping[str, Any], model: str,
                  proxies: Sequence[str], costs: Sequence[str], encoding: bool, levels: int,
                  input_size: Any, folds: int, seed: int, cache: dict[tuple[str, str], float] | None = None,
                  gathered: tuple[dict[str, Any], list[tuple[dict[str, Any], dict]]] | None = None,
                  log: Callable[[str], None] = print) -> tuple[Predictor, CrossValidation, dict[str, Any]]:
    """Measure the features of the rows, cross-validate, fit on all rows; returns the predictor,
    its cross-validation and the MACs-alone agreement on the same rows.

    ``cache`` (digest, proxy) → score keeps scores measured on this data between calls (one
    benchmark fits several predictors on the same rows); ``gathered``, what :func:`gather_rows`
    returned for ``folders``, saves reading them again."""
    settings, gathered_rows = gathered if gathered is not None else gather_rows(folders)
    if len(gathered_rows) < 4:
        raise UserError(f"rows: {len(gathered_rows)} trained networks in {', '.join(map(str, folders))}; "
                        "allowed: at least 4 (finish the calibrate run, or add folders)")
    data = load_data_options(data_options)
    spec = FeatureSpec(tuple(proxies), tuple(costs), encoding, levels, normalize_input_size(input_size),
                       {**dict(data_options), "batch_size": data_options.get("batch_size", 64)}, seed)
    scorer: list[ZeroCostScorer] = []

    def scorer_of() -> ZeroCostScorer:
        if not scorer:
            scorer.append(ZeroCostScorer(data, batch_size=spec.data["batch_size"], seed=seed))
        return scorer[0]

    rows, reused = [], 0
    for i, (row_settings, row) in enumerate(gathered_rows, start=1):
        arch = arch_from_dict(row["arch"], source=f"{row['name']} (rows.jsonl)")
        if cache is not None and all((row["digest"], p) in cache for p in spec.proxies):
            scores, was_stored = {p: cache[row["digest"], p] for p in spec.proxies}, True
        else:
            scores, was_stored = _scores(row_settings, row, spec, data.name, data.resolution, scorer_of, arch)
        if cache is not None:
            cache.update({(row["digest"], p): v for p, v in scores.items()})
        reused += was_stored
        features = feature_row(arch, scores, spec)
        rows.append({"name": row["name"], "digest": row["digest"], "space": row_settings.get("space"),
                     "accuracy": float(row["accuracy"]), "macs": int(row["macs"]), "scores": scores,
                     "features": features})
        if i % 10 == 0 or i == len(gathered_rows):
            log(f"predictor: features of {i}/{len(gathered_rows)} rows ({reused} with stored scores)")
    x = [r["features"] for r in rows]
    y = [r["accuracy"] for r in rows]
    macs = [r["macs"] for r in rows]
    cv = cross_validate(x, y, macs, model=model, folds=folds, seed=seed)
    baseline = rank_correlation(macs, y, macs)._asdict()
    predictor = Predictor(spec=spec, model=model, rows=rows, recipe=recipe_text(settings),
                          source=[str(f) for f in folders], cv=cv, seed=seed)
    return predictor, cv, baseline


def format_fit(predictor: Predictor, cv: CrossValidation, baseline: Mapping[str, Any]) -> str:
    """The command's summary: what was fitted and how well it ranks held-out networks."""
    spec = predictor.spec
    spaces: dict[str, int] = {}
    for row in predictor.rows:
        spaces[str(row.get("space"))] = spaces.get(str(row.get("space")), 0) + 1
    parts = ", ".join(f"{space} {n}" for space, n in spaces.items())
    lines = [
        f"predictor: {len(predictor.rows)} trained networks ({parts}); recipe: {predictor.recipe}",
        f"features: {len(spec.proxies)} zero-cost scores ({', '.join(spec.proxies) or 'none'}), "
        f"{len(spec.costs)} costs, {'the encoding' if spec.encoding else 'no encoding'}: "
        f"{len(spec.names())} in all; model: {predictor.model}",
        f"held out ({cv.folds}-fold cross-validation, seed {predictor.seed}):",
        "| ranking of trained accuracy | Spearman ρ | Kendall τ | partial ρ given MACs | MAE (points) |",
        "|---|---:|---:|---:|---:|",
        f"| predictor ({predictor.model}) | {cv.spearman:+.3f} | {cv.kendall:+.3f} "
        f"| {cv.partial_spearman:+.3f} | {cv.mae:.2f} |",
        f"| MACs alone (no fit) | {baseline['spearman']:+.3f} | {baseline['kendall']:+.3f} | | |",
    ]
    return "\n".join(lines)


def _list(options: Mapping[str, Any], key: str, allowed: Sequence[str]) -> tuple[str, ...]:
    value = options.get(key)
    if (not isinstance(value, (list, tuple)) or any(v not in allowed for v in value)
            or len(set(value)) != len(value)):
        raise UserError(f"conf/predictor.yaml: {key}: got {value!r}; allowed: a list of distinct names from "
                        f"{', '.join(allowed)}")
    return tuple(value)


def _int(options: Mapping[str, Any], key: str, minimum: int | None = None) -> int:
    value = options.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        raise UserError(f"conf/predictor.yaml: {key}: got {value!r}; allowed: an integer"
                        + (f" >= {minimum}" if minimum is not None else ""))
    return value


def run(options: Mapping[str, Any]) -> Predictor:
    """The command: options are the composed ``conf/predictor.yaml`` as a plain dict."""
    options = dict(options)
    folders = options.get("rows")
    if isinstance(folders, str):
        folders = [folders]
    if not isinstance(folders, (list, tuple)) or not folders or not all(isinstance(f, str) for f in folders):
        raise UserError(f"conf/predictor.yaml: rows: got {folders!r}; allowed: a list of folders written "
                        "by python -m hardsearch.calibrate, e.g. rows=[results/calibration/NAME]")
    model = options.get("model")
    if model not in MODELS:
        raise UserError(f"conf/predictor.yaml: model: got {model!r}; allowed: {', '.join(MODELS)}")
    proxies = _list(options, "proxies", ZERO_COST + TOPOLOGY)
    costs = _list(options, "costs", COST_FEATURES)
    encoding = options.get("encoding")
    if not isinstance(encoding, bool):
        raise UserError(f"conf/predictor.yaml: encoding: got {encoding!r}; allowed: true or false")
    if not proxies and not costs and not encoding:
        raise UserError("conf/predictor.yaml: proxies, costs and encoding: all empty; allowed: at least one")
    levels, folds, seed = _int(options, "levels", 1), _int(options, "folds", 2), _int(options, "seed")
    try:
        input_size = normalize_input_size(options.get("input_size"))
    except (UserError, TypeError, ValueError):
        raise UserError(f"conf/predictor.yaml: input_size: got {options.get('input_size')!r}; "
                        "allowed: [H, W] or one integer") from None
    data_options = dict(options["data"])
    if data_options.get("root") is None and options.get("root") is not None:
        data_options["root"] = options["root"]
    out = Path(options.get("out") or RESULTS_DIR / "predictor" / "predictor.json")
    predictor, cv, baseline = fit_predictor(
        folders=folders, data_options=data_options, model=model, proxies=proxies, costs=costs,
        encoding=encoding, levels=levels, input_size=input_size, folds=folds, seed=seed,
        log=lambda line: print(line, flush=True))
    print(format_fit(predictor, cv, baseline))
    predictor.save(out)
    print(f"wrote {out}; search with it: python -m hardsearch +space=NAME proxy=predictor proxy.path={out}")
    sys.stdout.flush()
    return predictor


def main() -> None:
    hydra_main("hardsearch.predictor", "predictor", run)
