"""What a search shows while it runs: a progress bar on a terminal and one line per finished trial.

And before the first trial, while the proxy ensemble is calibrated: a bar on a terminal, else a
line now and then (:class:`CalibrationProgress`).
"""

from __future__ import annotations

import math
import sys
import time
from typing import Callable, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from hardsearch.study.fidelity import at_fidelity
from hardsearch.study.front import feasible, update_front
from hardsearch.study.objectives import OBJECTIVES, ProxyLike, format_objective

__all__ = ["trial_line", "Progress", "CalibrationProgress"]


def trial_line(trial: FrozenTrial, objectives: Sequence[str], *, proxy: ProxyLike = None) -> str:
    """One log line for a finished trial; an accuracy ``proxy`` (the study's) in per cent."""
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
    cells = "  ".join(f"{o} {format_objective(o, v, proxy=proxy)}"
                      for o, v in zip(objectives, trial.values, strict=True))
    return f"{label}: {cells}  ({(trial.duration.total_seconds() if trial.duration else 0):.1f} s)"


class Progress:
    """Optuna callback: a progress bar (on a terminal) and one line per finished trial (``proxy``: the
    study's proxy, whose values an accuracy shows in per cent)."""

    def __init__(self, *, total: int, done: int, objectives: list[str], bar: bool, quiet: bool,
                 proxy: ProxyLike = None) -> None:
        self.objectives = objectives
        self.proxy = proxy
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
        # a member a multi-fidelity schedule stopped enters at the accuracy it reached, as in the report
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        for done in at_fidelity(finished):
            if done.number not in self.seen:
                self.seen.add(done.number)
                if feasible(done):
                    self.best = max(self.best, done.values[0])
                    self.front = update_front(self.front, done, self.directions)
        if not self.quiet:
            self.write(trial_line(trial, self.objectives, proxy=self.proxy))
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(front=len(self.front), best_proxy=format_objective("proxy", self.best,
                                                                                    proxy=self.proxy))

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class CalibrationProgress:
    """``progress(i, n, name)`` for the ensemble's calibration (:func:`create_proxy`).

    On a terminal (and with ``bar``) a progress bar; otherwise, for logs, ``calibrating: i/n
    members scored (s)`` at each quarter of the sample and at least every ``every`` seconds.
    Either way the last member ends with that line.
    """

    def __init__(self, write: Callable[[str], None], *, bar: bool, every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.use_bar = bar and sys.stderr.isatty()
        self.every = every
        self.clock = clock
        self.start = self.last = clock()
        self.bar = None

    def __call__(self, i: int, n: int, name: str) -> None:
        now = self.clock()
        if self.use_bar:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=n, unit="member", desc="calibrating", dynamic_ncols=True, leave=False)
            self.bar.update(1)
            if i == n:
                self.bar.close()
        quarter = max(1, math.ceil(n / 4))
        if i == n or (not self.use_bar and (i % quarter == 0 or now - self.last >= self.every)):
            self.last = now
            self.write(f"calibrating: {i}/{n} members scored ({now - self.start:.0f} s)")
