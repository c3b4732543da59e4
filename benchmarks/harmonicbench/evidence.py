"""Which accuracy objective should be the default? Every candidate held to trained harmonic networks.

    python benchmarks/harmonicbench/evidence.py --rows DIR [DIR ...] [--out benchmarks/results/evidence]

DIR: folders written by ``python -m hardsearch.calibrate`` with one training recipe (HarmonicBench's).
On their rows it reports, side by side:

- every zero-cost proxy, each paired with MACs both as a rank combination and as a calibrated
  ensemble (robust z-scores, as ``proxy=ensemble proxy.members=[x,macs]`` runs it in a search),
  and the default ensemble: nothing is fitted, so every row is held out;
- the predictor for each model and feature set (``--models``, ``--feature-sets``), by k-fold
  cross-validation: each row is predicted by a model fitted without it;
- params and MACs alone, and the noise ceiling (the repeats of calibrate ``repeats=N``);
- the cost per candidate in training steps of the same batch (``--proxies-json``, the output of
  ``benchmarks/proxies.py``; the largest ratio over its architectures).

Then it applies the rule of issue 14: the default is the best held-out partial ρ given MACs among
the candidates at least as good as MACs alone in plain ρ (and at most ``--max-steps`` training
steps). When the rows come from more than one space, every candidate is also held to each space's
rows alone (a predictor with the same out-of-fold predictions): a fit on both spaces must rank the
networks inside each space, not only tell the spaces apart. Writes ``evidence.json`` and
``evidence.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from hardsearch.accuracy.calibrate import stored_repeats
from hardsearch.accuracy.evidence import (
    Evidence,
    agreements_of_rows,
    choose_default,
    evidence_of_values,
    noise_ceiling,
)
from hardsearch.accuracy.fit_predictor import fit_predictor, gather_rows, recipe_text
from hardsearch.accuracy.objective import DEFAULT_MEMBERS
from hardsearch.accuracy.predictor import COST_FEATURES, MODELS
from hardsearch.accuracy.proxies import BASELINES, TOPOLOGY, ZERO_COST
from hardsearch.core.errors import UserError

SAMPLE = {"source": "cifar10_sample", "root": None, "resolution": 32, "batch_size": 64, "download": False}


def proxy_steps(path: Path | None) -> dict[str, float]:
    """Each proxy's largest cost ratio to one training step over the benchmarked architectures."""
    if path is None or not path.is_file():
        return {}
    rows = json.loads(path.read_text())["zero_cost"]["rows"]
    steps: dict[str, float] = {}
    for row in rows:
        for name, cell in row["proxies"].items():
            steps[name] = max(steps.get(name, 0.0), float(cell["ratio_to_train_step"]))
    return steps


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return ""
    return "nan" if math.isnan(x) else f"{x:+.{digits}f}"


def to_markdown(evidence: list[Evidence], chosen: Evidence | None, meta: dict,
                within: dict[str, list[Evidence]] | None = None) -> str:
    lines = [f"{meta['n']} trained networks ({meta['spaces']}); recipe: {meta['recipe']}.", "",
             "| candidate | kind | n | Spearman ρ | Kendall τ | partial ρ given MACs | held out by | "
             "training steps |", "|---|---|---:|---:|---:|---:|---|---:|"]
    def key(e: Evidence) -> tuple:
        partial = -9.0 if math.isnan(e.partial_spearman) else e.partial_spearman
        return e.kind == "ceiling", e.kind == "baseline", -partial

    order = sorted(evidence, key=key)
    for e in order:
        mark = " **(default)**" if chosen is not None and e.proxy == chosen.proxy else ""
        steps = "" if e.steps is None else f"{e.steps:.2f}"
        lines.append(f"| {e.proxy}{mark} | {e.kind} | {e.n} | {_fmt(e.spearman)} | {_fmt(e.kendall)} | "
                     f"{_fmt(e.partial_spearman)} | {e.held_out} | {steps} |")
    rule = (f"Rule: best partial ρ given MACs among candidates with Spearman ρ ≥ MACs' "
            f"({_fmt(meta['macs_spearman'])})" + (f" and ≤ {meta['max_steps']} training steps"
                                                  if meta["max_steps"] is not None else "") + ": ")
    lines += ["", rule + (f"**{chosen.proxy}**." if chosen else "no candidate qualifies.")]
    if within:
        spaces = list(within)
        sizes = ", ".join(f"{s} {max(e.n for e in within[s] if e.kind != 'ceiling')}" for s in spaces)
        lines += ["", "Within each space: the same held-out values (a predictor's out-of-fold predictions), "
                  f"held to the rows of one space only (n: {sizes}).", "",
                  "| candidate | " + " | ".join(f"{s} ρ | {s} partial ρ" for s in spaces) + " |",
                  "|---|" + "---:|---:|" * len(spaces)]
        cells = {s: {e.proxy: e for e in within[s]} for s in spaces}
        for e in order:
            mark = " **(default)**" if chosen is not None and e.proxy == chosen.proxy else ""
            row = [f"{_fmt(cells[s][e.proxy].spearman)} | {_fmt(cells[s][e.proxy].partial_spearman)}"
                   if e.proxy in cells[s] else " | " for s in spaces]
            lines.append(f"| {e.proxy}{mark} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", required=True, help="calibrate folders of one recipe")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--feature-sets", nargs="+",
                        default=["grad_norm", "grad_norm,snip", "naswot,meco", "naswot", "meco", "none"],
                        help="zero-cost scores among the predictor's features, comma-separated "
                             "('none': costs and encoding only)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--proxies-json", type=Path, default=Path("benchmarks/results/proxies.json"))
    parser.add_argument("--max-steps", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/evidence"))
    args = parser.parse_args(argv)
    try:
        settings, gathered = gather_rows(args.rows)
        rows = [row for _, row in gathered]
        if len(rows) < 4:
            raise UserError(f"--rows: {len(rows)} trained networks; allowed: at least 4")
        proxies = [p for p in ZERO_COST + TOPOLOGY + BASELINES if all(p in r["scores"] for r in rows)]
        steps = proxy_steps(args.proxies_json)
        if steps:  # a search counts params and MACs in closed form anyway: free beside a zero-cost score
            steps.update(params=0.0, macs=0.0)
        combos = [[p, "macs"] for p in ZERO_COST + TOPOLOGY if p in proxies and "macs" in proxies]
        ensemble = [m for m in DEFAULT_MEMBERS if m in proxies]

        def unfitted(some: list[dict]) -> list[Evidence]:
            found = agreements_of_rows(some, proxies, ensemble=ensemble, combinations=combos, steps=steps)
            for members in combos:  # each pair also as a search runs it: proxy.members=[x,macs]
                found += [e for e in agreements_of_rows(some, [], ensemble=members, steps=steps)
                          if e.kind == "ensemble"]
            return found

        evidence = unfitted(rows)
        fitted: dict[str, tuple[tuple[float, ...], str, float | None]] = {}  # out-of-fold predictions
        cache: dict = {}
        for features in args.feature_sets:
            chosen_proxies = [] if features == "none" else features.split(",")
            for model in args.models:
                _, cv, _ = fit_predictor(folders=args.rows, data_options=SAMPLE, model=model,
                                         proxies=chosen_proxies, costs=COST_FEATURES, encoding=True, levels=4,
                                         input_size=224, folds=args.folds, seed=0, cache=cache,
                                         gathered=(settings, gathered), log=lambda line: None)
                name = f"predictor({model}: {'+'.join(chosen_proxies) or 'costs+encoding'})"
                cost = sum(steps.get(p, math.inf) for p in chosen_proxies) if steps else None
                evidence.append(Evidence(name, "predictor", cv.n, cv.spearman, cv.kendall,
                                         cv.partial_spearman, f"{cv.folds}-fold cross-validation", cost))
                fitted[name] = (cv.predictions, f"{cv.folds}-fold cross-validation", cost)
                print(f"{name}: rho {cv.spearman:+.3f}, partial {cv.partial_spearman:+.3f}", flush=True)
        repeats = [r for folder in args.rows for r in stored_repeats(Path(folder))]
        ceiling = noise_ceiling(repeats, {r["digest"]: r["macs"] for r in rows})
        if ceiling is not None:
            evidence.append(ceiling)
        chosen = choose_default(evidence, max_steps=args.max_steps if steps else None)
        # the same held-out values within each space: a fit on both spaces must rank inside each, too
        row_spaces = [s["space"] for s, _ in gathered]
        within: dict[str, list[Evidence]] = {}
        for space in dict.fromkeys(row_spaces) if len(set(row_spaces)) > 1 else ():
            index = [i for i, s in enumerate(row_spaces) if s == space]
            some = [rows[i] for i in index]
            within[space] = unfitted(some) + [
                evidence_of_values(name, "predictor", [values[i] for i in index], some, held_out, cost)
                for name, (values, held_out, cost) in fitted.items()]
            digests = {r["digest"] for r in some}
            ceiling = noise_ceiling([r for r in repeats if r["digest"] in digests],
                                    {r["digest"]: r["macs"] for r in some})
            if ceiling is not None:
                within[space].append(ceiling)
    except (UserError, ValueError) as exc:
        print(f"evidence: error: {exc}", file=sys.stderr)
        return 2
    spaces: dict[str, int] = {}
    for s, _ in gathered:
        spaces[s["space"]] = spaces.get(s["space"], 0) + 1
    macs = next(e for e in evidence if e.proxy == "macs")
    meta = {"n": len(rows), "spaces": ", ".join(f"{k} {v}" for k, v in spaces.items()),
            "recipe": recipe_text(settings),
            "macs_spearman": macs.spearman, "max_steps": args.max_steps if steps else None,
            "rows": [str(f) for f in args.rows]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "evidence.json").write_text(json.dumps(
        {"meta": meta, "evidence": [e._asdict() for e in evidence],
         "default": chosen.proxy if chosen else None,
         "within": {space: [e._asdict() for e in found] for space, found in within.items()}},
        indent=1) + "\n")
    markdown = to_markdown(evidence, chosen, meta, within)
    (args.out / "evidence.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
