"""Search spaces: parsing, one-line errors, seeds as points, and exact encode/decode round trips."""

from __future__ import annotations

import copy

import optuna
import pytest
import yaml

from hardsearch.arch.config import arch_from_dict
from hardsearch.arch.seeds import load_seed
from hardsearch.arch.space import SPACES_DIR, SpaceError, load_space, seed_archs, space_from_dict, space_names

SPACES = ("harmonic", "harmonic_ds")


def raw_space(name: str) -> dict:
    return yaml.safe_load((SPACES_DIR / f"{name}.yaml").read_text())


def test_shipped_spaces():
    assert set(SPACES) <= set(space_names())
    harmonic = load_space("harmonic")
    assert harmonic.seeds == ("hardnet68", "hardnet85")
    assert harmonic.input_size == (224, 224)
    assert len(harmonic.levels) == 4
    assert load_space("harmonic_ds").seeds == ("hardnet39ds", "hardnet68ds")


@pytest.mark.parametrize("name", SPACES)
def test_seeds_are_points_and_round_trip(name):
    space = load_space(name)
    for arch in seed_archs(space):
        params = space.encode(arch)
        assert space.decode(params, name=arch.name) == arch
        again = space.suggest(optuna.trial.FixedTrial(params), name=arch.name)
        assert again == arch


def test_layouts_of_the_published_models():
    space = load_space("harmonic")
    h68 = space.encode(load_seed("hardnet68"))
    h85 = space.encode(load_seed("hardnet85"))
    assert "l1_blocks" not in h68 and "l4_blocks" not in h68  # fixed at 1 in this space
    assert [h68[f"l{i}_blocks"] for i in (2, 3)] == [2, 1]
    assert [h85[f"l{i}_blocks"] for i in (2, 3)] == [2, 2]
    assert h85["l3_b2_growth"] == 48 and h85["l3_b2_out"] == 720
    assert "depthwise" not in h68  # constants are not parameters
    # HarDNet-68 uses one block at level 3: the genes of the second repeat the first
    assert [h68[f"l3_b2_{k}"] for k in ("growth", "depth", "out")] == \
        [h68[f"l3_b1_{k}"] for k in ("growth", "depth", "out")]
    assert list(h68) == list(h85) == [key for key, _ in space.genes()]


def test_genome_is_fixed_length_and_carried_genes_are_ignored():
    space = load_space("harmonic")
    genes = [key for key, _ in space.genes()]
    # 5 free top-level genes (stem x2, multiplier, link base, dropout), blocks of levels 2 and 3,
    # and 3 genes for each of 1 + 2 + 2 + 1 blocks
    assert len(genes) == 5 + 2 + 3 * 6
    h68 = space.encode(load_seed("hardnet68"))
    changed = dict(h68, l3_b2_growth=24, l3_b2_depth=4, l3_b2_out=256)  # an unused block's genes
    assert space.decode(changed) == space.decode(h68)
    # parameters of a study from before the fixed-length genome (no genes for unused blocks)
    legacy = {k: v for k, v in h68.items() if not k.startswith("l3_b2_")}
    assert space.decode(legacy) == space.decode(h68)
    with pytest.raises(SpaceError, match="missing 'l3_b1_growth'"):
        space.decode({k: v for k, v in h68.items() if k != "l3_b1_growth"})
    with pytest.raises(SpaceError, match="l2_b1_growth: got 13; allowed: 12..40 step 2"):
        space.decode(dict(h68, l2_b1_growth=13))


@pytest.mark.parametrize("name", SPACES)
def test_random_points_round_trip(name):
    space = load_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    for _ in range(60):
        trial = study.ask()
        arch = space.suggest(trial)
        # every gene is drawn, every time: the genome has one length for every point
        assert list(trial.params) == [key for key, _ in space.genes()]
        # the genes the point uses come back from encode; an unused block's genes are carried
        # (Optuna's stepped floats carry representation noise, 1.7999999999999998 for 1.8, which
        # decoding rounds away)
        encoded = space.encode(arch)
        assert list(encoded) == list(trial.params)
        used = {k: v for k, v in trial.params.items() if not space.unused(k, trial.params)}
        assert {k: encoded[k] for k in used} == pytest.approx(used, abs=1e-9)
        assert space.decode(trial.params, name=arch.name) == arch
        assert space.decode(encoded, name=arch.name) == arch
        arch_from_dict({**space.decode(trial.params).__dict__, "stem": list(arch.stem),
                        "stages": [s.__dict__ for s in arch.stages], "metadata": {}})
        study.tell(trial, 0.0)


@pytest.mark.parametrize("name", ["harmonic", "harmonic_ds"])
def test_unchecked_decode_builds_the_same_architecture(name):
    """The sampler's fast path (``check=False``) gives the architecture the checked path gives."""
    space = load_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(40):
        trial = study.ask()
        space.suggest(trial)
        checked = space.decode(trial.params, name="p")
        unchecked = space.decode(trial.params, name="p", check=False)
        assert unchecked == checked and hash(unchecked) == hash(checked)
        study.tell(trial, 0.0)


def test_unchecked_decode_still_refuses_a_key_layer_of_zero_channels():
    space = space_from_dict({"name": "thin", "input_size": [32, 32], "num_classes": 10, "stem": [8, 8],
                             "multiplier": {"low": 0.1, "high": 1.0, "step": 0.1}, "link_base": 2,
                             "levels": [{"blocks": 1, "depth": 4, "growth": {"low": 1, "high": 4},
                                         "out_channels": 8}]})
    thin = {"multiplier": 0.1, "l1_b1_growth": 1}
    for check in (True, False):
        with pytest.raises(SpaceError, match="rounds to 0 channels"):
            space.decode(thin, name="p", check=check)
    assert space.decode({"multiplier": 1.0, "l1_b1_growth": 4}, name="p", check=False).multiplier == 1.0


def test_sample_is_reproducible_and_varied():
    space = load_space("harmonic")
    a, b, c = space.sample(12, seed=1), space.sample(12, seed=1), space.sample(12, seed=2)
    assert a == b
    assert a != c
    assert len({x.name for x in a}) == 12
    assert {len(x.stages) for x in space.sample(40, seed=3)} >= {4, 5, 6}


def test_multi_objective_sampler_draws_valid_points():
    space = load_space("harmonic_ds")
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.NSGAIISampler(seed=0, population_size=4))
    for i in range(12):
        trial = study.ask()
        arch = space.suggest(trial)
        assert arch.depthwise
        study.tell(trial, [float(i), float(arch.stages[0].growth)])


def test_seed_outside_the_space_names_seed_parameter_and_range():
    data = raw_space("harmonic")
    data["levels"][0]["growth"] = {"low": 16, "high": 32, "step": 2}
    space = space_from_dict(data, source="custom.yaml")
    with pytest.raises(SpaceError) as err:
        seed_archs(space)
    message = str(err.value)
    assert message == ("seed hardnet68: l1_b1_growth: got 14; allowed: 16..32 step 2 "
                       "(custom.yaml: levels[0].growth)")


def test_seed_with_other_layout_is_rejected():
    data = raw_space("harmonic")
    data["levels"] = data["levels"][:3]
    space = space_from_dict(data, source="three.yaml")
    with pytest.raises(SpaceError, match=r"seed hardnet68: levels: got 4 resolution levels.*allowed: 3"):
        seed_archs(space)


def _edit(path, value):
    def apply(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return data
    return apply


_DELETE = object()

INVALID = [
    (_edit(["colour"], 1), "colour: unknown key; allowed keys: name, description"),
    (_edit(["levels"], _DELETE), "levels: missing; required keys"),
    (_edit(["multiplier"], {"low": 2.0, "high": 1.0}),
     "multiplier: got low=2.0 > high=1.0; allowed: low <= high"),
    (_edit(["multiplier"], {"low": 1.0, "high": 2.0, "step": 0.3}), "not a multiple of step 0.3"),
    (_edit(["multiplier"], {"between": [1, 2]}), "multiplier: got {'between': [1, 2]}; allowed: a constant"),
    (_edit(["multiplier"], 0), "multiplier: got 0; allowed: multiplier > 0"),
    (_edit(["link_base"], {"choices": [1, 2]}), "link_base: got 1; allowed: integers >= 2"),
    (_edit(["link_base"], {"choices": []}), "link_base: got {'choices': []}; allowed: {choices: [...]}"),
    (_edit(["dropout"], 1.0), "dropout: got 1.0; allowed: 0 <= dropout < 1"),
    (_edit(["depthwise"], "yes"), "depthwise: got 'yes'; allowed: true, false"),
    (_edit(["stem"], [32]), "stem: got [32]; allowed: a list of two values"),
    (_edit(["input_size"], [224, 0]), "input_size: got [224, 0]; allowed: an integer >= 1"),
    (_edit(["levels", 0, "blocks"], 0), "levels[0].blocks: got 0; allowed: integers >= 1"),
    (_edit(["levels", 1, "growth"], {"low": 8.5, "high": 12}), "levels[1].growth.low: got 8.5; allowed"),
    (_edit(["levels", 2, "width"], 3), "levels[2].width: unknown key; allowed keys: blocks"),
    (_edit(["levels", 3, "depth"], _DELETE), "levels[3].depth: missing; required keys"),
    (_edit(["levels"], []), "levels: got []; allowed: a non-empty list"),
    (_edit(["seeds"], "hardnet68"), "seeds: got 'hardnet68'; allowed: a list of seed names"),
]


@pytest.mark.parametrize("edit,expected", INVALID, ids=[e for _, e in INVALID])
def test_invalid_spaces_fail_with_one_line(edit, expected):
    data = edit(copy.deepcopy(raw_space("harmonic")))
    with pytest.raises(SpaceError) as err:
        space_from_dict(data, source="my_space.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("my_space.yaml: ")
    assert expected in message


def test_load_space_errors(tmp_path):
    with pytest.raises(SpaceError, match=r"unknown space 'nope'; allowed: harmonic, harmonic_ds"):
        load_space("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlevels: [\n")
    with pytest.raises(SpaceError, match=r"bad.yaml: malformed YAML at line"):
        load_space(bad)
    with pytest.raises(SpaceError, match=r"missing.yaml: file not found"):
        load_space(tmp_path / "missing.yaml")


def test_a_user_space_file_needs_no_python(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "name: tiny\ninput_size: 64\nseeds: []\nstem: [16, 32]\nmultiplier: 1.7\n"
        "link_base: {choices: [2, 3]}\n"
        "levels:\n  - {blocks: {choices: [1, 2]}, depth: {low: 2, high: 6}, growth: 8, out_channels: 64}\n"
        "  - {blocks: 1, depth: 4, growth: {low: 8, high: 32, log: true}, out_channels: 128}\n")
    space = load_space(path)
    archs = space.sample(20, seed=0)
    assert {a.link_base for a in archs} == {2, 3}
    assert all(a.stages[-1].downsample is False for a in archs)
    for arch in archs:
        assert space.decode(space.encode(arch), name=arch.name) == arch


def test_space_is_a_hydra_group_of_hardsearch_configs_only(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException
    from omegaconf import OmegaConf

    from hardsearch.core.cli import register_search_path
    from hardsearch.core.paths import CONF_DIR

    register_search_path()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("calibrate", overrides=["+space=harmonic_ds"])
    data = OmegaConf.to_container(cfg.space, resolve=True)
    assert space_from_dict(data, source="x") == space_from_dict(raw_space("harmonic_ds"), source="x")
    GlobalHydra.instance().clear()
    (tmp_path / "app.yaml").write_text("x: 1\n")  # another Hydra application in the same process
    with initialize_config_dir(str(tmp_path), version_base="1.3"):
        other = compose("app", overrides=["+space=harmonic"])
        with pytest.raises(ConfigCompositionException, match="config group 'space' does not exist"):
            compose("app", overrides=["space@s=harmonic"])
    GlobalHydra.instance().clear()
    assert other.space == "harmonic"  # a plain new key there, not the space group
