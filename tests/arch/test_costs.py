from __future__ import annotations

import math
import random

import pytest
import torch
from torch import nn

from hardsearch.arch.config import arch_from_dict
from hardsearch.arch.costs import (
    cio_beyond,
    count_costs,
    layer_cio,
    layer_weights,
    normalize_input_size,
    weights_beyond,
)
from hardsearch.arch.harmonic import plan_block
from hardsearch.arch.model import HarmonicBlock, build_model
from hardsearch.arch.seeds import load_seed
from hardsearch.arch.tracing import (
    count_params,
    measure_peak_activations,
    trace_cio,
    trace_concat,
    trace_convs,
    trace_macs,
    trace_weights,
)
from hardsearch.core.errors import UserError

from archgen import random_arch
from conftest import SEED_FIGURES

N_RANDOM = 200


def test_seed_figures_at_224_are_the_published_ones(seed, seed_name):
    params, macs, _, cio = SEED_FIGURES[seed_name]
    report = count_costs(seed, 224)
    assert (report.params, report.macs, report.cio) == (params, macs, cio)


def _conv_rows(model: nn.Module, size: tuple[int, int]) -> list[tuple]:
    rows = []

    def hook(m, inputs, output):
        x = inputs[0]
        rows.append((tuple(x.shape[1:]), tuple(output.shape[1:]),
                     m.weight.numel() * output.shape[2] * output.shape[3],
                     x.numel() + output.numel()))

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, *size))
    for h in hooks:
        h.remove()
    return rows


def assert_costs_match_traced(arch, size) -> None:
    report = count_costs(arch, size)
    model = build_model(arch)
    traced = trace_macs(model, size)
    assert report.params == count_params(model)
    assert report.macs == traced["macs"]
    assert report.cio == trace_cio(model, size)
    assert report.peak_activations == measure_peak_activations(model, size)
    assert report.concat == trace_concat(model, size)
    assert report.convs == trace_convs(model, size)
    assert report.weights == trace_weights(model, size)
    analytic_rows = [(r.in_shape, r.out_shape, r.macs, r.cio) for r in report.layers
                     if r.kind != "linear"]
    traced_rows = _conv_rows(model, size)
    assert analytic_rows == traced_rows
    per_conv_cio = [row[3] for row in traced_rows]
    assert list(layer_cio(arch, size)) == per_conv_cio  # the latency model's cio_beyond_cache reads these
    for cache in (0, 100, max(per_conv_cio) // 2, max(per_conv_cio)):
        assert cio_beyond(arch, size, cache) == sum(max(0, c - cache) for c in per_conv_cio)
    per_call = _weights_per_call(model, size)
    assert list(layer_weights(arch)) == per_call  # the latency model's weights_beyond_cache reads these
    for cache in (0, 100, max(per_call) // 2, max(per_call)):
        assert weights_beyond(arch, cache) == sum(max(0, w - cache) for w in per_call)


def _weights_per_call(model: nn.Module, size: tuple[int, int]) -> list[int]:
    """Weight elements (and the classifier's bias) of every convolution and linear call, in order."""
    calls: list[int] = []

    def hook(m, inputs, output):
        calls.append(sum(p.numel() for p in m.parameters(recurse=False)))

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, *size))
    for h in hooks:
        h.remove()
    return calls


@pytest.mark.slow
@pytest.mark.parametrize("size", [(224, 224), (97, 131)], ids=["224x224", "97x131"])
def test_seed_costs_equal_traced_counts(seed, seed_name, size):
    assert_costs_match_traced(seed, size)
    report = count_costs(seed, size)
    assert report.weights == report.params - 2 * sum(r.out_shape[0] for r in report.layers
                                                     if r.kind != "linear")
    if size == (224, 224):
        assert trace_macs(build_model(seed), size)["total"] == SEED_FIGURES[seed_name][2]


@pytest.mark.slow
def test_costs_equal_traced_counts_on_random_architectures():
    rng = random.Random(20191027)
    seen = {"bases": set(), "ds": set(), "keep_base": set(), "odd": False, "non_square": False}
    for i in range(N_RANDOM):
        arch, size = random_arch(rng, i)
        try:
            assert_costs_match_traced(arch, size)
        except AssertionError as exc:
            raise AssertionError(f"random architecture #{i} at {size}: {arch}") from exc
        seen["bases"].add(arch.link_base)
        seen["ds"].add(arch.depthwise)
        seen["keep_base"].add(arch.keep_base)
        seen["odd"] |= size[0] % 2 == 1 or size[1] % 2 == 1
        seen["non_square"] |= size[0] != size[1]
    assert seen == {"bases": {2, 3, 4}, "ds": {False, True}, "keep_base": {False, True},
                    "odd": True, "non_square": True}


def test_totals_are_the_sums_of_stages_and_layers(seed):
    report = count_costs(seed, (97, 131))
    for field in ("params", "macs", "cio", "weights"):
        assert getattr(report, field) == sum(getattr(s, field) for s in report.stages)
        assert getattr(report, field) == sum(getattr(r, field) for r in report.layers)
    for field in ("concat", "convs"):
        assert getattr(report, field) == sum(getattr(s, field) for s in report.stages)
    assert report.convs == sum(r.kind != "linear" for r in report.layers)
    assert report.stages[0].concat == report.stages[-1].concat == report.stages[-1].convs == 0
    assert report.weights == report.params - 2 * sum(r.out_shape[0] for r in report.layers
                                                     if r.kind != "linear")
    assert report.peak_activations == max(s.peak_activations for s in report.stages)
    assert [s.name for s in report.stages] == \
        ["stem", *[f"stage{i}" for i in range(1, len(seed.stages) + 1)], "head"]
    assert math.isclose(report.moc, report.macs / report.cio)
    for row in report.layers:
        assert row.moc == (row.macs / row.cio if row.cio else None)


@pytest.mark.parametrize("keep_base", [False, True])
def test_concat_convs_and_weights_of_a_small_block_by_hand(keep_base):
    """One block of depth 4, base 2, at 8x8 after the stem: layer 2 reads (1, 0), layer 4 reads
    (3, 2, 0); the block outputs layers 1, 3, 4 (and 0 with keep_base)."""
    arch = arch_from_dict({"name": "tiny", "stem": [4, 8], "multiplier": 1.7, "link_base": 2,
                           "keep_base": keep_base, "num_classes": 3,
                           "stages": [{"growth": 6, "depth": 4, "out_channels": 10, "downsample": False}]})
    size = (32, 32)  # stem: 32 -> 16 (conv3x3/2) -> 8 (max-pool)
    w0, w1, w2, w3, w4 = 8, 6, 10, 6, 18  # 6·1.7 = 10.2 -> 10; 6·1.7·1.7 = 17.34 -> 18
    plan = plan_block(8, 6, 1.7, 4, 2, keep_base)
    assert plan.widths == (w0, w1, w2, w3, w4)
    assert plan.links[1:] == ((0,), (1, 0), (2,), (3, 2, 0))
    assert plan.outputs == ((0, 1, 3, 4) if keep_base else (1, 3, 4))
    hw = 8 * 8
    out_channels = w1 + w3 + w4 + (w0 if keep_base else 0)
    # each cat reads its inputs and writes as many elements
    concat = 2 * hw * ((w1 + w0) + (w3 + w2 + w0) + out_channels)
    assert concat == (9728 if keep_base else 8704)
    weights = 9 * (w0 * w1 + (w1 + w0) * w2 + w2 * w3 + (w3 + w2 + w0) * w4) + out_channels * 10
    report = count_costs(arch, size)
    stage = report.stages[1]
    assert (stage.concat, stage.convs, stage.weights) == (concat, 5, weights)  # 4 layers + transition
    assert report.concat == concat and report.convs == 2 + 5
    assert report.weights == 3 * 9 * 4 + 9 * 4 * 8 + weights + 10 * 3 + 3  # stem convs, block, classifier
    model = build_model(arch)
    assert (trace_concat(model, size), trace_convs(model, size), trace_weights(model, size)) == \
        (report.concat, report.convs, report.weights)


def test_costs_scale_with_resolution(seed):
    small, large = count_costs(seed, 224), count_costs(seed, 448)
    assert small.params == large.params
    assert large.macs > 3.9 * small.macs and large.cio > 3.9 * small.cio


def test_input_too_small_for_the_downsamplings_is_a_user_error():
    with pytest.raises(UserError, match="input_size: 8x8 is too small for hardnet68"):
        count_costs(load_seed("hardnet68"), 8)
    count_costs(load_seed("hardnet68"), 32)  # 32 -> 16 -> 8 -> 4 -> 2 -> 1 fits


@pytest.mark.parametrize("value, expected", [(224, (224, 224)), ([97, 131], (97, 131)),
                                             ((5, 6), (5, 6))])
def test_normalize_input_size(value, expected):
    assert normalize_input_size(value) == expected


@pytest.mark.parametrize("value", [0, -3, True, [1, 2, 3], "224", [224, 0], [1.5, 2]])
def test_normalize_input_size_rejects(value):
    with pytest.raises(UserError, match="input_size"):
        normalize_input_size(value)


def test_lean_forward_lowers_the_measured_peak(monkeypatch):
    """The peak measurement is sensitive to tensor lifetimes: a block that keeps every layer
    to its end (the published code's forward) measures higher than the lean forward."""
    arch = arch_from_dict({"name": "deep", "stem": [4, 8], "multiplier": 1.7, "num_classes": 2,
                           "stages": [{"growth": 16, "depth": 16, "out_channels": 16,
                                       "downsample": False}]})
    size = (40, 40)
    lean = measure_peak_activations(build_model(arch), size)
    assert lean == count_costs(arch, size).peak_activations

    def keep_everything(self, x):
        outs = [x]
        for k, layer in enumerate(self.layers, start=1):
            srcs = [outs[j] for j in self.plan.links[k]]
            outs.append(layer(torch.cat(srcs, 1) if len(srcs) > 1 else srcs[0]))
        return torch.cat([outs[j] for j in self.plan.outputs], 1)

    monkeypatch.setattr(HarmonicBlock, "forward", keep_everything)
    assert measure_peak_activations(build_model(arch), size) > lean


@pytest.mark.parametrize("space_name", ["harmonic", "harmonic_ds"])
def test_memoised_totals_equal_the_full_count(space_name):
    """cost_totals (stages memoised, what the cost-aware sampler uses) gives count_costs's totals
    exactly, and the same one-line error for an input too small."""
    from hardsearch.arch.costs import cost_totals
    from hardsearch.arch.space import load_space

    space = load_space(space_name)
    for arch in space.sample(150, seed=11):
        for size in (224, (1024, 768), 32):
            full = count_costs(arch, size)
            assert tuple(cost_totals(arch, size)) == (full.params, full.macs, full.cio, full.peak_activations,
                                                      full.concat, full.convs, full.weights)
    for size in ((8, 2) if space_name == "harmonic" else ()):  # DS halves with padding: never vanishes
        with pytest.raises(UserError) as full:
            count_costs(space.sample(1, seed=1)[0], size)
        with pytest.raises(UserError) as memo:
            cost_totals(space.sample(1, seed=1)[0], size)
        assert str(memo.value) == str(full.value)
