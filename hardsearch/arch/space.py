"""Search spaces: YAML files that say which harmonic networks a search may propose.

A space fixes what it fixes and gives ranges or choices for the rest::

    name: harmonic
    input_size: [224, 224]     # costs (MACs, CIO) are counted at this input size
    num_classes: 1000          # classifier size the costs are counted with
    seeds: [hardnet68, hardnet85]
    depthwise: false
    keep_base: false
    dropout: {choices: [0.1, 0.2]}
    stem: [{low: 16, high: 64, step: 8}, {low: 32, high: 128, step: 16}]
    multiplier: {low: 1.4, high: 2.0, step: 0.1}
    link_base: {choices: [2, 3]}
    levels:                    # resolution levels, each ending with a stride-2 downsampling
      - {blocks: 1, depth: {choices: [4, 8, 16]}, growth: {low: 8, high: 32, step: 2},
         out_channels: {low: 64, high: 256, step: 16}}
      - ...

A value is a constant, ``{choices: [...]}``, or ``{low, high, step?, log?}`` (integers if
low, high and step are integers). ``blocks`` says how many harmonic blocks a level holds; each
block draws its own depth, growth and out_channels from the level's ranges. All levels but the
last end with a downsampling, so a 4-level space holds both the 5-stage HarDNet-68
(blocks 1, 2, 1, 1) and the 6-stage HarDNet-85 (1, 2, 2, 1).

A point of the space is a dict of Optuna parameters (``stem0``, ``multiplier``,
``l2_blocks``, ``l2_b1_growth``, …): a fixed-length genome (:meth:`SearchSpace.genes`) in which
every block a level may hold has its genes, whether or not the point uses that block, so every
trial draws every parameter and samplers see the whole space. :meth:`SearchSpace.suggest` draws
one through an Optuna trial, :meth:`SearchSpace.decode` turns parameters into an
:class:`ArchConfig`, and :meth:`SearchSpace.encode` turns an architecture back into the whole
genome (the genes of an unused block repeat the level's last used block); they round-trip.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import optuna
import yaml

from hardsearch.arch.config import (
    ArchConfig,
    ArchError,
    StageConfig,
    arch_from_dict,
    arch_to_dict,
    with_classes,
)
from hardsearch.arch.harmonic import plan_block
from hardsearch.arch.seeds import resolve_arch
from hardsearch.core.errors import UserError
from hardsearch.core.paths import SEARCH_SPACES_DIR

__all__ = ["Param", "Level", "SearchSpace", "SpaceError", "space_names", "load_space",
           "space_from_dict", "space_source", "seed_archs", "labelled_seeds", "arch_digest"]

SPACES_DIR = SEARCH_SPACES_DIR / "space"
_TOP_KEYS = ("name", "description", "input_size", "num_classes", "seeds", "depthwise", "keep_base",
             "dropout", "stem", "multiplier", "link_base", "levels")
_LEVEL_KEYS = ("blocks", "depth", "growth", "out_channels")
_FORMS = "a constant, {choices: [...]}, or {low: ..., high: ..., step: ..., log: ...}"


class SpaceError(UserError, ValueError):
    """A search-space file that does not describe a valid space, or a seed outside its space."""


@dataclass(frozen=True)
class Param:
    """One dimension of a space: a constant, a set of choices, or a numeric range."""

    key: str  # where it is written in the space file, e.g. "levels[1].growth"
    constant: Any = None
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    integer: bool = False

    @property
    def fixed(self) -> bool:
        return self.choices is None and self.low is None

    def describe(self) -> str:
        if self.fixed:
            return repr(self.constant)
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        step = f" step {_fmt(self.step)}" if self.step else ""
        log = " (log scale)" if self.log else ""
        return f"{_fmt(self.low)}..{_fmt(self.high)}{step}{log}"

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        if self.fixed:
            return self.constant
        if self.choices is not None:
            return trial.suggest_categorical(name, list(self.choices))
        if self.integer:
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1),
                                     log=self.log)
        value = trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)
        return round(value, 10) if self.step else value

    def contains(self, value: Any) -> bool:
        if self.fixed:
            return _same(value, self.constant)
        if self.choices is not None:
            return any(_same(value, c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and value != int(value):
            return False
        if not self.low - 1e-9 <= value <= self.high + 1e-9:
            return False
        if self.step:
            k = (value - self.low) / self.step
            return abs(k - round(k)) < 1e-6
        return True


@dataclass(frozen=True)
class Level:
    """A resolution level: how many blocks it holds and the ranges each block draws from."""

    blocks: Param
    depth: Param
    growth: Param
    out_channels: Param


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space (see the module docstring for the YAML schema)."""

    name: str
    source: str
    input_size: tuple[int, int]
    num_classes: int
    seeds: tuple[str, ...]
    depthwise: Param
    keep_base: Param
    dropout: Param
    stem: tuple[Param, Param]
    multiplier: Param
    link_base: Param
    levels: tuple[Level, ...]
    description: str = ""

    # -- points of the space -------------------------------------------------------------------
    def genes(self) -> list[tuple[str, Param]]:
        return list(self._genes)

    @functools.cached_property
    def _genes(self) -> tuple[tuple[str, Param], ...]:
        """Every free parameter of the space, in a fixed order: the genome every trial draws whole.

        A level's blocks all have genes, up to the most blocks it may hold; the genes of a block
        a point does not use are carried but ignored, so the genome has the same length for every
        point and samplers (NSGA-II/III, TPE, GP) see the whole space in every trial.
        """
        out = [(name, param) for name, param in (
            ("stem0", self.stem[0]), ("stem1", self.stem[1]), ("multiplier", self.multiplier),
            ("link_base", self.link_base), ("depthwise", self.depthwise), ("keep_base", self.keep_base),
            ("dropout", self.dropout)) if not param.fixed]
        for i, level in enumerate(self.levels, start=1):
            if not level.blocks.fixed:
                out.append((f"l{i}_blocks", level.blocks))
            for j in range(1, _most(level.blocks) + 1):
                for key, param in (("growth", level.growth), ("depth", level.depth),
                                   ("out", level.out_channels)):
                    if not param.fixed:
                        out.append((f"l{i}_b{j}_{key}", param))
        return tuple(out)

    def _assemble(self, draw: Any, *, name: str | None, check: bool = True) -> ArchConfig:
        """The architecture whose every parameter ``draw(name, param)`` gives (genome order).

        ``check=False`` (a named point a sampler made inside the space) builds the
        :class:`ArchConfig` directly; only the rule a range cannot express (no key layer rounds
        to 0 channels) is checked, by :func:`arch_from_dict` itself when it fails."""
        stem = [draw("stem0", self.stem[0]), draw("stem1", self.stem[1])]
        data: dict[str, Any] = {
            "name": "pending", "stem": stem,
            "multiplier": draw("multiplier", self.multiplier),
            "link_base": draw("link_base", self.link_base),
            "depthwise": draw("depthwise", self.depthwise),
            "keep_base": draw("keep_base", self.keep_base),
            "dropout": draw("dropout", self.dropout),
            "num_classes": self.num_classes,
        }
        stages = []
        for i, level in enumerate(self.levels, start=1):
            blocks = draw(f"l{i}_blocks", level.blocks)
            for j in range(1, _most(level.blocks) + 1):
                prefix = f"l{i}_b{j}_"
                block = {"growth": draw(prefix + "growth", level.growth),
                         "depth": draw(prefix + "depth", level.depth),
                         "out_channels": draw(prefix + "out", level.out_channels),
                         "downsample": i < len(self.levels) and j == blocks}
                if j <= blocks:  # the genes of later blocks are drawn and carried, not used
                    stages.append(block)
        data["stages"] = stages
        if not check and name and _unchecked_valid(data):
            return _unchecked(data, name)
        data["name"] = name or f"{self.name}-{arch_digest(data)}"
        try:
            return arch_from_dict(data, source=f"space {self.name}")
        except ArchError as exc:  # e.g. a multiplier that rounds a key layer to zero channels
            raise SpaceError(str(exc)) from None

    def suggest(self, trial: optuna.Trial, *, name: str | None = None) -> ArchConfig:
        """Draw an architecture through ``trial``: every gene of :meth:`genes`, every time."""
        return self._assemble(lambda key, param: param.suggest(trial, key), name=name)

    def decode(self, params: Mapping[str, Any], *, name: str | None = None, check: bool = True) -> ArchConfig:
        """The architecture of a point given as Optuna parameters.

        Genes of unused blocks may be missing (studies from before the fixed-length genome).
        ``check=False`` skips checking each value against its range, for a genome that was made
        inside the space (a sampler's candidates).
        """
        params = self.complete(params)

        def draw(key: str, param: Param) -> Any:
            if param.fixed:
                return param.constant
            value = params[key]
            if check and not param.contains(value):
                raise SpaceError(f"space {self.name}: parameter {key}: got {value!r}; allowed: "
                                 f"{param.describe()} ({self.source}: {param.key})")
            return round(value, 10) if isinstance(value, float) and param.step else value

        return self._assemble(draw, name=name, check=check)

    def complete(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with the genes of unused blocks filled in (carried from the level's last used
        block), in genome order; a :class:`SpaceError` names a missing gene that is used."""
        out: dict[str, Any] = {}
        for key, param in self._genes:
            if key in params:
                out[key] = params[key]
                continue
            carried = _carried_from(key)
            if carried is not None and carried in out and self.unused(key, params):
                out[key] = out[carried]
                continue
            raise SpaceError(f"space {self.name}: parameters {dict(params)}: missing {key!r}; allowed: "
                             f"{param.describe()} ({self.source}: {param.key})")
        return out

    @functools.cached_property
    def used_when(self) -> tuple[tuple[str, str | int | None, int], ...]:
        """Per gene in genome order: (name, what says how many blocks its level uses: the level's
        ``lN_blocks`` gene or a constant, or None for a top-level gene, its block number or 0)."""
        out = []
        for key, _ in self._genes:
            match = re.match(r"l(\d+)_b(\d+)_", key)
            if match is None:
                out.append((key, None, 0))
                continue
            level, block = int(match.group(1)), int(match.group(2))
            blocks = self.levels[level - 1].blocks
            out.append((key, blocks.constant if blocks.fixed else f"l{level}_blocks", block))
        return tuple(out)

    @functools.cached_property
    def _used_when(self) -> dict[str, tuple[str | int | None, int]]:
        return {key: (blocks, block) for key, blocks, block in self.used_when}

    def unused(self, key: str, params: Mapping[str, Any]) -> bool:
        """Whether gene ``key`` belongs to a block the point ``params`` does not use."""
        blocks, block = self._used_when.get(key, (None, 0))
        if not block:
            return False
        used = blocks if isinstance(blocks, int) else params.get(blocks)
        return isinstance(used, int) and block > used

    def encode(self, arch: ArchConfig, *, label: str | None = None) -> dict[str, Any]:
        """The Optuna parameters of ``arch`` (the whole genome); a :class:`SpaceError` if it is not in
        this space.

        The genes of blocks ``arch`` does not use repeat the level's last used block, so a seed
        is a full point of its space. The error names the architecture (``label``), the
        parameter, its value and its range.
        """
        label = label or arch.name
        params: dict[str, Any] = {}

        def put(name: str, param: Param, value: Any) -> None:
            if not param.contains(value):
                raise SpaceError(f"seed {label}: {name}: got {value!r}; allowed: {param.describe()} "
                                 f"({self.source}: {param.key})")
            if not param.fixed:
                params[name] = value

        put("stem0", self.stem[0], arch.stem[0])
        put("stem1", self.stem[1], arch.stem[1])
        put("multiplier", self.multiplier, arch.multiplier)
        put("link_base", self.link_base, arch.link_base)
        put("depthwise", self.depthwise, arch.depthwise)
        put("keep_base", self.keep_base, arch.keep_base)
        put("dropout", self.dropout, arch.dropout)
        groups: list[list] = [[]]
        for stage in arch.stages:
            groups[-1].append(stage)
            if stage.downsample:
                groups.append([])
        if not groups[-1]:
            raise SpaceError(f"seed {label}: stages[{len(arch.stages) - 1}].downsample: got True; allowed: "
                             f"False (the last level of a space has no downsampling) ({self.source}: levels)")
        if len(groups) != len(self.levels):
            layout = [len(g) for g in groups]
            raise SpaceError(f"seed {label}: levels: got {len(groups)} resolution levels (blocks per level "
                             f"{layout}); allowed: {len(self.levels)} ({self.source}: levels)")
        for i, (level, group) in enumerate(zip(self.levels, groups, strict=True), start=1):
            put(f"l{i}_blocks", level.blocks, len(group))
            for j, stage in enumerate(group, start=1):
                put(f"l{i}_b{j}_growth", level.growth, stage.growth)
                put(f"l{i}_b{j}_depth", level.depth, stage.depth)
                put(f"l{i}_b{j}_out", level.out_channels, stage.out_channels)
        return self.complete(params)

    def sample(self, n: int, *, seed: int = 0) -> list[ArchConfig]:
        """``n`` members drawn uniformly at random (Optuna's RandomSampler), reproducible by seed."""
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line for a scratch study
        try:
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        finally:
            optuna.logging.set_verbosity(verbosity)
        out: list[ArchConfig] = []
        attempts = 0
        while len(out) < n:
            attempts += 1
            if attempts > 20 * n + 100:
                raise SpaceError(f"{self.source}: could not draw {n} valid members in {attempts} tries")
            trial = study.ask()
            try:
                out.append(self.suggest(trial))
            except SpaceError:
                pass
            study.tell(trial, 0.0)
        return out


def arch_digest(data: Mapping[str, Any] | ArchConfig) -> str:
    """An 8-hex content hash of an architecture, ignoring its name and metadata."""
    if isinstance(data, ArchConfig):
        data = arch_to_dict(data, metadata=False)
    body = {k: v for k, v in data.items() if k not in ("name", "metadata")}
    text = yaml.safe_dump(body, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _unchecked_valid(data: Mapping[str, Any]) -> bool:
    """No key layer of ``data`` (a point drawn inside its space) rounds to 0 channels."""
    channels = int(data["stem"][1])
    multiplier, base, keep = float(data["multiplier"]), int(data["link_base"]), bool(data["keep_base"])
    for stage in data["stages"]:
        plan = plan_block(channels, int(stage["growth"]), multiplier, int(stage["depth"]), base, keep)
        if min(plan.widths[1:]) < 1:
            return False
        channels = int(stage["out_channels"])
    return True


def _unchecked(data: Mapping[str, Any], name: str) -> ArchConfig:
    """:func:`arch_from_dict` without its checks, for a point drawn inside its space."""
    stages = tuple(StageConfig(growth=int(s["growth"]), depth=int(s["depth"]),
                               out_channels=int(s["out_channels"]), downsample=bool(s["downsample"]))
                   for s in data["stages"])
    return ArchConfig(name=name, stem=(int(data["stem"][0]), int(data["stem"][1])), stages=stages,
                      multiplier=float(data["multiplier"]), link_base=int(data["link_base"]),
                      depthwise=bool(data["depthwise"]), keep_base=bool(data["keep_base"]),
                      dropout=float(data["dropout"]), num_classes=int(data["num_classes"]))


def _most(blocks: Param) -> int:
    """The most blocks a level may hold."""
    return int(max(_values(blocks)))


def _carried_from(key: str) -> str | None:
    """The gene an unused block's gene is carried from: the same gene of the block before."""
    match = re.fullmatch(r"l(\d+)_b(\d+)_(\w+)", key)
    if match is None or int(match.group(2)) < 2:
        return None
    return f"l{match.group(1)}_b{int(match.group(2)) - 1}_{match.group(3)}"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=0, abs_tol=1e-9)
    return a == b


def _fmt(x: float | None) -> str:
    return f"{x:g}" if x is not None else "?"


# -- parsing ------------------------------------------------------------------------------------
def _param(source: str, key: str, value: Any, kind: type | tuple[type, ...]) -> Param:
    def ok(v: Any) -> bool:
        if kind is bool or kind == (bool,):
            return isinstance(v, bool)
        return isinstance(v, kind) and not isinstance(v, bool)

    def fail(got: Any, allowed: str = _FORMS) -> SpaceError:
        return SpaceError(f"{source}: {key}: got {got!r}; allowed: {allowed}")

    if isinstance(value, Mapping):
        keys = set(value)
        if keys == {"choices"}:
            choices = value["choices"]
            if not isinstance(choices, (list, tuple)) or not choices or not all(ok(c) for c in choices):
                raise fail(dict(value), f"{{choices: [...]}} with a non-empty list of {_kind_name(kind)}")
            if len(set(map(repr, choices))) != len(choices):
                raise fail(dict(value), "choices without repeats")
            return Param(key, choices=tuple(choices))
        if {"low", "high"} <= keys <= {"low", "high", "step", "log"}:
            low, high, step, log = value["low"], value["high"], value.get("step"), value.get("log", False)
            numeric = (int,) if kind is int else (int, float)
            for k, v in (("low", low), ("high", high)) + ((("step", step),) if step is not None else ()):
                if isinstance(v, bool) or not isinstance(v, numeric) or not math.isfinite(v):
                    raise SpaceError(f"{source}: {key}.{k}: got {v!r}; allowed: a {_kind_name(kind)[:-1]}")
            if not isinstance(log, bool):
                raise SpaceError(f"{source}: {key}.log: got {log!r}; allowed: true or false")
            if low > high:
                raise SpaceError(f"{source}: {key}: got low={low} > high={high}; allowed: low <= high")
            if step is not None and step <= 0:
                raise SpaceError(f"{source}: {key}.step: got {step!r}; allowed: a number > 0")
            if log and (step not in (None, 1) or low <= 0):
                raise SpaceError(f"{source}: {key}: got log with step {step!r} and low {low!r}; "
                                 "allowed: log: true only with low > 0 and no step")
            if step is not None and abs((high - low) / step - round((high - low) / step)) > 1e-6:
                raise SpaceError(f"{source}: {key}: got high - low = {high - low:g}, not a multiple of "
                                 f"step {step:g}; allowed: high = low + n * step")
            integer = all(isinstance(v, int) for v in (low, high) + ((step,) if step is not None else ()))
            if kind is int and not integer:
                raise fail(dict(value), "integer low, high and step")
            return Param(key, low=low, high=high, step=step, log=log, integer=integer)
        raise fail(dict(value))
    if not ok(value):
        raise fail(value, f"a {_kind_name(kind)[:-1]}, {{choices: [...]}} or {{low, high, step}}"
                   if kind is not bool else "true, false or {choices: [true, false]}")
    return Param(key, constant=value)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if kind is bool:
        return "booleans"
    if kind is int:
        return "integers"
    return "numbers"


def _check_keys(source: str, where: str, data: Any, known: tuple[str, ...],
                required: tuple[str, ...]) -> None:
    """A mapping with only ``known`` keys and every ``required`` one (one-line errors)."""
    prefix = f"{where}." if where else ""
    if not isinstance(data, Mapping):
        shown = type(data).__name__ if not where else repr(data)
        raise SpaceError(f"{source}: {where or '<top level>'}: got {shown}; allowed: a mapping with keys "
                         + ", ".join(known))
    for k in data:
        if k not in known:
            raise SpaceError(f"{source}: {prefix}{k}: unknown key; allowed keys: {', '.join(known)}")
    for k in required:
        if k not in data:
            raise SpaceError(f"{source}: {prefix}{k}: missing; required keys: {', '.join(required)}")


def space_from_dict(data: Any, *, source: str = "<space>") -> SearchSpace:
    """Validate a plain mapping (a parsed space file) and return the :class:`SearchSpace`."""
    _check_keys(source, "", data, _TOP_KEYS, ("name", "stem", "multiplier", "levels"))
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise SpaceError(f"{source}: name: got {name!r}; allowed: a non-empty string")
    size = data.get("input_size", [224, 224])
    if isinstance(size, int) and not isinstance(size, bool):
        size = [size, size]
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size)):
        raise SpaceError(f"{source}: input_size: got {size!r}; allowed: an integer >= 1 or [height, width]")
    num_classes = data.get("num_classes", 1000)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise SpaceError(f"{source}: num_classes: got {num_classes!r}; allowed: an integer >= 1")
    seeds = data.get("seeds") or []
    if not isinstance(seeds, (list, tuple)) or not all(isinstance(s, str) and s for s in seeds):
        raise SpaceError(f"{source}: seeds: got {seeds!r}; allowed: a list of seed names or paths to "
                         "architecture YAML files")
    stem = data["stem"]
    if not isinstance(stem, (list, tuple)) or len(stem) != 2:
        raise SpaceError(f"{source}: stem: got {stem!r}; allowed: a list of two values [c0, c1]")
    levels_raw = data["levels"]
    if not isinstance(levels_raw, (list, tuple)) or not levels_raw:
        raise SpaceError(f"{source}: levels: got {levels_raw!r}; allowed: a non-empty list of levels "
                         f"with keys {', '.join(_LEVEL_KEYS)}")
    levels = []
    for i, raw in enumerate(levels_raw):
        key = f"levels[{i}]"
        _check_keys(source, key, raw, _LEVEL_KEYS, _LEVEL_KEYS)
        level = Level(*(_param(source, f"{key}.{k}", raw[k], int) for k in _LEVEL_KEYS))
        for k in _LEVEL_KEYS:
            _check_min(source, getattr(level, k), 1)
        levels.append(level)
    space = SearchSpace(
        name=name, source=source, input_size=(size[0], size[1]), num_classes=num_classes,
        seeds=tuple(seeds), description=str(data.get("description", "")),
        depthwise=_param(source, "depthwise", data.get("depthwise", False), bool),
        keep_base=_param(source, "keep_base", data.get("keep_base", False), bool),
        dropout=_param(source, "dropout", data.get("dropout", 0.1), (int, float)),
        stem=(_param(source, "stem[0]", stem[0], int), _param(source, "stem[1]", stem[1], int)),
        multiplier=_param(source, "multiplier", data["multiplier"], (int, float)),
        link_base=_param(source, "link_base", data.get("link_base", 2), int),
        levels=tuple(levels),
    )
    for p in space.stem:
        _check_min(source, p, 1)
    _check_min(space.source, space.link_base, 2)
    _check_range(source, space.dropout, 0.0, 1.0, "0 <= dropout < 1", upper_open=True)
    _check_range(source, space.multiplier, 0.0, math.inf, "multiplier > 0", lower_open=True)
    return space


def _values(p: Param) -> list[float]:
    if p.fixed:
        return [p.constant]
    if p.choices is not None:
        return list(p.choices)
    return [p.low, p.high]


def _check_min(source: str, p: Param, minimum: int) -> None:
    bad = [v for v in _values(p) if v < minimum]
    if bad:
        raise SpaceError(f"{source}: {p.key}: got {bad[0]!r}; allowed: integers >= {minimum}")


def _check_range(source: str, p: Param, low: float, high: float, allowed: str, *,
                 lower_open: bool = False, upper_open: bool = False) -> None:
    for v in _values(p):
        if v < low or v > high or (lower_open and v == low) or (upper_open and v == high):
            raise SpaceError(f"{source}: {p.key}: got {v!r}; allowed: {allowed}")


def space_names() -> tuple[str, ...]:
    """The spaces under ``search_spaces/space/`` (the Hydra group ``space``)."""
    return tuple(sorted(p.stem for p in SPACES_DIR.glob("*.yaml")))


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A space by name (``search_spaces/space/<name>.yaml``) or from a YAML file path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml")):
        path = Path(text)
    else:
        path = SPACES_DIR / f"{text}.yaml"
        if not path.is_file():
            raise SpaceError(f"space: unknown space {text!r}; allowed: {', '.join(space_names())}, "
                             "or a path to a space YAML file")
    hint = "allowed: a readable UTF-8 YAML search space like search_spaces/space/harmonic.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpaceError(f"{path}: file not found; {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpaceError(f"{path}: cannot be read ({exc.__class__.__name__}); {hint}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpaceError(f"{path}: malformed YAML{where}; {hint}") from None
    return space_from_dict(data, source=str(path))


def space_source(name: str) -> str:
    """The file a space of this name comes from, for error messages."""
    path = SPACES_DIR / f"{name}.yaml"
    return str(path) if path.is_file() else f"space {name}"


def labelled_seeds(space: SearchSpace, extra: Sequence[str] = ()) -> list[tuple[str, ArchConfig]]:
    """The space's seeds and ``extra`` ones (names or paths) with their labels, each with the space's
    classifier size and checked to be a point of the space."""
    out = []
    for label in list(space.seeds) + list(extra):
        arch = with_classes(resolve_arch(label), space.num_classes)
        space.encode(arch, label=label)
        out.append((label, arch))
    return out


def seed_archs(space: SearchSpace) -> list[ArchConfig]:
    """The space's seed architectures, each checked to be a point of the space."""
    return [arch for _, arch in labelled_seeds(space)]
