"""The search command, ``python -m hardsearch +space=harmonic``: search, then report.

It puts the layers together: the options are checked (:mod:`hardsearch.search.options`, and
W&B's when ``logger=wandb``) before anything is touched; the study is opened and this worker's
trials run (:mod:`hardsearch.search.run`); then the Pareto front is printed, exported and
reported (:mod:`hardsearch.report`), and logged to W&B. Re-running the same command resumes
the study and runs only the trials still missing to reach ``budget.n_trials``.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping

from optuna.trial import TrialState

from hardsearch.arch.space import SearchSpace
from hardsearch.core.cli import hydra_main
from hardsearch.core.signals import deferred, exit_code, interruptible
from hardsearch.report.console import format_front, format_hypervolume, format_recommendation
from hardsearch.report.dashboard import check_options, resolve_mode, start_dashboard
from hardsearch.report.writer import report_study
from hardsearch.search.options import parse_options
from hardsearch.search.run import FINISHED, OpenSearch, SearchResult, open_search, run_trials
from hardsearch.search.worker import counts_toward_budget
from hardsearch.study.fidelity import at_fidelity
from hardsearch.study.front import pareto_front
from hardsearch.study.storage import read_trials, redact

__all__ = ["run_search", "search", "main"]


def run_search(options: Mapping[str, Any], *, out: Callable[[str], None] = print) -> SearchResult:
    """Run (or resume) the search the composed ``conf/search.yaml`` describes, then report it."""
    parsed = parse_options(options)
    logger = parsed.logger
    if logger["name"] == "wandb":
        check_options(logger)
        resolve_mode(logger)
    opened = open_search(parsed, out=out)
    dashboard = None
    if logger["name"] == "wandb" and opened.remaining > 0:
        dashboard = start_dashboard(logger, study=parsed.name, study_dir=opened.study_dir,
                                    objectives=parsed.objectives,
                                    config=_run_config(parsed.options, parsed.name),
                                    tags=_run_tags(parsed.options, parsed.space), worker=opened.worker,
                                    front_size=lambda: len(opened.progress.front),
                                    proxy=opened.objective.proxy.name)
    try:
        ran, interrupted = run_trials(opened, n_trials=parsed.n_trials, timeout=parsed.timeout,
                                      callbacks=[dashboard] if dashboard is not None else [])
        result = _finish(opened, parsed.objectives, dashboard=dashboard, ran=ran, interrupted=interrupted,
                         out=out)
    except BaseException:
        if dashboard is not None:
            dashboard.finish(exit_code=1)
        raise
    if dashboard is not None:
        dashboard.finish(exit_code=130 if result.interrupted else 0)
    return result


def _finish(opened: OpenSearch, objectives: list[str], *, dashboard: Any, ran: int, interrupted: bool,
            out: Callable[[str], None]) -> SearchResult:
    """The closing summary, the front, the report files, and the report in W&B."""
    study, study_dir = opened.study, opened.study_dir
    trials = read_trials(study)  # the whole study, or one line naming the storage fault
    front = pareto_front(at_fidelity(trials), opened.directions)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in FINISHED}
    infeasible = sum("infeasible" in t.user_attrs for t in trials)
    lost = sum(t.state == TrialState.FAIL and not counts_toward_budget(t) for t in trials)
    out(f"\n{len(trials)} trials: {counts['complete']} complete ({infeasible} infeasible), "
        f"{counts['pruned']} pruned, {counts['fail']} failed"
        + (f" ({lost} lost with a dead or interrupted worker, and run again)" if lost else "")
        + f". Pareto front ({len(front)}):")
    out(format_front(front, objectives, proxy=opened.objective.proxy.name))
    with deferred():  # a second Ctrl-C waits until the report files are whole, then ends the run
        summary, written = report_study(study, study_dir)
    recommendation = format_recommendation(summary)
    if recommendation:
        out("\n" + "\n".join(recommendation))
    out(f"\n{format_hypervolume(summary)}; wrote {', '.join(str(p) for p in written)} and "
        f"{len(summary.front)} architectures in {study_dir / 'archs'}")
    if dashboard is not None:
        dashboard.log_report(summary, study_dir)
        if not dashboard.failed:
            out(dashboard.describe())
    return SearchResult(study, front, study_dir, ran, interrupted)


def _run_config(options: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The search's settings as W&B's run config (the storage URL without its password)."""
    config = {k: v for k, v in options.items() if k not in ("hydra", "space", "logger")}
    config["study"] = name
    config["space"] = options["space"].get("name")
    storage = dict(config.get("storage") or {})
    if storage.get("url"):
        storage["url"] = redact(str(storage["url"]))
    config["storage"] = storage
    return config


def _run_tags(options: Mapping[str, Any], space: SearchSpace) -> list[str]:
    return ["hardsearch", f"space:{space.name}", f"sampler:{options['sampler'].get('name')}",
            f"proxy:{options['proxy'].get('name')}"]


def search(options: Mapping[str, Any]) -> None:
    """The command's task (Hydra hands over the composed config as a plain dict).

    Ctrl-C and SIGTERM end the trials; the summary and report are still written (exit 130 or
    143). Interrupted again during that wrap-up, it stops with one line, and the report files
    are either the previous ones or whole new ones.
    """
    try:
        with interruptible():
            result = run_search(options)
    except KeyboardInterrupt:
        print("hardsearch: interrupted: finished trials are kept and the report files are whole (the "
              "previous or the new ones); re-run the same command to resume", file=sys.stderr)
        raise SystemExit(exit_code()) from None
    if result.interrupted:
        raise SystemExit(exit_code())


def main() -> None:
    hydra_main("hardsearch", "search", search)
