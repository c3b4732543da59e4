"""Benchmark: seconds per accuracy proxy for each seed, and short training per epoch.

    python benchmarks/proxies.py [--archs hardnet68 …] [--batch 64] [--resolution 32]
                                 [--train-data DIR] [--epoch-steps N] [--out FILE]

Zero-cost proxies are timed on one batch (default 64 images at 32², 10 classes) of the
packaged CIFAR-10 sample, median of ``--reps`` runs after a warm-up; so is the default objective,
``proxy=predictor`` (the packaged predictor: its zero-cost features on a fresh build, the costs,
the model's prediction). The baseline measured in
the same run is one training step (forward, backward, SGD update) on the same batch, so every
proxy also gets a machine-independent ratio. Short training is timed for one epoch on the
CIFAR-10 subset (``../shared/data/cifar10-subset``, 10,000 training images) with the default
recipe (batch 128, augmentation, every core), plus the held-out evaluation of its 2,000 test
images. ``--epoch-steps N`` times N steps instead and scales to a full epoch (for quick runs).
Results go to ``benchmarks/results/proxies.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from hardsearch.accuracy.data import load_data
from hardsearch.accuracy.objective import ZeroCostScorer, create_proxy
from hardsearch.accuracy.proxies import PROXY_NAMES
from hardsearch.accuracy.training import TrainSettings, evaluate, train_arch
from hardsearch.arch.seeds import SEED_NAMES, load_seed
from hardsearch.core.paths import cifar10_subset

from _timing import median_seconds

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "proxies.json"


def _train_step_seconds(scorer: ZeroCostScorer, arch, reps: int) -> float:
    model = scorer.model(arch).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(scorer.inputs), scorer.targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return median_seconds(step, reps, warmup=True)


def zero_cost(archs: list[str], *, batch: int, resolution: int, reps: int) -> list[dict]:
    data = load_data("cifar10_sample", resolution=resolution)
    scorer = ZeroCostScorer(data, batch_size=batch, seed=0)
    predictor = create_proxy({"name": "predictor", "path": None}, data=data)  # the packaged one
    rows = []
    for name in archs:
        arch = load_seed(name)
        model = scorer.model(arch)
        baseline = _train_step_seconds(scorer, arch, reps)
        row = {"arch": name, "train_step_s": baseline, "proxies": {}}
        for proxy in PROXY_NAMES:
            seconds = median_seconds(lambda p=proxy, m=model: scorer.score(m, [p]), reps, warmup=True)
            row["proxies"][proxy] = {"seconds": seconds, "ratio_to_train_step": seconds / baseline}
        # the default objective as a search calls it: its features' scores on a fresh build, then the model
        seconds = median_seconds(lambda a=arch: predictor(a), reps, warmup=True)
        row["proxies"]["predictor"] = {"seconds": seconds, "ratio_to_train_step": seconds / baseline}
        rows.append(row)
        cells = "  ".join(f"{p} {v['seconds']:.3f}" for p, v in row["proxies"].items())
        print(f"{name:12s} train step {baseline:.3f} s | {cells}", flush=True)
    return rows


def short_training(archs: list[str], *, root: Path, epoch_steps: int | None) -> dict:
    data = load_data("imagefolder", root=root, resolution=32)
    settings = TrainSettings()
    steps_per_epoch = len(data.train_y) // settings.batch_size
    rows = []
    for name in archs:
        arch = load_seed(name)
        steps = epoch_steps or steps_per_epoch
        result = train_arch(arch, data, settings._replace(steps=steps))
        model = ZeroCostScorer(data).model(arch)
        start = time.perf_counter()
        evaluate(model, data)
        eval_seconds = time.perf_counter() - start
        train_seconds = result.seconds - eval_seconds  # train_arch's time includes one evaluation
        epoch_seconds = train_seconds * steps_per_epoch / steps + eval_seconds
        rows.append({"arch": name, "steps_timed": steps, "steps_per_epoch": steps_per_epoch,
                     "seconds_per_step": train_seconds / steps, "eval_seconds": eval_seconds,
                     "epoch_seconds": epoch_seconds, "accuracy_after": result.accuracy})
        print(f"{name:12s} one epoch ({steps_per_epoch} steps of {settings.batch_size}) "
              f"{epoch_seconds:7.1f} s (evaluation {eval_seconds:.1f} s), accuracy {result.accuracy:.3f}",
              flush=True)
    return {"data": data.name, "train_images": len(data.train_y), "test_images": len(data.test_y),
            "batch_size": settings.batch_size, "threads": os.cpu_count(), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="+", default=list(SEED_NAMES))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--train-data", type=Path, default=None,
                        help="ImageFolder root for the training timing (default: the CIFAR-10 subset)")
    parser.add_argument("--epoch-steps", type=int, default=None)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    root = args.train_data or cifar10_subset()
    if not args.skip_training and not Path(root).is_dir():
        sys.exit(f"benchmarks/proxies.py: training data not found at {root}; pass --train-data DIR or set "
                 "HARDSEARCH_CIFAR10_SUBSET (or --skip-training)")
    result = {
        "benchmark": "proxies",
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "processor": platform.processor() or platform.machine()},
        "zero_cost": {"batch": args.batch, "resolution": args.resolution, "classes": 10,
                      "rows": zero_cost(args.archs, batch=args.batch, resolution=args.resolution,
                                        reps=args.reps)},
        "short_training": None if args.skip_training else short_training(args.archs, root=Path(root),
                                                                          epoch_steps=args.epoch_steps),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
