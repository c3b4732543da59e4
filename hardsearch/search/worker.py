"""One worker's loop over a study that any number of workers share (Optuna ask and tell).

Every worker claims its next trial under the study's lock (:mod:`hardsearch.study.locks`): it asks
for a trial only while the trials done, running and queued stay under the budget, so the study
ends with exactly ``n_trials`` however many workers run it. A running trial sends heartbeats
(RDB storages); a worker that dies stops sending them, another worker (or the same command
run again) marks its trial failed once the grace period has passed, and Optuna's
``RetryHeartbeatStaleTrialCallback`` queues it again with the same parameters. A worker with no
trial left to claim waits while trials of other workers are still running, so a trial that
dies with its worker is retried before the study is declared done. A trial interrupted by Ctrl-C
or SIGTERM is failed and queued again at once with the same parameters (a seed keeps its label),
so the next start runs it first.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from typing import Any, Callable, Iterator, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from hardsearch.core.signals import deferred
from hardsearch.study.storage import STORING, storage_fault

__all__ = ["counts_toward_budget", "budget_used", "run_worker", "requeue"]


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """Complete, pruned, and failed with a reason (a candidate that cannot be evaluated).

    A trial that failed without a reason died with its worker (or was interrupted): it is retried
    or replaced, so it does not use up the budget.
    """
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and "fail_reason" in trial.user_attrs)


def budget_used(trials: Sequence[FrozenTrial]) -> int:
    return sum(counts_toward_budget(t) for t in trials)


def _claimed(trials: Sequence[FrozenTrial]) -> int:
    """Trials done, running or queued: the budget they will use once finished."""
    return sum(counts_toward_budget(t) or t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)


def heartbeat_interval(storage: Any) -> int | None:
    getter = getattr(storage, "get_heartbeat_interval", None)
    return getter() if getter is not None else None


def fail_stale_trials(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


@contextlib.contextmanager
def _heartbeat(storage: Any, trial_id: int, interval: int | None) -> Iterator[None]:
    """Record the trial's heartbeat every ``interval`` seconds while the block runs."""
    if interval is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # a missed beat is retried at the next interval
                storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_worker(study: optuna.Study, objective: Callable[[optuna.Trial], Sequence[float]], *, storage: Any,
               lock: contextlib.AbstractContextManager[None] | Callable[[], Any], n_trials: int,
               timeout: float | None, catch: tuple[type[Exception], ...],
               callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]],
               worker: str, note: Callable[[str], None], poll: float = 1.0) -> int:
    """Run trials until the study has ``n_trials`` done (or ``timeout`` passes); return how many ran.

    ``lock`` is a factory of the study's lock. ``catch``: exceptions of the objective that fail
    only their trial; any other exception (and Ctrl-C) fails the trial and is raised.
    """
    interval = heartbeat_interval(storage)
    deadline = None if timeout is None else time.monotonic() + timeout
    ran = 0
    waiting_for: tuple[int, ...] = ()
    while deadline is None or time.monotonic() < deadline:
        if interval is not None:
            fail_stale_trials(study)  # trials of dead workers: failed, and queued again
        with lock():
            trials = study.get_trials(deepcopy=False)
            if budget_used(trials) >= n_trials:
                break
            queued = any(t.state == TrialState.WAITING for t in trials)
            trial = None
            if queued or _claimed(trials) < n_trials:
                with warnings.catch_warnings():  # heartbeats are ours to send here, not Study.optimize's
                    warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used")
                    trial = study.ask()
            if trial is not None:
                trial.set_user_attr("worker", worker)
                if interval is not None:
                    storage.record_heartbeat(trial._trial_id)  # stale from now on if this worker dies
        if trial is None:
            running = tuple(t.number for t in trials if t.state == TrialState.RUNNING)
            if interval is None:  # no heartbeats (journal file): a dead worker's trial cannot be told apart
                note(f"worker {worker}: the rest of the budget is claimed by running trials "
                     f"{list(running)}; stopping")
                break
            if running != waiting_for:
                waiting_for = running
                note(f"worker {worker}: waiting for trials {list(running)} of other workers (a trial "
                     "whose worker died is retried after the heartbeat grace period)")
            time.sleep(poll)
            continue
        frozen = _run_trial(study, trial, objective, storage=storage, interval=interval, catch=catch)
        ran += 1
        for callback in callbacks:
            callback(study, frozen)
    return ran


def _run_trial(study: optuna.Study, trial: optuna.Trial, objective: Callable[[optuna.Trial], Sequence[float]],
               *, storage: Any, interval: int | None, catch: tuple[type[Exception], ...]) -> FrozenTrial:
    with _heartbeat(storage, trial._trial_id, interval):
        try:
            values = objective(trial)
        except optuna.TrialPruned:
            return study.tell(trial, state=TrialState.PRUNED)
        except catch:
            return study.tell(trial, state=TrialState.FAIL)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the trial fails and is queued again, then raise
            with deferred():  # a second signal cannot leave the trial running or lose it
                trial.set_user_attr("interrupted", True)
                requeue(study, study.tell(trial, state=TrialState.FAIL))
            raise
        except BaseException as exc:  # a bug: the trial fails (and is replaced later), then raise
            if storage_fault(exc, storage, STORING) is None:  # a faulty storage gets no further write
                study.tell(trial, state=TrialState.FAIL)
            raise
    return study.tell(trial, list(values))


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue an interrupted trial again with the same parameters, so the next start runs it first.

    A seed keeps its label (so it is neither lost nor queued twice); parameters the trial had not
    drawn yet when it was interrupted are drawn afresh.
    """
    params = trial.system_attrs.get("fixed_params") or trial.params
    user_attrs = {"requeued_from": trial.number}
    if trial.user_attrs.get("seed"):
        user_attrs["seed"] = trial.user_attrs["seed"]
    study.enqueue_trial(dict(params), user_attrs=user_attrs)
