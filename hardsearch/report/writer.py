"""Everything a study's report writes into its folder, by the search and by ``hardsearch.report``.

The front's architectures go to ``archs/`` (and the files of trials that left the front since
an earlier report leave it); the report to ``pareto.csv``, ``pareto.json``,
``report.md``, the PNG plots and ``report.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hardsearch.report.export import export_front
from hardsearch.report.html import write_html
from hardsearch.report.pareto import ParetoReport, build_report
from hardsearch.report.plots import write_plots
from hardsearch.report.text import write_report
from hardsearch.study.bounds import read_bounds
from hardsearch.study.fidelity import at_fidelity
from hardsearch.study.front import pareto_front
from hardsearch.study.storage import READING, read_trials, storage_faults

__all__ = ["report_study", "proxy_info"]


def report_study(study: Any, folder: Path, *, full_budget: bool = False) -> tuple[ParetoReport, list[Path]]:
    """Export the front's architectures to ``folder/archs/`` and write the report into ``folder``.

    Under a multi-fidelity schedule a member stopped at a rung enters at the accuracy it reached
    (:func:`hardsearch.study.fidelity.at_fidelity`); ``full_budget`` keeps only members trained in full.

    The study is read whole before any file is written: a storage that cannot be read whole (a
    fault, a torn journal) is one line, and the report files stay as they were.
    """
    with storage_faults(study, READING):
        trials = at_fidelity(read_trials(study), full_only=full_budget)
        objectives = study.user_attrs.get("hardsearch.objectives") or study.metric_names
        directions = [d.name.lower() for d in study.directions]
        input_size = study.user_attrs.get("hardsearch.input_size", [224, 224])
        proxy = proxy_info(study)
        bounds = read_bounds(study)  # None for a study from before the bounds: normalised per study
    front = pareto_front(trials, directions)
    with storage_faults(f"dir: {str(folder)!r}", "cannot write the report"):  # a full disk, no permission
        files = export_front(front, folder / "archs", study=study.study_name, objectives=objectives,
                             input_size=input_size)
        report = build_report(study.study_name, trials, objectives, directions, files, proxy=proxy,
                              input_size=input_size, bounds=bounds, full_budget=full_budget)
        written = write_report(report, folder) + write_plots(report, folder) + [write_html(report, folder)]
    return report, written


def proxy_info(study: Any) -> dict[str, Any] | None:
    """What the study's proxy objective is: its ``hardsearch.proxy`` attribute (name, resolution, classes,
    data, members), or for a study from before that attribute, what its ensemble calibration says."""
    stored = study.user_attrs.get("hardsearch.proxy")
    if stored:
        return dict(stored)
    settings = (study.user_attrs.get("hardsearch.calibration") or {}).get("settings")
    if settings:
        return {"name": "ensemble", "members": settings.get("members"),
                "resolution": settings.get("resolution"), "data": settings.get("data")}
    return None
