"""The architecture of a harmonic network as data: a frozen, validated config with YAML I/O.

The YAML schema (also the format of exported Pareto members)::

    name: hardnet68
    stem: [32, 64]            # widths of the two stem convolutions (c0, c1)
    multiplier: 1.7           # m: key layers are growth * m**n wide
    link_base: 2              # b: layer k reads k - b**n
    depthwise: false          # depthwise-separable (DS) layers
    keep_base: false          # concatenate the block input into the block output
    dropout: 0.1              # before the classifier
    num_classes: 1000
    stages:                   # one harmonic block + 1x1 transition each
      - {growth: 14, depth: 8, out_channels: 128, downsample: true}
    metadata: {...}           # optional, free-form (ignored by the builder)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from hardsearch.arch.harmonic import plan_block
from hardsearch.core.errors import ArchError
from hardsearch.core.files import write_text_atomic

__all__ = [
    "ArchConfig",
    "StageConfig",
    "arch_from_dict",
    "arch_to_dict",
    "dump_arch",
    "load_arch",
    "save_arch",
    "summarize_arch",
    "with_classes",
]

_TOP_KEYS = ("name", "stem", "multiplier", "link_base", "depthwise", "keep_base", "dropout",
             "num_classes", "stages", "metadata")
_STAGE_KEYS = ("growth", "depth", "out_channels", "downsample")


@dataclass(frozen=True)
class StageConfig:
    """One stage: a harmonic block, a Conv1x1 transition, and an optional stride-2 downsampling."""

    growth: int  # k: channels of the block's odd (non-key) layers
    depth: int  # L: layers in the block
    out_channels: int  # width of the transition conv
    downsample: bool  # halve the resolution after the transition


@dataclass(frozen=True)
class ArchConfig:
    """A harmonic network (HarDNet family). Construct through :func:`arch_from_dict` to validate."""

    name: str
    stem: tuple[int, int]
    stages: tuple[StageConfig, ...]
    multiplier: float
    link_base: int = 2
    depthwise: bool = False
    keep_base: bool = False
    dropout: float = 0.1
    num_classes: int = 1000
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _fail(source: str, key: str, value: Any, allowed: str) -> ArchError:
    return ArchError(source, key, f"got {value!r}; allowed: {allowed}")


def _int(source: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(source, key, value, f"an integer >= {minimum}")
    return value


def _bool(source: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(source, key, value, "true or false")
    return value


def _number(source: str, key: str, value: Any, allowed: str, ok) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not ok(value):
        raise _fail(source, key, value, allowed)
    return float(value)


def _mapping(source: str, key: str, value: Any, known: tuple[str, ...], required: tuple[str, ...]):
    if not isinstance(value, Mapping):
        raise _fail(source, key or "<top level>", type(value).__name__,
                    "a mapping with keys " + ", ".join(known))
    for k in value:
        if k not in known:
            where = f"{key}.{k}" if key else str(k)
            raise ArchError(source, where, f"unknown key; allowed keys: {', '.join(known)}")
    for k in required:
        if k not in value:
            where = f"{key}.{k}" if key else k
            raise ArchError(source, where, "missing; required keys: " + ", ".join(required))
    return value


def arch_from_dict(data: Any, *, source: str = "<architecture>") -> ArchConfig:
    """Validate a plain mapping (e.g. parsed YAML) and return the :class:`ArchConfig`.

    Raises :class:`ArchError` naming ``source``, the key and the allowed values.
    """
    _mapping(source, "", data, _TOP_KEYS, ("name", "stem", "multiplier", "stages"))
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise _fail(source, "name", name, "a non-empty string")
    stem = data["stem"]
    if not isinstance(stem, (list, tuple)) or len(stem) != 2:
        raise _fail(source, "stem", stem, "a list of two integers >= 1 ([c0, c1])")
    stem_t = (_int(source, "stem[0]", stem[0], 1), _int(source, "stem[1]", stem[1], 1))
    multiplier = _number(source, "multiplier", data["multiplier"], "a number > 0", lambda v: v > 0)
    link_base = _int(source, "link_base", data.get("link_base", 2), 2)
    depthwise = _bool(source, "depthwise", data.get("depthwise", False))
    keep_base = _bool(source, "keep_base", data.get("keep_base", False))
    dropout = _number(source, "dropout", data.get("dropout", 0.1), "a number with 0 <= p < 1",
                      lambda v: 0 <= v < 1)
    num_classes = _int(source, "num_classes", data.get("num_classes", 1000), 1)
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise _fail(source, "metadata", metadata, "a mapping")
    raw_stages = data["stages"]
    if not isinstance(raw_stages, (list, tuple)) or not raw_stages:
        raise _fail(source, "stages", raw_stages, "a non-empty list of stages")
    stages = []
    channels = stem_t[1]
    for i, raw in enumerate(raw_stages):
        key = f"stages[{i}]"
        _mapping(source, key, raw, _STAGE_KEYS, _STAGE_KEYS)
        stage = StageConfig(
            growth=_int(source, f"{key}.growth", raw["growth"], 1),
            depth=_int(source, f"{key}.depth", raw["depth"], 1),
            out_channels=_int(source, f"{key}.out_channels", raw["out_channels"], 1),
            downsample=_bool(source, f"{key}.downsample", raw["downsample"]),
        )
        plan = plan_block(channels, stage.growth, multiplier, stage.depth, link_base, keep_base)
        narrow = [k for k in range(1, stage.depth + 1) if plan.widths[k] < 1]
        if narrow:
            raise ArchError(
                source, "multiplier",
                f"got {multiplier!r}; with {key}.growth = {stage.growth} layer {narrow[0]} rounds "
                f"to 0 channels; allowed: growth * multiplier**n >= 1 for every key layer",
            )
        stages.append(stage)
        channels = stage.out_channels
    return ArchConfig(
        name=name, stem=stem_t, stages=tuple(stages), multiplier=multiplier, link_base=link_base,
        depthwise=depthwise, keep_base=keep_base, dropout=dropout, num_classes=num_classes,
        metadata=dict(metadata),
    )


def arch_to_dict(arch: ArchConfig, *, metadata: bool = True) -> dict[str, Any]:
    """Plain, YAML-ready mapping in schema order (the inverse of :func:`arch_from_dict`)."""
    out: dict[str, Any] = {
        "name": arch.name,
        "stem": list(arch.stem),
        "multiplier": arch.multiplier,
        "link_base": arch.link_base,
        "depthwise": arch.depthwise,
        "keep_base": arch.keep_base,
        "dropout": arch.dropout,
        "num_classes": arch.num_classes,
        "stages": [
            {"growth": s.growth, "depth": s.depth, "out_channels": s.out_channels,
             "downsample": s.downsample}
            for s in arch.stages
        ],
    }
    if metadata and arch.metadata:
        out["metadata"] = dict(arch.metadata)
    return out


class _FlowStages(yaml.SafeDumper):
    """Writes each stage on one line, as the seed files are written by hand."""


def _represent_dict(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    flow = set(data) == set(_STAGE_KEYS)
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(isinstance(v, (int, float, str, bool)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_FlowStages.add_representer(dict, _represent_dict)
_FlowStages.add_representer(list, _represent_list)


def dump_arch(arch: ArchConfig) -> str:
    """The architecture as YAML text."""
    return yaml.dump(arch_to_dict(arch), Dumper=_FlowStages, sort_keys=False, width=100)


def save_arch(arch: ArchConfig, path: str | Path) -> Path:
    """Write ``arch`` as YAML to ``path`` (parents created) and return the path."""
    return write_text_atomic(Path(path), dump_arch(arch))  # a crash never leaves half a file


_FILE_HINT = "a readable UTF-8 YAML architecture file like search_spaces/archs/hardnet68.yaml"


def load_arch(path: str | Path) -> ArchConfig:
    """Read and validate an architecture YAML file."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ArchError(source, "", f"file not found; allowed: {_FILE_HINT}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.__class__.__name__ + (f": {exc.strerror}" if isinstance(exc, OSError) else "")
        raise ArchError(source, "", f"cannot be read ({reason}); allowed: {_FILE_HINT}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise ArchError(source, "", f"malformed YAML{where}: {problem}; allowed: {_FILE_HINT}") from None
    return arch_from_dict(data, source=source)


def with_classes(arch: ArchConfig, num_classes: int) -> ArchConfig:
    """The same architecture with another classifier size."""
    return replace(arch, num_classes=_int(f"<{arch.name}>", "num_classes", num_classes, 1))


def summarize_arch(arch: Mapping[str, Any] | None) -> str:
    """A one-line summary of an architecture dict (as stored in a trial), e.g.
    ``m=1.7 b=2 stem=32,64 | 8x14>128/ 16x16>256 ...`` (depth x growth > out, ``/`` = downsample)."""
    if not arch:
        return "-"
    stages = " ".join(f"{s['depth']}x{s['growth']}>{s['out_channels']}{'/' if s['downsample'] else ''}"
                      for s in arch["stages"])
    flags = (" ds" if arch.get("depthwise") else "") + (" keep-base" if arch.get("keep_base") else "")
    stem = f"{arch['stem'][0]},{arch['stem'][1]}"
    return f"m={arch['multiplier']:g} b={arch['link_base']} stem={stem}{flags} | {stages}"
