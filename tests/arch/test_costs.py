from __future__ import annotations

import math
import random

import pytest
import torch
from torch import nn

from hardsearch.arch.config import arch_from_dict
from hardsearch.arch.costs import count_costs, normalize_input_size
from hardsearch.arch.model import HarmonicBlock, build_model
from hardsearch.arch.seeds import load_seed
from hardsearch.arch.tracing import count_params, measure_peak_activations, trace_cio, trace_macs
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
    analytic_rows = [(r.in_shape, r.out_shape, r.macs, r.cio) for r in report.layers
                     if r.kind != "linear"]
    assert analytic_rows == _conv_rows(model, size)


@pytest.mark.slow
@pytest.mark.parametrize("size", [(224, 224), (97, 131)], ids=["224x224", "97x131"])
def test_seed_costs_equal_traced_counts(seed, seed_name, size):
    assert_costs_match_traced(seed, size)
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
    for field in ("params", "macs", "cio"):
        assert getattr(report, field) == sum(getattr(s, field) for s in report.stages)
        assert getattr(report, field) == sum(getattr(r, field) for r in report.layers)
    assert report.peak_activations == max(s.peak_activations for s in report.stages)
    assert [s.name for s in report.stages] == \
        ["stem", *[f"stage{i}" for i in range(1, len(seed.stages) + 1)], "head"]
    assert math.isclose(report.moc, report.macs / report.cio)
    for row in report.layers:
        assert row.moc == (row.macs / row.cio if row.cio else None)


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
            assert tuple(cost_totals(arch, size)) == (full.params, full.macs, full.cio, full.peak_activations)
    for size in ((8, 2) if space_name == "harmonic" else ()):  # DS halves with padding: never vanishes
        with pytest.raises(UserError) as full:
            count_costs(space.sample(1, seed=1)[0], size)
        with pytest.raises(UserError) as memo:
            cost_totals(space.sample(1, seed=1)[0], size)
        assert str(memo.value) == str(full.value)
