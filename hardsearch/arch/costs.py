"""Closed-form costs of a harmonic network: params, MACs, CIO, peak activations, concat, convs, weights.

Nothing is built and nothing runs: every figure is arithmetic on the architecture config and
the input size, using the same block plan as the model builder. Conventions (REFERENCE.md §3, §5):

* **MACs** — multiply-accumulates of convolutions and the classifier; one fused multiply-add = 1.
* **CIO** — Σ over every convolution of ``c_in·h_in·w_in + c_out·h_out·w_out`` elements at
  batch 1; a concatenated input counts in full. Pooling, concatenation and the classifier are
  not part of CIO.
* **MoC** — MACs / CIO of a layer (low MoC = memory-bound).
* **peak_activations** — the most activation elements alive at once in an inference forward of
  :func:`hardsearch.arch.model.build_model` at batch 1, at operator granularity with batch norm folded
  into its convolution (as inference engines do). The input image counts as alive throughout;
  while an operator runs, its input, its output and every tensor still waiting for a reader are
  alive. Weights are not activations.
* **concat** — elements read and written by every concatenation of the forward at batch 1: for
  each ``torch.cat``, its inputs' elements plus its output's (= 2 × output elements). A layer
  whose links have more than one source concatenates them, and so does a block output of more
  than one layer; nothing else concatenates. Stem and head have none.
* **convs** — convolutions executed (depthwise and pointwise each count; one kernel launch
  each). The classifier is not counted.
* **weights** — weight elements read: Σ over every convolution of ``c_out·c_in/groups·k·k``
  (no bias), plus the classifier's weight and bias. Batch-norm parameters fold into their
  convolution at inference and are not counted, so ``weights == params − Σ 2·c_out`` over
  convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from hardsearch.arch.config import ArchConfig
from hardsearch.arch.harmonic import plan_block
from hardsearch.core.errors import UserError

__all__ = ["LayerCost", "StageCost", "CostReport", "CostTotals", "count_costs", "cost_totals",
           "normalize_input_size", "layer_weights", "weights_beyond", "layer_cio", "cio_beyond",
           "latency_costs"]

Shape = tuple[int, int, int]


class LayerCost(NamedTuple):
    """One convolution or the classifier."""

    name: str  # e.g. "stage2_block.layer5.pointwise"
    stage: str  # "stem", "stage1", …, "head"
    kind: str  # conv3x3, conv1x1, dwconv3x3 or linear
    in_shape: Shape  # (channels, height, width)
    out_shape: Shape
    params: int  # weights plus batch-norm affine parameters (or the classifier's bias)
    macs: int
    cio: int  # 0 for the classifier, which CIO leaves out
    weights: int  # kernel elements (no batch norm); the classifier's weight plus bias

    @property
    def moc(self) -> float | None:
        return self.macs / self.cio if self.cio else None


class StageCost(NamedTuple):
    name: str
    params: int
    macs: int
    cio: int
    peak_activations: int
    out_shape: Shape
    concat: int  # elements read and written by the stage's concatenations
    convs: int  # convolutions executed
    weights: int  # weight elements read

    @property
    def moc(self) -> float | None:
        return self.macs / self.cio if self.cio else None


@dataclass(frozen=True)
class CostReport:
    arch: str
    input_size: tuple[int, int]
    params: int
    macs: int
    cio: int
    peak_activations: int
    concat: int
    convs: int
    weights: int
    stages: tuple[StageCost, ...]
    layers: tuple[LayerCost, ...]

    @property
    def moc(self) -> float:
        return self.macs / self.cio

    def to_dict(self, *, layers: bool = True) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        out: dict[str, Any] = {
            "arch": self.arch,
            "input_size": list(self.input_size),
            "params": self.params,
            "macs": self.macs,
            "cio": self.cio,
            "moc": self.moc,
            "peak_activations": self.peak_activations,
            "concat": self.concat,
            "convs": self.convs,
            "weights": self.weights,
            "stages": [{**s._asdict(), "out_shape": list(s.out_shape), "moc": s.moc}
                       for s in self.stages],
        }
        if layers:
            out["layers"] = [{**r._asdict(), "in_shape": list(r.in_shape),
                              "out_shape": list(r.out_shape), "moc": r.moc} for r in self.layers]
        return out


def normalize_input_size(size: Any) -> tuple[int, int]:
    """``224`` or ``[H, W]`` → ``(H, W)``; raises :class:`UserError` otherwise."""
    if isinstance(size, bool):
        raise UserError(f"input_size: got {size!r}; allowed: an integer >= 1 or [height, width]")
    if isinstance(size, int):
        size = (size, size)
    try:
        h, w = size
    except (TypeError, ValueError):
        raise UserError(
            f"input_size: got {size!r}; allowed: an integer >= 1 or [height, width]") from None
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in (h, w)):
        raise UserError(f"input_size: got {size!r}; allowed: integers >= 1")
    return int(h), int(w)


def _halve(size: int) -> int:
    """Output size of a 3x3 window, stride 2, padding 1 (stem conv and pool, DS downsampling)."""
    return (size - 1) // 2 + 1


class _Counter:
    """Accumulates rows, stage totals and the live-activation peak while walking the network."""

    __slots__ = ("rows", "stages", "stage_start", "stage_peak", "stage_concat")

    def __init__(self) -> None:
        self.rows: list[LayerCost] = []
        self.stages: list[StageCost] = []
        self.stage_start = 0
        self.stage_peak = 0
        self.stage_concat = 0

    def conv(self, name: str, stage: str, cin: int, cout: int, kernel: int, h: int, w: int,
             ho: int, wo: int, groups: int = 1) -> None:
        weights = cout * (cin // groups) * kernel * kernel
        out = cout * ho * wo
        kind = f"dwconv{kernel}x{kernel}" if groups > 1 else f"conv{kernel}x{kernel}"
        self.rows.append(LayerCost(name, stage, kind, (cin, h, w), (cout, ho, wo),
                                   weights + 2 * cout, weights * ho * wo, cin * h * w + out, weights))

    def concat(self, out_elements: int) -> None:
        """Record one concatenation whose output has ``out_elements``: it reads as many."""
        self.stage_concat += 2 * out_elements

    def alive(self, elements: int) -> None:
        """Record that ``elements`` activation elements are alive at one moment."""
        if elements > self.stage_peak:
            self.stage_peak = elements

    def close_stage(self, name: str, out_shape: Shape) -> None:
        chunk = self.rows[self.stage_start:]
        self.stages.append(StageCost(name, sum(r.params for r in chunk), sum(r.macs for r in chunk),
                                     sum(r.cio for r in chunk), self.stage_peak, out_shape,
                                     self.stage_concat, sum(r.kind != "linear" for r in chunk),
                                     sum(r.weights for r in chunk)))
        self.stage_start = len(self.rows)
        self.stage_peak = 0
        self.stage_concat = 0


def _stage(c: _Counter, sname: str, channels: int, growth: int, depth: int, out_channels: int,
           downsample: bool, multiplier: float, link_base: int, keep_base: bool, ds: bool, h: int, w: int,
           image: int, check: Any) -> tuple[int, int]:
    """Count one stage (harmonic block, transition, downsampling) into ``c``; the size after it."""
    plan = plan_block(channels, growth, multiplier, depth, link_base, keep_base)
    hw = h * w
    held = image + channels * hw  # the caller holds the block input until the block returns
    stored = 0  # layer outputs (>= 1) the block still holds
    sizes = [wk * hw for wk in plan.widths]
    for k in range(1, plan.depth + 1):
        sources = plan.links[k]
        released = plan.released_at[k]
        cin = plan.in_widths[k]
        cout = plan.widths[k]
        lname = f"{sname}_block.layer{k}"
        if len(sources) > 1:
            extra = cin * hw  # the concatenation buffer, alive until the layer's first conv ends
            c.concat(extra)
            c.alive(held + stored + extra)
        else:  # the input is a stored tensor, extra only once the block has dropped it
            extra = sizes[sources[0]] if released else 0
        for j in released:
            stored -= sizes[j]
        out = sizes[k]
        if ds:
            c.conv(f"{lname}.pointwise", sname, cin, cout, 1, h, w, h, w)
            c.alive(held + stored + extra + out)
            c.conv(f"{lname}.depthwise", sname, cout, cout, 3, h, w, h, w, groups=cout)
            c.alive(held + stored + 2 * out)
        else:
            c.conv(lname, sname, cin, cout, 3, h, w, h, w)
            c.alive(held + stored + extra + out)
        stored += out
    block_out = plan.out_channels * hw
    if len(plan.outputs) > 1:
        c.concat(block_out)
        c.alive(held + stored + block_out)
    cout = out_channels
    c.conv(f"{sname}_transition", sname, plan.out_channels, cout, 1, h, w, h, w)
    c.alive(image + block_out + cout * hw)
    if downsample:
        if ds:
            ho, wo = _halve(h), _halve(w)
            check(ho, wo, f"{sname}_down")
            c.conv(f"{sname}_down", sname, cout, cout, 3, h, w, ho, wo, groups=cout)
        else:
            ho, wo = h // 2, w // 2
            check(ho, wo, f"{sname}_down")
        c.alive(image + cout * (hw + ho * wo))
        h, w = ho, wo
    c.close_stage(sname, (cout, h, w))
    return h, w


class CostTotals(NamedTuple):
    """The network totals of :func:`count_costs`, without its rows."""

    params: int
    macs: int
    cio: int
    peak_activations: int
    concat: int
    convs: int
    weights: int


def _vanished(h: int, w: int, where: str) -> None:
    if h < 1 or w < 1:
        raise UserError(f"input_size: the feature map vanishes at {where}")


class _Part(NamedTuple):
    """A stage's (or the stem's) totals and the size after it."""

    totals: CostTotals
    h: int
    w: int


class _Layers(NamedTuple):
    """A stage's (or the stem's) convolutions' CIO and weights, in order."""

    cio: tuple[int, ...]
    weights: tuple[int, ...]


@lru_cache(maxsize=4096)
def _stage_layers(*key: Any) -> tuple[_Part, _Layers]:
    """One stage counted once (``key``: :func:`_stage_totals`'s arguments): its totals, the size after
    it, and its layers. Layer lists take room, so only the latest few thousand stages keep them;
    :func:`_stage_totals` keeps the totals of many more."""
    channels, growth, depth, out_channels, downsample, multiplier, link_base, keep_base, ds, h, w, image = key
    c = _Counter()
    h, w = _stage(c, "stage", channels, growth, depth, out_channels, downsample, multiplier, link_base,
                  keep_base, ds, h, w, image, _vanished)
    return _Part(_totals(c.stages[0]), h, w), _Layers(tuple(r.cio for r in c.rows),
                                                      tuple(r.weights for r in c.rows))


@lru_cache(maxsize=65536)
def _stage_totals(channels: int, growth: int, depth: int, out_channels: int, downsample: bool,
                  multiplier: float, link_base: int, keep_base: bool, ds: bool, h: int, w: int,
                  image: int) -> _Part:
    """One stage's totals and the size after it (memoised; counted by :func:`_stage_layers`)."""
    return _stage_layers(channels, growth, depth, out_channels, downsample, multiplier, link_base, keep_base,
                         ds, h, w, image)[0]


def _totals(s: StageCost) -> CostTotals:
    return CostTotals(s.params, s.macs, s.cio, s.peak_activations, s.concat, s.convs, s.weights)


def _parts(arch: ArchConfig, input_size: int | tuple[int, int], *,
           layers: bool = False) -> tuple[list[_Part], CostTotals, list[_Layers]]:
    """The stem and every stage, each counted once per distinct stage and size (memoised), the head,
    and with ``layers`` every part's layers.

    Raises the same :class:`UserError` as :func:`count_costs` for an input too small.
    """
    height, width = normalize_input_size(input_size)
    image = 3 * height * width
    channels = arch.stem[1]
    try:
        stem = _stem_layers(arch.stem[0], arch.stem[1], arch.depthwise, (height, width))
        parts, rows = [stem[0]], [stem[1]]
        for stage in arch.stages:
            key = (channels, stage.growth, stage.depth, stage.out_channels, stage.downsample, arch.multiplier,
                   arch.link_base, arch.keep_base, arch.depthwise, parts[-1].h, parts[-1].w, image)
            parts.append(_stage_totals(*key))
            if layers:
                rows.append(_stage_layers(*key)[1])
            channels = stage.out_channels
    except UserError:
        count_costs(arch, input_size)  # raises the error that names the stage
        raise
    return parts, _head_totals(channels, arch.num_classes, parts[-1].h, parts[-1].w, image), rows


def cost_totals(arch: ArchConfig, input_size: int | tuple[int, int] = 224) -> CostTotals:
    """The same totals as :func:`count_costs`, with each stage's counted once per distinct stage
    (memoised): a search scoring many candidates that share stages pays for each stage once.

    Raises the same :class:`UserError` as :func:`count_costs` for an input too small.
    """
    parts, head, _ = _parts(arch, input_size)
    total = parts[0].totals
    for part in parts[1:]:
        total = _add(total, part.totals)
    return _add(total, head)


def _ignore(h: int, w: int, where: str) -> None:
    """A size check that checks nothing: weights do not depend on the input size."""


@lru_cache(maxsize=65536)
def _stage_weights(channels: int, growth: int, depth: int, out_channels: int, downsample: bool,
                   multiplier: float, link_base: int, keep_base: bool, ds: bool) -> tuple[int, ...]:
    c = _Counter()
    _stage(c, "stage", channels, growth, depth, out_channels, downsample, multiplier, link_base, keep_base,
           ds, 64, 64, 0, _ignore)
    return tuple(r.weights for r in c.rows)


def layer_weights(arch: ArchConfig) -> tuple[int, ...]:
    """Weight elements of every convolution and of the classifier, in execution order (the ``weights``
    of :func:`count_costs`'s rows), memoised per stage: they do not depend on the input size."""
    c0, c1 = arch.stem
    c = _Counter()
    _stem(c, c0, c1, arch.depthwise, 64, 64, 0, _ignore)
    out = [r.weights for r in c.rows]
    channels = c1
    for stage in arch.stages:
        out += _stage_weights(channels, stage.growth, stage.depth, stage.out_channels, stage.downsample,
                              arch.multiplier, arch.link_base, arch.keep_base, arch.depthwise)
        channels = stage.out_channels
    out.append(channels * arch.num_classes + arch.num_classes)
    return tuple(out)


def weights_beyond(arch: ArchConfig, cache_elements: int) -> int:
    """Σ over every convolution and the classifier of ``max(0, weights − cache_elements)``: the weight
    elements a layer reads beyond what a cache of ``cache_elements`` holds. At batch 1 a layer whose
    weights do not fit in the last-level cache streams them from memory, and on a small feature map
    that, not its MACs, sets its time (the latency model's ``weights_beyond_cache`` term)."""
    return _beyond(layer_weights(arch), cache_elements)


def layer_cio(arch: ArchConfig, input_size: int | tuple[int, int] = 224) -> tuple[int, ...]:
    """CIO of every convolution in execution order (the ``cio`` of :func:`count_costs`'s convolution
    rows), memoised per stage and input size. Raises :class:`UserError` for an input too small."""
    _, _, rows = _parts(arch, input_size, layers=True)
    return tuple(c for part in rows for c in part.cio)


def cio_beyond(arch: ArchConfig, input_size: int | tuple[int, int], cache_elements: int) -> int:
    """Σ over every convolution of ``max(0, cio − cache_elements)``: the input and output elements a
    layer moves beyond what a cache of ``cache_elements`` holds, so they go to and from memory (the
    latency model's ``cio_beyond_cache`` term; at high resolution the early layers' feature maps
    outgrow the last-level cache)."""
    return _beyond(layer_cio(arch, input_size), cache_elements)


def _beyond(values: Any, cache_elements: int) -> int:
    """Σ max(0, value − cache_elements): what each layer moves beyond the cache."""
    return sum(v - cache_elements for v in values if v > cache_elements)


def latency_costs(arch: ArchConfig, input_size: int | tuple[int, int], cache_elements: int) -> dict[str, int]:
    """Every cost a latency model may use, from one memoised pass over the stages: the totals of
    :func:`cost_totals` plus ``weights_beyond_cache`` and ``cio_beyond_cache`` (as
    :func:`weights_beyond` and :func:`cio_beyond` count them)."""
    parts, head, rows = _parts(arch, input_size, layers=True)
    total = parts[0].totals
    for part in parts[1:]:
        total = _add(total, part.totals)
    weights = [w for part in rows for w in part.weights] + [head.weights]
    return {**_add(total, head)._asdict(),
            "weights_beyond_cache": _beyond(weights, cache_elements),
            "cio_beyond_cache": _beyond((c for part in rows for c in part.cio), cache_elements)}


def _add(a: CostTotals, b: CostTotals) -> CostTotals:
    """Totals of two consecutive parts: sums, and the larger peak."""
    return CostTotals(a.params + b.params, a.macs + b.macs, a.cio + b.cio,
                      max(a.peak_activations, b.peak_activations), a.concat + b.concat,
                      a.convs + b.convs, a.weights + b.weights)


@lru_cache(maxsize=4096)
def _stem_layers(c0: int, c1: int, ds: bool, size: tuple[int, int]) -> tuple[_Part, _Layers]:
    """The stem counted once: its totals, the size after it, its layers' CIO and weights."""
    height, width = size
    c = _Counter()
    h, w = _stem(c, c0, c1, ds, height, width, 3 * height * width, _vanished)
    return _Part(_totals(c.stages[0]), h, w), _Layers(tuple(r.cio for r in c.rows),
                                                      tuple(r.weights for r in c.rows))


def _stem(c: _Counter, c0: int, c1: int, ds: bool, height: int, width: int, image: int,
          check: Any) -> tuple[int, int]:
    """Count the stem into ``c`` (conv3x3/2, conv3x3 or 1x1 for DS, max-pool 3x3/2 or DS's depthwise
    conv3x3/2); the size after it."""
    h, w = _halve(height), _halve(width)
    c.conv("stem_conv1", "stem", 3, c0, 3, height, width, h, w)
    c.alive(image + c0 * h * w)
    c.conv("stem_conv2", "stem", c0, c1, 1 if ds else 3, h, w, h, w)
    c.alive(image + (c0 + c1) * h * w)
    ho, wo = _halve(h), _halve(w)
    check(ho, wo, "stem_down")
    if ds:
        c.conv("stem_down", "stem", c1, c1, 3, h, w, ho, wo, groups=c1)
    c.alive(image + c1 * (h * w + ho * wo))
    c.close_stage("stem", (c1, ho, wo))
    return ho, wo


@lru_cache(maxsize=4096)
def _head_totals(channels: int, classes: int, h: int, w: int, image: int) -> CostTotals:
    """The head's totals: no CIO, convolution or concatenation; its weights are its parameters."""
    peak = max(image + channels * (h * w + 1), image + channels + classes)
    params = channels * classes + classes
    return CostTotals(params, channels * classes, 0, peak, 0, 0, params)


def count_costs(arch: ArchConfig, input_size: int | tuple[int, int] = 224) -> CostReport:
    """Count parameters, MACs, CIO, peak activations, concatenation elements, convolutions and
    weights read, with per-layer and per-stage rows.

    Raises :class:`UserError` when the input is too small for the network's downsamplings.
    """
    height, width = normalize_input_size(input_size)
    ds = arch.depthwise
    image = 3 * height * width
    c = _Counter()

    def check(h: int, w: int, where: str) -> None:
        if h < 1 or w < 1:
            raise UserError(
                f"input_size: {height}x{width} is too small for {arch.name}: the feature map "
                f"vanishes at {where}; allowed: a larger input or fewer downsampling stages")

    # Stem: conv3x3/2, conv3x3 (1x1 for DS), then max-pool 3x3/2 (DS: depthwise conv3x3/2).
    c0, c1 = arch.stem
    h, w = _stem(c, c0, c1, ds, height, width, image, check)

    channels = c1
    for i, stage in enumerate(arch.stages, start=1):
        h, w = _stage(c, f"stage{i}", channels, stage.growth, stage.depth, stage.out_channels,
                      stage.downsample, arch.multiplier, arch.link_base, arch.keep_base, ds, h, w, image,
                      check)
        channels = stage.out_channels

    # Head: global pooling, flatten (a view), dropout (identity at inference), classifier.
    classes = arch.num_classes
    c.alive(image + channels * (h * w + 1))
    c.alive(image + channels + classes)
    c.rows.append(LayerCost("head_fc", "head", "linear", (channels, 1, 1), (classes, 1, 1),
                            channels * classes + classes, channels * classes, 0,
                            channels * classes + classes))
    c.close_stage("head", (classes, 1, 1))

    rows = c.rows
    return CostReport(
        arch=arch.name,
        input_size=(height, width),
        params=sum(r.params for r in rows),
        macs=sum(r.macs for r in rows),
        cio=sum(r.cio for r in rows),
        peak_activations=max(s.peak_activations for s in c.stages),
        concat=sum(s.concat for s in c.stages),
        convs=sum(s.convs for s in c.stages),
        weights=sum(r.weights for r in rows),
        stages=tuple(c.stages),
        layers=tuple(rows),
    )
