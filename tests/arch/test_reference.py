"""hardsearch's seeds against an independent implementation in the published layout."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from hardsearch.arch.checkpoint import CheckpointError, load_in_order, map_state_dict
from hardsearch.arch.config import with_classes
from hardsearch.arch.model import build_model
from hardsearch.arch.seeds import load_seed

from reference_hardnet import ORACLES, HarDNet


def _conv_trace(model: nn.Module, x: torch.Tensor) -> list[tuple]:
    trace = []
    hooks = [m.register_forward_hook(
        lambda m, i, o: trace.append((tuple(i[0].shape), tuple(o.shape), tuple(m.weight.shape),
                                      m.stride, m.groups)))
        for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return trace


def _randomise_batch_norms(model: nn.Module, generator: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=generator) * 0.1)


@pytest.fixture
def pair(seed_name):
    torch.manual_seed(0)
    oracle = HarDNet(**ORACLES[seed_name])
    _randomise_batch_norms(oracle, torch.Generator().manual_seed(1))
    return oracle, build_model(load_seed(seed_name))


def test_state_dicts_hold_the_same_shapes_in_the_same_order(pair):
    oracle, model = pair
    assert [tuple(v.shape) for v in oracle.state_dict().values()] == \
        [tuple(v.shape) for v in model.state_dict().values()]


@pytest.mark.slow
def test_convolutions_run_with_the_same_shapes_in_the_same_order(pair):
    oracle, model = pair
    x = torch.randn(1, 3, 97, 131)
    assert _conv_trace(oracle, x) == _conv_trace(model, x)


@pytest.mark.slow
def test_same_weights_compute_the_same_function(pair, tmp_path):
    oracle, model = pair
    path = tmp_path / "published.pth"
    torch.save(oracle.state_dict(), path)
    load_in_order(model, path)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        expected = oracle.eval()(x)
        got = model.eval()(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert (got - expected).abs().max() < 1e-4


def test_checkpoints_without_batch_counters_still_map():
    oracle, model = HarDNet(arch=39, depth_wise=True), build_model(load_seed("hardnet39ds"))
    old = OrderedDict((k, v) for k, v in oracle.state_dict().items()
                      if not k.endswith("num_batches_tracked"))
    mapped = map_state_dict(old, model)
    assert list(mapped) == list(model.state_dict())
    model.load_state_dict(mapped)


def test_mapping_rejects_a_different_architecture():
    oracle = HarDNet(arch=68)
    with pytest.raises(CheckpointError, match="tensors, but the model has"):
        map_state_dict(oracle.state_dict(), build_model(load_seed("hardnet85")))
    with pytest.raises(CheckpointError, match=r"tensor #\d+ 'base\.\S+' has shape .* but the model's"):
        map_state_dict(oracle.state_dict(), build_model(with_classes(load_seed("hardnet68"), 10)))


def test_a_file_that_is_no_checkpoint_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pth: cannot be loaded"):
        load_in_order(build_model(load_seed("hardnet39ds")), bad)
