"""Image folders: class sub-folders of image files, optionally split into train/ and test/ (or val/).

Shared by the ``imagefolder`` source and by ``build_sample``, so the packaged sample holds exactly
the pixels that loading the subset folder gives.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from hardsearch.core.errors import UserError, first_line

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
TEST_SPLITS = ("test", "val")
HOLDOUT_EVERY = 5  # without split folders, every 5th image of a class (by name) is held out: 20 %

_LAYOUT = ("a folder of class sub-folders of images, or a folder with train/ and test/ (or val/) "
           "sub-folders in that layout")


def list_classes(folder: Path) -> list[str]:
    """Sorted names of the visible sub-folders of ``folder``; each is a class."""
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]
    if not names:
        raise UserError(f"data.root: {str(folder)!r} has no class sub-folders; allowed: {_LAYOUT}")
    return sorted(names)


def list_images(folder: Path) -> list[Path]:
    """Image files of one class folder, sorted by name (extension matched case-insensitively)."""
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if e.is_file() and not e.name.startswith(".")
                 and e.name.lower().endswith(IMAGE_EXTENSIONS)]
    if not names:
        raise UserError(f"data.root: class folder {str(folder)!r} has no images; allowed: files "
                        f"ending in {', '.join(IMAGE_EXTENSIONS)} (any case)")
    return [folder / name for name in sorted(names)]


def decode_image(path: Path, resolution: int) -> np.ndarray:
    """One image as RGB uint8 (resolution, resolution, 3), resized bilinearly (antialiased) if needed."""
    size = (resolution, resolution)
    try:
        with Image.open(path) as image:
            if image.size != size:
                image.draft(None, size)  # JPEG: decode at a reduced scale still >= size (much faster)
            rgb = image.convert("RGB")
            if rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(rgb)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"data.root: cannot read image {str(path)!r} ({first_line(exc)}); allowed: "
                        f"image files Pillow can read ({', '.join(IMAGE_EXTENSIONS)})") from None


def decode_images(paths: list[Path], resolution: int) -> np.ndarray:
    """Images as one uint8 array (N, resolution, resolution, 3).

    Decoded serially: for small JPEGs the work is mostly Python overhead under the GIL, and a
    thread pool measured slower (see the package README).
    """
    out = np.empty((len(paths), resolution, resolution, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = decode_image(path, resolution)
    return out


def scan_split(folder: Path) -> tuple[list[str], list[list[Path]]]:
    """Class names and each class's sorted image files in one split folder."""
    classes = list_classes(folder)
    return classes, [list_images(folder / name) for name in classes]


def split_folders(root: Path) -> tuple[Path, Path] | None:
    """(train, test) folders when ``root`` uses the split layout, None for a plain class layout."""
    train = root / "train"
    test = next((root / s for s in TEST_SPLITS if (root / s).is_dir()), None)
    if train.is_dir() and test is not None:
        return train, test
    if train.is_dir() or test is not None:
        have, missing = ("train/", "test/ or val/") if train.is_dir() else (f"{test.name}/", "train/")
        raise UserError(f"data.root: {str(root)!r} has {have} but no {missing}; allowed: {_LAYOUT}")
    return None


def check_root(root: Path) -> None:
    """Fail with one line when ``root`` is missing or not a folder."""
    if not root.exists():
        raise UserError(f"data.root: {str(root)!r} does not exist; allowed: {_LAYOUT}")
    if not root.is_dir():
        raise UserError(f"data.root: {str(root)!r} is not a directory; allowed: {_LAYOUT}")


def _labelled(files: list[list[Path]]) -> tuple[list[Path], np.ndarray]:
    flat = [p for per_class in files for p in per_class]
    labels = np.concatenate([np.full(len(f), c, dtype=np.int64) for c, f in enumerate(files)])
    return flat, labels


def load_folder(root: Path, resolution: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray]:
    """(classes, train_x NHWC, train_y, test_x NHWC, test_y) from an image folder."""
    check_root(root)
    splits = split_folders(root)
    if splits is not None:
        train_dir, test_dir = splits
        classes, train_files = scan_split(train_dir)
        test_classes, test_files = scan_split(test_dir)
        if classes != test_classes:
            only_train = sorted(set(classes) - set(test_classes)) or ["-"]
            only_test = sorted(set(test_classes) - set(classes)) or ["-"]
            raise UserError(f"data.root: class folders of {str(train_dir)!r} and {str(test_dir)!r} differ "
                            f"(only in {train_dir.name}: {', '.join(only_train)}; only in "
                            f"{test_dir.name}: {', '.join(only_test)}); allowed: the same class "
                            "sub-folders in both splits")
    else:
        classes, files = scan_split(root)
        train_files = [[p for i, p in enumerate(f) if i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1] for f in files]
        test_files = [f[HOLDOUT_EVERY - 1::HOLDOUT_EVERY] for f in files]
    train_paths, train_y = _labelled(train_files)
    test_paths, test_y = _labelled(test_files)
    return (classes, decode_images(train_paths, resolution), train_y,
            decode_images(test_paths, resolution), test_y)
