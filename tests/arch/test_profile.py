from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from hardsearch.arch.config import save_arch, with_classes
from hardsearch.arch.costs import count_costs
from hardsearch.arch.profile import format_table, to_csv
from hardsearch.arch.seeds import load_seed
from hardsearch.core.paths import ROOT


def _profile(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "hardsearch.profile", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_table_shows_totals_and_stage_rows_with_moc():
    report = count_costs(load_seed("hardnet68"), 1024)
    text = format_table(report)
    lines = text.splitlines()
    assert lines[0].startswith("hardnet68 @ 1024x1024: 17,565,348 params, 88.715 GMACs")
    assert lines[0].endswith(f"activations, {report.concat / 1e6:.3f} M concat, 67 convs, "
                             "17.553 M weights")
    assert lines[1].split() == ["stage", "out", "(CxHxW)", "params", "MACs", "CIO", "MoC",
                                "concat", "convs", "weights", "peak", "act."]
    stage1 = next(line for line in lines if line.startswith("stage1 "))
    s1 = report.stages[1]
    assert stage1.split()[1:] == ["128x128x128", f"{s1.params:,}", f"{s1.macs:,}",
                                  f"{s1.cio:,}", f"{s1.moc:.1f}", f"{s1.concat:,}", f"{s1.convs:,}",
                                  f"{s1.weights:,}", f"{s1.peak_activations:,}"]
    assert lines[-1].split() == ["total", f"{report.params:,}", f"{report.macs:,}",
                                 f"{report.cio:,}", f"{report.moc:.1f}", f"{report.concat:,}", "67",
                                 "17,552,736", f"{report.peak_activations:,}"]
    # hardnet68: 67 convolutions; weights = params minus batch norm's 2 per output channel
    assert report.convs == 67 and report.weights == 17_552_736


def test_layer_table_lists_every_convolution():
    report = count_costs(load_seed("hardnet39ds"), 224)
    text = format_table(report, layers=True)
    assert "stage2_block.layer16.depthwise  dwconv3x3" in text
    lines = text.splitlines()
    assert len(lines) == len(report.layers) + 5
    assert lines[1].split()[-1] == "weights"
    fc = report.layers[-1]
    assert lines[-3].split()[-1] == f"{fc.weights:,}" == "1,025,000"
    assert lines[-1].split()[-1] == f"{report.weights:,}"


def test_csv_has_layer_stage_and_total_rows():
    report = count_costs(load_seed("hardnet85"), (97, 131))
    rows = list(csv.DictReader(to_csv(report).splitlines()))
    levels = [r["level"] for r in rows]
    assert levels.count("layer") == len(report.layers)
    assert levels.count("stage") == len(report.stages)
    total = rows[-1]
    assert total["level"] == "total" and total["in_shape"] == "3x97x131"
    assert int(total["macs"]) == report.macs and int(total["cio"]) == report.cio
    assert sum(int(r["cio"]) for r in rows if r["level"] == "layer") == report.cio
    assert (int(total["concat"]), int(total["convs"]), int(total["weights"])) == \
        (report.concat, report.convs, report.weights)
    assert sum(int(r["weights"]) for r in rows if r["level"] == "layer") == report.weights
    assert {(r["concat"], r["convs"]) for r in rows if r["level"] == "layer"} == {("", "")}
    stages = [r for r in rows if r["level"] == "stage"]
    assert sum(int(r["concat"]) for r in stages) == report.concat
    assert sum(int(r["convs"]) for r in stages) == report.convs


def test_csv_and_json_of_hardnet68_carry_concat_convs_and_weights():
    report = count_costs(load_seed("hardnet68"), 224)
    total = list(csv.DictReader(to_csv(report).splitlines()))[-1]
    assert (int(total["concat"]), int(total["convs"]), int(total["weights"])) == \
        (report.concat, 67, 17_552_736)
    data = report.to_dict()
    assert (data["concat"], data["convs"], data["weights"]) == (report.concat, 67, 17_552_736)
    assert [s["convs"] for s in data["stages"]] == [2, 9, 17, 17, 17, 5, 0]
    assert data["layers"][-1]["weights"] == 1_025_000


@pytest.mark.slow
def test_cli_prints_the_table_for_a_seed():
    out = _profile("arch=hardnet68", "input_size=1024").stdout
    assert out == format_table(count_costs(load_seed("hardnet68"), 1024)) + "\n"


@pytest.mark.slow
def test_cli_writes_json_and_csv_for_a_file_and_an_odd_size(tmp_path):
    arch_file = save_arch(with_classes(load_seed("hardnet68ds"), 10), tmp_path / "mine.yaml")
    report = count_costs(with_classes(load_seed("hardnet68ds"), 10), (97, 131))
    out = _profile(f"arch={arch_file}", "input_size=[97,131]", f"out={tmp_path}/p/r.json").stdout
    assert f"wrote {tmp_path}/p/r.json" in out
    assert json.loads((tmp_path / "p" / "r.json").read_text()) == \
        json.loads(json.dumps(report.to_dict()))
    _profile("arch=hardnet39ds", "num_classes=10", "layers=true", f"out={tmp_path}/r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert rows[-1]["name"] == "hardnet39ds"
    assert int(rows[-1]["params"]) == count_costs(with_classes(load_seed("hardnet39ds"), 10)).params


@pytest.mark.slow
def test_cli_runs_from_any_directory_and_writes_nothing_else(tmp_path):
    _profile("arch=hardnet85", cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []  # no Hydra outputs/ or logs


def test_an_absurdly_deep_architecture_is_refused_in_one_line(tmp_path):
    from dataclasses import replace

    seed = load_seed("hardnet68")
    deep = replace(seed, stages=(replace(seed.stages[0], depth=100_000), *seed.stages[1:]))
    path = save_arch(deep, tmp_path / "deep.yaml")
    result = subprocess.run([sys.executable, "-m", "hardsearch.profile", f"arch={path}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"hardsearch.profile: error: {path}: stages[0].depth: got 100000")
    assert "allowed: at most 2000 layers in all" in result.stderr


def test_costs_beyond_any_network_are_flagged():
    result = _profile("arch=hardnet68", "input_size=40000")  # 1.35e14 MACs per image
    assert result.stderr.startswith("hardsearch.profile: warning: 1.35e+14 MACs per image")
    assert result.stderr.count("\n") == 1
    assert "warning" not in _profile("arch=hardnet68", "input_size=1024").stderr
