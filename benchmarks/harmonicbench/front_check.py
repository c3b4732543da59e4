"""Does the predictor hold where a search takes it? Train the members of a search's front, compare.

    python benchmarks/harmonicbench/front_check.py --archs results/harmonic/archs \
        --table benchmarks/harmonicbench/table/harmonic [--root DIR] [--out benchmarks/results/front_check]

A search with ``proxy=predictor`` goes where the predictor expects the best accuracy for the cost,
which need not be where HarmonicBench's rows lie. This trains every architecture file of
``--archs`` (a study's exported front: each file's ``metadata.objectives.proxy`` is the predicted
accuracy) with the recipe of the ``--table`` folder (its ``calibration.json``), on the data root
that recipe names or ``--root``, and reports predicted against trained: Spearman ρ, Kendall τ,
the mean absolute error in points, MACs alone beside them, and where the front's MACs lie
against the table's. Rows go to ``rows.jsonl`` under ``--out`` as each training ends; a re-run
skips the architectures already trained. Writes ``front_check.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hardsearch.accuracy.calibrate import stored_rows
from hardsearch.accuracy.data import load_data
from hardsearch.accuracy.stats import rank_correlation
from hardsearch.accuracy.training import TrainSettings, train_arch
from hardsearch.arch.config import load_arch
from hardsearch.core.errors import UserError


def recipe(table: Path, root: str | None) -> tuple[dict, list[dict], TrainSettings, str]:
    """The table's settings and rows, its training recipe and the data root to train on."""
    settings, rows = stored_rows(table, key="--table")
    source, _, stored_root = settings["data"].partition(":")
    if source != "imagefolder":
        raise UserError(f"--table: {table} was trained on {settings['data']}; allowed: an imagefolder recipe")
    return settings, rows, TrainSettings(**settings["train"]), root or stored_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=Path, required=True, help="a study's archs/ folder (exported front)")
    parser.add_argument("--table", type=Path, required=True, help="the calibrate folder of the recipe")
    parser.add_argument("--root", default=None, help="data root (default: the one the table names)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/front_check"))
    args = parser.parse_args(argv)
    try:
        settings, table_rows, train, root = recipe(args.table, args.root)
        files = sorted(args.archs.glob("*.yaml"))
        if not files:
            raise UserError(f"--archs: {args.archs}: no architecture files (*.yaml) there")
        data = load_data("imagefolder", root=root, resolution=settings["resolution"])
    except (UserError, OSError, KeyError, TypeError) as exc:
        print(f"front_check: error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "rows.jsonl"
    done = {}
    if rows_path.is_file():
        done = {r["digest"]: r for r in (json.loads(line) for line in rows_path.read_text().splitlines()
                                         if line.strip())}
    rows = []
    for i, path in enumerate(files, start=1):
        arch = load_arch(path)
        meta = arch.metadata
        digest = meta["digest"]
        if digest not in done:
            result = train_arch(arch, data, train)
            done[digest] = {"file": path.name, "trial": meta.get("trial"), "digest": digest,
                            "predicted": meta["objectives"]["proxy"], "accuracy": result.accuracy,
                            "macs": meta["costs"]["macs"], "params": meta["costs"]["params"],
                            "train_seconds": result.seconds}
            with rows_path.open("a") as f:
                f.write(json.dumps(done[digest]) + "\n")
        row = done[digest]
        rows.append(row)
        print(f"[{i}/{len(files)}] {row['file']}: predicted {100 * row['predicted']:.2f} %, trained "
              f"{100 * row['accuracy']:.2f} %", flush=True)
    predicted, trained = [r["predicted"] for r in rows], [r["accuracy"] for r in rows]
    macs = [r["macs"] for r in rows]
    ranked = len(rows) >= 3  # a rank correlation needs at least 3 networks
    rho = tau = None
    if ranked:
        agreement = rank_correlation(predicted, trained)
        rho, tau = agreement.spearman, agreement.kendall
    macs_rho = rank_correlation(macs, trained).spearman if ranked else None
    mae = 100 * sum(abs(p - t) for p, t in zip(predicted, trained, strict=True)) / len(rows)
    bias = 100 * sum(p - t for p, t in zip(predicted, trained, strict=True)) / len(rows)
    table_macs = sorted(r["macs"] for r in table_rows)
    inside = sum(table_macs[0] <= m <= table_macs[-1] for m in macs)
    summary = {"n": len(rows), "recipe_of": str(args.table), "spearman": rho,
               "kendall": tau, "mae_points": mae, "mean_error_points": bias,
               "macs_spearman": macs_rho,
               "front_macs": [min(macs), max(macs)], "table_macs": [table_macs[0], table_macs[-1]],
               "inside_table_macs": inside, "rows": rows}
    (args.out / "front_check.json").write_text(json.dumps(summary, indent=1) + "\n")
    low, high = min(macs) / 1e9, max(macs) / 1e9
    ranks = (f"Spearman {rho:+.3f}, Kendall {tau:+.3f}, " if ranked else "too few for a rank correlation, ")
    alone = f"; MACs alone Spearman {macs_rho:+.3f}" if ranked else ""
    print(f"{len(rows)} front members: predicted against trained {ranks}mean absolute error {mae:.2f} "
          f"points (mean predicted − trained {bias:+.2f}){alone}. Front MACs {low:.2f}–{high:.2f} G, "
          f"the table's {table_macs[0] / 1e9:.2f}–{table_macs[-1] / 1e9:.2f} G ({inside} of {len(rows)} "
          "inside).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
