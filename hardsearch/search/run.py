"""A search run: open (or resume) the study, queue the seeds, then run this worker's trials.

:func:`open_search` does everything that happens once per process before the first trial: the
data set, the storage, the study and its attributes, the calibration of the proxy ensemble, the
hypervolume bounds and the seeds (all once per study, under the study's lock), and this
process's sampler.
:func:`run_trials` runs the trials still missing to reach ``budget.n_trials``; re-running the
same command resumes the study. Reporting what was found is the report layer's job
(:mod:`hardsearch.app` puts the two together).
"""

from __future__ import annotations

import functools
import os
import socket
import warnings
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from hardsearch.accuracy.data import load_data_options
from hardsearch.accuracy.objective import check_proxy_options, create_proxy
from hardsearch.arch.config import ArchConfig
from hardsearch.arch.costs import count_costs
from hardsearch.arch.latency_model import LatencyProfile
from hardsearch.arch.space import SearchSpace, labelled_seeds
from hardsearch.core.errors import UserError
from hardsearch.core.options import section
from hardsearch.core.paths import RESULTS_DIR
from hardsearch.search.bounds import load_or_fix_bounds
from hardsearch.search.objective import CandidateError, Objective
from hardsearch.search.options import SearchOptions
from hardsearch.search.progress import CalibrationProgress, Progress
from hardsearch.search.samplers import create_sampler
from hardsearch.search.worker import budget_used, run_worker
from hardsearch.study.locks import study_lock
from hardsearch.study.objectives import OBJECTIVES
from hardsearch.study.storage import OPENING, STORING, create_storage, redact, storage_faults

__all__ = ["FINISHED", "SearchResult", "OpenSearch", "open_search", "run_trials", "enqueue_seeds"]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class SearchResult(NamedTuple):
    """What a search run leaves behind (plain data)."""

    study: optuna.Study
    front: list[FrozenTrial]
    study_dir: Path
    ran: int  # trials finished by this run
    interrupted: bool


class OpenSearch(NamedTuple):
    """A study opened for this process, ready to run its trials (see :func:`open_search`)."""

    study: optuna.Study
    storage: Any
    study_dir: Path
    worker: str
    lock: Callable[[], Any]
    objective: Objective
    progress: Progress
    directions: list[str]
    done: int  # trials that count toward the budget when this process started
    remaining: int


def open_search(parsed: SearchOptions, *, out: Callable[[str], None] = print) -> OpenSearch:
    """Open or create the study, set it up once per study, and prepare this process's trials."""
    options, space, name, objectives = parsed.options, parsed.space, parsed.name, parsed.objectives
    seeds = labelled_seeds(space, parsed.extra_seeds)

    data_options = section(options, "data")
    if data_options.get("root") is None and options.get("root") is not None:
        data_options["root"] = options["root"]
    data = load_data_options(data_options)  # a missing dataset is reported before any storage is touched
    # Everything else that can be checked is checked before the storage is touched, so a refused
    # command changes nothing stored: the proxy's options and batch, every seed (and a member of
    # the space) at the input size the costs are counted at and at the resolution the proxy runs at.
    proxy_options = section(options, "proxy")
    checked = check_proxy_options(proxy_options, data_options, space=space)
    check_input_sizes(space, [arch for _, arch in seeds], proxy=checked.name, resolution=data.resolution)
    sampler_options = section(options, "sampler")
    seed_genomes = [space.encode(arch, label=label) for label, arch in seeds]
    make_sampler = functools.partial(create_sampler, sampler_options, space=space, objectives=objectives,
                                     limits=parsed.limits, seeds=seed_genomes, profile=parsed.profile)
    make_sampler(seed=parsed.seed)

    study_dir = Path(options["dir"]) if options.get("dir") else RESULTS_DIR / name
    storage = create_storage(section(options, "storage"), study_dir)
    directions = [OBJECTIVES[o] for o in objectives]
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # hardsearch prints its own lines
    with storage_faults(storage, OPENING):  # a storage fault is one line, not a traceback
        study = optuna.create_study(study_name=name, storage=storage, directions=directions,
                                    load_if_exists=True)
    _check_study(study, objectives, space, proxy=checked.name, data=data, schedule=checked.schedule)
    _check_profile(study, parsed.profile)
    worker = options.get("worker")
    worker = f"{socket.gethostname()}-{os.getpid()}" if worker is None else str(worker)
    lock = functools.partial(study_lock, storage, name)
    # Once per study, whichever worker comes first: calibration, hypervolume bounds, attributes, seeds.
    with storage_faults(storage, OPENING), lock():
        if checked.name == "ensemble" and "hardsearch.calibration" not in study.user_attrs:
            out(f"calibrating the ensemble on {len(space.seeds)} seeds + {checked.reference} random members "
                f"of {space.name} ...")
        calibrating = CalibrationProgress(out, bar=bool(parsed.logger.get("progress_bar", True)))
        proxy = create_proxy(proxy_options, data=data, space=space, study=study, data_options=data_options,
                             progress=calibrating)
        _check_predictor(study, proxy)
        load_or_fix_bounds(study, space=space, proxy=proxy, objectives=objectives, data=data, out=out,
                           profile=parsed.profile)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objectives)
        for key, value in (("hardsearch.space", parsed.raw_space), ("hardsearch.objectives", objectives),
                           ("hardsearch.input_size", list(space.input_size)),
                           *((("hardsearch.latency_profile", parsed.profile.to_dict()),)
                             if parsed.profile is not None else ()),
                           ("hardsearch.proxy", proxy_attribute(proxy, data))):
            study.set_user_attr(key, value)
        # The first process of a study uses `seed` itself, so the same config and seed give the same
        # architectures; each later one (a resumed run, another worker) derives its own seed from how
        # many came before, so no two processes replay the same draws. Counted only once the
        # process is set to run, so a refused command changes nothing.
        joined = study.user_attrs.get("hardsearch.processes", 0)
        study.set_user_attr("hardsearch.processes", joined + 1)
        added = enqueue_seeds(study, space, seeds)
        done = budget_used(study.get_trials(deepcopy=False))
    run_seed = parsed.seed if joined == 0 else hash((parsed.seed, joined)) % 2**31
    study.sampler = make_sampler(seed=run_seed)
    n_trials = parsed.n_trials
    remaining = n_trials - done
    out(f"study {name} ({redact(str(getattr(storage, 'url', study_dir)))}): {done} of {n_trials} trials done"
        + (f", {added} seed(s) queued" if added else "")
        + (f"; running {remaining} more as worker {worker}" if remaining > 0 else "; nothing left to run"))
    objective = Objective(space=space, proxy=proxy, objectives=objectives, limits=parsed.limits,
                          latency=parsed.latency, study=study, name_prefix=name, profile=parsed.profile,
                          checkpoints=study_dir / "checkpoints")
    logger = parsed.logger
    progress = Progress(total=n_trials, done=done, objectives=objectives,
                        bar=bool(logger.get("progress_bar", True)), quiet=logger.get("name") == "none",
                        proxy=proxy.name)
    return OpenSearch(study, storage, study_dir, worker, lock, objective, progress, directions, done,
                      remaining)


def run_trials(opened: OpenSearch, *, n_trials: int, timeout: float | None,
               callbacks: Sequence[Any] = ()) -> tuple[int, bool]:
    """Run this worker's trials; returns (trials finished, interrupted by Ctrl-C)."""
    interrupted = False
    ran = 0
    progress = opened.progress
    if opened.remaining > 0:
        try:
            with storage_faults(opened.storage, STORING):  # the first storage fault stops the worker
                ran = run_worker(opened.study, opened.objective, storage=opened.storage, lock=opened.lock,
                                 n_trials=n_trials, timeout=timeout, catch=(CandidateError,),
                                 callbacks=[progress, *callbacks], worker=opened.worker, note=progress.write)
        except KeyboardInterrupt:
            interrupted = True
            progress.write("interrupted: finished trials are kept; re-run the same command to resume")
        finally:
            progress.close()
    return ran, interrupted


def check_input_sizes(space: SearchSpace, archs: Sequence[ArchConfig], *, proxy: str,
                      resolution: int) -> None:
    """Every architecture (the seeds, plus one random member of the space) keeps a feature map at the
    space's input size, where costs are counted, and at the data's resolution, where the proxy runs
    the model (all proxies but ``params`` and ``macs``); a one-line error otherwise."""
    members = list(archs) + space.sample(1, seed=0)
    for arch in members:
        try:
            count_costs(arch, space.input_size)
        except UserError as exc:
            raise UserError(f"space.{exc}") from None
    if proxy in ("params", "macs"):
        return
    for arch in members:
        try:
            count_costs(arch, (resolution, resolution))
        except UserError as exc:
            raise UserError(f"data.resolution: got {resolution}; proxy={proxy} runs the model on these "
                            f"images and {str(exc).removeprefix('input_size: ')}") from None


def proxy_attribute(proxy: Any, data: Any) -> dict[str, Any]:
    """The study's ``hardsearch.proxy`` attribute: what the proxy objective is and where it is measured
    (the report labels its proxy axis with it)."""
    calibration = getattr(proxy, "calibration", None)
    predictor = getattr(proxy, "predictor", None)
    if predictor is not None:  # it scores on its own data, whatever the search's data is
        data = proxy.scorer.data
    attribute = {"name": proxy.name, "resolution": data.resolution, "classes": data.num_classes,
                 "data": data.name, "members": list(calibration.members) if calibration is not None else None}
    if predictor is not None:
        attribute.update(recipe=predictor.recipe, predictor=predictor.digest())
    if proxy.name == "train":  # the fidelity the report marks: epochs, and the schedule that stops candidates
        attribute.update(epochs=proxy.train.epochs, schedule=_plain(proxy.schedule),
                         screen=_plain(proxy.screen))
    return attribute


def _plain(options: Any) -> dict[str, Any] | None:
    return options.to_dict() if options is not None else None


def _check_predictor(study: optuna.Study, proxy: Any) -> None:
    """Refuse a resumed study whose stored predictions came from another predictor."""
    before = (study.user_attrs.get("hardsearch.proxy") or {}).get("predictor")
    predictor = getattr(proxy, "predictor", None)
    if before is not None and predictor is not None and predictor.digest() != before:
        raise UserError(f"study {study.study_name}: proxy.path: {predictor.path} is another predictor than "
                        f"the one that scored this study (fingerprint {before}); allowed: that predictor, or "
                        "a new study=NAME")


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


def _check_profile(study: optuna.Study, profile: LatencyProfile | None) -> None:
    """Refuse another device profile than the study's: its latency_model values would not compare."""
    stored = study.user_attrs.get("hardsearch.latency_profile")
    if stored is None or profile is None:
        return
    mine = profile.to_dict()
    if {k: stored.get(k) for k in _PROFILE_KEYS} != {k: mine.get(k) for k in _PROFILE_KEYS}:
        raise UserError(f"study {study.study_name}: latency.profile: got a profile of {profile.describe()}, "
                        "but the study's latency_model values were predicted by another profile ("
                        f"{stored.get('device')}, {stored.get('backend')}, {stored.get('input_size')}); "
                        "allowed: the study's profile, or a new study=NAME")


_PROFILE_KEYS = ("device", "backend", "threads", "input_size", "batch", "intercept", "coefficients")


def _check_study(study: optuna.Study, objectives: list[str], space: SearchSpace, *, proxy: str,
                 data: Any, schedule: Any = None) -> None:
    """Refuse a command whose objectives, space or proxy differ from the study's: its stored scores
    and hypervolume bounds would no longer compare with the new ones."""
    names = study.metric_names
    if names is not None and list(names) != objectives:
        raise UserError(f"study {study.study_name}: objectives: got {objectives}, but the study was created "
                        f"with {list(names)}; allowed: the study's objectives, or a new study=NAME")
    stored = study.user_attrs.get("hardsearch.space")
    if stored is not None and stored.get("name") != space.name:
        raise UserError(f"study {study.study_name}: space: got {space.name!r}, but the study searches "
                        f"{stored.get('name')!r}; allowed: +space={stored.get('name')}, or a new study=NAME")
    scored = study.user_attrs.get("hardsearch.proxy")
    if scored is None:
        return
    # not the data's path: workers may keep the dataset in different places; a predictor scores on its own
    checks = [("proxy", "name", proxy)] + ([] if proxy == "predictor" else
                                            [("data.resolution", "resolution", data.resolution)])
    if proxy == "train" and "schedule" in scored:  # rungs of another schedule would not compare
        checks.append(("proxy.schedule", "schedule", _plain(schedule)))
    for option, key, value in checks:
        before = scored.get(key)
        if (before is not None or key == "schedule") and before != value:
            raise UserError(f"study {study.study_name}: {option}: got {value!r}, but the study's scores were "
                            f"measured with {before!r}; allowed: the study's {option}, or a new study=NAME")
