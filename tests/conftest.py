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
