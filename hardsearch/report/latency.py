"""``python -m hardsearch.latency +space=harmonic n=40``: does CIO predict latency on *this* device?

Measures ``n`` members of a space (its seeds first, then random draws) with one backend, appending
each to ``rows.jsonl`` as soon as it is timed (re-running reuses them), then fits the device's
latency model (:mod:`hardsearch.arch.latency_model`) and scores it on held-out members beside each
cost alone. Writes the device profile a search loads (``profile.yaml``), the figures as data
(``latency.json``) and as a page (``latency.md``), and the plots (``latency.png``, ``latency.html``).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from hardsearch.arch.config import ArchConfig, arch_from_dict, arch_to_dict
from hardsearch.arch.costs import count_costs, latency_costs, normalize_input_size
from hardsearch.arch.latency import (
    BACKENDS,
    device_name,
    last_level_cache_bytes,
    thread_count,
    time_forward,
)
from hardsearch.arch.latency_model import (
    BASELINES,
    TERMS,
    LatencyProfile,
    Quality,
    evaluate,
    fit,
    partial_rank_correlation,
    split_half,
)
from hardsearch.arch.space import (
    SearchSpace,
    arch_digest,
    labelled_seeds,
    space_from_dict,
    space_names,
    space_source,
)
from hardsearch.core.cli import hydra_main
from hardsearch.core.errors import UserError
from hardsearch.core.files import append_line, read_json_lines
from hardsearch.core.options import check_int, fail
from hardsearch.core.paths import RESULTS_DIR

__all__ = ["LatencyStudy", "LatencyOptions", "check_options", "settings_of", "members_of", "stored_rows",
           "combine_rounds", "measure_rows", "analyse", "latency", "main"]

SOURCE = "conf/latency.yaml"
TIMER_KEYS = ("batch", "repeats", "warmup", "threads", "backend")  # what the timer is called with
ROW_COSTS = ("params", "macs", "cio", "concat", "convs", "weights", "peak_activations")


class LatencyStudy(NamedTuple):
    """Plain data: the rows, every model's held-out quality, the paper's claim tested, the profile."""

    settings: dict[str, Any]
    rows: list[dict[str, Any]]  # each with "latency_us" (median) and "held_out_us" (the fit's prediction)
    quality: dict[str, Quality]  # model name (BASELINES) -> held-out quality
    partial_cio: float  # Spearman of CIO and latency with MACs and convs partialled out
    profile: LatencyProfile
    split_half: float  # Spearman of the members' odd-repeat medians against their even-repeat medians


def settings_of(*, space: SearchSpace, input_size: tuple[int, int], batch: int, backend: str, threads: int,
                warmup: int, repeats: int) -> dict[str, Any]:
    """What a row was measured under; rows of other settings are never mixed into one fit."""
    return {"space": space.name, "device": device_name(backend), "host": platform.node(), "backend": backend,
            "threads": threads, "input_size": list(input_size), "batch": batch, "warmup": warmup,
            "repeats": repeats}


def members_of(space: SearchSpace, n: int, seed: int) -> list[tuple[str, ArchConfig, bool]]:
    """``n`` distinct members: the space's seeds first, then random draws; (label, arch, is_seed)."""
    out: list[tuple[str, ArchConfig, bool]] = []
    seen: set[str] = set()
    seeds = labelled_seeds(space)
    draws = space.sample(max(0, n - len(seeds)) * 2 + 8, seed=seed) if len(seeds) < n else []
    candidates = [(label, arch, True) for label, arch in seeds] + [(a.name, a, False) for a in draws]
    for label, arch, is_seed in candidates:
        digest = arch_digest(arch)
        if len(out) < n and digest not in seen:
            seen.add(digest)
            out.append((label, arch, is_seed))
    return out


def stored_rows(path: Path, settings: Mapping[str, Any],
                log: Callable[[str], None] = lambda line: None) -> dict[tuple[str, int], dict[str, Any]]:
    """The rows of ``path`` measured under ``settings``, by (architecture digest, round); the last wins.

    A line that does not parse (a write cut short by a crash) is skipped with a note, never removed.
    """
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    if not path.is_file():
        return rows
    other = 0
    for row in read_json_lines(path, log, "latency"):
        if row.get("settings") != dict(settings):
            other += 1
            continue
        rows[row["digest"], row.get("round", 0)] = row
    if other:
        log(f"latency: {path}: ignoring {other} rows measured with other settings")
    return rows


def combine_rounds(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One member's rows of every round as one: its latency is the median of the rounds' medians (a
    slow spell of the machine during one round does not move it), its spread the rounds' median."""
    import statistics

    first = dict(rounds[0])
    if len(rounds) == 1:
        return {**first, "rounds": 1, "round_latencies_us": [first["latency_us"]]}
    latencies = [r["latency_us"] for r in rounds]
    return {**first, "latency_us": statistics.median(latencies), "spread": statistics.median(
        r["spread"] for r in rounds), "times_us": [t for r in rounds for t in r["times_us"]],
        "rounds": len(rounds), "round_latencies_us": latencies}


def measure_rows(members: Sequence[tuple[str, ArchConfig, bool]], settings: Mapping[str, Any], out: Path, *,
                 log: Callable[[str], None] = print, timer: Callable[..., Any] = time_forward,
                 max_spread: float | None = None, tries: int = 3, rounds: int = 1) -> list[dict[str, Any]]:
    """Time every member in each of ``rounds`` passes over all of them, appending each (member, round)
    not yet in ``out/rows.jsonl`` as soon as it is timed; every member's rounds combined
    (:func:`combine_rounds`), in order.

    Passes rather than back-to-back repeats: on a shared machine speed drifts over minutes, and a
    member timed only during a slow spell would look slow; across passes every member meets the
    same spells. A timing whose spread (IQR / median) is above ``max_spread`` (something else ran
    meanwhile) is taken again, up to ``tries`` times in all, and the steadiest one is kept; a stored
    row above it that has not had its ``tries`` is measured again (the new row is appended).
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / "rows.jsonl"
    done = stored_rows(path, settings, log)
    size = tuple(settings["input_size"])
    measured: dict[str, list[dict[str, Any]]] = {}
    for rnd in range(rounds):
        where = f"round {rnd + 1}/{rounds} " if rounds > 1 else ""
        for i, (label, arch, is_seed) in enumerate(members, start=1):
            digest = arch_digest(arch)
            stored = done.get((digest, rnd))
            steady = stored is not None and (max_spread is None or stored["spread"] <= max_spread
                                             or stored.get("tries", 1) >= tries)
            if steady:
                measured.setdefault(digest, []).append(stored)
                log(f"{where}[{i}/{len(members)}] {label}: measured before, reused from {path}")
                continue
            costs = count_costs(arch, size)
            best, attempts = None, 0
            while attempts < tries:
                attempts += 1
                timing = timer(arch, size, **{k: settings[k] for k in TIMER_KEYS})
                if best is None or timing.spread < best.spread:
                    best = timing
                if max_spread is None or timing.spread <= max_spread:
                    break
            row = {"name": label, "digest": digest, "seed": is_seed, "settings": dict(settings), "round": rnd,
                   **{key: getattr(costs, key) for key in ROW_COSTS},
                   "latency_us": best.median * 1e6, "spread": best.spread, "tries": attempts,
                   "times_us": [t * 1e6 for t in best.times], "arch": arch_to_dict(arch)}
            append_line(path, json.dumps(row))
            measured.setdefault(digest, []).append(row)
            again = " (noisy before, measured again)" if stored is not None else ""
            noisy = (f"; {attempts} tries, the steadiest kept" if attempts > 1 else "") + (
                " - still above max_spread" if max_spread is not None and best.spread > max_spread else "")
            log(f"{where}[{i}/{len(members)}] {label}{again}: {costs.macs / 1e9:.2f} GMACs, "
                f"{costs.cio / 1e6:.1f} M CIO, {costs.convs} convs: {best.median * 1e3:.2f} ms (IQR "
                f"{best.spread:.1%} of the median{noisy})")
    return [combine_rounds(measured[arch_digest(arch)]) for _, arch, _ in members]


def analyse(rows: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], cache_bytes: int) -> LatencyStudy:
    """Fit the device model on every row, score every model held out, test CIO given MACs and convs.

    ``cache_bytes`` is the device's last-level cache: each row's ``weights_beyond_cache`` is counted
    from its architecture with it (float32 weights), so a new value needs no new measurement.
    """
    if len(rows) < 8:
        raise UserError(f"{SOURCE}: n: got {len(rows)} members; allowed: at least 8 (a held-out fit of 6 "
                        "cost terms and an intercept needs them)")
    cache_elements = cache_bytes // 4
    size = tuple(settings["input_size"])
    beyond = ("weights_beyond_cache", "cio_beyond_cache")
    rows = [{**r, **{k: v for k, v in latency_costs(arch_from_dict(r["arch"]), size, cache_elements).items()
                     if k in beyond}} for r in rows]
    latency = [r["latency_us"] for r in rows]
    scored = evaluate(rows, latency, BASELINES)
    quality = {name: q for name, (q, _) in scored.items()}
    held = scored["fit"][1]
    model = fit(rows, latency, TERMS)
    partial = partial_rank_correlation([r["cio"] for r in rows], latency,
                                       [[r["macs"] for r in rows], [r["convs"] for r in rows]])
    q = quality["fit"]
    self_rank = split_half([r["times_us"] for r in rows])
    profile = LatencyProfile(
        model, settings["device"], settings["backend"], settings["threads"], tuple(settings["input_size"]),
        settings["batch"],
        {"held_out": f"leave-one-out over {q.n} members", **q.as_dict(),
         "macs_alone": quality["macs"].as_dict(), "partial_cio_given_macs_convs": round(partial, 4),
         "split_half_spearman": round(self_rank, 4)},
        {"space": settings["space"], "members": len(rows), "rounds": max(r.get("rounds", 1) for r in rows),
         "warmup": settings["warmup"],
         "repeats": settings["repeats"], "host": settings["host"], "cache_bytes": cache_bytes,
         "torch": _version("torch"),
         **({"onnxruntime": _version("onnxruntime")} if settings["backend"] == "onnxruntime" else {}),
         "measured": time.strftime("%Y-%m-%d")}, cache_elements)
    out_rows = [{**r, "held_out_us": float(p)} for r, p in zip(rows, held, strict=True)]
    return LatencyStudy(dict(settings), out_rows, quality, partial, profile,
                        self_rank)


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "unknown"


def _options(options: Mapping[str, Any]) -> tuple[SearchSpace, LatencyOptions]:
    if "space" not in options or not isinstance(options["space"], Mapping):
        raise UserError("space: missing; choose a search space with +space=NAME; allowed: "
                        + ", ".join(space_names()))
    raw = options["space"]
    space = space_from_dict(raw, source=space_source(str(raw.get("name", "space"))))
    return space, check_options(space, options)


class LatencyOptions(NamedTuple):
    """``conf/latency.yaml`` checked into plain data."""

    settings: dict[str, Any]  # what every row is measured under (rows of other settings are not mixed)
    n: int
    seed: int
    out: Path | None
    cache_bytes: int  # the last-level cache the *_beyond_cache terms are counted with
    max_spread: float | None  # a timing noisier than this is taken again
    tries: int
    rounds: int  # passes over all members; a member's latency is the median of its rounds


def check_options(space: SearchSpace, options: Mapping[str, Any]) -> LatencyOptions:
    """``conf/latency.yaml``'s keys checked (one-line errors naming the key) before anything is measured."""
    n = check_int(options.get("n"), "n", minimum=8, source=SOURCE)
    seed = options.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise fail("seed", seed, "an integer", SOURCE)
    try:
        size = normalize_input_size(options.get("input_size"))
    except UserError as exc:
        raise UserError(f"{SOURCE}: {exc}") from None
    batch = check_int(options.get("batch"), "batch", minimum=1, source=SOURCE)
    backend = options.get("backend")
    if backend not in BACKENDS:
        raise fail("backend", backend, ", ".join(BACKENDS), SOURCE)
    threads = check_int(options.get("threads"), "threads", minimum=0, source=SOURCE)
    warmup = check_int(options.get("warmup"), "warmup", minimum=0, source=SOURCE)
    repeats = check_int(options.get("repeats"), "repeats", minimum=1, source=SOURCE)
    out = options.get("out")
    if out is not None and (not isinstance(out, str) or not out):
        raise fail("out", out, "null or a folder path", SOURCE)
    count = thread_count(threads)  # the count the rows are measured with, 0 resolved
    max_spread = options.get("max_spread")
    if max_spread is not None and (isinstance(max_spread, bool) or not isinstance(max_spread, (int, float))
                                   or not max_spread > 0):
        raise fail("max_spread", max_spread, "null (accept any) or a number > 0, e.g. 0.1", SOURCE)
    tries = check_int(options.get("tries", 3), "tries", minimum=1, source=SOURCE)
    rounds = check_int(options.get("rounds", 1), "rounds", minimum=1, source=SOURCE)
    if backend == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"{SOURCE}: backend: got 'cuda', but torch sees no CUDA device here; allowed: "
                            "torch, onnxruntime")
    if backend == "onnxruntime":
        from hardsearch.arch.onnx import require_onnxruntime

        require_onnxruntime(f"{SOURCE}: backend=onnxruntime")
    check_sizes([arch for _, arch in labelled_seeds(space)] + space.sample(1, seed=seed), size)
    settings = settings_of(space=space, input_size=size, batch=batch, backend=backend, threads=count,
                           warmup=warmup, repeats=repeats)
    cache = options.get("cache_bytes")
    if cache is None:
        cache = last_level_cache_bytes(backend)
        if cache is None:
            raise UserError(f"{SOURCE}: cache_bytes: the last-level cache of this device could not be read; "
                            "allowed: cache_bytes=BYTES (e.g. 33554432 for 32 MiB)")
    elif isinstance(cache, bool) or not isinstance(cache, int) or cache < 0:
        raise fail("cache_bytes", cache, "null (read from the device) or an integer >= 0", SOURCE)
    return LatencyOptions(settings, n, seed, Path(out) if out else None, cache, max_spread, tries, rounds)


def check_sizes(archs: Sequence[ArchConfig], size: tuple[int, int]) -> None:
    """Refuse an input size at which a member's feature map vanishes, before anything is timed."""
    for arch in archs:
        try:
            count_costs(arch, size)
        except UserError as exc:
            raise UserError(f"{SOURCE}: {exc}") from None


def latency(options: Mapping[str, Any]) -> LatencyStudy:
    """The command: options are the composed ``conf/latency.yaml`` as a plain dict."""
    from hardsearch.report.latency_render import format_table, write_outputs

    space, checked = _options(options)
    settings, out, cache = checked.settings, checked.out, checked.cache_bytes
    h, w = settings["input_size"]
    out = out or RESULTS_DIR / "latency" / (f"{space.name}_{settings['backend']}_{h}x{w}_b{settings['batch']}"
                                            f"_t{settings['threads']}")
    members = members_of(space, checked.n, checked.seed)
    check_sizes([arch for _, arch, _ in members], tuple(settings["input_size"]))
    print(f"latency: space {space.name}, {len(members)} members ({sum(m[2] for m in members)} seeds), "
          f"{settings['backend']} on {settings['device']} with {settings['threads']} threads, {h}x{w}, batch "
          f"{settings['batch']}, {settings['warmup']} warm-up + {settings['repeats']} timed forwards, "
          f"last-level cache {cache / 2**20:g} MiB; "
          f"output {out}",
          flush=True)
    rows = measure_rows(members, settings, out, log=lambda line: print(line, flush=True),
                        max_spread=checked.max_spread, tries=checked.tries, rounds=checked.rounds)
    study = analyse(rows, settings, cache)
    written = write_outputs(study, out)
    print()
    print(format_table(study))
    print("\nwrote " + ", ".join(str(p) for p in written))
    sys.stdout.flush()
    return study


def main() -> None:
    hydra_main("hardsearch.latency", "latency", latency, fix_memory=False)


if __name__ == "__main__":
    main()
