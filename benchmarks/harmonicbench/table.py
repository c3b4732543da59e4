"""HarmonicBench as one flat table: a CSV row per trained network, from calibrate folders.

    python benchmarks/harmonicbench/table.py --rows DIR [DIR ...] [--out harmonicbench.csv]

DIR: folders written by ``python -m hardsearch.calibrate`` (``rows.jsonl`` and ``calibration.json``) with
one training recipe. Columns: the space, name and digest; the closed-form costs at the space's input
size; top-1 accuracy after the last epoch and after each epoch; the accuracy of the repeat (another
training seed) where there is one; the training time; every zero-cost score; and the architecture
as compact JSON, which ``arch_from_dict`` builds again. Rows read in ``rows.jsonl`` order.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from hardsearch.accuracy.calibrate import stored_repeats
from hardsearch.accuracy.fit_predictor import gather_rows, recipe_text
from hardsearch.core.errors import UserError

FIXED = ["space", "name", "digest", "params", "macs", "cio", "peak_activations", "accuracy",
         "accuracy_repeat", "repeat_train_seed", "train_seconds", "train_steps"]


def table_rows(folders: list[Path]) -> tuple[str, list[dict[str, Any]]]:
    """The recipe in words and one flat dict per network (first training; its repeat beside it)."""
    settings, gathered = gather_rows(folders)
    repeats: dict[str, dict[str, Any]] = {}
    for folder in folders:
        repeats.update({r["digest"]: r for r in stored_repeats(Path(folder))})
    epochs = max((len(row.get("per_epoch") or []) for _, row in gathered), default=0)
    proxies = sorted({p for _, row in gathered for p in row.get("scores") or {}})
    out = []
    for row_settings, row in gathered:
        again = repeats.get(row["digest"], {})
        flat: dict[str, Any] = {
            "space": row_settings["space"], "name": row["name"], "digest": row["digest"],
            "params": row["params"], "macs": row["macs"], "cio": row["cio"],
            "peak_activations": row.get("peak_activations"), "accuracy": row["accuracy"],
            "accuracy_repeat": again.get("accuracy"), "repeat_train_seed": again.get("train_seed"),
            "train_seconds": round(float(row["train_seconds"]), 1) if row.get("train_seconds") else None,
            "train_steps": row.get("train_steps"),
        }
        per_epoch = row.get("per_epoch") or []
        for e in range(epochs):
            flat[f"accuracy_epoch{e + 1}"] = per_epoch[e] if e < len(per_epoch) else None
        for p in proxies:
            flat[f"score_{p}"] = (row.get("scores") or {}).get(p)
        flat["arch"] = json.dumps(row["arch"], separators=(",", ":"), sort_keys=True)
        out.append(flat)
    return recipe_text(settings) if gathered else "", out


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0]) if rows else FIXED
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/harmonicbench/harmonicbench.csv"))
    args = parser.parse_args(argv)
    try:
        recipe, rows = table_rows(args.rows)
    except UserError as exc:
        print(f"table: error: {exc}", file=sys.stderr)
        return 2
    write_csv(rows, args.out)
    spaces = sorted({r["space"] for r in rows})
    repeated = sum(r["accuracy_repeat"] is not None for r in rows)
    print(f"{len(rows)} networks ({', '.join(spaces)}), {repeated} trained twice; recipe: {recipe}; "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
