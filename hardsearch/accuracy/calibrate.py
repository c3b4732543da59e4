"""``python -m hardsearch.calibrate +space=harmonic n=24``: which accuracy proxy to trust on your data.

Samples members of a space, scores each with every zero-cost proxy and the baselines, trains
each with the short-training proxy, and reports each proxy's Spearman ρ, Kendall τ and partial
rank correlation controlling for MACs against the trained accuracy (:mod:`hardsearch.accuracy.stats`).
The cost objectives of a search already reward small networks, so the partial correlation is
what a proxy adds on top of them.

Every measured architecture is appended to ``rows.jsonl`` in the output folder as soon as it
is done; re-running the same command reuses those rows and measures only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np
from scipy.stats import rankdata

from hardsearch.accuracy.calibration import calibrate_scores
from hardsearch.accuracy.data import ImageData, load_data_options
from hardsearch.accuracy.objective import ZeroCostScorer
from hardsearch.accuracy.proxies import PROXY_NAMES
from hardsearch.accuracy.stats import RankCorrelation, rank_correlation
from hardsearch.accuracy.training import DEFAULT_TRAIN, TrainSettings, train_arch, train_settings
from hardsearch.arch.config import ArchConfig, arch_to_dict
from hardsearch.arch.costs import count_costs
from hardsearch.arch.space import (
    SearchSpace,
    arch_digest,
    seed_archs,
    space_from_dict,
    space_names,
    space_source,
)
from hardsearch.core.cli import hydra_main
from hardsearch.core.errors import UserError
from hardsearch.core.files import append_line, read_json_lines, write_text_atomic
from hardsearch.core.paths import RESULTS_DIR

__all__ = ["ProxyAgreement", "CalibrationReport", "run_calibration", "correlate", "format_table",
           "to_markdown", "write_report", "stored_rows", "stored_repeats"]


class ProxyAgreement(NamedTuple):
    """How one proxy ranks the sample compared with trained accuracy."""

    proxy: str
    correlation: RankCorrelation
    seconds: float  # mean scoring time per architecture


class CalibrationReport(NamedTuple):
    """Plain data: the measured rows and every proxy's agreement with accuracy."""

    space: str
    data: str
    settings: dict[str, Any]
    rows: list[dict[str, Any]]
    agreements: list[ProxyAgreement]
    repeats: list[dict[str, Any]] = []  # architectures trained again (another training seed)


def _recipe(train: TrainSettings) -> dict[str, Any]:
    """The training settings that decide a row's accuracy: the thread count is left out (stored as 0)."""
    return train._replace(threads=0)._asdict()


def _settings(space: SearchSpace, data: ImageData, train: TrainSettings, batch_size: int) -> dict[str, Any]:
    """What a stored row was measured under; rows resume only under the same settings."""
    return {
        "space": space.name, "input_size": list(space.input_size), "data": data.name,
        "resolution": data.resolution, "batch_size": batch_size, "proxy_seed": train.seed,
        "train": _recipe(train),
    }


def _settings_key(settings: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def measure_arch(arch: ArchConfig, *, space: SearchSpace, scorer: ZeroCostScorer, proxies: Sequence[str],
                 train: TrainSettings, data: ImageData) -> dict[str, Any]:
    """One row: costs at the space's input size, every proxy's raw score, and trained accuracy."""
    costs = count_costs(arch, space.input_size)
    scored = add_scores({"scores": {}, "seconds": {}}, arch, scorer=scorer, proxies=proxies)
    result = train_arch(arch, data, train)
    return {
        "name": arch.name, "digest": arch_digest(arch), "arch": arch_to_dict(arch, metadata=False),
        "params": costs.params, "macs": costs.macs, "cio": costs.cio,
        "peak_activations": costs.peak_activations,
        "scores": scored["scores"], "seconds": scored["seconds"],
        "accuracy": result.accuracy, "per_epoch": list(result.per_epoch),
        "train_seconds": result.seconds, "train_steps": result.steps,
    }


def add_scores(row: Mapping[str, Any], arch: ArchConfig, *, scorer: ZeroCostScorer,
               proxies: Sequence[str]) -> dict[str, Any]:
    """``row`` with the scores (and scoring times) of ``proxies`` added; its training is kept."""
    model = scorer.model(arch)
    scores, seconds = dict(row["scores"]), dict(row["seconds"])
    for name in proxies:
        start = time.perf_counter()
        scores[name] = scorer.score(model, [name])[name]
        seconds[name] = time.perf_counter() - start
    return {**row, "scores": scores, "seconds": seconds}


def correlate(rows: Sequence[Mapping[str, Any]], proxies: Sequence[str],
              ensemble: Sequence[str] = (),
              combinations: Sequence[Sequence[str]] = ()) -> list[ProxyAgreement]:
    """Each proxy's (the ensemble's, each rank combination's) rank agreement with accuracy over ``rows``.

    The ensemble is normalised on the rows themselves (its reference sample is the sample). A rank
    combination, e.g. ``rank(naswot+macs)``, scores each row by the mean of its members' ranks
    among the rows (ties share their mean rank).
    """
    accuracy = [r["accuracy"] for r in rows]
    macs = [r["macs"] for r in rows]
    out = []
    for name in proxies:
        values = [r["scores"][name] for r in rows]
        seconds = sum(r["seconds"][name] for r in rows) / len(rows)
        out.append(ProxyAgreement(name, rank_correlation(values, accuracy, macs), seconds))
    if ensemble:
        calibration = calibrate_scores({m: [r["scores"][m] for r in rows] for m in ensemble},
                                       reference=[r["name"] for r in rows])
        values = [calibration.ensemble(r["scores"]) for r in rows]
        seconds = sum(sum(r["seconds"][m] for m in ensemble) for r in rows) / len(rows)
        out.append(ProxyAgreement("ensemble(" + "+".join(ensemble) + ")",
                                  rank_correlation(values, accuracy, macs), seconds))
    for members in combinations:
        ranks = np.mean([rankdata([r["scores"][m] for r in rows]) for m in members], axis=0)
        seconds = sum(sum(r["seconds"][m] for m in members) for r in rows) / len(rows)
        out.append(ProxyAgreement("rank(" + "+".join(members) + ")",
                                  rank_correlation([float(v) for v in ranks], accuracy, macs), seconds))
    return out


def _fmt(x: float, digits: int = 3) -> str:
    return "nan" if math.isnan(x) else f"{x:+.{digits}f}"


def _p(p: float) -> str:
    return "nan" if math.isnan(p) else f"{p:.3f}"


def format_table(report: CalibrationReport) -> str:
    """The agreement table as aligned text, best partial correlation first."""
    rows = report.rows
    accuracies = [r["accuracy"] for r in rows]
    head = (f"{len(rows)} architectures of space {report.space}, data {report.data}; trained accuracy "
            f"{min(accuracies):.3f}..{max(accuracies):.3f} (median {sorted(accuracies)[len(rows) // 2]:.3f})")
    width = max(len(a.proxy) for a in report.agreements)
    lines = [head, "",
             f"{'proxy':<{width}}  {'spearman':>8}  {'p':>6}  {'kendall':>8}  {'partial|MACs':>12}  "
             f"{'s/arch':>7}"]
    for a in _ordered(report.agreements):
        c = a.correlation
        lines.append(f"{a.proxy:<{width}}  {_fmt(c.spearman):>8}  {_p(c.spearman_p):>6}  "
                     f"{_fmt(c.kendall):>8}  {_fmt(c.partial_spearman):>12}  {a.seconds:>7.3f}")
    return "\n".join(lines)


def _ordered(agreements: Sequence[ProxyAgreement]) -> list[ProxyAgreement]:
    return sorted(agreements, key=lambda a: -(a.correlation.partial_spearman
                                             if not math.isnan(a.correlation.partial_spearman) else -2))


def to_markdown(report: CalibrationReport) -> str:
    """The report as Markdown: settings, the agreement table, and every measured architecture."""
    s = report.settings
    lines = [
        f"# Proxy calibration: space `{report.space}`, data `{report.data}`", "",
        f"{len(report.rows)} architectures; proxy batch {s['batch_size']} at {s['resolution']}²; "
        f"short training: {s['train']['epochs']} epoch(s)"
        + (f" / {s['train']['steps']} steps" if s["train"].get("steps") else "")
        + f", batch {s['train']['batch_size']}, seed {s['train']['seed']}. Costs at "
        f"{s['input_size'][0]}×{s['input_size'][1]}.", "",
        "Spearman ρ (with its two-sided p-value) and Kendall τ against held-out top-1 after short "
        "training; partial ρ controls for MACs (what a proxy adds to the cost objectives). Sorted by "
        "partial ρ. A `noise ceiling` row ranks the first training by a second one with another "
        "training seed: no proxy can be expected to agree with accuracy better than that.", "",
        "| proxy | Spearman ρ | p | Kendall τ | partial ρ given MACs | seconds / arch |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for a in _ordered(report.agreements):
        c = a.correlation
        lines.append(f"| {a.proxy} | {_fmt(c.spearman)} | {_p(c.spearman_p)} | {_fmt(c.kendall)} | "
                     f"{_fmt(c.partial_spearman)} | {a.seconds:.3f} |")
    lines += ["", "## Architectures", "",
              "| name | params | GMACs | CIO (M) | accuracy | accuracy per epoch |",
              "|---|---:|---:|---:|---:|---|"]
    for r in sorted(report.rows, key=lambda r: -r["accuracy"]):
        per_epoch = ", ".join(f"{a:.3f}" for a in r["per_epoch"])
        lines.append(f"| {r['name']} | {r['params']:,} | {r['macs'] / 1e9:.3f} | {r['cio'] / 1e6:.2f} | "
                     f"{r['accuracy']:.3f} | {per_epoch} |")
    if report.repeats:
        lines += ["", "## Trained again", "",
                  "| name | first accuracy | accuracy again | training seed |", "|---|---:|---:|---:|"]
        lines += [f"| {r['name']} | {r['first_accuracy']:.3f} | {r['accuracy']:.3f} | {r['train_seed']} |"
                  for r in report.repeats]
    return "\n".join(lines) + "\n"


def to_json(report: CalibrationReport) -> dict[str, Any]:
    return {
        "space": report.space, "data": report.data, "settings": report.settings,
        "agreements": [{"proxy": a.proxy, "seconds_per_arch": a.seconds, **a.correlation._asdict()}
                       for a in report.agreements],
        "rows": report.rows,
        "repeats": report.repeats,
    }


def write_report(report: CalibrationReport, out: Path) -> list[Path]:
    """``calibration.json`` and ``calibration.md`` in ``out`` (atomic writes)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("calibration.json", json.dumps(to_json(report), indent=2, allow_nan=True) + "\n"),
                       ("calibration.md", to_markdown(report))):
        written.append(write_text_atomic(out / name, text))
    return written


def _read_rows(path: Path, keys: Sequence[str],
               log: Callable[[str], None]) -> dict[str, dict[str, dict[str, Any]]]:
    """The stored rows of each settings key in ``keys``, by architecture digest (the last wins)."""
    rows: dict[str, dict[str, dict[str, Any]]] = {key: {} for key in keys}
    if not path.is_file():
        return rows
    other = 0
    for row in read_json_lines(path, log, "calibrate"):
        if row.get("settings_key") not in rows:
            other += 1
            continue
        rows[row["settings_key"]][row["digest"]] = row
    if other:
        log(f"calibrate: {path}: ignoring {other} rows measured with other settings")
    return rows


def stored_rows(folder: Path, *, key: str = "rows") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A finished calibrate folder: its settings (``calibration.json``) and the rows measured under them.

    The rows are the first trainings (repeats left out), in stored order, the last line of each
    architecture winning. Faults are one-line :class:`UserError` naming ``key`` and the folder.
    """
    folder = Path(folder)
    report, rows_path = folder / "calibration.json", folder / "rows.jsonl"
    allowed = "a folder written by python -m hardsearch.calibrate (calibration.json and rows.jsonl)"
    if not report.is_file() or not rows_path.is_file():
        raise UserError(f"{key}: {folder}: no calibration.json and rows.jsonl there; allowed: {allowed}")
    try:
        settings = json.loads(report.read_text())["settings"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"{key}: {report}: unreadable ({type(exc).__name__}); allowed: {allowed}") from None
    settings_key = _settings_key(settings)  # the settings its rows were stored under, as written
    rows = _read_rows(rows_path, [settings_key], lambda line: None)[settings_key]
    return settings, list(rows.values())


def stored_repeats(folder: Path, *, key: str = "rows") -> list[dict[str, Any]]:
    """A finished calibrate folder's repeats (``repeats=N``): each network trained again with another seed.

    One record per repeated network, as ``calibration.json`` holds them: ``digest``, ``accuracy`` (the
    second training), ``first_accuracy``, ``train_seed`` and ``macs``; empty when the folder has none.
    Faults are one-line :class:`UserError` naming ``key`` and the file.
    """
    report = Path(folder) / "calibration.json"
    allowed = "a folder written by python -m hardsearch.calibrate (calibration.json and rows.jsonl)"
    try:
        repeats = json.loads(report.read_text()).get("repeats") or []
    except FileNotFoundError:
        raise UserError(f"{key}: {folder}: no calibration.json there; allowed: {allowed}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise UserError(f"{key}: {report}: unreadable ({type(exc).__name__}); allowed: {allowed}") from None
    if not isinstance(repeats, list) or not all(isinstance(r, dict) and {"digest", "accuracy"} <= r.keys()
                                                for r in repeats):
        raise UserError(f"{key}: {report}: repeats: not a list of records with digest and accuracy; "
                        f"allowed: {allowed}")
    return repeats


def _append_row(path: Path, row: Mapping[str, Any]) -> None:
    append_line(path, json.dumps(row))


def run_calibration(*, space: SearchSpace, data: ImageData, n: int, seed: int = 0,
                    include_seeds: bool = False, proxies: Sequence[str] = PROXY_NAMES,
                    ensemble: Sequence[str] = ("naswot", "synflow", "jacob_cov"),
                    combinations: Sequence[Sequence[str]] = (), repeats: int = 0, repeat_seed: int = 1,
                    train: TrainSettings = DEFAULT_TRAIN, batch_size: int = 64, out: Path,
                    log: Callable[[str], None] = print) -> CalibrationReport:
    """Measure ``n`` random members (and optionally the seeds), correlate, write the report.

    The first ``repeats`` architectures are trained once more with training seed ``repeat_seed``;
    how well that second training ranks the first is the noise ceiling, reported as the row
    ``noise ceiling (train.seed=S)`` beside the proxies.
    """
    archs = (seed_archs(space) if include_seeds else []) + space.sample(n, seed=seed)
    settings = _settings(space, data, train, batch_size)
    key = _settings_key(settings)
    retrain = train._replace(seed=repeat_seed)
    repeat_key = _settings_key({**settings, "train": _recipe(retrain), "repeat": True})
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rows.jsonl"
    stored = _read_rows(rows_path, [key, repeat_key], log)
    done, done_repeats = stored[key], stored[repeat_key]
    scorer = ZeroCostScorer(data, batch_size=batch_size, seed=train.seed)
    rows, repeated = [], []
    for i, arch in enumerate(archs, start=1):
        digest = arch_digest(arch)
        if digest in done:
            row = done[digest]
            missing = [name for name in proxies if name not in row["scores"]]
            if missing:  # a proxy added since: score it (no training), store the completed row
                row = add_scores(row, arch, scorer=scorer, proxies=missing)
                _append_row(rows_path, row)
            rows.append(row)
            log(f"[{i}/{len(archs)}] {arch.name}: measured before, reused from {rows_path}"
                + (f" (scored {', '.join(missing)})" if missing else ""))
        else:
            row = measure_arch(arch, space=space, scorer=scorer, proxies=proxies, train=train, data=data)
            row["settings_key"] = key
            _append_row(rows_path, row)
            rows.append(row)
            log(f"[{i}/{len(archs)}] {arch.name}: {row['macs'] / 1e9:.2f} GMACs, {row['cio'] / 1e6:.1f} M "
                f"CIO, accuracy {row['accuracy']:.3f} after {row['train_steps']} steps "
                f"({row['train_seconds']:.0f} s)")
        if i > repeats:
            continue
        if digest not in done_repeats:
            result = train_arch(arch, data, retrain)
            again = {"name": arch.name, "digest": digest, "settings_key": repeat_key, "repeat": True,
                     "train_seed": repeat_seed, "accuracy": result.accuracy,
                     "per_epoch": list(result.per_epoch), "train_seconds": result.seconds,
                     "train_steps": result.steps}
            _append_row(rows_path, again)
            done_repeats[digest] = again
            log(f"[{i}/{len(archs)}] {arch.name}: trained again with train.seed={repeat_seed}: accuracy "
                f"{again['accuracy']:.3f} (first {row['accuracy']:.3f})")
        repeated.append({**done_repeats[digest], "first_accuracy": row["accuracy"], "macs": row["macs"]})
    if len(rows) < 3:
        raise UserError(f"n: got {n}; allowed: at least 3 architectures in all (rank correlations need 3)")
    agreements = correlate(rows, proxies, ensemble, combinations)
    if len(repeated) >= 3:
        agreements.append(ProxyAgreement(
            f"noise ceiling (train.seed={repeat_seed})",
            rank_correlation([r["accuracy"] for r in repeated], [r["first_accuracy"] for r in repeated],
                             [r["macs"] for r in repeated]),
            sum(r["train_seconds"] for r in repeated) / len(repeated)))
    report = CalibrationReport(space.name, data.name, settings, rows, agreements, repeated)
    write_report(report, out)
    return report


def calibrate(options: Mapping[str, Any]) -> CalibrationReport:
    """The command: options are the composed ``conf/calibrate.yaml`` as a plain dict."""
    options = dict(options)
    if "space" not in options or not isinstance(options["space"], Mapping):
        raise UserError("space: missing; choose a search space with +space=NAME; allowed: "
                        + ", ".join(space_names()))
    space_options = options["space"]
    space = space_from_dict(space_options, source=space_source(str(space_options.get("name", "space"))))
    n = options.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise UserError(f"conf/calibrate.yaml: n: got {n!r}; allowed: an integer >= 0")
    seed = options.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"conf/calibrate.yaml: seed: got {seed!r}; allowed: an integer")
    proxies = options.get("proxies") or []
    bad = [p for p in proxies if p not in PROXY_NAMES]
    if not proxies or bad or len(set(proxies)) != len(proxies):
        raise UserError(f"conf/calibrate.yaml: proxies: got {proxies!r}; allowed: a list of distinct names "
                        f"from {', '.join(PROXY_NAMES)}")
    ensemble = options.get("ensemble") or []
    if any(m not in proxies for m in ensemble):
        raise UserError(f"conf/calibrate.yaml: ensemble: got {ensemble!r}; allowed: names from proxies "
                        f"({', '.join(proxies)})")
    combinations = options.get("combinations") or []

    def combination(c: object) -> bool:
        return isinstance(c, (list, tuple)) and len(set(c)) == len(c) >= 2 and all(m in proxies for m in c)

    if not isinstance(combinations, (list, tuple)) or not all(combination(c) for c in combinations):
        raise UserError(f"conf/calibrate.yaml: combinations: got {combinations!r}; allowed: a list of lists "
                        f"of 2 or more distinct names from proxies ({', '.join(proxies)})")
    repeats, repeat_seed = options.get("repeats", 0), options.get("repeat_seed", 1)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0:
        raise UserError(f"conf/calibrate.yaml: repeats: got {repeats!r}; allowed: an integer >= 0 (0: none)")
    if isinstance(repeat_seed, bool) or not isinstance(repeat_seed, int):
        raise UserError(f"conf/calibrate.yaml: repeat_seed: got {repeat_seed!r}; allowed: an integer")
    if not isinstance(options.get("include_seeds"), bool):
        raise UserError(f"conf/calibrate.yaml: include_seeds: got {options.get('include_seeds')!r}; "
                        "allowed: true or false")
    total = n + (len(space.seeds) if options["include_seeds"] else 0)
    if total < 3:  # checked before any training, not after it
        raise UserError(f"conf/calibrate.yaml: n: got {n}; allowed: at least 3 architectures in all (rank "
                        f"correlations need 3; include_seeds={str(options['include_seeds']).lower()})")
    train = train_settings(options["train"], source="train")
    if repeats and repeat_seed == train.seed:
        raise UserError(f"conf/calibrate.yaml: repeat_seed: got {repeat_seed}, the same as train.seed; "
                        "allowed: another training seed (the repeats measure how far accuracy moves with it)")
    data_options = dict(options["data"])
    if data_options.get("root") is None and options.get("root") is not None:
        data_options["root"] = options["root"]
    data = load_data_options(data_options)
    out = options.get("out")
    out = Path(out) if out else RESULTS_DIR / "calibration" / (
        f"{space.name}_{data.name.split(':')[0]}_n{n}_seed{seed}")
    print(f"calibrate: space {space.name}, data {data.name} ({len(data.train_y)} train / {len(data.test_y)} "
          f"test images at {data.resolution}²), {n} random members"
          + (f" + {len(space.seeds)} seeds" if options["include_seeds"] else "") + f"; output {out}")
    report = run_calibration(space=space, data=data, n=n, seed=seed, include_seeds=options["include_seeds"],
                             proxies=proxies, ensemble=ensemble, combinations=combinations,
                             repeats=repeats, repeat_seed=repeat_seed, train=train,
                             batch_size=data_options.get("batch_size", 64), out=out,
                             log=lambda line: print(line, flush=True))
    print()
    print(format_table(report))
    print(f"\nwrote {out / 'calibration.json'}, {out / 'calibration.md'} and {out / 'rows.jsonl'}")
    sys.stdout.flush()
    return report


def main() -> None:
    hydra_main("hardsearch.calibrate", "calibrate", calibrate)


if __name__ == "__main__":
    main()
