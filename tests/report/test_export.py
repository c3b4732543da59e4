"""Exported architectures build the same model, reproduce the recorded costs, and seed a new search."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from hardsearch.arch.config import load_arch, save_arch
from hardsearch.arch.costs import count_costs
from hardsearch.arch.model import build_model
from hardsearch.core.paths import ROOT
from hardsearch.report.export import trial_arch

from searching import run, small


def test_front_files_reproduce_the_recorded_costs_and_seed_a_search(tmp_path):
    result = run(small(tmp_path, trials=6))
    trials = {t.number: t for t in result.study.get_trials()}
    files = sorted((result.study_dir / "archs").glob("*.yaml"))
    assert len(files) == len(result.front)
    for path in files:
        arch = load_arch(path)
        meta = arch.metadata
        trial = trials[meta["trial"]]
        assert meta["study"] == "harmonic" and meta["digest"] == trial.user_attrs["digest"]
        assert meta["objectives"] == dict(zip(["proxy", "macs", "cio"], trial.values, strict=True))
        costs = count_costs(arch, tuple(meta["input_size"]))
        assert (costs.params, costs.macs, costs.cio, costs.peak_activations) == tuple(
            meta["costs"][k] for k in ("params", "macs", "cio", "peak_activations"))
        model = build_model(arch).eval()
        assert sum(p.numel() for p in model.parameters()) == meta["costs"]["params"]
        with torch.no_grad():
            assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)
    # an exported member goes back into a search as a seed, and is evaluated first
    member = next(p for p in files if "hardnet" not in p.name)
    again = run(small(tmp_path / "second", f"seeds=[{member}]", trials=3))
    third = again.study.get_trials()[2]
    assert third.user_attrs["seed"] == str(member)
    assert third.user_attrs["digest"] == load_arch(member).metadata["digest"]


def test_export_cli_any_trial_and_profile_it(tmp_path):
    result = run(small(tmp_path, trials=4))
    out = tmp_path / "mine.yaml"
    cli = subprocess.run([sys.executable, "-m", "hardsearch.export", "study=harmonic",
                          f"dir={result.study_dir}", "trial=3", f"out={out}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert load_arch(out).metadata["trial"] == 3
    profile = subprocess.run([sys.executable, "-m", "hardsearch.profile", f"arch={out}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert profile.returncode == 0 and f"{result.study.trials[3].user_attrs['macs'] / 1e9:.3f} GMACs" \
        in profile.stdout
    bad = subprocess.run([sys.executable, "-m", "hardsearch.export", "study=harmonic",
                          f"dir={result.study_dir}", "trial=99"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert "trial: got 99; allowed: a trial number of study harmonic (0..3)" in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize("fmt,suffix", [("torchscript", ".pt"), ("onnx", ".onnx")])
def test_model_export_matches_pytorch(tmp_path, fmt, suffix):
    result = run(small(tmp_path, "space.input_size=[96,96]", trials=3))
    cli = subprocess.run([sys.executable, "-m", "hardsearch.export", "study=harmonic",
                          f"dir={result.study_dir}", "trial=2", f"format={fmt}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    path = result.study_dir / "archs" / f"trial0002{suffix}"
    assert path.is_file() and "checked against PyTorch on a batch of 2" in cli.stdout
    # hardsearch's one line only: no "[torch.onnx] ..." progress, no FutureWarning from torch
    assert cli.stdout.splitlines() == [line for line in cli.stdout.splitlines() if line.startswith("wrote ")]
    assert len(cli.stdout.splitlines()) == 1 and cli.stderr == "", cli.stdout + cli.stderr
    arch = trial_arch(result.study.trials[2], study="harmonic", objectives=["proxy", "macs", "cio"],
                      input_size=[96, 96])
    torch.manual_seed(0)
    model = build_model(arch).eval()
    x = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        expected = model(x).numpy()
    if fmt == "torchscript":
        with torch.no_grad():
            got = torch.jit.load(str(path))(x).numpy()
    else:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": x.numpy()})[0]  # a batch size other than the traced one
    assert got.shape == (3, 1000)
    assert abs(got - expected).max() < 1e-4


def test_front_files_follow_the_front_after_a_resume(tmp_path):
    """Resumed, the front changes: files of trials that left it go; every other file in archs/ stays."""
    first = run(small(tmp_path, "seed=1", trials=4))  # seed 1: two of the first four leave the front
    archs = first.study_dir / "archs"
    before = {t.number for t in first.front}
    member = sorted(archs.glob("trial*_*.yaml"))[0]
    stale = archs / "trial0099_harmonic-t99.yaml"  # what an earlier export of the front left behind
    save_arch(replace(load_arch(member), metadata={**load_arch(member).metadata, "trial": 99}), stale)
    kept = {"mine.yaml": "a user's file\n",
            "trial0001.yaml": member.read_text(),  # as python -m hardsearch.export names it
            "trial0098_notes.yaml": "notes: not an architecture\n",
            "trial0097_other.yaml": member.read_text().replace("study: harmonic", "study: other")}
    for name, text in kept.items():
        (archs / name).write_text(text)
    again = run(small(tmp_path, "seed=1", trials=12))
    after = {t.number for t in again.front}
    exported = {p.name for p in archs.glob("trial*_*.yaml")} - set(kept)
    names = {t.number: t.user_attrs["arch"]["name"] for t in again.front}
    assert exported == {f"trial{n:04d}_{names[n]}.yaml" for n in after}
    assert not stale.exists() and before - after  # trials left the front, and their files went with them
    for name, text in kept.items():
        assert (archs / name).read_text() == text
