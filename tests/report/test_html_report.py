"""The interactive HTML report: self-contained, and rendered by a real headless Chromium."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest

from hardsearch.arch.config import summarize_arch
from hardsearch.core.paths import RESULTS_DIR
from hardsearch.report.html import hover_text, to_html
from hardsearch.report.pareto import build_report

from browser import find_chromium, open_page
from searching import run, small

#: Where the test run keeps its screenshot (git-ignored, like all of results/).
ARTIFACTS = Path(os.environ.get("HARDSEARCH_TEST_ARTIFACTS", RESULTS_DIR / "test-artifacts"))

# Plotly draws every marker of every trace as an SVG path with class "point"; panels are ".subplot.xy".
READY = """(() => {
  const plots = document.querySelectorAll('.js-plotly-plot');
  return plots.length === 2 && [...plots].every(p => p._fullLayout)
    && document.querySelectorAll('#pareto .scatterlayer .point').length > 0
    && document.querySelectorAll('#hypervolume .scatterlayer .trace').length === 2;
})()"""

# Where the first seed's star is drawn in the first panel: the browser moves the real mouse there.
FIRST_STAR = """(() => {
  const gd = document.getElementById('pareto');
  const seeds = gd._fullData.find(d => d.name === 'seeds' && d.xaxis === 'x');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.d2p(seeds.x[0]), y: box.top + ya._offset + ya.d2p(seeds.y[0])};
})()"""

# Then: what the hover label says, how many panels and points were drawn.
HOVER = """(async () => {
  await new Promise(done => setTimeout(done, 300));
  const gd = document.getElementById('pareto');
  return {hover: gd.querySelector('.hoverlayer').textContent,
          panels: gd.querySelectorAll('.cartesianlayer .subplot').length,
          points: gd.querySelectorAll('.scatterlayer .point').length,
          title: document.title};
})()"""


@pytest.fixture(scope="module")
def four_objective_study(tmp_path_factory):
    """A short real search with an extra objective (parameters): six panels."""
    return run(small(tmp_path_factory.mktemp("html"), "objectives=[proxy,macs,cio,params]", trials=8))


def test_page_is_self_contained_and_every_point_hovers_its_architecture(four_objective_study):
    study = four_objective_study.study
    directions = [d.name.lower() for d in study.directions]
    objectives = ["proxy", "macs", "cio", "params"]
    report = build_report(study.study_name, study.get_trials(), objectives, directions)
    page = to_html(report)
    # plotly.js is inline, nothing is fetched: the page opens offline, from a file
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert len(re.findall(r"<script", page)) >= 3 and "Plotly.newPlot" in page
    for point in report.points:
        text = hover_text(point, objectives)
        assert text.endswith("arch: " + html.escape(point["summary"])) and point["summary"].startswith("m=")
    assert page.count("arch: m=") == len(report.points) * 6  # one hover text per point in each of 6 panels


@pytest.mark.slow
def test_chromium_renders_the_report_without_console_errors(four_objective_study):
    if find_chromium() is None:
        pytest.fail("Debian's chromium is not installed; ./dev.sh test installs it (apt-get install "
                    "chromium)")
    page_file = four_objective_study.study_dir / "report.html"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report_html.png"
    shot.unlink(missing_ok=True)
    page = open_page(page_file, ready_js=READY, mouse_at_js=FIRST_STAR, after_ready_js=HOVER, screenshot=shot,
                     timeout=60)
    assert page.errors == [], page.errors
    trials = four_objective_study.study.get_trials()
    assert page.value["panels"] == 6  # every pair of the four objectives
    assert page.value["points"] == 6 * len(trials)  # each trial once per panel (all feasible here)
    assert page.value["title"] == "hardsearch: Pareto report of harmonic"
    first_seed = trials[0]
    assert "trial 0 (seed hardnet68)" in page.value["hover"]
    assert "arch: " + summarize_arch(first_seed.user_attrs["arch"]) in page.value["hover"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
