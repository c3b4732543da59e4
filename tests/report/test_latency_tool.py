"""``python -m hardsearch.latency``: measuring members resumably, fitting, the files it writes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from hardsearch.arch.latency import Timing, time_forward
from hardsearch.arch.latency_model import TERMS, load_profile
from hardsearch.arch.seeds import load_seed
from hardsearch.arch.space import load_space
from hardsearch.core.errors import UserError
from hardsearch.core.paths import ROOT
from hardsearch.report.latency import analyse, check_options, measure_rows, members_of, stored_rows
from hardsearch.report.latency_render import to_markdown, write_outputs

from browser import find_chromium, open_page

TRUE = {"macs": 1.5e-5, "cio": 2e-3, "concat": 5e-4, "convs": 40.0, "weights_beyond_cache": 3e-3,
        "cio_beyond_cache": 4e-3}
CACHE_BYTES = 2**23  # 2**21 float32 elements: both beyond-cache terms are non-zero for some members at 224²


class FakeTimer:
    """Latency from known coefficients (no model runs); counts the members it was asked for."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, arch, size, **settings) -> Timing:
        from hardsearch.arch.costs import cio_beyond, cost_totals, weights_beyond

        self.calls.append(arch.name)
        cache = CACHE_BYTES // 4
        c = cost_totals(arch, size)._asdict() | {"weights_beyond_cache": weights_beyond(arch, cache),
                                                 "cio_beyond_cache": cio_beyond(arch, size, cache)}
        us = 500 + sum(TRUE[k] * c[k] for k in TRUE)
        return Timing((us * 1e-6 * 0.99, us * 1e-6, us * 1e-6 * 1.01, us * 1e-6))


def _settings(space, **change):
    options = {"n": 12, "seed": 0, "input_size": 64, "batch": 1, "backend": "torch", "threads": 1,
               "warmup": 0, "repeats": 4, "out": None, "cache_bytes": CACHE_BYTES, **change}
    return check_options(space, options)


def test_a_resumed_measurement_reuses_its_rows(tmp_path):
    space = load_space("harmonic")
    settings, n, seed = _settings(space)[:3]
    members = members_of(space, n, seed)
    assert [m[0] for m in members[:2]] == ["hardnet68", "hardnet85"] and all(m[2] for m in members[:2])
    assert len({m[1].name for m in members}) == n
    timer = FakeTimer()
    lines: list[str] = []
    first = measure_rows(members[:7], settings, tmp_path, log=lines.append, timer=timer)
    assert len(timer.calls) == 7 and len(first) == 7
    timer.calls.clear()
    again = measure_rows(members, settings, tmp_path, log=lines.append, timer=timer)
    assert timer.calls == [m[1].name for m in members[7:]]  # only what was missing
    assert [r["digest"] for r in again[:7]] == [r["digest"] for r in first]
    assert sum("measured before, reused" in line for line in lines) == 7
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == n
    timer.calls.clear()
    measure_rows(members, settings, tmp_path, log=lines.append, timer=timer)
    assert timer.calls == []


class NoisyTimer(FakeTimer):
    """The first ``noisy`` timings of each member are spread wide (something else ran meanwhile)."""

    def __init__(self, noisy: int) -> None:
        super().__init__()
        self.noisy = noisy

    def __call__(self, arch, size, **settings) -> Timing:
        steady = super().__call__(arch, size, **settings)
        if self.calls.count(arch.name) > self.noisy:
            return steady
        t = steady.median
        return Timing((t * 0.7, t * 1.3, t * 1.6, t))


def test_a_noisy_timing_is_taken_again_and_the_steadiest_kept(tmp_path):
    space = load_space("harmonic")
    settings, n, seed = _settings(space)[:3]
    members = members_of(space, 3, seed)
    timer, lines = NoisyTimer(noisy=1), []
    rows = measure_rows(members, settings, tmp_path, log=lines.append, timer=timer, max_spread=0.1, tries=3)
    assert len(timer.calls) == 6 and all(r["tries"] == 2 and r["spread"] < 0.1 for r in rows)
    assert sum("2 tries, the steadiest kept" in line for line in lines) == 3
    # always noisy: three tries each, the steadiest kept and marked; a rerun does not try again
    timer, lines = NoisyTimer(noisy=99), []
    rows = measure_rows(members, settings, tmp_path / "b", log=lines.append, timer=timer, max_spread=0.1,
                        tries=3)
    assert len(timer.calls) == 9 and all(r["tries"] == 3 and r["spread"] > 0.1 for r in rows)
    assert sum("still above max_spread" in line for line in lines) == 3
    timer.calls.clear()
    measure_rows(members, settings, tmp_path / "b", log=lines.append, timer=timer, max_spread=0.1, tries=3)
    assert timer.calls == []
    # a row stored noisy with fewer tries (an older run without max_spread) is measured again
    timer = NoisyTimer(noisy=1)
    first = measure_rows(members, settings, tmp_path / "c", log=lines.append, timer=timer)  # takes the noisy
    assert all(r["spread"] > 0.1 and r["tries"] == 1 for r in first)
    lines.clear()
    rows = measure_rows(members, settings, tmp_path / "c", log=lines.append, timer=timer, max_spread=0.1)
    assert len(timer.calls) == 3 + 3 and all(r["spread"] < 0.1 for r in rows)  # once more each: steady
    assert sum("noisy before, measured again" in line for line in lines) == 3
    assert len(stored_rows(tmp_path / "c" / "rows.jsonl", settings)) == 3  # the last row of each wins


class DriftingTimer(FakeTimer):
    """The machine runs at half speed during the second pass over the members."""

    def __call__(self, arch, size, **settings) -> Timing:
        steady = super().__call__(arch, size, **settings)
        slow = self.calls.count(arch.name) == 2
        return Timing(tuple(t * 2 for t in steady.times)) if slow else steady


def test_rounds_pass_over_every_member_and_resume_round_by_round(tmp_path):
    space = load_space("harmonic")
    settings, n, seed = _settings(space)[:3]
    members = members_of(space, 5, seed)
    timer, lines = DriftingTimer(), []
    one = measure_rows(members, settings, tmp_path, log=lines.append, timer=timer, rounds=1)
    assert len(timer.calls) == 5 and all(r["rounds"] == 1 for r in one)
    three = measure_rows(members, settings, tmp_path, log=lines.append, timer=timer, rounds=3)
    assert len(timer.calls) == 5 * 3  # round 1 reused, rounds 2 and 3 measured
    assert timer.calls[5:10] == timer.calls[10:15] == [m[1].name for m in members]  # passes, not back to back
    for before, after in zip(one, three, strict=True):
        assert after["rounds"] == 3 and len(after["times_us"]) == 3 * len(before["times_us"])
        assert after["round_latencies_us"][1] == pytest.approx(2 * before["latency_us"])  # the slow spell
        assert after["latency_us"] == pytest.approx(before["latency_us"])  # ... does not move the median
    assert sum(line.startswith("round 2/3 [") for line in lines) == 5
    assert len(stored_rows(tmp_path / "rows.jsonl", settings)) == 15


def test_rows_of_other_settings_and_torn_lines_are_left_alone(tmp_path):
    space = load_space("harmonic")
    settings, n, seed = _settings(space)[:3]
    members = members_of(space, 5, seed)
    measure_rows(members, settings, tmp_path, log=lambda line: None, timer=FakeTimer())
    rows_file = tmp_path / "rows.jsonl"
    with rows_file.open("a") as f:
        f.write('{"name": "cut short", "dig')  # a crash in the middle of a write
    before = rows_file.read_bytes()
    other = _settings(space, input_size=96).settings
    timer, lines = FakeTimer(), []
    measure_rows(members, other, tmp_path, log=lines.append, timer=timer)
    assert len(timer.calls) == 5  # a new input size: nothing reused
    assert rows_file.read_bytes().startswith(before)  # nothing stored was changed
    assert any("skipping an unreadable line" in line for line in lines)
    assert any("ignoring 5 rows measured with other settings" in line for line in lines)
    assert len(stored_rows(rows_file, settings)) == 5 and len(stored_rows(rows_file, other)) == 5


def test_analyse_recovers_the_device_and_writes_every_file(tmp_path):
    space = load_space("harmonic")
    settings, n, seed = _settings(space, n=16, input_size=224)[:3]
    rows = measure_rows(members_of(space, n, seed), settings, tmp_path, log=lambda line: None,
                        timer=FakeTimer())
    study = analyse(rows, settings, CACHE_BYTES)
    model = study.profile.model
    assert model.terms == TERMS
    for term, value in zip(model.terms, model.coefficients, strict=True):
        assert value == pytest.approx(TRUE[term], rel=1e-3), term
    assert study.quality["fit"].mape < 0.01 and study.quality["fit"].spearman == pytest.approx(1.0)
    assert study.quality["fit"].mape <= study.quality["macs"].mape
    written = write_outputs(study, tmp_path)
    assert {p.name for p in written} == {"profile.yaml", "latency.json", "latency.md", "latency.png",
                                         "latency.html"}
    profile = load_profile(tmp_path / "profile.yaml")
    assert profile.model == model and profile.input_size == (224, 224) and profile.threads == 1
    assert profile.cache_elements == CACHE_BYTES // 4 and profile.extra["cache_bytes"] == CACHE_BYTES
    for term in ("weights_beyond_cache", "cio_beyond_cache"):  # both terms are exercised
        assert 2 <= sum(r[term] > 0 for r in study.rows) < 16, term
    assert profile.quality["n"] == 16 and "macs_alone" in profile.quality
    data = json.loads((tmp_path / "latency.json").read_text())
    assert set(data["quality"]) >= {"fit", "macs", "cio", "macs+convs", "macs+cio+convs"}
    assert len(data["rows"]) == 16 and all("held_out_us" in r for r in data["rows"])
    text = to_markdown(study)
    assert "| fit: all six terms (+ CIO beyond cache) |" in text
    assert "Partial Spearman of CIO" in text
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("change, message", [
    ({"backend": "tpu"}, "conf/latency.yaml: backend: got 'tpu'; allowed: torch, onnxruntime, cuda"),
    ({"n": 7}, "conf/latency.yaml: n: got 7; allowed: an integer >= 8"),
    ({"cache_bytes": -1}, "conf/latency.yaml: cache_bytes: got -1; allowed: null (read from the device) or "
                          "an integer >= 0"),
    ({"repeats": 0}, "conf/latency.yaml: repeats: got 0; allowed: an integer >= 1"),
    ({"max_spread": 0}, "conf/latency.yaml: max_spread: got 0; allowed: null (accept any) or a number > 0"),
    ({"tries": 0}, "conf/latency.yaml: tries: got 0; allowed: an integer >= 1"),
    ({"rounds": 0}, "conf/latency.yaml: rounds: got 0; allowed: an integer >= 1"),
    ({"threads": -1}, "conf/latency.yaml: threads: got -1; allowed: an integer >= 0"),
    ({"input_size": [64]}, "conf/latency.yaml: input_size: got [64]; allowed: an integer >= 1 or [height, "
                           "width]"),
    ({"input_size": 8}, "conf/latency.yaml: input_size: 8x8 is too small"),
])
def test_bad_options_are_one_line_errors(change, message):
    with pytest.raises(UserError) as err:
        _settings(load_space("harmonic"), **change)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cuda_backend_needs_a_gpu():
    space = load_space("harmonic")
    if torch.cuda.is_available():  # a GPU machine: the backend is there and measures
        settings = _settings(space, backend="cuda").settings
        assert settings["backend"] == "cuda"
        timing = time_forward(load_seed("hardnet39ds"), (32, 32), repeats=2, warmup=1, backend="cuda")
        assert timing.median > 0
    else:
        with pytest.raises(UserError, match="backend: got 'cuda', but torch sees no CUDA device here; "
                                            "allowed: torch, onnxruntime"):
            _settings(space, backend="cuda")


@pytest.mark.slow
def test_onnxruntime_backend_times_the_exported_graph():
    timing = time_forward(load_seed("hardnet39ds"), (32, 32), repeats=4, warmup=1, threads=1,
                          backend="onnxruntime")
    assert len(timing.times) == 4 and all(t > 0 for t in timing.times)
    assert timing.median == sorted(timing.times)[1] * 0.5 + sorted(timing.times)[2] * 0.5


@pytest.mark.slow
def test_command_measures_fits_resumes_and_renders(tmp_path):
    out = tmp_path / "lat"
    command = [sys.executable, "-m", "hardsearch.latency", "+space=harmonic", "n=8", "input_size=32",
               "warmup=1", "repeats=3", "threads=1", "rounds=2", f"out={out}"]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "round 1/2 [1/8] hardnet68: " in first.stdout and "round 2/2 [8/8] " in first.stdout
    assert "fit: all six terms (+ CIO beyond cache)" in first.stdout
    profile = load_profile(out / "profile.yaml")
    assert profile.backend == "torch" and profile.threads == 1 and profile.input_size == (32, 32)
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("measured before, reused") == 8 * 2
    if find_chromium() is None:
        pytest.fail("Debian's chromium is not installed; ./dev.sh test installs it (apt-get install "
                    "chromium)")
    page = open_page(out / "latency.html", timeout=60, ready_js="""(() => {
      const gd = document.getElementById('latency');
      return gd && gd._fullLayout && gd.querySelectorAll('.scatterlayer .point').length > 0;
    })()""", after_ready_js="""(() => ({
      panels: document.querySelectorAll('#latency .cartesianlayer .subplot').length,
      points: document.querySelectorAll('#latency .scatterlayer .point').length,
      rows: document.querySelectorAll('table tbody tr').length}))()""")
    assert page.errors == [], page.errors
    assert page.value == {"panels": 3, "points": 3 * 8, "rows": 12}


def test_command_refuses_bad_input_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "hardsearch.latency", "+space=harmonic", "backend=tpu",
                             f"out={tmp_path / 'x'}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ("hardsearch.latency: error: conf/latency.yaml: backend: got 'tpu'; "
                                     "allowed: torch, onnxruntime, cuda")
    assert not (tmp_path / "x").exists()
