"""The catalogue of bad inputs: each is one line on stderr that names the file or key and what is
allowed, exit status 2, no traceback, and the study already on disk is left byte for byte as it was."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hardsearch.core.paths import ROOT

pytestmark = pytest.mark.slow

HARDNET68 = ROOT / "search_spaces" / "archs" / "hardnet68.yaml"


def search(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hardsearch", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def precious(tmp_path_factory):
    """A finished study with its report: what a bad command must not touch."""
    folder = tmp_path_factory.mktemp("precious") / "study"
    done = search("+space=harmonic", "proxy=naswot", "budget.n_trials=3", "logger=none", "study=precious",
                  f"dir={folder}")
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Broken input files: malformed YAML, binary garbage, a seed outside the space, a space with a typo."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "malformed.yaml").write_text("name: x\nstages: [\n  {growth: 14\n")
    (folder / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    outside = yaml.safe_load(HARDNET68.read_text())
    outside["stages"][0]["growth"] = 15  # the harmonic space allows even growth rates only
    outside["name"] = "odd-growth"
    (folder / "outside.yaml").write_text(yaml.safe_dump(outside))
    root = folder / "root"  # a checkout whose search_spaces/space/ holds a malformed space file
    (root / "search_spaces" / "space").mkdir(parents=True)
    os.symlink(ROOT / "conf", root / "conf")
    os.symlink(ROOT / "search_spaces" / "archs", root / "search_spaces" / "archs")
    for space in (ROOT / "search_spaces" / "space").glob("*.yaml"):
        shutil.copy(space, root / "search_spaces" / "space")
    (root / "search_spaces" / "space" / "broken.yaml").write_text("name: broken\nlevels: [\n")
    return folder


CASES = {
    # case: (command-line arguments, what the one line must say)
    "malformed architecture YAML": (
        ["seeds=[{inputs}/malformed.yaml]"], "{inputs}/malformed.yaml: malformed YAML at line 4"),
    "corrupt architecture file": (
        ["seeds=[{inputs}/binary.yaml]"],
        "{inputs}/binary.yaml: cannot be read (UnicodeDecodeError); allowed:"),
    "architecture path is a folder": (["seeds=[{inputs}]"], "{inputs}: cannot be read (IsADirectoryError"),
    "missing architecture file": (
        ["seeds=[{inputs}/nope.yaml]"], "{inputs}/nope.yaml: file not found; allowed:"),
    "seed outside its space": (
        ["seeds=[{inputs}/outside.yaml]"], "outside.yaml: l1_b1_growth: got 15; allowed: 8..32 step 2"),
    "unknown config key": (
        ["colour=red"], "unknown key 'colour' in {root}/conf/search.yaml; allowed keys: data,"),
    "unknown nested key": (
        ["budget.trials=3"], "unknown key 'budget.trials'; allowed keys under budget: n_trials"),
    "wrong type": (
        ["budget.n_trials=many"], "conf/search.yaml: budget.n_trials: got 'many'; allowed: an integer"),
    "wrong type in the space": (
        ["space.multiplier.low=high"], "harmonic.yaml: multiplier.low: got 'high'; allowed: a number"),
    "impossible range low > high": (
        ["space.multiplier.low=3.0"], "multiplier: got low=3.0 > high=2.0; allowed: low <= high"),
    "empty choices": (
        ["space.link_base.choices=[]"],
        "harmonic.yaml: link_base: got {{'choices': []}}; allowed: {{choices: [...]}} with a non-empty"),
    "unknown space": (["+space=nope"], "unknown space 'nope'; allowed: harmonic, harmonic_ds"),
    "unknown sampler": (["sampler=cmaes"],
                        "unknown sampler 'cmaes'; allowed: cost_aware, gp, nsga2, nsga3, random, tpe"),
    "unknown proxy": (["proxy=magic"], "unknown proxy 'magic'; allowed: ensemble, grad_norm"),
    "missing dataset path": (
        ["data=imagefolder", "root={inputs}/no-such-images"],
        "data.root: '{inputs}/no-such-images' does not exist; allowed: a folder of class"),
    "unknown storage URL scheme": (
        ["storage.url=mongodb://db.example/x"],
        "storage.url: 'mongodb://db.example/x': unknown scheme 'mongodb'; allowed: sqlite, postgresql, "
        "mysql"),
    "study name with path characters": (
        ["study=../evil"], "conf/search.yaml: study: got '../evil'; allowed: null or a name of"),
    "study name with a slash": (["study=a/b"], "study: got 'a/b'; allowed: null or a name"),
    "bad storage option": (
        ["storage.heartbeat_interval=0"],
        "conf/storage/sqlite.yaml: storage.heartbeat_interval: got 0; allowed: null or an integer >= 1"),
    "bad W&B mode": (["logger=wandb", "logger.mode=loud"], "conf/logger/wandb.yaml: logger.mode: got 'loud'"),
    # caught before the calibration or any trial runs, and before the storage is opened
    "input size too small for the seeds": (
        ["space.input_size=[16,16]"], "space.input_size: 16x16 is too small for hardnet68: the feature map"),
    "proxy resolution too small": (
        ["data.resolution=16"],
        "data.resolution: got 16; proxy=naswot runs the model on these images and 16x16"),
    "proxy batch of one": (["data.batch_size=1"], "data.batch_size: got 1; allowed: an integer >= 2"),
    "jacob_cov on a batch of one": (
        ["proxy=jacob_cov", "data.batch_size=1"],
        "data.batch_size: got 1; allowed: an integer >= 2 (proxy=jacob_cov"),
    "ensemble on a batch of one": (
        ["proxy=ensemble", "data.batch_size=1"],
        "data.batch_size: got 1; allowed: an integer >= 2 (proxy=ensemble"),
    "ensemble without members": (
        ["proxy=ensemble", "proxy.members=[]"],
        "proxy.members: got []; allowed: a non-empty list of naswot,"),
    "unknown training schedule": (
        ["proxy=train", "proxy.schedule=asha"],
        "proxy.schedule: got 'asha'; allowed: null (train every candidate for proxy.epochs), sha, hyperband"),
    "schedule counted in steps": (
        ["proxy=train", "proxy.schedule=sha", "proxy.epochs=9", "proxy.steps=5"],
        "proxy.steps: got 5; allowed: null with proxy.schedule=sha"),
    "first rung at the full budget": (
        ["proxy=train", "proxy.schedule=sha", "proxy.epochs=3", "proxy.min_epochs=3"],
        "proxy.min_epochs: got 3; allowed: fewer than proxy.epochs (3)"),
    "bad screen": (
        ["proxy=train", "proxy.schedule=sha", "proxy.epochs=3", "proxy.screen={{proxy: magic}}"],
        "proxy.screen.proxy: got 'magic'; allowed: predictor, naswot"),
    "ensemble reference sample too small": (
        ["proxy=ensemble", "proxy.reference=0"],
        "proxy.reference: got 0; allowed: enough random members for at least 3 reference architectures"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_touches_nothing(case, precious, files):
    args, expected = CASES[case]
    args = [a.format(inputs=files) for a in args]
    before = snapshot(precious)
    space = [] if any(a.startswith("+space=") for a in args) else ["+space=harmonic"]
    proxy = [] if any(a.startswith("proxy=") for a in args) else ["proxy=naswot"]
    result = search(*space, *proxy, "logger=none", "study=precious", f"dir={precious}", *args)
    line = result.stderr
    assert result.returncode == 2, line
    assert line.endswith("\n") and line.count("\n") == 1 and "Traceback" not in line, line
    assert line.startswith("hardsearch: error: ") and "allowed" in line, line
    assert expected.format(inputs=files, root=ROOT) in line
    assert snapshot(precious) == before


def test_a_refused_command_does_not_count_as_a_process(precious):
    """Later processes derive their sampler seeds from ``hardsearch.processes``: a refused command
    must not bump it (nor change anything else)."""
    import optuna

    def processes() -> int:
        storage = f"sqlite:///{precious / 'study.db'}"
        return optuna.load_study(study_name="precious", storage=storage).user_attrs["hardsearch.processes"]

    count = processes()
    before = snapshot(precious)
    for bad in (["proxy=ensemble", "proxy.members=[]"], ["data.batch_size=1"], ["space.input_size=[16,16]"]):
        proxy = [] if any(a.startswith("proxy=") for a in bad) else ["proxy=naswot"]
        result = search("+space=harmonic", *proxy, "logger=none", "study=precious", f"dir={precious}", *bad)
        assert result.returncode == 2, result.stderr
    assert snapshot(precious) == before
    assert processes() == count


def test_malformed_space_file(precious, files):
    root = files / "root"
    before = snapshot(precious)
    result = search("+space=broken", "proxy=naswot", f"dir={precious}", "study=precious",
                    env={"HARDSEARCH_ROOT": str(root)})
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    broken = root / "search_spaces" / "space" / "broken.yaml"
    assert result.stderr.startswith(f"hardsearch: error: {broken}: malformed YAML at line 3, column 1")
    assert "allowed" in result.stderr
    assert snapshot(precious) == before
