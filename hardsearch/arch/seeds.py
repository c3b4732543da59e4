"""The published HarDNet models as named seed architectures (``search_spaces/archs/*.yaml``)."""

from __future__ import annotations

from pathlib import Path

from hardsearch.arch.config import ArchConfig, load_arch
from hardsearch.core.errors import UserError
from hardsearch.core.paths import ARCHS_DIR

__all__ = ["SEED_NAMES", "seed_names", "load_seed", "resolve_arch"]

#: The four published ImageNet models (Chao et al., ICCV 2019).
SEED_NAMES = ("hardnet39ds", "hardnet68ds", "hardnet68", "hardnet85")


def seed_names() -> tuple[str, ...]:
    """Every architecture file name under ``search_spaces/archs`` (published seeds first)."""
    found = sorted(p.stem for p in ARCHS_DIR.glob("*.yaml"))
    return tuple(n for n in SEED_NAMES if n in found) + tuple(n for n in found if n not in SEED_NAMES)


def load_seed(name: str) -> ArchConfig:
    """Load a seed architecture by name, e.g. ``"hardnet68"``."""
    path = ARCHS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UserError(f"arch: unknown seed {name!r}; allowed: {', '.join(seed_names())}, "
                        "or a path to an architecture YAML file")
    return load_arch(path)


def resolve_arch(name_or_path: str | Path) -> ArchConfig:
    """A seed name, or a path to an architecture YAML file (anything with a / or .yaml)."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml")):
        return load_arch(text)
    return load_seed(text)
