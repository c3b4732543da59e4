"""What a search shows while it runs: a progress bar on a terminal and one line per finished trial."""

from __future__ import annotations

import math
import sys
from typing import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from hardsearch.study.front import feasible, update_front
from hardsearch.study.objectives import OBJECTIVES, format_objective

__all__ = ["trial_line", "Progress"]


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
