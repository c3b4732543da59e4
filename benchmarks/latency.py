"""Benchmark: does CIO predict latency on this machine? The latency model held out, beside MACs alone.

    python benchmarks/latency.py [--settings torch:224 onnxruntime:224 torch:1024 onnxruntime:1024]
                                 [--space harmonic] [--n 40] [--threads 0] [--repeats 10] [--out DIR]

For each ``backend:size`` runs what ``python -m hardsearch.latency +space=SPACE n=N input_size=SIZE
backend=BACKEND`` runs (its seeds, then random members; rows appended as they are timed, so an
interrupted run resumes row by row) into ``DIR/<space>_<backend>_<size>x<size>_b1_t<threads>/``, then
writes ``DIR/summary.json`` and ``DIR/summary.md``: per setting, the held-out Spearman, Kendall and
MAPE of the fitted model and of each cost alone, whether CIO adds to MACs (partial correlation, and
MAPE with and without CIO), and the time ``latency_model`` takes per candidate in a search
(``LatencyProfile.predict_us`` on distinct random members, closed-form costs included).
At 1024² each member is timed ``max(3, repeats // 2)`` times (a forward takes seconds there).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from hardsearch.arch.costs import normalize_input_size
from hardsearch.arch.latency_model import load_profile
from hardsearch.arch.space import load_space
from hardsearch.core.files import write_text_atomic
from hardsearch.report.latency import analyse, check_options, measure_rows, members_of
from hardsearch.report.latency_render import claim_sentence, write_outputs

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latency"
SETTINGS = ("torch:224", "onnxruntime:224", "torch:1024", "onnxruntime:1024")


def _setting(text: str) -> tuple[str, int]:
    backend, _, size = text.partition(":")
    return backend, int(size)


def predict_cost(profile_path: Path, space_name: str, n: int = 400) -> dict[str, float]:
    """Microseconds ``latency_model`` takes per candidate: distinct random members, each predicted once
    (so the closed-form costs are counted, not only read from the memo)."""
    profile = load_profile(profile_path)
    archs = load_space(space_name).sample(n, seed=12345)
    times = []
    for arch in archs:
        start = time.perf_counter()
        profile.predict_us(arch)
        times.append((time.perf_counter() - start) * 1e6)
    return {"candidates": n, "median_us": statistics.median(times), "mean_us": statistics.fmean(times),
            "max_us": max(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument("--space", default="harmonic")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    space = load_space(args.space)
    summary: dict[str, dict] = {}
    for text in args.settings:
        backend, size = _setting(text)
        big = size >= 768
        repeats = max(3, args.repeats // 2) if big else args.repeats
        warmup = min(args.warmup, 2) if big else args.warmup
        options = {"n": args.n, "seed": 0, "input_size": size, "batch": 1, "backend": backend,
                   "threads": args.threads, "warmup": warmup, "repeats": repeats, "out": None}
        settings, n, seed, _ = check_options(space, options)
        h, w = normalize_input_size(size)
        folder = args.out / f"{space.name}_{backend}_{h}x{w}_b1_t{settings['threads']}"
        print(f"== {text}: {folder}", flush=True)
        rows = measure_rows(members_of(space, n, seed), settings, folder,
                            log=lambda line: print(line, flush=True))
        study = analyse(rows, settings)
        write_outputs(study, folder)
        q = study.quality
        summary[text] = {"folder": folder.name, "members": len(rows), "device": settings["device"],
                         "threads": settings["threads"], "repeats": repeats,
                         "quality": {name: qq.as_dict() for name, qq in q.items()},
                         "partial_cio_given_macs_convs": study.partial_cio, "claim": claim_sentence(study),
                         "predict": predict_cost(folder / "profile.yaml", args.space)}
        print(claim_sentence(study), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(args.out / "summary.md", to_markdown(summary))
    print(f"wrote {args.out / 'summary.json'} and {args.out / 'summary.md'}")
    return 0


def to_markdown(summary: dict[str, dict]) -> str:
    lines = ["| setting | members | fit ρ | fit τ | fit MAPE % | MACs ρ | MACs MAPE % | CIO ρ | CIO MAPE % | "
             "MACs+convs MAPE % | +CIO MAPE % | partial ρ(CIO) | latency_model µs/candidate |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for text, s in summary.items():
        q = s["quality"]
        lines.append(f"| {text} | {s['members']} | {q['fit']['spearman']:.3f} | {q['fit']['kendall']:.3f} | "
                     f"{q['fit']['mape']:.1f} | {q['macs']['spearman']:.3f} | {q['macs']['mape']:.1f} | "
                     f"{q['cio']['spearman']:.3f} | {q['cio']['mape']:.1f} | {q['macs+convs']['mape']:.1f} | "
                     f"{q['macs+cio+convs']['mape']:.1f} | {s['partial_cio_given_macs_convs']:+.3f} | "
                     f"{s['predict']['median_us']:.0f} (max {s['predict']['max_us']:.0f}) |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
