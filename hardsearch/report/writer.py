"""Everything a study's report writes into its folder, by the search and by ``hardsearch.report``.

The front's architectures go to ``archs/``; the report to ``pareto.csv``, ``pareto.json``,
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
from hardsearch.study.front import pareto_front

__all__ = ["report_study"]


def report_study(study: Any, folder: Path) -> tuple[ParetoReport, list[Path]]:
    """Export the front's architectures to ``folder/archs/`` and write the report into ``folder``."""
    objectives = study.user_attrs.get("hardsearch.objectives") or study.metric_names
    directions = [d.name.lower() for d in study.directions]
    input_size = study.user_attrs.get("hardsearch.input_size", [224, 224])
    trials = study.get_trials(deepcopy=False)
    front = pareto_front(trials, directions)
    files = export_front(front, folder / "archs", study=study.study_name, objectives=objectives,
                         input_size=input_size)
    report = build_report(study.study_name, trials, objectives, directions, files)
    return report, write_report(report, folder) + write_plots(report, folder) + [write_html(report, folder)]
