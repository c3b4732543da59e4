from __future__ import annotations

import torch

from hardsearch.arch.config import arch_from_dict, with_classes
from hardsearch.arch.model import HarmonicBlock, SeparableUnit, build_model
from hardsearch.arch.tracing import count_params

from conftest import SEED_FIGURES


def test_seed_parameter_counts_are_the_published_ones(seed, seed_name):
    assert count_params(build_model(seed)) == SEED_FIGURES[seed_name][0]


def test_seed_forward_gives_class_logits(seed):
    model = build_model(with_classes(seed, 7)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 80))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


def test_depthwise_models_use_separable_layers_and_no_max_pool():
    ds = build_model(arch_from_dict({
        "name": "ds", "stem": [4, 8], "multiplier": 1.6, "depthwise": True, "num_classes": 3,
        "stages": [{"growth": 4, "depth": 4, "out_channels": 12, "downsample": True}]}))
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in ds.modules())
    block = ds.stage1_block
    assert all(isinstance(layer, SeparableUnit) for layer in block.layers)
    # Pointwise first, depthwise second (the reverse order multiplies CIO).
    first = block.layers[0]
    assert first.pointwise.conv.kernel_size == (1, 1)
    assert first.depthwise.conv.groups == first.depthwise.conv.in_channels
    assert not any(isinstance(m, torch.nn.ReLU6) for m in first.depthwise.modules())
    assert ds.stem_conv2.conv.kernel_size == (1, 1)
    assert ds.stem_down.conv.stride == (2, 2)


def test_block_concatenates_outputs_in_ascending_order():
    arch = arch_from_dict({"name": "b", "stem": [4, 6], "multiplier": 1.7, "keep_base": True,
                           "stages": [{"growth": 2, "depth": 4, "out_channels": 8,
                                       "downsample": False}]})
    block: HarmonicBlock = build_model(arch).stage1_block.eval()
    seen = []
    for k, layer in enumerate(block.layers, start=1):
        layer.register_forward_hook(lambda m, i, o, k=k: seen.append((k, o)))
    x = torch.randn(1, 6, 5, 5)
    with torch.no_grad():
        out = block(x)
    outs = {0: x, **dict(seen)}
    expected = torch.cat([outs[j] for j in (0, 1, 3, 4)], 1)
    assert torch.equal(out, expected)
    assert out.shape[1] == block.out_channels


def test_lean_block_computes_what_a_keep_everything_block_computes(seed):
    """The released tensors change memory, not the function."""
    block = next(m for m in build_model(seed).modules() if isinstance(m, HarmonicBlock)).eval()
    plan = block.plan
    x = torch.randn(1, plan.widths[0], 6, 6)
    with torch.no_grad():
        outs = [x]
        for k, layer in enumerate(block.layers, start=1):
            srcs = [outs[j] for j in plan.links[k]]
            outs.append(layer(torch.cat(srcs, 1)))
        naive = torch.cat([outs[j] for j in plan.outputs], 1)
        assert torch.equal(block(x), naive)
