"""Build the PyTorch model of a harmonic network (REFERENCE.md §1–2).

The network is one flat :class:`torch.nn.Sequential` in execution order, like the published
``HarDNet.base`` list, so the order of its tensors is the published order and each module's
input is freed as soon as the next module has its output.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from hardsearch.arch.config import ArchConfig
from hardsearch.arch.harmonic import BlockPlan, plan_block

__all__ = ["ConvUnit", "SeparableUnit", "HarmonicBlock", "HarmonicNet", "build_model"]


class ConvUnit(nn.Sequential):
    """Conv-BN(-ReLU6), no bias. ``depthwise`` makes a per-channel conv with ``out == in``."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                 *, depthwise: bool = False, activation: bool = True) -> None:
        groups = in_channels if depthwise else 1
        modules: list[tuple[str, nn.Module]] = [
            ("conv", nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2,
                               groups=groups, bias=False)),
            ("norm", nn.BatchNorm2d(out_channels)),
        ]
        if activation:
            modules.append(("act", nn.ReLU6(inplace=True)))
        super().__init__(OrderedDict(modules))


class SeparableUnit(nn.Sequential):
    """A DS layer: Conv1x1-BN-ReLU6, then depthwise Conv3x3-BN without activation."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(OrderedDict([
            ("pointwise", ConvUnit(in_channels, out_channels, 1)),
            ("depthwise", ConvUnit(out_channels, out_channels, 3, depthwise=True, activation=False)),
        ]))


class HarmonicBlock(nn.Module):
    """A harmonic dense block whose forward frees every layer output after its last reader.

    Outputs that the block concatenates at the end are kept; every other layer's tensor is
    dropped as soon as the layer reading it last has gathered its input. A DS layer's
    concatenated input is freed once its pointwise conv is done.
    """

    def __init__(self, plan: BlockPlan, *, depthwise: bool) -> None:
        super().__init__()
        self.plan = plan
        unit = SeparableUnit if depthwise else _plain_unit
        self.layers = nn.ModuleList(
            unit(plan.in_widths[k], plan.widths[k]) for k in range(1, plan.depth + 1)
        )

    @property
    def out_channels(self) -> int:
        return self.plan.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plan = self.plan
        outs: list[torch.Tensor | None] = [x] + [None] * plan.depth
        for k, layer in enumerate(self.layers, start=1):
            sources = plan.links[k]
            if len(sources) == 1:
                h = outs[sources[0]]
            else:
                h = torch.cat([outs[j] for j in sources], 1)
            for j in plan.released_at[k]:
                outs[j] = None
            for unit in (layer if isinstance(layer, SeparableUnit) else (layer,)):
                h = unit(h)  # rebinding frees the previous intermediate
            outs[k] = h
            del h
        kept = [outs[j] for j in plan.outputs]
        del outs
        return kept[0] if len(kept) == 1 else torch.cat(kept, 1)


def _plain_unit(in_channels: int, out_channels: int) -> ConvUnit:
    return ConvUnit(in_channels, out_channels, 3)


class HarmonicNet(nn.Sequential):
    """A HarDNet-style classifier; ``arch`` is the config it was built from."""

    def __init__(self, arch: ArchConfig) -> None:
        c0, c1 = arch.stem
        ds = arch.depthwise
        modules: list[tuple[str, nn.Module]] = [
            ("stem_conv1", ConvUnit(3, c0, 3, stride=2)),
            ("stem_conv2", ConvUnit(c0, c1, 1 if ds else 3)),
            ("stem_down", _downsample(c1, ds, stem=True)),
        ]
        channels = c1
        for i, stage in enumerate(arch.stages, start=1):
            plan = plan_block(channels, stage.growth, arch.multiplier, stage.depth,
                              arch.link_base, arch.keep_base)
            modules.append((f"stage{i}_block", HarmonicBlock(plan, depthwise=ds)))
            modules.append((f"stage{i}_transition", ConvUnit(plan.out_channels, stage.out_channels, 1)))
            channels = stage.out_channels
            if stage.downsample:
                modules.append((f"stage{i}_down", _downsample(channels, ds, stem=False)))
        modules += [
            ("head_pool", nn.AdaptiveAvgPool2d((1, 1))),
            ("head_flatten", nn.Flatten(1)),
            ("head_dropout", nn.Dropout(arch.dropout)),
            ("head_fc", nn.Linear(channels, arch.num_classes)),
        ]
        super().__init__(OrderedDict(modules))
        self.arch = arch


def _downsample(channels: int, depthwise: bool, *, stem: bool) -> nn.Module:
    if depthwise:
        return ConvUnit(channels, channels, 3, stride=2, depthwise=True, activation=False)
    return nn.MaxPool2d(3, 2, 1) if stem else nn.MaxPool2d(2, 2)


def build_model(arch: ArchConfig) -> HarmonicNet:
    """Build the network described by ``arch`` (weights freshly initialised by PyTorch)."""
    return HarmonicNet(arch)
