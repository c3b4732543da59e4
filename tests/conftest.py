from __future__ import annotations

import os
import tempfile

import pytest

from hardsearch.arch.seeds import SEED_NAMES, load_seed

# Published figures, REFERENCE.md §2 (1000 classes, 224x224): parameters, conv + linear MACs,
# fvcore's total, CIO over every convolution.
SEED_FIGURES = {
    "hardnet68": (17_565_348, 4_246_114_304, 4_254_509_964, 11_468_940),
    "hardnet85": (36_670_212, 9_074_081_584, 9_086_780_032, 17_469_284),
    "hardnet39ds": (3_488_228, 429_471_474, 437_440_442, 9_818_424),
    "hardnet68ds": (4_180_602, 775_281_526, 788_347_278, 17_324_440),
}


@pytest.fixture(params=SEED_NAMES)
def seed_name(request) -> str:
    return request.param


@pytest.fixture
def seed(seed_name):
    return load_seed(seed_name)


@pytest.fixture(autouse=True, scope="session")
def isolated_wandb():
    """W&B's caches and settings in a temporary folder, no account, no mode from the environment:
    tests (and the commands they start) never write to ~/.local or upload anything."""
    keys = ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR",
            "WANDB_ARTIFACT_DIR", "WANDB_DIR")
    saved = {k: os.environ.get(k) for k in keys}
    with tempfile.TemporaryDirectory(prefix="hardsearch-wandb-") as home:
        for key in keys:
            os.environ.pop(key, None)
        for key in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
            os.environ[key] = os.path.join(home, key.lower())
        yield home
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on loopback for the whole session (Debian's postgresql package;
    ./dev.sh test installs it). Missing, the tests that need it fail: they are never skipped."""
    from pgserver import PostgresServer, find_pg_bin

    if find_pg_bin() is None:
        pytest.fail("PostgreSQL is not installed: ./dev.sh test installs it (apt-get install postgresql)")
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def cifar10_folder(tmp_path_factory):
    """Real CIFAR-10 images as an image folder, made from the sample the package ships (80 train and
    20 test images per class, lossless PNG): ``train/<class>/NNNN.png`` and ``test/<class>/…``, the
    layout of the full CIFAR-10 subset. Tests use it instead of anything outside the repository."""
    import numpy as np
    from PIL import Image

    import hardsearch.accuracy.data as data_package

    root = tmp_path_factory.mktemp("cifar10-folder")
    with np.load(os.path.join(os.path.dirname(data_package.__file__), data_package.SAMPLE_FILE)) as sample:
        classes = [str(c) for c in sample["classes"]]
        for split in ("train", "test"):
            images, labels = sample[f"{split}_x"], sample[f"{split}_y"]
            for index, (image, label) in enumerate(zip(images, labels, strict=True)):
                folder = root / split / classes[int(label)]
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"{index:05d}.png")
    return root
