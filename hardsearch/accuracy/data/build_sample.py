"""Build the packaged CIFAR-10 sample from the shared JPEG subset.

``python -m hardsearch.accuracy.data.build_sample [--source DIR] [--train-per-class N] [--test-per-class M]
[--out PATH]`` takes the first N train and M test images of each class in sorted file order
(so rebuilding gives identical arrays) and writes them with ``np.savez_compressed``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from hardsearch.accuracy.data import CIFAR10_CLASSES, SAMPLE_FILE
from hardsearch.accuracy.data._folder import check_root, decode_images, list_images, split_folders
from hardsearch.core.cli import run_user_errors
from hardsearch.core.errors import UserError
from hardsearch.core.paths import cifar10_subset

__all__ = ["TRAIN_PER_CLASS", "TEST_PER_CLASS", "DEFAULT_OUT", "sample_arrays", "build_sample", "main"]

# About 2,850 bytes per image once compressed (JPEG-decoded pixels hardly compress), so 100 images
# per class fit the ~3 MB budget: 80 train + 20 test (2,848,525 bytes; 85 + 20 is the largest that
# stays under 3,000,000). The 80/20 split matches the imagefolder hold-out.
TRAIN_PER_CLASS = 80
TEST_PER_CLASS = 20
DEFAULT_OUT = Path(__file__).resolve().parent / SAMPLE_FILE


def _split(folder: Path, classes: tuple[str, ...], per_class: int,
           flag: str) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` images (sorted by name) of each class: NHWC uint8 and int64 labels."""
    paths: list[Path] = []
    for name in classes:
        files = list_images(folder / name) if (folder / name).is_dir() else []
        if len(files) < per_class:
            raise UserError(f"{flag}: got {per_class}, but {str(folder / name)!r} has {len(files)} images; "
                            f"allowed: at most {len(files)}")
        paths += files[:per_class]
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), per_class)
    return decode_images(paths, 32), labels


def sample_arrays(source: Path, *, train_per_class: int = TRAIN_PER_CLASS,
                  test_per_class: int = TEST_PER_CLASS) -> dict[str, np.ndarray]:
    """The sample's arrays: train_x/test_x (N, 32, 32, 3) uint8, train_y/test_y int64, classes (str)."""
    for flag, value in (("--train-per-class", train_per_class), ("--test-per-class", test_per_class)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{flag}: got {value!r}; allowed: an integer >= 1")
    if not source.exists():
        raise UserError(f"--source: {str(source)!r} does not exist; allowed: the CIFAR-10 JPEG subset "
                        "({train,test}/<class>/NNNN.jpg); set HARDSEARCH_CIFAR10_SUBSET or pass --source")
    check_root(source)
    splits = split_folders(source)
    if splits is None:
        raise UserError(f"--source: {str(source)!r} has no train/ and test/ sub-folders; allowed: the "
                        "CIFAR-10 JPEG subset ({train,test}/<class>/NNNN.jpg)")
    train_x, train_y = _split(splits[0], CIFAR10_CLASSES, train_per_class, "--train-per-class")
    test_x, test_y = _split(splits[1], CIFAR10_CLASSES, test_per_class, "--test-per-class")
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y,
            "classes": np.array(CIFAR10_CLASSES)}


def build_sample(source: Path | None = None, out: Path = DEFAULT_OUT, *,
                 train_per_class: int = TRAIN_PER_CLASS, test_per_class: int = TEST_PER_CLASS) -> Path:
    """Write the sample to ``out`` (through a temporary file) and return its path."""
    source = source if source is not None else cifar10_subset()
    arrays = sample_arrays(Path(source), train_per_class=train_per_class, test_per_class=test_per_class)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hardsearch.accuracy.data.build_sample",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=None,
                        help="the CIFAR-10 JPEG subset (default: $HARDSEARCH_CIFAR10_SUBSET or "
                             "../shared/data/cifar10-subset beside the project)")
    parser.add_argument("--train-per-class", type=int, default=TRAIN_PER_CLASS)
    parser.add_argument("--test-per-class", type=int, default=TEST_PER_CLASS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    def run() -> None:
        path = build_sample(args.source, args.out, train_per_class=args.train_per_class,
                            test_per_class=args.test_per_class)
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")

    run_user_errors("hardsearch.accuracy.data.build_sample", run)


if __name__ == "__main__":
    main()
