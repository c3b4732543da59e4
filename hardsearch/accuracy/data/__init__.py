"""Batches of real images for the accuracy proxies and the short training proxy.

Four sources (``data.source``):

- ``cifar10_sample`` (default): 800 train / 200 test real CIFAR-10 images shipped in the package
  (``cifar10_sample.npz``, see README.md here); needs no network and no files outside the package.
- ``cifar10``: the official ``cifar-10-python.tar.gz`` (or its extracted ``cifar-10-batches-py/``),
  optionally downloaded and always checked against the published md5.
- ``imagefolder``: class sub-folders of images, optionally split into ``train/`` and ``test/``.
- ``noise``: no data; :func:`proxy_batch` draws Gaussian inputs and uniform labels.

Images are uint8 NCHW tensors at the requested resolution; :func:`normalise` turns them into the
float32 inputs a network sees, with the per-channel mean/std of the train split.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from hardsearch.accuracy.data import _cifar10, _folder
from hardsearch.core.errors import UserError

__all__ = [
    "SOURCES",
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "CIFAR10_CLASSES",
    "SAMPLE_FILE",
    "ImageData",
    "load_data",
    "load_data_options",
    "normalise",
    "proxy_batch",
]

SOURCES = ("cifar10_sample", "cifar10", "imagefolder", "noise")
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR-10 page
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SAMPLE_FILE = "cifar10_sample.npz"


class ImageData(NamedTuple):
    """A labelled image set: uint8 NCHW train/test tensors at one resolution, and train statistics."""

    name: str  # e.g. "cifar10_sample", "imagefolder:/abs/root"
    classes: tuple[str, ...]
    train_x: torch.Tensor  # uint8 (N, 3, R, R)
    train_y: torch.Tensor  # int64 (N,)
    test_x: torch.Tensor  # uint8 (M, 3, R, R), held out
    test_y: torch.Tensor  # int64 (M,)
    mean: tuple[float, float, float]  # per channel, of train_x in [0, 1] units
    std: tuple[float, float, float]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def resolution(self) -> int:
        return int(self.train_x.shape[-1])

    def __repr__(self) -> str:  # the default would print every tensor
        return (f"ImageData(name={self.name!r}, classes={self.num_classes}, train={len(self.train_y)}, "
                f"test={len(self.test_y)}, resolution={self.resolution})")


def _check_int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{key}: got {value!r}; allowed: an integer >= {minimum}")
    return value


def _check_options(source: Any, root: Any, resolution: Any, download: Any, num_classes: Any) -> None:
    if source not in SOURCES:
        raise UserError(f"data.source: got {source!r}; allowed: {', '.join(SOURCES)}")
    _check_int("data.resolution", resolution, 1)
    _check_int("data.num_classes", num_classes, 1)
    if not isinstance(download, bool):
        raise UserError(f"data.download: got {download!r}; allowed: true or false")
    if root is not None and not isinstance(root, str | os.PathLike):
        raise UserError(f"data.root: got {root!r}; allowed: a path or null")
    if source in ("cifar10_sample", "noise") and root is not None:
        raise UserError(f"data.root: got {str(root)!r} with data.source={source}; allowed: null "
                        "(or data.source=cifar10 or imagefolder to read files)")
    if source == "imagefolder" and root is None:
        raise UserError("data.root: got None with data.source=imagefolder; allowed: a folder of class "
                        "sub-folders, or one with train/ and test/ (or val/) sub-folders in that layout")


def _resize(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 NCHW images resized bilinearly (antialiased when shrinking) to resolution².

    Works on uint8 channels-last tensors, torch's fast path: about 6x faster than going through
    float32, and within 1/255 of it.
    """
    if tuple(x.shape[-2:]) == (resolution, resolution):
        return x
    resized = F.interpolate(x.contiguous(memory_format=torch.channels_last), size=(resolution, resolution),
                            mode="bilinear", align_corners=False, antialias=True)
    return resized.contiguous()


def _channel_stats(x: torch.Tensor) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Exact per-channel mean and (population) std of uint8 NCHW images in [0, 1] units.

    From a 256-bin histogram per channel, so no float copy of the images is made. An empty set
    gives (0, 1); a constant channel gets std 1 so that normalising never divides by zero.
    """
    if x.shape[0] == 0:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(3):
        hist = torch.bincount(x[:, c].reshape(-1), minlength=256).double()
        n = hist.sum()
        mean = float((hist * values).sum() / n)
        var = float((hist * values * values).sum() / n) - mean * mean
        std = max(var, 0.0) ** 0.5
        means.append(mean)
        stds.append(std if std > 0 else 1.0)
    return (means[0], means[1], means[2]), (stds[0], stds[1], stds[2])


def _nhwc(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _load_sample() -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The packaged CIFAR-10 sample (NHWC in the file)."""
    with resources.as_file(resources.files(__name__) / SAMPLE_FILE) as path:
        if not path.is_file():
            raise UserError(f"data.source: cifar10_sample: {str(path)!r} is missing from the installed "
                            "package; allowed: rebuild it with "
                            "python -m hardsearch.accuracy.data.build_sample")
        with np.load(path, allow_pickle=False) as z:
            return ([str(c) for c in z["classes"]], _nhwc(z["train_x"]), torch.from_numpy(z["train_y"]),
                    _nhwc(z["test_x"]), torch.from_numpy(z["test_y"]))


def load_data(source: str = "cifar10_sample", *, root: str | os.PathLike | None = None, resolution: int = 32,
              download: bool = False, num_classes: int = 10) -> ImageData:
    """Load ``source`` at ``resolution``² (resized if stored otherwise); see the module docstring.

    ``root``: the cifar10 archive, a folder holding it or ``cifar-10-batches-py/`` (None: the cache
    ``~/.cache/hardsearch``), or the imagefolder root; must be None for cifar10_sample and noise.
    ``download``: fetch a missing cifar10 archive. ``num_classes``: the number of classes of the
    noise source (real sources take theirs from the data). Bad options raise a one-line UserError.
    """
    _check_options(source, root, resolution, download, num_classes)
    if source == "noise":
        empty = torch.empty((0, 3, resolution, resolution), dtype=torch.uint8)
        no_labels = torch.empty((0,), dtype=torch.int64)
        return ImageData("noise", tuple(f"class{i}" for i in range(num_classes)), empty, no_labels,
                         empty.clone(), no_labels.clone(), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    if source == "cifar10_sample":
        name = source
        classes, train_x, train_y, test_x, test_y = _load_sample()
    elif source == "cifar10":
        located = _cifar10.locate(root, download_missing=download, url=CIFAR10_URL, md5=CIFAR10_MD5)
        name = f"cifar10:{located}"
        classes, *arrays = _cifar10.read(located)
        train_x, train_y, test_x, test_y = (torch.from_numpy(a) for a in arrays)
    else:
        folder = Path(root).expanduser().resolve()
        name = f"imagefolder:{folder}"
        classes, tr_x, tr_y, te_x, te_y = _folder.load_folder(folder, resolution)
        train_x, test_x = _nhwc(tr_x), _nhwc(te_x)
        train_y, test_y = torch.from_numpy(tr_y), torch.from_numpy(te_y)
    train_x, test_x = _resize(train_x, resolution), _resize(test_x, resolution)
    mean, std = _channel_stats(train_x)
    return ImageData(name, tuple(classes), train_x, train_y.long(), test_x, test_y.long(), mean, std)


OPTION_KEYS = ("source", "root", "resolution", "download", "num_classes", "batch_size")


def load_data_options(options: Mapping[str, Any]) -> ImageData:
    """:func:`load_data` from the ``data`` config group (a plain mapping; missing keys take defaults).

    ``batch_size`` belongs to the group (the proxies' batch) but not to loading: it is only checked
    here, so that a bad value fails before any images are read. Unknown keys are errors.
    """
    unknown = [k for k in options if k not in OPTION_KEYS]
    if unknown:
        raise UserError(f"data.{unknown[0]}: unknown key; allowed keys: {', '.join(OPTION_KEYS)}")
    if "batch_size" in options:
        _check_int("data.batch_size", options["batch_size"], 1)
    return load_data(**{k: v for k, v in options.items() if k != "batch_size"})


def normalise(data: ImageData, x_uint8: torch.Tensor) -> torch.Tensor:
    """float32 ``(x / 255 - mean) / std`` per channel, with ``data``'s train statistics."""
    if x_uint8.dtype != torch.uint8 or x_uint8.dim() < 3 or x_uint8.shape[-3] != 3:
        raise ValueError(f"x_uint8: got {x_uint8.dtype} {tuple(x_uint8.shape)}; "
                         "allowed: uint8 (..., 3, H, W)")
    mean = torch.tensor(data.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(data.std, dtype=torch.float32).view(3, 1, 1)
    return (x_uint8.float() / 255.0 - mean) / std


def proxy_batch(data: ImageData, *, batch_size: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic batch (float32 normalised inputs, int64 targets) from the train split.

    Class-balanced: slot i takes the class at i modulo the number of classes (in an order shuffled
    by the seed, so that a remainder does not always favour the first classes) and a random image
    of it, without repeats until the class runs out. For ``noise``: N(0, 1) inputs, then uniform
    targets in [0, num_classes). Draws only from a ``torch.Generator`` seeded with ``seed``, never
    from the global RNG.
    """
    _check_int("batch_size", batch_size, 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**64:
        raise UserError(f"seed: got {seed!r}; allowed: an integer in [-2**63, 2**64)")
    gen = torch.Generator().manual_seed(seed)
    size = data.resolution
    if data.name == "noise":
        inputs = torch.randn((batch_size, 3, size, size), generator=gen)
        return inputs, torch.randint(0, data.num_classes, (batch_size,), generator=gen)
    if len(data.train_y) == 0:
        raise ValueError(f"data: {data.name} has no training images to draw a batch from")
    members = [torch.nonzero(data.train_y == c).flatten() for c in range(data.num_classes)]
    present = [c for c, m in enumerate(members) if len(m)]
    order = [present[i] for i in torch.randperm(len(present), generator=gen).tolist()]
    counts = {c: batch_size // len(order) + (k < batch_size % len(order)) for k, c in enumerate(order)}
    picks: dict[int, list[int]] = {}
    for c in order:
        need, chosen = counts[c], []
        while len(chosen) < need:  # a fresh permutation for each pass through the class
            perm = members[c][torch.randperm(len(members[c]), generator=gen)]
            chosen.extend(perm[: need - len(chosen)].tolist())
        picks[c] = chosen
    index = torch.tensor([picks[order[i % len(order)]][i // len(order)] for i in range(batch_size)])
    return normalise(data, data.train_x[index]), data.train_y[index].clone()
