"""``python -m hardsearch.report study=NAME [storage.url=URL] [dir=DIR]``: (re)write a study's report.

Into the study's folder: ``pareto.csv`` and ``pareto.json`` (every Pareto-optimal trial with its
parameters, objectives, costs and exported architecture file), ``report.md`` (what the proxy is,
which member to pick, the front, how the found architectures beat each seed, and the hypervolume
of the front and of the seeds alone), the PNG plots and ``report.html``; the front's
architectures in ``archs/``, whose files of trials no longer on the front are removed.
"""

from __future__ import annotations

from typing import Any, Mapping

from hardsearch.core.cli import hydra_main
from hardsearch.core.errors import UserError
from hardsearch.report.pareto import ParetoReport
from hardsearch.report.writer import report_study
from hardsearch.study.storage import load_study

__all__ = ["report", "main"]


def report(options: Mapping[str, Any]) -> ParetoReport:
    """The command: the report of ``study`` (in its folder, or ``dir``)."""
    full_budget = options.get("full_budget", False)
    if not isinstance(full_budget, bool):
        raise UserError(f"full_budget: got {full_budget!r}; allowed: true (only members trained to the full "
                        "budget of a multi-fidelity schedule) or false")
    study, folder = load_study(options)
    result, written = report_study(study, folder, full_budget=full_budget)
    print(f"{len(result.front)} Pareto-optimal trials; hypervolume {result.hypervolume_front:.4f} "
          f"(seeds alone {result.hypervolume_seeds:.4f})")
    for path in written:
        print(f"wrote {path}")
    return result


def main() -> None:
    hydra_main("hardsearch.report", "report", report)


if __name__ == "__main__":
    main()
