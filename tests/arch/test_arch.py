from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hardsearch.arch.config import arch_from_dict, arch_to_dict, dump_arch, load_arch, save_arch
from hardsearch.arch.seeds import SEED_NAMES, resolve_arch
from hardsearch.core.errors import ArchError, UserError
from hardsearch.core.paths import ARCHS_DIR, ROOT

GOOD = {
    "name": "tiny",
    "stem": [8, 16],
    "multiplier": 1.7,
    "link_base": 2,
    "depthwise": False,
    "keep_base": False,
    "dropout": 0.1,
    "num_classes": 10,
    "stages": [{"growth": 4, "depth": 4, "out_channels": 24, "downsample": True},
               {"growth": 6, "depth": 2, "out_channels": 32, "downsample": False}],
}


def _set(data: dict, path: str, value) -> dict:
    data = copy.deepcopy(data)
    node = data
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if value is _DELETE:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()

# (key to change, bad value, text the error must name as the key, text of the allowed values)
INVALID = [
    ("stages[0].depth", 0, "stages[0].depth", "integer >= 1"),
    ("stages[1].depth", 2.5, "stages[1].depth", "integer >= 1"),
    ("stages[0].growth", 0, "stages[0].growth", "integer >= 1"),
    ("stages[0].growth", "8", "stages[0].growth", "integer >= 1"),
    ("stages[1].out_channels", 0, "stages[1].out_channels", "integer >= 1"),
    ("stages[0].downsample", 1, "stages[0].downsample", "true or false"),
    ("stem", [8], "stem", "two integers"),
    ("stem[0]", 0, "stem[0]", "integer >= 1"),
    ("stem[1]", True, "stem[1]", "integer >= 1"),
    ("multiplier", 0, "multiplier", "> 0"),
    ("multiplier", -1.5, "multiplier", "> 0"),
    ("multiplier", float("nan"), "multiplier", "> 0"),
    ("multiplier", "big", "multiplier", "> 0"),
    ("multiplier", 0.2, "multiplier", "0 channels"),
    ("link_base", 1, "link_base", "integer >= 2"),
    ("link_base", 2.5, "link_base", "integer >= 2"),
    ("depthwise", "yes", "depthwise", "true or false"),
    ("keep_base", 0, "keep_base", "true or false"),
    ("dropout", 1.0, "dropout", "0 <= p < 1"),
    ("dropout", -0.1, "dropout", "0 <= p < 1"),
    ("num_classes", 0, "num_classes", "integer >= 1"),
    ("name", "", "name", "non-empty string"),
    ("stages", [], "stages", "non-empty list"),
    ("stages[0].width", 3, "stages[0].width", "allowed keys: growth, depth, out_channels"),
    ("colour", "red", "colour", "allowed keys: name, stem"),
    ("stages[0].depth", _DELETE, "stages[0].depth", "required keys"),
    ("multiplier", _DELETE, "multiplier", "required keys"),
    ("metadata", [1, 2], "metadata", "a mapping"),
]


def test_good_config_is_accepted():
    arch = arch_from_dict(GOOD)
    assert arch.stem == (8, 16) and arch.stages[0].depth == 4 and arch.link_base == 2


@pytest.mark.parametrize("key, value, named, allowed", INVALID, ids=[f"{k}={v!r}" for k, v, *_ in INVALID])
def test_each_rule_rejects_with_file_key_and_allowed_values(tmp_path, key, value, named, allowed):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_set(GOOD, key, value), sort_keys=False))
    with pytest.raises(ArchError) as err:
        load_arch(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {named}"), message
    assert allowed in message
    assert "\n" not in message


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ArchError, match="a mapping with keys name, stem"):
        load_arch(path)


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nstem: [8, 16\nstages: []\n")
    with pytest.raises(ArchError, match=r"broken.yaml: malformed YAML at line \d+"):
        load_arch(path)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ArchError, match="nope.yaml: file not found"):
        load_arch(tmp_path / "nope.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ArchError, match="binary.yaml: cannot be read"):
        load_arch(binary)


@pytest.mark.parametrize("name", SEED_NAMES)
def test_seed_files_round_trip_through_yaml(tmp_path, name):
    arch = load_arch(ARCHS_DIR / f"{name}.yaml")
    assert arch.name == name
    saved = save_arch(arch, tmp_path / "deep" / f"{name}.yaml")
    again = load_arch(saved)
    assert again == arch
    assert arch_to_dict(again) == arch_to_dict(arch)
    assert yaml.safe_load(dump_arch(arch)) == arch_to_dict(arch)


def test_metadata_is_kept_but_not_part_of_the_architecture(tmp_path):
    data = {**GOOD, "metadata": {"study": "s1", "trial": 7}}
    arch = arch_from_dict(data)
    assert arch.metadata == {"study": "s1", "trial": 7}
    assert arch == arch_from_dict(GOOD)
    assert load_arch(save_arch(arch, tmp_path / "m.yaml")).metadata == {"study": "s1", "trial": 7}


def test_resolve_arch_takes_names_and_paths(tmp_path):
    assert resolve_arch("hardnet68").name == "hardnet68"
    path = save_arch(arch_from_dict(GOOD), tmp_path / "tiny.yaml")
    assert resolve_arch(str(path)).name == "tiny"
    with pytest.raises(UserError, match="unknown seed 'hardnet999'; allowed: hardnet39ds"):
        resolve_arch("hardnet999")


def _profile(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hardsearch.profile", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("key, value, named, allowed", INVALID, ids=[f"{k}={v!r}" for k, v, *_ in INVALID])
def test_cli_rejects_each_rule_in_one_line(tmp_path, key, value, named, allowed):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_set(GOOD, key, value), sort_keys=False))
    before = path.read_bytes()
    result = _profile(f"arch={path}")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"hardsearch.profile: error: {path}: {named}")
    assert allowed in lines[0]
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize("arg, expected", [
    ("arch=hardnet999", "arch: unknown seed 'hardnet999'; allowed: hardnet39ds, hardnet68ds"),
    ("arch=/nonexistent/arch.yaml", "/nonexistent/arch.yaml: file not found"),
    ("input_size=0", "input_size: got (0, 0); allowed: integers >= 1"),
    ("input_size=[1,2,3]", "input_size: got [1, 2, 3]; allowed: an integer >= 1 or [height, width]"),
    ("input_size=8", "input_size: 8x8 is too small for hardnet68"),
    ("out=table.txt", "out: 'table.txt' has suffix '.txt'; allowed: .csv, .json"),
    ("foo=1", "command line: 'foo=1': unknown key 'foo' in "),
    ("+extra=1", "unknown key 'extra' in "),
    ("arch=[1", "command line: 'arch=[1': no viable alternative at input '[1'; allowed: key=value"),
    ("layers=maybe", "layers: got 'maybe'; allowed: true or false"),
    ("num_classes=0", "num_classes: got 0; allowed: null or an integer >= 1"),
])
def test_cli_rejects_other_bad_input_in_one_line(arg, expected):
    result = _profile(arg)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


_stage = st.fixed_dictionaries({
    "growth": st.integers(1, 300), "depth": st.integers(1, 64),
    "out_channels": st.integers(1, 4096), "downsample": st.booleans()})
_arch = st.fixed_dictionaries({
    "name": st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
    "stem": st.lists(st.integers(1, 256), min_size=2, max_size=2),
    "multiplier": st.floats(1.0, 3.0, allow_nan=False),
    "link_base": st.integers(2, 6),
    "depthwise": st.booleans(),
    "keep_base": st.booleans(),
    "dropout": st.floats(0.0, 0.99),
    "num_classes": st.integers(1, 100_000),
    "stages": st.lists(_stage, min_size=1, max_size=7),
})


@settings(max_examples=150, deadline=None)
@given(_arch)
def test_any_valid_architecture_round_trips_through_yaml_exactly(data):
    arch = arch_from_dict(data)
    assert arch_to_dict(arch) == {**data, "multiplier": float(data["multiplier"]),
                                  "dropout": float(data["dropout"])}
    assert arch_from_dict(yaml.safe_load(dump_arch(arch))) == arch
