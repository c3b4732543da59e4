from __future__ import annotations

import pytest

from hardsearch.arch.harmonic import layer_width, link_power, links, output_layers, plan_block


@pytest.mark.parametrize("k, expected", [
    (1, (0,)), (2, (1, 0)), (3, (2,)), (4, (3, 2, 0)), (6, (5, 4)), (8, (7, 6, 4, 0)),
    (12, (11, 10, 8)), (16, (15, 14, 12, 8, 0)),
])
def test_links_base2_match_the_paper(k, expected):
    assert links(k, 2) == expected


@pytest.mark.parametrize("k, base, expected", [
    (3, 3, (2, 0)), (6, 3, (5, 3)), (9, 3, (8, 6, 0)), (18, 3, (17, 15, 9)),
    (4, 4, (3, 0)), (16, 4, (15, 12, 0)), (5, 4, (4,)),
])
def test_links_for_other_bases(k, base, expected):
    assert links(k, base) == expected


@pytest.mark.parametrize("base", [2, 3, 4, 5])
def test_links_are_nearest_first_and_follow_the_definition(base):
    for k in range(1, 200):
        got = links(k, base)
        expected = [k - base**n for n in range(0, 10) if k % base**n == 0 and k - base**n >= 0]
        assert list(got) == expected
        assert list(got) == sorted(got, reverse=True)
        assert link_power(k, base) == len(got) - 1


def test_widths_use_the_even_rounding_rule():
    # HarDNet-68's first block: growth 14, m = 1.7.
    assert [layer_width(k, 14, 1.7) for k in range(1, 9)] == [14, 24, 14, 40, 14, 24, 14, 68]
    assert layer_width(1, 1, 1.7) == 2  # int(int(1 + 1) / 2) * 2
    assert layer_width(1, 3, 2.0) == 4
    assert layer_width(2, 3, 0.2) == 0  # a width can round to zero; validation rejects it


def test_widths_multiply_repeatedly_as_the_published_code_does():
    # 100 * 1.7 * 1.7 = 289.00000000000006 but 100 * 1.7**2 = 288.99999999999994.
    assert layer_width(4, 100, 1.7) == 290
    assert int(int(100 * 1.7**2 + 1) / 2) * 2 == 288


def test_width_uses_the_largest_power_of_the_base():
    assert layer_width(9, 10, 2.0, base=3) == 40
    assert layer_width(6, 10, 2.0, base=3) == 20
    assert layer_width(6, 10, 2.0, base=2) == 20
    assert layer_width(16, 10, 2.0, base=4) == 40


@pytest.mark.parametrize("depth, base, keep_base, expected", [
    (8, 2, False, (1, 3, 5, 7, 8)),
    (4, 2, True, (0, 1, 3, 4)),
    (1, 2, False, (1,)),
    (9, 3, False, (1, 2, 4, 5, 7, 8, 9)),
    (6, 3, False, (1, 2, 4, 5, 6)),
    (5, 4, True, (0, 1, 2, 3, 5)),
])
def test_output_layers(depth, base, keep_base, expected):
    assert output_layers(depth, base, keep_base) == expected


def test_plan_block_matches_hardnet68_first_block():
    plan = plan_block(64, 14, 1.7, 8)
    assert plan.widths == (64, 14, 24, 14, 40, 14, 24, 14, 68)
    assert plan.in_widths[8] == 14 + 24 + 40 + 64
    assert plan.out_channels == 14 * 4 + 68
    assert plan.links[0] == ()


@pytest.mark.parametrize("depth, base, keep_base", [
    (d, b, kb) for d in (1, 2, 3, 5, 8, 16) for b in (2, 3, 4) for kb in (False, True)])
def test_every_dropped_layer_is_released_once_after_its_last_reader(depth, base, keep_base):
    plan = plan_block(8, 4, 1.6, depth, base, keep_base)
    released = [j for k in range(depth + 1) for j in plan.released_at[k]]
    assert sorted(released) == sorted(set(range(1, depth + 1)) - set(plan.outputs))
    for k, js in enumerate(plan.released_at):
        for j in js:
            assert plan.last_reader[j] == k and j in plan.links[k]
            assert all(j not in plan.links[later] for later in range(k + 1, depth + 1))


@pytest.mark.parametrize("bad", [dict(k=0, base=2), dict(k=3, base=1)])
def test_rules_reject_invalid_arguments(bad):
    with pytest.raises(ValueError):
        links(bad["k"], bad["base"])
