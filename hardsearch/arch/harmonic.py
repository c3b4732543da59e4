"""The harmonic dense block's rules as pure functions of integers.

Shared by the model builder (:mod:`hardsearch.arch.model`) and the cost model
(:mod:`hardsearch.arch.costs`) so that the two can never disagree. Layers of a block are
numbered ``1..depth``; layer 0 is the block's input. With link base ``b`` (the paper
uses ``b = 2``) layer ``k`` reads every layer ``k - b**n`` with ``b**n`` dividing ``k``,
nearest first, and is ``growth * multiplier**n`` channels wide for the largest such ``n``,
rounded to an even integer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

__all__ = [
    "BlockPlan",
    "link_power",
    "links",
    "layer_width",
    "output_layers",
    "plan_block",
    "long_range_density",
    "nn_mass",
]


def _check_layer(k: int, base: int) -> None:
    if k < 1:
        raise ValueError(f"layer index must be >= 1, got {k}")
    if base < 2:
        raise ValueError(f"link base must be an integer >= 2, got {base}")


def link_power(k: int, base: int) -> int:
    """Largest ``n`` such that ``base**n`` divides ``k`` (0 when ``base`` does not divide ``k``)."""
    _check_layer(k, base)
    n = 0
    while k % base == 0:
        k //= base
        n += 1
    return n


@lru_cache(maxsize=4096)
def links(k: int, base: int = 2) -> tuple[int, ...]:
    """Layers read by layer ``k``, nearest first: ``k - base**n`` for every ``base**n`` dividing ``k``."""
    _check_layer(k, base)
    return tuple(k - base**n for n in range(link_power(k, base) + 1))


def layer_width(k: int, growth: int, multiplier: float, base: int = 2) -> int:
    """Output channels of layer ``k``: ``growth * multiplier**n`` rounded to an even integer.

    The multiplication is repeated ``n`` times, as the published HarDNet code does, because
    ``growth * m * m * m`` and ``growth * m**3`` can round to different integers.
    """
    width = growth
    for _ in range(link_power(k, base)):
        width *= multiplier
    return int(int(width + 1) / 2) * 2


@lru_cache(maxsize=4096)
def output_layers(depth: int, base: int = 2, keep_base: bool = False) -> tuple[int, ...]:
    """Layers concatenated (ascending) into the block's output.

    Every layer whose index ``base`` does not divide, plus the last layer, plus layer 0 with
    ``keep_base``.
    """
    if depth < 1:
        raise ValueError(f"block depth must be >= 1, got {depth}")
    kept = [k for k in range(1, depth + 1) if k % base != 0 or k == depth]
    return (0, *kept) if keep_base else tuple(kept)


@dataclass(frozen=True)
class BlockPlan:
    """Everything the builder and the cost model need to know about one block.

    Tuples are indexed by layer (index 0 is the block's input).
    """

    depth: int
    base: int
    widths: tuple[int, ...]  # output channels of layers 0..depth
    links: tuple[tuple[int, ...], ...]  # links[k] for k in 0..depth (links[0] == ())
    in_widths: tuple[int, ...]  # input channels of layers 0..depth (0 for layer 0)
    outputs: tuple[int, ...]  # layers concatenated into the block output
    last_reader: tuple[int, ...]  # last layer reading layer j (0 when nothing reads it)
    released_at: tuple[tuple[int, ...], ...]  # layers (>= 1) freed once layer k has its input

    @property
    def out_channels(self) -> int:
        return sum(self.widths[j] for j in self.outputs)


@lru_cache(maxsize=4096)
def plan_block(
    in_channels: int,
    growth: int,
    multiplier: float,
    depth: int,
    base: int = 2,
    keep_base: bool = False,
) -> BlockPlan:
    """Plan a harmonic dense block: widths, links, kept outputs and tensor lifetimes."""
    if in_channels < 1 or growth < 1:
        raise ValueError(f"in_channels and growth must be >= 1, got {in_channels}, {growth}")
    outputs = output_layers(depth, base, keep_base)
    widths = [in_channels] + [layer_width(k, growth, multiplier, base) for k in range(1, depth + 1)]
    all_links: list[tuple[int, ...]] = [()]
    in_widths = [0]
    last_reader = [0] * (depth + 1)
    for k in range(1, depth + 1):
        lk = links(k, base)
        all_links.append(lk)
        in_widths.append(sum(widths[j] for j in lk))
        for j in lk:
            last_reader[j] = k
    kept = set(outputs)
    released: list[list[int]] = [[] for _ in range(depth + 1)]
    for j in range(1, depth + 1):
        if j not in kept and last_reader[j]:
            released[last_reader[j]].append(j)
    return BlockPlan(
        depth=depth,
        base=base,
        widths=tuple(widths),
        links=tuple(all_links),
        in_widths=tuple(in_widths),
        outputs=outputs,
        last_reader=tuple(last_reader),
        released_at=tuple(tuple(r) for r in released),
    )


def long_range_density(plan: BlockPlan) -> float:
    """The share of possible long-range input channels a block's layers read (NN-Mass's ρ).

    A link is long-range when it skips at least one layer: layer ``k`` could read every earlier
    layer ``0..k-2`` (as in a DenseNet block, density 1) and reads those in ``links(k)``. Counted
    in channels, as Bhardwaj et al. count concatenated skip connections.
    """
    actual = possible = 0
    for k in range(2, plan.depth + 1):
        possible += sum(plan.widths[j] for j in range(k - 1))
        actual += sum(plan.widths[j] for j in plan.links[k] if j < k - 1)
    return actual / possible if possible else 0.0


def nn_mass(plans: Sequence[BlockPlan]) -> float:
    """NN-Mass of a network of concatenation blocks: Σ over blocks of ρ · w · d.

    Bhardwaj, Li and Marculescu, "How does topology influence gradient propagation and model
    performance of deep networks with DenseNet-type skip connections?", CVPR 2021: ρ the block's
    long-range link density (:func:`long_range_density`), w its width and d its depth. A harmonic
    block's layers differ in width, so w is their mean width (layers ``1..depth``).
    """
    total = 0.0
    for plan in plans:
        width = sum(plan.widths[1:]) / plan.depth
        total += long_range_density(plan) * width * plan.depth
    return total
