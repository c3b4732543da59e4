"""Benchmark: does CIO predict latency on this machine? The latency model held out, beside MACs alone.

    python benchmarks/latency.py [--settings torch:224 onnxruntime:224 torch:1024 onnxruntime:1024]
                                 [--space harmonic] [--n 40] [--threads 0] [--repeats 10] [--out DIR]
                                 [--validate N] [--validate-seed 1]

For each ``backend:size`` runs what ``python -m hardsearch.latency +space=SPACE n=N input_size=SIZE
backend=BACKEND`` runs (its seeds, then random members; rows appended as they are timed, so an
interrupted run resumes row by row) into ``DIR/<space>_<backend>_<size>x<size>_b1_t<threads>/``, then
writes ``DIR/summary.json`` and ``DIR/summary.md``: per setting, the held-out Spearman, Kendall and
MAPE of the fitted model and of each cost alone, whether CIO adds to MACs (partial correlation, and
MAPE with and without CIO), and the time ``latency_model`` takes per candidate in a search
(``LatencyProfile.predict_us`` on distinct random members, closed-form costs included).
At 768² and above the warm-up is at most 2 forwards (a forward takes a second there). A run adds
its settings to an existing ``summary.json`` (a setting measured again replaces its entry).

The cost terms of the fit were chosen while looking at the first 40 members (seed 0), so their
leave-one-out figures are not the last word. ``--validate N`` measures N *other* random members
(``--validate-seed``, none of them in the first set) into ``<folder>_validation/`` and scores the
profile fitted on the first set, and MACs alone fitted on the same set, on them: members neither the
fit nor the choice of its terms has seen.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from hardsearch.arch.costs import normalize_input_size
from hardsearch.arch.latency_model import fit, load_profile, quality
from hardsearch.arch.space import arch_digest, load_space
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
    parser.add_argument("--validate", type=int, default=0,
                        help="members of a second draw to score the fit on")
    parser.add_argument("--validate-seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="passes over all members (median of rounds)")
    parser.add_argument("--max-spread", type=float, default=0.1,
                        help="time a member again (3 tries in all) while its IQR / median is above this")
    args = parser.parse_args(argv)
    space = load_space(args.space)
    previous = args.out / "summary.json"
    summary: dict[str, dict] = json.loads(previous.read_text()) if previous.is_file() else {}
    for text in args.settings:
        backend, size = _setting(text)
        repeats = args.repeats
        warmup = min(args.warmup, 2) if size >= 768 else args.warmup
        options = {"cache_bytes": None, "n": args.n, "seed": 0, "input_size": size, "batch": 1,
                   "backend": backend, "threads": args.threads, "warmup": warmup, "repeats": repeats,
                   "out": None}
        checked = check_options(space, options)
        settings, n, seed, cache = checked.settings, checked.n, checked.seed, checked.cache_bytes
        h, w = normalize_input_size(size)
        folder = args.out / f"{space.name}_{backend}_{h}x{w}_b1_t{settings['threads']}"
        print(f"== {text}: {folder}", flush=True)
        rows = measure_rows(members_of(space, n, seed), settings, folder,
                            log=lambda line: print(line, flush=True), max_spread=args.max_spread,
                            rounds=args.rounds)
        study = analyse(rows, settings, cache)
        write_outputs(study, folder)
        q = study.quality
        summary[text] = {"folder": folder.name, "members": len(rows), "device": settings["device"],
                         "threads": settings["threads"], "repeats": repeats,
                         "quality": {name: qq.as_dict() for name, qq in q.items()},
                         "partial_cio_given_macs_convs": study.partial_cio, "claim": claim_sentence(study),
                         "split_half_spearman": study.split_half,
                         "predict": predict_cost(folder / "profile.yaml", args.space)}
        print(claim_sentence(study), flush=True)
        if args.validate:
            summary[text]["validation"] = validate(space, settings, study, folder, args.validate,
                                                   args.validate_seed, args.max_spread, args.rounds)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(args.out / "summary.md", to_markdown(summary))
    print(f"wrote {args.out / 'summary.json'} and {args.out / 'summary.md'}")
    return 0


def validate(space, settings: dict, study, folder: Path, n: int, seed: int, max_spread: float | None,
             rounds: int) -> dict:
    """Measure ``n`` members of a second draw (none in the first set) and score, on them, the profile
    fitted on the first set and MACs alone fitted on the same set."""
    seen = {r["digest"] for r in study.rows}
    members = []
    for arch in space.sample(4 * n, seed=seed):
        if len(members) < n and arch_digest(arch) not in seen:
            seen.add(arch_digest(arch))
            members.append((arch.name, arch, False))
    target = folder.with_name(folder.name + "_validation")
    print(f"== validation: {len(members)} other members (seed {seed}): {target}", flush=True)
    rows = measure_rows(members, settings, target, log=lambda line: print(line, flush=True),
                        max_spread=max_spread, rounds=rounds)
    measured = [r["latency_us"] for r in rows]
    predicted = [study.profile.predict_us(arch) for _, arch, _ in members]
    macs = fit(study.rows, [r["latency_us"] for r in study.rows], ("macs",))
    macs_predicted = [macs.predict(r) for r in rows]
    out = {"members": len(rows), "seed": seed, "folder": target.name,
           "fit": quality(predicted, measured).as_dict(), "macs": quality(macs_predicted, measured).as_dict()}
    fitted, alone = out["fit"], out["macs"]
    print(f"validation on {len(rows)} unseen members: fit Spearman {fitted['spearman']:.3f}, MAPE "
          f"{fitted['mape']:.1f} %; MACs alone {alone['spearman']:.3f}, {alone['mape']:.1f} %", flush=True)
    return out


def to_markdown(summary: dict[str, dict]) -> str:
    lines = ["| setting | members | fit ρ | fit τ | fit MAPE % | MACs ρ | MACs MAPE % | CIO ρ | CIO MAPE % | "
             "MACs+convs MAPE % | +CIO MAPE % | partial ρ(CIO) | measurement's own ρ | "
             "latency_model µs/candidate |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for text, s in summary.items():
        q = s["quality"]
        lines.append(f"| {text} | {s['members']} | {q['fit']['spearman']:.3f} | {q['fit']['kendall']:.3f} | "
                     f"{q['fit']['mape']:.1f} | {q['macs']['spearman']:.3f} | {q['macs']['mape']:.1f} | "
                     f"{q['cio']['spearman']:.3f} | {q['cio']['mape']:.1f} | {q['macs+convs']['mape']:.1f} | "
                     f"{q['macs+cio+convs']['mape']:.1f} | {s['partial_cio_given_macs_convs']:+.3f} | "
                     f"{s.get('split_half_spearman', float('nan')):.3f} | "
                     f"{s['predict']['median_us']:.0f} (max {s['predict']['max_us']:.0f}) |")
    checked = {text: s["validation"] for text, s in summary.items() if "validation" in s}
    if checked:
        lines += ["", "Scored on members of a second draw that neither the fit nor the choice of its terms "
                  "saw:", "",
                  "| setting | unseen members | fit ρ | fit τ | fit MAPE % | MACs ρ | MACs τ | MACs MAPE % |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for text, v in checked.items():
            f, m = v["fit"], v["macs"]
            lines.append(f"| {text} | {v['members']} | {f['spearman']:.3f} | {f['kendall']:.3f} | "
                         f"{f['mape']:.1f} | {m['spearman']:.3f} | {m['kendall']:.3f} | {m['mape']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
