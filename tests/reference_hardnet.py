"""An independent test oracle written in the layout of the published HarDNet code.

It keeps every layer's output to the end of the block and concatenates as the paper's code
does; its module tree (``base.N…``) mirrors the published checkpoints' key names. hardsearch's
model must hold the same tensors in the same order and compute the same function.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvLayer(nn.Sequential):
    def __init__(self, cin, cout, kernel=3, stride=1):
        super().__init__()
        self.add_module("conv", nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False))
        self.add_module("norm", nn.BatchNorm2d(cout))
        self.add_module("relu", nn.ReLU6(True))


class DWConvLayer(nn.Sequential):
    def __init__(self, ch, stride=1):
        super().__init__()
        self.add_module("dwconv", nn.Conv2d(ch, ch, 3, stride, 1, groups=ch, bias=False))
        self.add_module("norm", nn.BatchNorm2d(ch))


class CombConvLayer(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__()
        self.add_module("layer1", ConvLayer(cin, cout, 1))
        self.add_module("layer2", DWConvLayer(cout))


def _link(layer, base_ch, growth, grmul):
    if layer == 0:
        return base_ch, 0, []
    out = growth
    link = []
    for i in range(10):
        dv = 2**i
        if layer % dv == 0:
            link.append(layer - dv)
            if i > 0:
                out *= grmul
    out = int(int(out + 1) / 2) * 2
    cin = sum(_link(i, base_ch, growth, grmul)[0] for i in link)
    return out, cin, link


class HarDBlock(nn.Module):
    def __init__(self, cin, growth, grmul, n_layers, dwconv):
        super().__init__()
        self.links = []
        layers = []
        self.out_channels = 0
        for i in range(n_layers):
            out, inch, link = _link(i + 1, cin, growth, grmul)
            self.links.append(link)
            layers.append(CombConvLayer(inch, out) if dwconv else ConvLayer(inch, out))
            if i % 2 == 0 or i == n_layers - 1:
                self.out_channels += out
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        outs = [x]
        for layer, link in zip(self.layers, self.links, strict=True):
            tin = [outs[i] for i in link]
            outs.append(layer(torch.cat(tin, 1) if len(tin) > 1 else tin[0]))
        t = len(outs)
        return torch.cat([outs[i] for i in range(t) if i == t - 1 or i % 2 == 1], 1)


class HarDNet(nn.Module):
    """``arch`` in (39, 68, 85); ``depth_wise`` for the DS models. Published hyper-parameters."""

    def __init__(self, arch=68, depth_wise=False, num_classes=1000):
        super().__init__()
        first_ch, second_kernel, grmul, drop_rate = [32, 64], 3, 1.7, 0.1
        ch_list, gr = [128, 256, 320, 640, 1024], [14, 16, 20, 40, 160]
        n_layers, down = [8, 16, 16, 16, 4], [1, 0, 1, 1, 0]
        if arch == 85:
            first_ch, drop_rate = [48, 96], 0.2
            ch_list, gr = [192, 256, 320, 480, 720, 1280], [24, 24, 28, 36, 48, 256]
            n_layers, down = [8, 16, 16, 16, 16, 4], [1, 0, 1, 0, 1, 0]
        elif arch == 39:
            first_ch, grmul = [24, 48], 1.6
            ch_list, gr = [96, 320, 640, 1024], [16, 20, 64, 160]
            n_layers, down = [4, 16, 8, 4], [1, 1, 1, 0]
        if depth_wise:
            second_kernel, drop_rate = 1, 0.05
        self.base = nn.ModuleList()
        self.base.append(ConvLayer(3, first_ch[0], 3, stride=2))
        self.base.append(ConvLayer(first_ch[0], first_ch[1], second_kernel))
        self.base.append(DWConvLayer(first_ch[1], 2) if depth_wise else nn.MaxPool2d(3, 2, 1))
        ch = first_ch[1]
        for i in range(len(n_layers)):
            blk = HarDBlock(ch, gr[i], grmul, n_layers[i], depth_wise)
            self.base.append(blk)
            if i == len(n_layers) - 1 and arch == 85:
                self.base.append(nn.Dropout(0.1))
            self.base.append(ConvLayer(blk.out_channels, ch_list[i], 1))
            ch = ch_list[i]
            if down[i]:
                self.base.append(DWConvLayer(ch, 2) if depth_wise else nn.MaxPool2d(2, 2))
        self.base.append(nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                                       nn.Dropout(drop_rate), nn.Linear(ch, num_classes)))

    def forward(self, x):
        for layer in self.base:
            x = layer(x)
        return x


#: seed name -> constructor arguments of the oracle
ORACLES = {
    "hardnet39ds": dict(arch=39, depth_wise=True),
    "hardnet68ds": dict(arch=68, depth_wise=True),
    "hardnet68": dict(arch=68),
    "hardnet85": dict(arch=85),
}
