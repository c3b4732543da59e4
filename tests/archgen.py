"""A seeded generator of random valid architectures for exactness tests."""

from __future__ import annotations

import random

from hardsearch.arch.config import ArchConfig, arch_from_dict
from hardsearch.arch.costs import count_costs
from hardsearch.core.errors import UserError


def random_arch(rng: random.Random, index: int = 0) -> tuple[ArchConfig, tuple[int, int]]:
    """A small random valid architecture and an input size it fits (odd, non-square sizes too)."""
    while True:
        n_stages = rng.randint(1, 4)
        data = {
            "name": f"random{index}",
            "stem": [rng.randint(2, 12), rng.randint(2, 16)],
            "multiplier": round(rng.uniform(0.6, 2.4), 3),
            "link_base": rng.randint(2, 4),
            "depthwise": rng.random() < 0.5,
            "keep_base": rng.random() < 0.4,
            "dropout": round(rng.uniform(0.0, 0.5), 2),
            "num_classes": rng.randint(1, 12),
            "stages": [
                {"growth": rng.randint(1, 10), "depth": rng.randint(1, 9),
                 "out_channels": rng.randint(1, 40), "downsample": rng.random() < 0.6}
                for _ in range(n_stages)
            ],
        }
        size = (rng.randint(9, 140), rng.randint(9, 140))
        try:
            arch = arch_from_dict(data, source="<random>")
            count_costs(arch, size)
        except UserError:
            continue  # e.g. a multiplier that rounds a layer to 0 channels, or a too-small input
        return arch, size
