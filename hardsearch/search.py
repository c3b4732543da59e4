"""The search: Optuna multi-objective optimisation of harmonic networks (``python -m hardsearch``).

One trial: draw an architecture from the space, count its costs in closed form at the space's
input size (and measure latency if asked), record a candidate over a limit as infeasible
without paying for the proxy, otherwise score it with the accuracy proxy. The objectives
(``proxy`` maximised; ``macs``, ``cio`` and optionally ``params``, ``peak_activations``,
``latency`` minimised) are named in the study. The space's seed architectures are enqueued
once per study and run first. Re-running the same command resumes the study and runs only
the trials still missing to reach ``budget.n_trials``.
"""

from __future__ import annotations

import functools
import math
import os
import re
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from hardsearch.accuracy import AccuracyProxy, create_proxy
from hardsearch.arch import ArchConfig, arch_to_dict, summarize_arch
from hardsearch.costs import count_costs
from hardsearch.data import load_data_options
from hardsearch.errors import UserError, first_line
from hardsearch.locks import setup_lock, study_lock
from hardsearch.paths import RESULTS_DIR
from hardsearch.space import (
    SearchSpace,
    SpaceError,
    arch_digest,
    labelled_seeds,
    space_from_dict,
    space_names,
    space_source,
)
from hardsearch.worker import budget_used, counts_toward_budget, run_worker

__all__ = ["OBJECTIVES", "CONSTRAINTS", "SearchResult", "CandidateError", "run_search", "search",
           "pareto_front", "create_sampler", "create_storage", "enqueue_seeds"]

#: Every objective a study may have, with its direction.
OBJECTIVES = {"proxy": "maximize", "macs": "minimize", "cio": "minimize", "params": "minimize",
              "peak_activations": "minimize", "latency": "minimize"}
CONSTRAINTS = ("macs", "cio", "params", "peak_activations", "latency")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
SAMPLERS = ("nsga2", "nsga3", "tpe", "random", "gp")
STORAGES = ("sqlite", "journal", "url")
LOGGERS = ("wandb", "console", "none")


class CandidateError(Exception):
    """A candidate that cannot be built or evaluated; its trial fails with the reason stored."""


class SearchResult(NamedTuple):
    """What a search run leaves behind (plain data)."""

    study: optuna.Study
    front: list[FrozenTrial]
    study_dir: Path
    ran: int  # trials finished by this run
    interrupted: bool


# -- configuration ------------------------------------------------------------------------------
def _fail(key: str, value: Any, allowed: str, source: str = "conf/search.yaml") -> UserError:
    return UserError(f"{source}: {key}: got {value!r}; allowed: {allowed}")


def _int(value: Any, key: str, *, minimum: int, nullable: bool = False,
         source: str = "conf/search.yaml") -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(key, value, ("null or " if nullable else "") + f"an integer >= {minimum}", source)
    return value


def _section(options: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = options.get(key)
    if not isinstance(value, Mapping):
        raise _fail(key, value, "a mapping")
    return dict(value)


def study_name(options: Mapping[str, Any], space: SearchSpace) -> str:
    name = options.get("study") or space.name
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise _fail("study", name, "null or a name of letters, digits, '_', '.' and '-'")
    return name


def parse_objectives(options: Mapping[str, Any]) -> list[str]:
    objectives = options.get("objectives")
    allowed = f"a list starting with proxy, then distinct names from {', '.join(OBJECTIVES)}"
    if (not isinstance(objectives, (list, tuple)) or len(objectives) < 2 or objectives[0] != "proxy"
            or any(o not in OBJECTIVES for o in objectives) or len(set(objectives)) != len(objectives)):
        raise _fail("objectives", objectives, allowed)
    return list(objectives)


def parse_constraints(options: Mapping[str, Any]) -> dict[str, float]:
    section = _section(options, "constraints")
    limits = {}
    for key, value in section.items():
        if key not in CONSTRAINTS:
            raise UserError(f"conf/search.yaml: constraints.{key}: unknown key; allowed keys: "
                            + ", ".join(CONSTRAINTS))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value <= 0:
            raise _fail(f"constraints.{key}", value, "null or a number > 0")
        limits[key] = float(value)
    return limits


def create_sampler(options: Mapping[str, Any], *, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler the ``sampler`` config group names, seeded.

    Limits reach the samplers as trial constraints (``Trial.set_constraint``), so NSGA-II/III,
    TPE and GP rank infeasible candidates by their violation.
    """
    options = dict(options)
    name = options.pop("name", None)
    if name not in SAMPLERS:
        raise UserError(f"sampler.name: got {name!r}; allowed: {', '.join(SAMPLERS)}")
    known = {"nsga2": ("population_size",), "nsga3": ("population_size",),
             "tpe": ("n_startup_trials", "multivariate"), "random": (), "gp": ("n_startup_trials",)}[name]
    for key in options:
        if key not in known:
            raise UserError(f"sampler.{key}: unknown key for sampler={name}; allowed keys: "
                            + (", ".join(known) or "(none)"))
    for key in ("population_size", "n_startup_trials"):
        if key in options and (isinstance(options[key], bool) or not isinstance(options[key], int)
                               or options[key] < (2 if key == "population_size" else 0)):
            raise UserError(f"sampler.{key}: got {options[key]!r}; allowed: an integer >= "
                            f"{2 if key == 'population_size' else 0}")
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, **options)
    if name == "nsga3":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.NSGAIIISampler(seed=seed, **options)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False,
                                         independent_sampler=optuna.samplers.RandomSampler(seed=seed),
                                         **options)
    return optuna.samplers.RandomSampler(seed=seed)


SCHEMES = ("sqlite", "postgresql", "mysql")
_DATABASE_KEYS = ("kind", "url", "heartbeat_interval", "grace_period", "max_retry", "connect_timeout")
STORAGE_KEYS = {"sqlite": _DATABASE_KEYS, "url": _DATABASE_KEYS, "journal": ("kind", "path")}


def create_storage(options: Mapping[str, Any], study_dir: Path) -> optuna.storages.BaseStorage:
    """SQLite under ``study_dir`` by default, Optuna's journal file, or a PostgreSQL/MySQL URL.

    Database storages record a heartbeat of every running trial; a trial whose heartbeat is
    older than ``grace_period`` seconds is failed and queued again (at most ``max_retry`` times).
    """
    options = dict(options)
    kind = options.get("kind")
    if kind not in STORAGES:
        raise UserError(f"storage.kind: got {kind!r}; allowed: {', '.join(STORAGES)}")
    for key in options:
        if key not in STORAGE_KEYS[kind]:
            raise UserError(f"conf/storage/{kind}.yaml: storage.{key}: unknown key; allowed keys: "
                            + ", ".join(STORAGE_KEYS[kind]))
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        path = Path(options.get("path") or study_dir / "journal.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    def number(key: str, minimum: int) -> int | None:
        return _int(options.get(key), f"storage.{key}", minimum=minimum, nullable=True,
                    source=f"conf/storage/{kind}.yaml")

    interval, grace = number("heartbeat_interval", 1), number("grace_period", 1)
    retries, timeout = number("max_retry", 0), number("connect_timeout", 1)
    url = options.get("url")
    if kind == "url" and not url:
        raise UserError("storage.url: missing; allowed: an SQLAlchemy URL such as "
                        "postgresql://user@host:5432/db (storage=url storage.url=...; the password from "
                        "PGPASSWORD or ~/.pgpass)")
    if url and (not isinstance(url, str) or url.split(":", 1)[0].split("+", 1)[0] not in SCHEMES
                or "://" not in url):
        scheme = url.split("://", 1)[0] if isinstance(url, str) and "://" in url else url
        raise UserError(f"storage.url: {redact(str(url))!r}: unknown scheme {scheme!r}; allowed: "
                        f"{', '.join(SCHEMES)} (SQLAlchemy URLs, e.g. postgresql://user@host:5432/db)")
    if not url:
        study_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{study_dir / 'study.db'}"
    heartbeat: dict[str, Any] = {}
    if interval is not None:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = RetryHeartbeatStaleTrialCallback(max_retry=retries)
            heartbeat = {"heartbeat_interval": interval, "grace_period": grace or 3 * interval,
                         "heartbeat_stale_trial_callback": retry}
    engine_kwargs = _engine_kwargs(url, timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            with setup_lock(url, engine_kwargs):
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many types; the user needs the line
        raise UserError(f"storage.url: {redact(url)!r}: cannot open the storage: "
                        f"{redact(first_line(exc))}") from None
    if url.startswith("sqlite"):
        from sqlalchemy import event

        event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()  # reconnect with the pragmas
    return storage


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    """Write-ahead logging: each of Optuna's many small commits costs a third as much, and readers
    (a dashboard, a report) never block the search. ``synchronous=NORMAL`` is safe with WAL: a
    power cut may lose the last commits but never corrupts the file."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _engine_kwargs(url: str, connect_timeout: int | None = None) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}  # wait for another writer instead of failing
    # An unreachable server fails within connect_timeout seconds instead of hanging.
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": connect_timeout or 10}}


def redact(url: str) -> str:
    """``scheme://user:***@host``: a URL's password never reaches the screen, a log or W&B."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


# -- the objective ------------------------------------------------------------------------------
class Objective:
    """Evaluates one trial: decode, costs, limits, proxy."""

    def __init__(self, *, space: SearchSpace, proxy: AccuracyProxy, objectives: list[str],
                 limits: Mapping[str, float], latency: Mapping[str, Any], study: optuna.Study,
                 name_prefix: str) -> None:
        self.space = space
        self.proxy = proxy
        self.objectives = objectives
        self.limits = dict(limits)
        self.latency = dict(latency)
        self.study = study
        self.name_prefix = name_prefix
        self.needs_latency = "latency" in objectives or "latency" in limits

    def _evaluated(self, digest: str, number: int) -> FrozenTrial | None:
        """An earlier complete trial of the same architecture (by content hash), if any."""
        for other in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if other.number != number and other.user_attrs.get("digest") == digest:
                return other
        return None

    def _fail(self, trial: optuna.Trial, reason: str) -> CandidateError:
        trial.set_user_attr("fail_reason", reason)
        return CandidateError(reason)

    def __call__(self, trial: optuna.Trial) -> list[float]:
        seed = trial.user_attrs.get("seed")
        name = seed or f"{self.name_prefix}-t{trial.number}"
        try:
            arch = self.space.suggest(trial, name=name)
        except SpaceError as exc:
            raise self._fail(trial, f"invalid architecture: {exc}") from None
        digest = arch_digest(arch)
        trial.set_user_attr("arch", arch_to_dict(arch))
        trial.set_user_attr("digest", digest)
        earlier = self._evaluated(digest, trial.number)
        if earlier is not None:  # samplers propose an architecture again: reuse, do not re-score
            for key in ("params", "macs", "cio", "peak_activations", "latency", "constraints", "infeasible",
                        "proxy_raw", "proxy_normalised", "accuracy_per_epoch"):
                if key in earlier.user_attrs:
                    trial.set_user_attr(key, earlier.user_attrs[key])
            for key, value in earlier.constraints.items():
                trial.set_constraint(key, value)
            trial.set_user_attr("duplicate_of", earlier.number)
            return list(earlier.values)
        start = time.perf_counter()
        try:
            costs = count_costs(arch, self.space.input_size)
        except UserError as exc:
            raise self._fail(trial, f"costs: {exc}") from None
        values: dict[str, float] = {"params": costs.params, "macs": costs.macs, "cio": costs.cio,
                                    "peak_activations": costs.peak_activations}
        if self.needs_latency:
            from hardsearch.latency import measure_latency

            try:
                values["latency"] = measure_latency(arch, self.space.input_size, **self.latency)
            except (RuntimeError, MemoryError) as exc:
                raise self._fail(trial, f"latency: {type(exc).__name__}: {first_line(exc)}") from None
        for key, value in values.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("cost_seconds", time.perf_counter() - start)
        violations = [values[key] - limit for key, limit in self.limits.items()]
        trial.set_user_attr("constraints", violations)
        for key, violation in zip(self.limits, violations, strict=True):
            trial.set_constraint(key, float(violation))  # NSGA-II/III, TPE and GP rank by these
        over = [f"{key} {values[key]:.4g} > {limit:.4g}" for key, limit in self.limits.items()
                if values[key] > limit]
        if over:
            trial.set_user_attr("infeasible", "over the limit: " + ", ".join(over))
            return [-math.inf if o == "proxy" else values[o] for o in self.objectives]
        stop = self.proxy.stop_rule(lambda: self.study.get_trials(deepcopy=False, states=(
            TrialState.COMPLETE, TrialState.PRUNED)), exclude=trial.number)
        try:
            result = self.proxy(arch, stop=stop)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of one candidate fails its trial only
            reason = f"proxy {self.proxy.name}: {type(exc).__name__}: {first_line(exc)}"
            raise self._fail(trial, reason) from None
        trial.set_user_attr("proxy_seconds", result.seconds)
        if result.raw:
            trial.set_user_attr("proxy_raw", result.raw)
        if result.normalised:
            trial.set_user_attr("proxy_normalised", result.normalised)
        if result.per_epoch:
            trial.set_user_attr("accuracy_per_epoch", list(result.per_epoch))
        if result.pruned:
            trial.set_user_attr("pruned_reason", result.reason)
            raise optuna.TrialPruned(result.reason)
        if not math.isfinite(result.value):
            raise self._fail(trial, f"proxy {self.proxy.name}: the score is {result.value}")
        values["proxy"] = result.value
        return [values[o] for o in self.objectives]


# -- seeds, front, progress ---------------------------------------------------------------------
def enqueue_seeds(study: optuna.Study, space: SearchSpace, seeds: Sequence[tuple[str, ArchConfig]]) -> int:
    """Enqueue each seed unless the study already holds (or queued) a trial carrying its name."""
    present = {t.user_attrs.get("seed") for t in study.get_trials(deepcopy=False)}
    added = 0
    for label, arch in seeds:
        if label in present:
            continue
        study.enqueue_trial(space.encode(arch, label=label), user_attrs={"seed": label}, skip_if_exists=True)
        added += 1
    return added


def feasible(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and all(v <= 0 for v in trial.user_attrs.get("constraints", ()))


def _dominates(a: Sequence[float], b: Sequence[float], sign: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` everywhere and better somewhere (``sign`` -1 for maximised)."""
    pairs = [(s * x, s * y) for s, x, y in zip(sign, a, b, strict=True)]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def update_front(front: list[FrozenTrial], trial: FrozenTrial,
                 directions: Sequence[str]) -> list[FrozenTrial]:
    """The front after adding one more feasible trial (trials must come in order of number).

    An architecture proposed again (same content hash) keeps its earliest trial.
    """
    sign = [1.0 if d == "minimize" else -1.0 for d in directions]
    digest = trial.user_attrs.get("digest", trial.number)
    for member in front:
        if member.user_attrs.get("digest", member.number) == digest or _dominates(member.values, trial.values,
                                                                                   sign):
            return front
    return [m for m in front if not _dominates(trial.values, m.values, sign)] + [trial]


def pareto_front(trials: Sequence[FrozenTrial], directions: Sequence[str]) -> list[FrozenTrial]:
    """Feasible complete trials that no other feasible trial dominates (ordered by trial number).

    Trials of the same architecture (same content hash) appear once, as the earliest.
    """
    front: list[FrozenTrial] = []
    for trial in sorted((t for t in trials if feasible(t)), key=lambda t: t.number):
        front = update_front(front, trial, directions)
    return front


_UNITS = {"proxy": (1.0, "{:+.4f}"), "macs": (1e9, "{:.3f} G"), "cio": (1e6, "{:.2f} M"),
          "params": (1e6, "{:.2f} M"), "peak_activations": (1e6, "{:.3f} M"), "latency": (1e-3, "{:.1f} ms")}


def format_objective(objective: str, value: float) -> str:
    """An objective's value in its display unit, e.g. ``4.246 G`` MACs or ``+0.4740`` proxy."""
    scale, fmt = _UNITS[objective]
    if not math.isfinite(value):
        return str(value)
    return fmt.format(value / scale)


def trial_line(trial: FrozenTrial, objectives: Sequence[str]) -> str:
    """One log line for a finished trial."""
    seed = trial.user_attrs.get("seed")
    label = f"trial {trial.number}" + (f" [seed {seed}]" if seed else "")
    if trial.state == TrialState.FAIL:
        return f"{label} failed: {trial.user_attrs.get('fail_reason', 'see the log')}"
    if trial.state == TrialState.PRUNED:
        return f"{label} pruned: {trial.user_attrs.get('pruned_reason', '')}"
    if "duplicate_of" in trial.user_attrs:
        return f"{label}: trial {trial.user_attrs['duplicate_of']}'s architecture again; values reused"
    if "infeasible" in trial.user_attrs:
        return f"{label} infeasible ({trial.user_attrs['infeasible']}); proxy skipped"
    cells = "  ".join(f"{o} {format_objective(o, v)}" for o, v in zip(objectives, trial.values, strict=True))
    return f"{label}: {cells}  ({(trial.duration.total_seconds() if trial.duration else 0):.1f} s)"


def format_front(front: Sequence[FrozenTrial], objectives: Sequence[str]) -> str:
    """The Pareto front as an aligned table, seeds marked."""
    head = ["trial", "seed"] + list(objectives) + ["architecture (depth x growth > out, / = downsample)"]
    rows = [[str(t.number), t.user_attrs.get("seed", "")]
            + [format_objective(o, v) for o, v in zip(objectives, t.values, strict=True)]
            + [summarize_arch(t.user_attrs.get("arch"))]
            for t in front]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i in (1, len(head) - 1) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
             for r in [head, *rows]]
    return "\n".join(lines)


class Progress:
    """Optuna callback: a progress bar (on a terminal) and one line per finished trial."""

    def __init__(self, *, total: int, done: int, objectives: list[str], bar: bool, quiet: bool) -> None:
        self.objectives = objectives
        self.quiet = quiet
        self.directions = [OBJECTIVES[o] for o in objectives]
        self.best = -math.inf
        self.front: list[FrozenTrial] = []
        self.seen: set[int] = set()  # trials already folded into the front (any worker's)
        self.bar = None
        if bar and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="trial", dynamic_ncols=True)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        for done in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if done.number not in self.seen:
                self.seen.add(done.number)
                if feasible(done):
                    self.best = max(self.best, done.values[0])
                    self.front = update_front(self.front, done, self.directions)
        if not self.quiet:
            self.write(trial_line(trial, self.objectives))
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(front=len(self.front), best_proxy=f"{self.best:+.4f}")

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- the command --------------------------------------------------------------------------------
def run_search(options: Mapping[str, Any], *, out: Callable[[str], None] = print) -> SearchResult:
    """Run (or resume) the search the composed ``conf/search.yaml`` describes."""
    options = dict(options)
    if "space" not in options or not isinstance(options["space"], Mapping):
        raise UserError("space: missing; choose a search space with +space=NAME; allowed: "
                        + ", ".join(space_names()) + " (files in search_spaces/space/)")
    raw_space = options["space"]
    space = space_from_dict(raw_space, source=space_source(str(raw_space.get("name", "space"))))
    name = study_name(options, space)
    seed = options.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _fail("seed", seed, "an integer")
    objectives = parse_objectives(options)
    limits = parse_constraints(options)
    budget = _section(options, "budget")
    for key in budget:
        if key not in ("n_trials", "timeout"):
            raise UserError(f"conf/search.yaml: budget.{key}: unknown key; allowed keys: n_trials, timeout")
    n_trials = _int(budget.get("n_trials"), "budget.n_trials", minimum=1)
    timeout = budget.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout <= 0):
        raise _fail("budget.timeout", timeout, "null or a number of seconds > 0")
    latency = _section(options, "latency")
    for key in latency:
        if key not in ("batch", "repeats", "warmup", "threads"):
            raise UserError(f"conf/search.yaml: latency.{key}: unknown key; allowed keys: batch, repeats, "
                            "warmup, threads")
        _int(latency[key], f"latency.{key}", minimum=0 if key in ("warmup", "threads") else 1)
    extra_seeds = options.get("seeds") or []
    if not isinstance(extra_seeds, (list, tuple)) or not all(isinstance(s, str) for s in extra_seeds):
        raise _fail("seeds", extra_seeds, "a list of architecture YAML paths or seed names")
    logger = _section(options, "logger")
    if logger.get("name") not in LOGGERS:
        raise _fail("logger.name", logger.get("name"), ", ".join(LOGGERS))
    if logger["name"] == "wandb":
        from hardsearch.dashboard import check_options, resolve_mode

        check_options(logger)
        resolve_mode(logger)
    seeds = labelled_seeds(space, extra_seeds)

    data_options = _section(options, "data")
    if data_options.get("root") is None and options.get("root") is not None:
        data_options["root"] = options["root"]
    data = load_data_options(data_options)  # a missing dataset is reported before any storage is touched

    study_dir = Path(options["dir"]) if options.get("dir") else RESULTS_DIR / name
    storage = create_storage(_section(options, "storage"), study_dir)
    sampler_options = _section(options, "sampler")
    create_sampler(sampler_options, seed=seed)  # check the options before touching the storage
    directions = [OBJECTIVES[o] for o in objectives]
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # hardsearch prints its own lines
    study = optuna.create_study(study_name=name, storage=storage, directions=directions, load_if_exists=True)
    _check_study(study, objectives, space)
    worker = options.get("worker")
    worker = f"{socket.gethostname()}-{os.getpid()}" if worker is None else str(worker)
    lock = functools.partial(study_lock, storage, name)
    proxy_options = _section(options, "proxy")
    with lock():  # once per study, whichever worker comes first: attributes, calibration, seeds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objectives)
        for key, value in (("hardsearch.space", raw_space), ("hardsearch.objectives", objectives),
                           ("hardsearch.input_size", list(space.input_size))):
            study.set_user_attr(key, value)
        # The first process of a study uses `seed` itself, so the same config and seed give the same
        # architectures; each later one (a resumed run, another worker) derives its own seed from how
        # many came before, so no two processes replay the same draws.
        joined = study.user_attrs.get("hardsearch.processes", 0)
        study.set_user_attr("hardsearch.processes", joined + 1)
        if proxy_options.get("name") == "ensemble" and "hardsearch.calibration" not in study.user_attrs:
            reference = proxy_options.get("reference", 32)
            out(f"calibrating the ensemble on {len(space.seeds)} seeds + {reference} random members of "
                f"{space.name} ...")
        proxy = create_proxy(proxy_options, data=data, space=space, study=study, data_options=data_options)
        added = enqueue_seeds(study, space, seeds)
        done = budget_used(study.get_trials(deepcopy=False))
    run_seed = seed if joined == 0 else hash((seed, joined)) % 2**31
    study.sampler = create_sampler(sampler_options, seed=run_seed)
    remaining = n_trials - done
    out(f"study {name} ({redact(str(getattr(storage, 'url', study_dir)))}): {done} of {n_trials} trials done"
        + (f", {added} seed(s) queued" if added else "")
        + (f"; running {remaining} more as worker {worker}" if remaining > 0 else "; nothing left to run"))
    objective = Objective(space=space, proxy=proxy, objectives=objectives, limits=limits, latency=latency,
                          study=study, name_prefix=name)
    progress = Progress(total=n_trials, done=done, objectives=objectives,
                        bar=bool(logger.get("progress_bar", True)), quiet=logger.get("name") == "none")
    dashboard = None
    if logger["name"] == "wandb" and remaining > 0:
        from hardsearch.dashboard import start_dashboard

        dashboard = start_dashboard(logger, study=name, study_dir=study_dir, objectives=objectives,
                                    config=_run_config(options, name), tags=_run_tags(options, space),
                                    worker=worker, front_size=lambda: len(progress.front))
    try:
        result = _optimize(study, objective, progress=progress, dashboard=dashboard, storage=storage,
                           lock=lock, worker=worker, n_trials=n_trials, remaining=remaining, timeout=timeout,
                           study_dir=study_dir, objectives=objectives, directions=directions, out=out)
    except BaseException:
        if dashboard is not None:
            dashboard.finish(exit_code=1)
        raise
    if dashboard is not None:
        dashboard.finish(exit_code=130 if result.interrupted else 0)
    return result


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


def _optimize(study: optuna.Study, objective: Objective, *, progress: Progress, dashboard: Any, storage: Any,
              lock: Callable[[], Any], worker: str, n_trials: int, remaining: int, timeout: float | None,
              study_dir: Path, objectives: list[str], directions: list[str],
              out: Callable[[str], None]) -> SearchResult:
    interrupted = False
    ran = 0
    if remaining > 0:
        callbacks: list[Any] = [progress] + ([dashboard] if dashboard is not None else [])
        try:
            ran = run_worker(study, objective, storage=storage, lock=lock, n_trials=n_trials, timeout=timeout,
                             catch=(CandidateError,), callbacks=callbacks, worker=worker, note=progress.write)
        except KeyboardInterrupt:
            interrupted = True
            progress.write("interrupted: finished trials are kept; re-run the same command to resume")
        finally:
            progress.close()
    trials = study.get_trials(deepcopy=False)
    front = pareto_front(trials, directions)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in FINISHED}
    infeasible = sum("infeasible" in t.user_attrs for t in trials)
    lost = sum(t.state == TrialState.FAIL and not counts_toward_budget(t) for t in trials)
    out(f"\n{len(trials)} trials: {counts['complete']} complete ({infeasible} infeasible), "
        f"{counts['pruned']} pruned, {counts['fail']} failed"
        + (f" ({lost} lost with a dead or interrupted worker, and run again)" if lost else "")
        + f". Pareto front ({len(front)}):")
    out(format_front(front, objectives))
    from hardsearch.report import report_study

    summary, written = report_study(study, study_dir)
    out(f"\nhypervolume {summary.hypervolume_front:.4f} (seeds alone {summary.hypervolume_seeds:.4f}); "
        f"wrote {', '.join(str(p) for p in written)} and {len(summary.front)} architectures in "
        f"{study_dir / 'archs'}")
    if dashboard is not None:
        dashboard.log_report(summary, study_dir)
        if not dashboard.failed:
            out(dashboard.describe())
    return SearchResult(study, front, study_dir, ran, interrupted)


def _check_study(study: optuna.Study, objectives: list[str], space: SearchSpace) -> None:
    names = study.metric_names
    if names is not None and list(names) != objectives:
        raise UserError(f"study {study.study_name}: objectives: got {objectives}, but the study was created "
                        f"with {list(names)}; allowed: the study's objectives, or a new study=NAME")
    stored = study.user_attrs.get("hardsearch.space")
    if stored is not None and stored.get("name") != space.name:
        raise UserError(f"study {study.study_name}: space: got {space.name!r}, but the study searches "
                        f"{stored.get('name')!r}; allowed: +space={stored.get('name')}, or a new study=NAME")


def search(options: Mapping[str, Any]) -> None:
    """The command's task (Hydra hands over the composed config as a plain dict)."""
    result = run_search(options)
    if result.interrupted:
        raise SystemExit(130)


def main() -> None:
    from hardsearch.cli import hydra_main

    hydra_main("hardsearch", "search", search)


if __name__ == "__main__":
    main()
