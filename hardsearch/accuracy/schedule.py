"""Multi-fidelity schedules of the training proxy: successive halving and Hyperband (plain data).

A schedule trains every candidate on one learning-rate schedule of ``epochs`` (the full budget)
and looks at it at the **rungs**: ``min_epochs * eta**i`` epochs for ``i = 0, 1, …`` while that is
below ``epochs``, then ``epochs`` itself (``min_epochs=1, eta=3, epochs=9``: 1 → 3 → 9). At each
rung but the last the candidate goes on only if it ranks in the top ``1/eta`` of the trials that
reached that rung (:mod:`hardsearch.search.halving` ranks them); otherwise it stops there.

``hyperband`` runs several such ladders (brackets) side by side: bracket ``b`` starts its
candidates at rung ``b`` (bracket 0 is successive halving itself, the last bracket trains every
candidate to the full budget). Trials are given to brackets in a fixed cycle by trial number,
bracket ``b`` receiving a share proportional to Hyperband's ``ceil((s+1)/(s-b+1) * eta**(s-b))``
(``s`` = the number of rungs − 1), and ranked only against trials of their own bracket.

The cheap **screen** (``proxy.screen``) comes before the first rung: a candidate is trained at
all only if a zero-cost proxy or the predictor ranks it, with its costs, in the top ``top``
fraction of the screened trials so far.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

from hardsearch.core.errors import UserError

__all__ = ["SCHEDULES", "Schedule", "Screen", "rungs", "parse_schedule", "parse_screen"]

SCHEDULES = ("sha", "hyperband")


def rungs(min_epochs: int, eta: int, epochs: int) -> tuple[int, ...]:
    """The epochs a candidate is ranked at: ``min_epochs * eta**i`` below ``epochs``, then ``epochs``."""
    out = []
    budget = min_epochs
    while budget < epochs:
        out.append(budget)
        budget *= eta
    return tuple(out) + (epochs,)


class Schedule(NamedTuple):
    """A successive-halving (``sha``) or Hyperband (``hyperband``) schedule over ``epochs``."""

    kind: str
    min_epochs: int
    eta: int
    epochs: int  # the full budget: the last rung, and the length of the learning-rate schedule

    @property
    def rungs(self) -> tuple[int, ...]:
        return rungs(self.min_epochs, self.eta, self.epochs)

    @property
    def brackets(self) -> int:
        return len(self.rungs) if self.kind == "hyperband" else 1

    def shares(self) -> tuple[int, ...]:
        """How many trials of each cycle of trial numbers go to each bracket (Hyperband's n_i)."""
        s = len(self.rungs) - 1
        if self.kind != "hyperband":
            return (1,)
        return tuple(math.ceil((s + 1) / (s - b + 1) * self.eta ** (s - b)) for b in range(s + 1))

    def bracket_of(self, number: int) -> int:
        """The bracket of trial ``number``: a fixed cycle, so every worker and a resumed run agree."""
        shares = self.shares()
        position = number % sum(shares)
        for bracket, share in enumerate(shares):
            if position < share:
                return bracket
            position -= share
        raise AssertionError("unreachable")

    def ladder(self, bracket: int) -> tuple[int, ...]:
        """The rungs a candidate of ``bracket`` is ranked at (it trains from epoch 0 either way)."""
        return self.rungs[bracket:]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "min_epochs": self.min_epochs, "eta": self.eta, "epochs": self.epochs,
                "rungs": list(self.rungs)}


class Screen(NamedTuple):
    """Train a candidate only if ``proxy`` ranks it (with its costs) in the top ``top`` of the screened."""

    proxy: str  # "predictor" or a zero-cost proxy's name
    top: float
    min_trials: int  # nothing is screened out until this many trials were screened before it

    def to_dict(self) -> dict[str, Any]:
        return {"proxy": self.proxy, "top": self.top, "min_trials": self.min_trials}


def _int(value: Any, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"proxy.{key}: got {value!r}; allowed: an integer >= {minimum}")
    return value


def parse_schedule(options: Mapping[str, Any], *, epochs: int, steps: Any) -> Schedule | None:
    """``proxy.schedule`` (null, sha or hyperband) with ``min_epochs`` and ``eta``, checked.

    Under a schedule the quantile ``early_stop`` is off: the schedule decides who stops.
    """
    kind = options.get("schedule")
    if kind is None:
        return None
    if kind not in SCHEDULES:
        raise UserError(f"proxy.schedule: got {kind!r}; allowed: null (train every candidate for "
                        "proxy.epochs), " + ", ".join(SCHEDULES))
    if steps is not None:
        raise UserError(f"proxy.steps: got {steps!r}; allowed: null with proxy.schedule={kind} (its rungs "
                        "are epochs; the full budget is proxy.epochs)")
    min_epochs = _int(options.get("min_epochs", 1), "min_epochs", 1)
    eta = _int(options.get("eta", 3), "eta", 2)
    if min_epochs >= epochs:
        raise UserError(f"proxy.min_epochs: got {min_epochs}; allowed: fewer than proxy.epochs ({epochs}), "
                        "the full budget (e.g. proxy.epochs=9 proxy.min_epochs=1 proxy.eta=3: rungs 1, 3, 9)")
    return Schedule(kind, min_epochs, eta, epochs)


def parse_screen(options: Any, *, allowed_proxies: tuple[str, ...]) -> Screen | None:
    """``proxy.screen``: null, or {proxy, top, min_trials}, checked."""
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise UserError(f"proxy.screen: got {options!r}; allowed: null or {{proxy: NAME, top: FRACTION, "
                        "min_trials: N}}")
    for key in options:
        if key not in Screen._fields:
            raise UserError(f"proxy.screen.{key}: unknown key; allowed keys: " + ", ".join(Screen._fields))
    proxy = options.get("proxy", "predictor")
    if proxy not in allowed_proxies:
        raise UserError(f"proxy.screen.proxy: got {proxy!r}; allowed: " + ", ".join(allowed_proxies))
    top = options.get("top", 0.5)
    if isinstance(top, bool) or not isinstance(top, (int, float)) or not 0 < top <= 1:
        raise UserError(f"proxy.screen.top: got {top!r}; allowed: a fraction in (0, 1]")
    min_trials = options.get("min_trials", 5)
    if isinstance(min_trials, bool) or not isinstance(min_trials, int) or min_trials < 1:
        raise UserError(f"proxy.screen.min_trials: got {min_trials!r}; allowed: an integer >= 1")
    return Screen(str(proxy), float(top), min_trials)
