"""W&B dashboards for a search (``logger=wandb``, the default, offline).

One W&B run per search process, in a group named after the study: every worker of a study
logs into the same group, so its dashboard shows all their trials. Each finished trial logs
its objectives (``objective/*``), costs (``cost/*``), architecture parameters (``param/*``)
and the front size, against the trial number. An accuracy proxy (``train``, ``predictor``) is
logged in per cent, as every report shows it (the study stores the fraction); other proxies and
the costs are logged as stored. At the end the run gets the Pareto front as a
``wandb.Table`` (with an architecture summary column), the Pareto plots (PNG and the
interactive HTML page), the hypervolume history (a table and its line plot) and the exported
architecture files as an artifact.

W&B is never allowed to stop a search: if it cannot start, or a log call fails, the logger
prints one warning and the search goes on without it.

The mode: ``logger.mode`` when set, else W&B's own ``WANDB_MODE``, else ``offline`` (no
account needed; the run lands in ``results/<study>/wandb/`` and ``wandb sync`` uploads it).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import optuna
from optuna.trial import FrozenTrial

from hardsearch.core.errors import UserError, first_line
from hardsearch.report.pareto import COSTS, ParetoReport
from hardsearch.study.fidelity import at_fidelity, fidelity_of, partial
from hardsearch.study.front import feasible
from hardsearch.study.objectives import ProxyLike, display_value
from hardsearch.study.storage import redact

__all__ = ["MODES", "KEYS", "resolve_mode", "check_options", "WandbDashboard", "start_dashboard"]

MODES = ("offline", "online", "disabled")
_ENV_MODES = {"offline": "offline", "dryrun": "offline", "online": "online", "run": "online",
              "disabled": "disabled"}
#: Seconds an online run may take to start before the search goes on without W&B.
ONLINE_INIT_TIMEOUT = 30
#: The keys of ``conf/logger/wandb.yaml``.
KEYS = ("name", "progress_bar", "mode", "project", "entity", "group", "tags")


def _warn(message: str) -> None:
    print(f"warning: W&B: {message}; the search goes on without W&B", file=sys.stderr, flush=True)


def check_options(logger: Mapping[str, Any]) -> None:
    """One-line errors for a bad ``logger`` section of ``logger=wandb``."""
    for key in logger:
        if key not in KEYS:
            raise UserError(f"conf/logger/wandb.yaml: logger.{key}: unknown key; allowed keys: "
                            + ", ".join(KEYS))
    mode = logger.get("mode")
    if mode is not None and mode not in MODES:
        raise UserError(f"conf/logger/wandb.yaml: logger.mode: got {mode!r}; allowed: null (WANDB_MODE, "
                        f"else offline), {', '.join(MODES)}")
    for key in ("project", "entity", "group"):
        value = logger.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise UserError(f"conf/logger/wandb.yaml: logger.{key}: got {value!r}; allowed: null or a name")
    tags = logger.get("tags") or []
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) and 0 < len(t) <= 64 for t in tags):
        raise UserError(f"conf/logger/wandb.yaml: logger.tags: got {tags!r}; allowed: a list of names "
                        "(1 to 64 characters each)")


def resolve_mode(logger: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str:
    """``logger.mode`` if set, else ``WANDB_MODE`` if set, else ``offline``."""
    if logger.get("mode") is not None:
        return str(logger["mode"])
    env = environ.get("WANDB_MODE")
    if env is None or env == "":
        return "offline"
    if env not in _ENV_MODES:
        raise UserError(f"WANDB_MODE: got {env!r}; allowed: {', '.join(_ENV_MODES)} "
                        "(or unset it and choose logger.mode)")
    return _ENV_MODES[env]


def logged_objective(objective: str, value: float, *, proxy: ProxyLike = None) -> float:
    """An objective's value as W&B logs it: an accuracy proxy in per cent, anything else as stored."""
    return display_value(objective, value, proxy=proxy) if objective == "proxy" else value


def trial_metrics(trial: FrozenTrial, objectives: Sequence[str], *,
                  proxy: ProxyLike = None) -> dict[str, Any]:
    """What one finished trial logs (plain data; the W&B step metric is ``trial``); ``proxy``: the study's."""
    row: dict[str, Any] = {"trial": trial.number, "trial/state": trial.state.name.lower()}
    fidelity = fidelity_of(trial)
    if fidelity is not None:  # a multi-fidelity schedule: the epochs reached, and the values there
        row["trial/epochs"] = fidelity.get("epochs")
        row["trial/full_budget"] = int(bool(fidelity.get("full")))
        if partial(trial):
            trial = at_fidelity([trial])[0]
    row["trial/feasible"] = int(feasible(trial))
    if trial.duration is not None:
        row["trial/duration_s"] = trial.duration.total_seconds()
    row["trial/seed"] = trial.user_attrs.get("seed") or ""
    if trial.values is not None:
        for name, value in zip(objectives, trial.values, strict=True):
            if value == value and abs(value) != float("inf"):  # skip the infeasible's -inf proxy
                row[f"objective/{name}"] = logged_objective(name, value, proxy=proxy)
    for key in COSTS:
        if key in trial.user_attrs:
            row[f"cost/{key}"] = trial.user_attrs[key]
    for key, value in trial.params.items():
        row[f"param/{key}"] = value
    return row


def pareto_rows(report: ParetoReport) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the Pareto table: objectives (as :func:`logged_objective`), costs, architecture
    summary, file."""
    epochs = ["epochs"] if report.fidelity else []  # the budget each member's accuracy is at
    columns = ["trial", "seed", *report.objectives, *epochs, *(f"cost_{k}" for k in COSTS), "architecture",
               "arch_file", "digest"]
    rows = [[row["trial"], row["seed"] or "",
             *(logged_objective(o, row["objectives"][o], proxy=report.proxy) for o in report.objectives),
             *([row.get("epochs")] if epochs else []),
             *(row["costs"].get(k) for k in COSTS), row["summary"], row["arch_file"] or "",
             row["digest"] or ""] for row in report.front]
    return columns, rows


class WandbDashboard:
    """An Optuna callback logging each finished trial into a W&B run, then the report; never raises."""

    def __init__(self, run: Any, objectives: Sequence[str], *, front_size: Callable[[], int],
                 proxy: ProxyLike = None, warn: Callable[[str], None] = _warn) -> None:
        self.run = run
        self.objectives = list(objectives)
        self.proxy = proxy  # the study's: an accuracy is logged in per cent
        self.front_size = front_size  # the front the search already keeps up to date (its progress)
        self.warn = warn
        self.failed = False

    def _safely(self, what: str, action: Callable[[], Any]) -> None:
        if self.failed:
            return
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - W&B must never stop the search
            self.failed = True
            self.warn(f"could not log {what} ({exc.__class__.__name__}: {first_line(exc)})")
            try:
                self.run.finish(exit_code=1)
            except Exception:  # noqa: BLE001 - already failing; the warning said so
                pass

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.failed:
            return
        row = trial_metrics(trial, self.objectives, proxy=self.proxy)
        row["front/size"] = self.front_size()
        self._safely(f"trial {trial.number}", lambda: self.run.log(row))

    def log_report(self, report: ParetoReport, folder: Path) -> None:
        """The Pareto table, plots, hypervolume history and the architecture files as an artifact."""
        import wandb

        def log() -> None:
            columns, rows = pareto_rows(report)
            history = wandb.Table(columns=["trial", "hypervolume"],
                                  data=[[n, v] for n, v in report.hypervolume_history])
            media: dict[str, Any] = {
                "pareto/front": wandb.Table(columns=columns, data=rows),
                "pareto/hypervolume_history": history,
                "plots/hypervolume_line": wandb.plot.line(history, "trial", "hypervolume",
                                                           title="hypervolume of the front over trials"),
            }
            for name in ("pareto.png", "hypervolume.png"):
                if (folder / name).is_file():
                    media[f"plots/{name[:-4]}"] = wandb.Image(str(folder / name))
            if (folder / "report.html").is_file():
                media["plots/report"] = wandb.Html(str(folder / "report.html"))
            self.run.log(media)
            self.run.summary.update({"pareto/size": len(report.front), "pareto/n_trials": report.n_trials,
                                     "pareto/n_feasible": report.n_feasible,
                                     "pareto/hypervolume": report.hypervolume_front,
                                     "pareto/hypervolume_seeds": report.hypervolume_seeds})
            artifact = wandb.Artifact(f"{report.study}-pareto", type="architectures",
                                      description=f"the Pareto front of study {report.study}: one "
                                                  "architecture YAML per member, and the report's tables",
                                      metadata={"study": report.study, "front": len(report.front),
                                                "hypervolume": report.hypervolume_front})
            for path in sorted((folder / "archs").glob("*.yaml")):  # (add_dir prints a progress line)
                artifact.add_file(str(path), name=f"archs/{path.name}")
            for name in ("pareto.csv", "pareto.json", "report.md"):
                if (folder / name).is_file():
                    artifact.add_file(str(folder / name), name=name)
            self.run.log_artifact(artifact)

        self._safely("the Pareto report", log)

    def describe(self) -> str:
        """Where the run is: its URL online, its folder offline."""
        run = self.run
        head = f"W&B: run {run.name} in group {run.group}"
        if run.settings.mode in ("offline", "dryrun"):
            folder = run.settings.sync_dir
            return f"{head}, offline in {folder} (browse: wandb leet {folder}; upload: wandb sync {folder})"
        return f"{head}: {run.url}"

    def finish(self, exit_code: int = 0) -> None:
        self._safely("the end of the run", lambda: self.run.finish(exit_code=exit_code))
        self.failed = True  # nothing more goes to this run


@contextlib.contextmanager
def _argv_redacted() -> Iterator[None]:
    saved = sys.argv
    sys.argv = [redact(arg) for arg in saved]
    try:
        yield
    finally:
        sys.argv = saved


def start_dashboard(logger: Mapping[str, Any], *, study: str, study_dir: Path, objectives: Sequence[str],
                    config: Mapping[str, Any], front_size: Callable[[], int], tags: Sequence[str] = (),
                    worker: str | None = None, proxy: ProxyLike = None,
                    warn: Callable[[str], None] = _warn) -> WandbDashboard | None:
    """A W&B run for this worker (group = the study) or, if W&B cannot start, ``None`` after a warning.

    ``proxy`` is the study's proxy (name or settings): an accuracy's ``objective/proxy`` is in per cent.

    Bad options are the user's error and raise :class:`UserError` before anything starts.
    """
    check_options(logger)
    mode = resolve_mode(logger)
    if mode == "disabled":
        return None
    worker = worker or f"{socket.gethostname()}-{os.getpid()}"
    try:
        import wandb

        study_dir.mkdir(parents=True, exist_ok=True)
        if mode == "online":  # without a network W&B keeps trying until init_timeout: say so first
            print(f"W&B: connecting (online mode; gives up after {ONLINE_INIT_TIMEOUT} s without a network; "
                  f"logger.mode=offline or WANDB_MODE=offline logs into {study_dir / 'wandb'} instead) ...",
                  flush=True)
        with _argv_redacted():  # W&B records the command line; a storage password stays out of it
            run = wandb.init(
                project=logger.get("project") or "hardsearch", entity=logger.get("entity"),
                group=logger.get("group") or study, job_type="search", name=f"{study}@{worker}",
                tags=list(dict.fromkeys([*tags, *(logger.get("tags") or [])])), mode=mode, dir=str(study_dir),
                config={**config, "worker": worker}, reinit="create_new",
                settings=wandb.Settings(console="off", silent=True,
                                        init_timeout=ONLINE_INIT_TIMEOUT if mode == "online" else 60))
        run.define_metric("trial")
        for prefix in ("trial", "objective", "cost", "param", "front", "plots", "pareto"):
            run.define_metric(f"{prefix}/*", step_metric="trial")
        run.define_metric("objective/proxy", summary="max")
        for name in COSTS:
            run.define_metric(f"objective/{name}", summary="min")
    except Exception as exc:  # noqa: BLE001 - W&B must never stop the search
        warn(f"could not start an {mode} run ({exc.__class__.__name__}: {first_line(exc)})")
        return None
    return WandbDashboard(run, objectives, front_size=front_size, proxy=proxy, warn=warn)
