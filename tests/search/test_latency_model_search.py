"""Searching on a device profile: ``latency_model`` as an objective and a limit, predicted per candidate."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from hardsearch.arch.config import arch_from_dict
from hardsearch.arch.latency_model import TERMS, LatencyModel, LatencyProfile, save_profile
from hardsearch.arch.seeds import load_seed
from hardsearch.core.errors import UserError
from hardsearch.core.paths import ROOT
from hardsearch.study.bounds import read_bounds

from searching import run, small

COEFFICIENTS = {"macs": 1.1e-5, "cio": 1.5e-3, "concat": 3e-4, "convs": 30.0, "weights_beyond_cache": 1e-3,
                "cio_beyond_cache": 2e-3}
WANDB = str(Path(sys.executable).with_name("wandb"))


def _profile(tmp_path, name="profile.yaml", **change) -> tuple[Path, LatencyProfile]:
    model = LatencyModel(TERMS, tuple(COEFFICIENTS[t] for t in TERMS), 900.0)
    settings = {"device": "Test CPU", "backend": "torch", "threads": 2, "input_size": (224, 224), "batch": 1,
                **change}
    profile = LatencyProfile(model, settings["device"], settings["backend"], settings["threads"],
                             settings["input_size"], settings["batch"],
                             {"n": 40, "spearman": 0.97, "mape": 6.0}, cache_elements=2**21)
    return save_profile(profile, tmp_path / name), profile


def _records(run_dir: Path) -> list[dict]:
    out = subprocess.run([WANDB, "leet", "inspect", "--json", str(run_dir)], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.slow
def test_a_search_on_latency_model_with_a_limit_runs_end_to_end(tmp_path):
    path, profile = _profile(tmp_path)
    h68, h85 = (profile.predict_us(load_seed(n)) for n in ("hardnet68", "hardnet85"))
    limit = (h68 + h85) / 2  # HarDNet-68 under it, HarDNet-85 over it
    result = run(small(tmp_path, f"latency.profile={path}", "objectives=[proxy,latency_model]",
                       f"constraints.latency_model={limit}", trials=8, logger="wandb"))
    study = result.study
    trials = study.get_trials()
    assert study.metric_names == ["proxy", "latency_model"] and len(trials) == 8
    assert study.user_attrs["hardsearch.latency_profile"]["device"] == "Test CPU"
    over = [t for t in trials if t.user_attrs["latency_model"] > limit]
    assert [t.user_attrs.get("seed") for t in over] == ["hardnet85"]  # the sampler proposes none over it
    for t in trials:
        arch = arch_from_dict(t.user_attrs["arch"])
        assert t.user_attrs["latency_model"] == pytest.approx(profile.predict_us(arch))
        assert t.values[1] == t.user_attrs["latency_model"]
        if t in over:  # recorded as infeasible without paying for the proxy
            assert t.values[0] == -math.inf and "proxy_seconds" not in t.user_attrs
            assert t.user_attrs["infeasible"].startswith("over the limit: latency_model")
            assert t.constraints == {"latency_model": pytest.approx(t.user_attrs["latency_model"] - limit)}
        else:
            assert "proxy_seconds" in t.user_attrs and math.isfinite(t.values[0])
    bound = read_bounds(study).objectives["latency_model"]  # fixed from the corners, like the costs
    assert bound.best < h68 < h85 < bound.worst
    with (result.study_dir / "pareto.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and all(float(r["cost_latency_model"]) <= limit for r in rows)
    assert "latency_model" in (result.study_dir / "report.md").read_text()
    (run_dir,) = sorted((result.study_dir / "wandb").glob("offline-run-*"))
    logged = {r["history"]["item"]["trial"]: r["history"]["item"] for r in _records(run_dir)
              if r["type"] == "history" and "trial/state" in r["history"]["item"]}
    for t in trials:
        assert logged[t.number]["cost/latency_model"] == pytest.approx(t.user_attrs["latency_model"])
        assert logged[t.number]["objective/latency_model"] == pytest.approx(t.values[1])


def test_a_profile_alone_records_predicted_latency_as_a_cost(tmp_path):
    path, profile = _profile(tmp_path)
    result = run(small(tmp_path, f"latency.profile={path}", "sampler=random", trials=3))
    for t in result.study.get_trials():
        assert t.user_attrs["latency_model"] == pytest.approx(
            profile.predict_us(arch_from_dict(t.user_attrs["arch"])))


def test_resuming_with_another_profile_is_refused(tmp_path):
    path, _ = _profile(tmp_path)
    run(small(tmp_path, f"latency.profile={path}", "objectives=[proxy,latency_model]", "sampler=random",
              trials=2))
    other, _ = _profile(tmp_path, "other.yaml", device="Other CPU")
    before = (tmp_path / "study" / "study.db").read_bytes()
    with pytest.raises(UserError, match=r"latency.profile: got a profile of Other CPU, torch, 2 threads, "
                                        r"224x224, batch 1, but the study's latency_model values were "
                                        r"predicted by another profile"):
        run(small(tmp_path, f"latency.profile={other}", "objectives=[proxy,latency_model]", "sampler=random",
                  trials=4))
    assert (tmp_path / "study" / "study.db").read_bytes() == before


@pytest.mark.parametrize("overrides, message", [
    (["objectives=[proxy,latency_model]"],
     "conf/search.yaml: objectives: latency_model needs a device profile; allowed: latency.profile=PATH"),
    (["constraints.latency_model=5000"],
     "conf/search.yaml: constraints.latency_model: latency_model needs a device profile; allowed: "
     "latency.profile=PATH"),
    (["latency.profile=/no/such/profile.yaml"],
     "latency.profile: /no/such/profile.yaml: no such file; allowed: a device profile written by python -m "
     "hardsearch.latency"),
])
def test_bad_latency_model_options_are_one_line_errors(tmp_path, overrides, message):
    with pytest.raises(UserError) as err:
        run(small(tmp_path, *overrides))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "study").exists()  # refused before any storage was touched


@pytest.mark.slow
def test_bad_profile_on_the_command_line_exits_in_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    path, _ = _profile(tmp_path)
    bad.write_text(path.read_text().replace("  convs: 30.0", "  convs: -30.0"))
    result = subprocess.run([sys.executable, "-m", "hardsearch", "+space=harmonic", f"latency.profile={bad}",
                             "objectives=[proxy,latency_model]", f"dir={tmp_path / 'study'}", "logger=none"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"hardsearch: error: {bad}: coefficients: convs: got -30.0; allowed: a "
                                     "number >= 0")
    assert not (tmp_path / "study").exists()


def test_profile_tool_prints_the_prediction(tmp_path, capsys):
    from hardsearch.arch.profile import profile as profile_tool

    path, profile = _profile(tmp_path)
    profile_tool(arch="hardnet68", input_size=512, latency={"profile": str(path)})
    out = capsys.readouterr().out.splitlines()
    expected = profile.predict_us(load_seed("hardnet68")) / 1e3
    assert out[-1] == (f"predicted latency: {expected:.3f} ms on Test CPU, torch, 2 threads, 224x224, "
                       "batch 1 (held-out MAPE 6.0 %, Spearman 0.970 over 40 members)")
    with pytest.raises(UserError, match="latency: got 'x'; allowed: latency.profile=PATH"):
        profile_tool(arch="hardnet68", latency="x")
