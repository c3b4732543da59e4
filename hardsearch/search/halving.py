"""Successive halving by Pareto rank, asynchronous across workers (ASHA), for ``proxy=train``.

Optuna cannot store intermediate values in a multi-objective study (``Trial.report`` raises), and
its pruners rank one value. Here a trial keeps what it reached in its own attributes, where every
worker sees it at once:

- ``rungs``: one entry per rung reached, ``{"epochs", "accuracy", "bracket", "decision", "n", "k",
  "ahead", "front", "crowding", "against"}``; ``decision`` is ``promoted``, ``stopped`` or ``final``;
  ``against`` the trials it was ranked with;
- ``screen`` (with ``proxy.screen``): the cheap score, and whether the candidate was trained.

At a rung a trial is ranked with every trial of its bracket that has reached the same rung so
far, in any worker, finished or still running (ASHA: nobody waits for a rung to fill). The points
are (accuracy at that rung, maximised; then the study's cost objectives: MACs, CIO, and any
other); the trial goes on when it is in the top ``1/eta`` of them in NSGA-II's order
(:func:`hardsearch.study.ranking.in_top`). The study's seeds (HarDNet-68, -85) are always trained to
the full budget, so the report compares the front with them at the same fidelity; they are still
ranked, and count for the others. With one worker the decisions depend only on the trials before,
so a seed gives the same decisions every run.

A trial stopped at a rung is pruned with its reason, its accuracy per epoch, ``fidelity`` (the
epochs it reached) and ``fidelity_values`` (its objectives with the accuracy it reached), which
the report uses to place it on the front (:mod:`hardsearch.study.fidelity`). A promoted trial's
training state is saved at the rung; a trial run again after its worker died or was interrupted
keeps the decisions made and continues from the last rung it was promoted at.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from optuna.trial import FrozenTrial, TrialState

from hardsearch.accuracy.schedule import Schedule, Screen
from hardsearch.study.ranking import in_top

__all__ = ["RANKED", "Halving", "Checkpoints", "competitors", "rung_points", "screen_decision", "origin_of"]

#: The states whose rung values count for others: finished, or still running. A failed trial's
#: values are carried by its retry (the same parameters run again), so they would count twice.
RANKED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def _rung_entry(trial: FrozenTrial, epochs: int, bracket: int) -> dict[str, Any] | None:
    for entry in trial.user_attrs.get("rungs") or ():
        if entry.get("epochs") == epochs and entry.get("bracket", 0) == bracket:
            return entry
    return None


def competitors(trials: Sequence[FrozenTrial], *, epochs: int, bracket: int,
                exclude: int) -> list[tuple[FrozenTrial, float]]:
    """The other trials of ``bracket`` that reached ``epochs``, with their accuracy there (by number)."""
    found = []
    for other in trials:
        if other.number == exclude or other.state not in RANKED:
            continue
        entry = _rung_entry(other, epochs, bracket)
        if entry is not None and isinstance(entry.get("accuracy"), (int, float)):
            found.append((other, float(entry["accuracy"])))
    return sorted(found, key=lambda pair: pair[0].number)


def rung_points(score: float, costs: Sequence[float],
                others: Sequence[tuple[Sequence[float], float]]) -> list[list[float]]:
    """Minimised points: each other's (−score, costs…), then this trial's own as the last row."""
    return [[-s, *c] for c, s in others] + [[-score, *costs]]


def _costs_of(trial: FrozenTrial, costs: Sequence[str]) -> list[float] | None:
    values = [trial.user_attrs.get(c) for c in costs]
    if any(not isinstance(v, (int, float)) for v in values):
        return None
    return [float(v) for v in values]


def screen_decision(screen: Screen, score: float, costs: Mapping[str, float], trials: Sequence[FrozenTrial],
                    *, number: int, cost_names: Sequence[str], seed: bool) -> dict[str, Any]:
    """Whether a candidate with the cheap ``score`` is trained: the ``screen`` entry it records."""
    others = []
    for other in trials:
        entry = other.user_attrs.get("screen")
        if other.number == number or other.state not in RANKED or not isinstance(entry, Mapping):
            continue
        other_costs = _costs_of(other, cost_names)
        if other_costs is not None and isinstance(entry.get("score"), (int, float)):
            others.append((other.number, other_costs, float(entry["score"])))
    others.sort()
    entry: dict[str, Any] = {"proxy": screen.proxy, "score": score, "n": len(others) + 1,
                             "against": [n for n, _, _ in others]}
    if seed:
        return {**entry, "passed": True, "why": "seed"}
    if len(others) < screen.min_trials:
        return {**entry, "passed": True, "why": f"fewer than {screen.min_trials} screened before"}
    points = rung_points(score, [costs[c] for c in cost_names], [(c, s) for _, c, s in others])
    passed, k, ahead, front, _ = in_top(points, len(points) - 1, screen.top)
    return {**entry, "passed": bool(passed), "k": k, "ahead": ahead, "front": front,
            "why": f"{ahead} of {len(points)} ranked ahead; the top {screen.top:g} holds {k}"}


def origin_of(trial: Any) -> int | None:
    """The trial this one runs again: after a dead worker (Optuna's retry) or an interrupt (requeue)."""
    if isinstance(trial, FrozenTrial):
        system_attrs = trial.system_attrs
    else:  # a live optuna.Trial no longer shows its system attributes
        system_attrs = trial.study._storage.get_trial_system_attrs(trial._trial_id)
    number = system_attrs.get("failed_trial")
    if number is None:
        number = trial.user_attrs.get("requeued_from")
    return number if isinstance(number, int) else None


class Checkpoints:
    """Training states of promoted candidates, saved at rungs: a file per (architecture, settings, epoch)."""

    def __init__(self, folder: Path, settings: Mapping[str, Any]) -> None:
        self.folder = Path(folder)
        text = json.dumps(dict(settings), sort_keys=True, default=str)
        self.key = hashlib.sha256(text.encode()).hexdigest()[:12]

    def path(self, digest: str, epoch: int) -> Path:
        return self.folder / f"{digest[:16]}-{self.key}-e{epoch}.pt"

    def save(self, digest: str, epoch: int, state: Mapping[str, Any]) -> Path:
        """Write atomically (a crash leaves the earlier file or none, never a torn one)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(digest, epoch)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        torch.save(dict(state), partial)
        os.replace(partial, path)
        return path

    def load(self, digest: str, epoch: int) -> dict[str, Any] | None:
        path = self.path(digest, epoch)
        if not path.is_file():
            return None
        try:
            return torch.load(path, weights_only=True)
        except Exception:  # noqa: BLE001 - unreadable: train again from the start, with the decisions kept
            return None

    def remove(self, digest: str, epochs: Sequence[int]) -> None:
        for epoch in epochs:
            with contextlib.suppress(OSError):
                self.path(digest, epoch).unlink()


class Halving:
    """The rung decisions of one trial: ``halving(epoch, accuracy)`` is the training's ``stop`` callback.

    ``trials()`` reads the study's trials at each decision; ``record(rungs)`` stores this trial's
    ``rungs`` attribute. ``decided`` are entries an earlier run of the same trial already decided
    (they are kept, not decided again). ``costs`` are this trial's cost objectives, in order.
    """

    def __init__(self, schedule: Schedule, *, number: int, bracket: int, costs: Sequence[float],
                 cost_names: Sequence[str], trials: Callable[[], Sequence[FrozenTrial]],
                 record: Callable[[list[dict[str, Any]]], None], seed: bool = False,
                 decided: Sequence[Mapping[str, Any]] = ()) -> None:
        self.schedule = schedule
        self.number = number
        self.bracket = bracket
        self.costs = list(costs)
        self.cost_names = list(cost_names)
        self.trials = trials
        self.record = record
        self.seed = seed
        self.ladder = schedule.ladder(bracket)
        self.entries: list[dict[str, Any]] = [dict(e) for e in decided if e.get("epochs") in self.ladder
                                              and e.get("decision") == "promoted"]

    @property
    def last_promoted(self) -> int:
        """The last rung (epochs) this trial was promoted at; 0 for none."""
        return max((e["epochs"] for e in self.entries if e.get("decision") == "promoted"), default=0)

    def decide(self, epochs: int, accuracy: float) -> dict[str, Any]:
        """Rank this trial at rung ``epochs`` with the others there now; the entry it records."""
        entry: dict[str, Any] = {"epochs": epochs, "accuracy": accuracy, "bracket": self.bracket}
        # Reported before ranking, so a worker deciding at the same moment counts this trial too.
        self.record(self.entries + [{**entry, "decision": "pending"}])
        others = []
        ranked = competitors(self.trials(), epochs=epochs, bracket=self.bracket, exclude=self.number)
        for other, score in ranked:
            other_costs = _costs_of(other, self.cost_names)
            if other_costs is not None:
                others.append((other.number, other_costs, score))
        points = rung_points(accuracy, self.costs, [(c, s) for _, c, s in others])
        promote, k, ahead, front, crowding = in_top(points, len(points) - 1, 1.0 / self.schedule.eta)
        entry.update({"n": len(points), "k": k, "ahead": ahead, "front": front,
                      "crowding": crowding if math.isfinite(crowding) else None,
                      "against": [n for n, _, _ in others]})
        if epochs == self.ladder[-1]:
            entry["decision"] = "final"
        elif promote or self.seed:
            entry["decision"] = "promoted"
            if not promote:
                entry["why"] = "seed: trained to the full budget"
        else:
            entry["decision"] = "stopped"
        self.entries.append(entry)
        self.record(list(self.entries))
        return entry

    def reason(self, entry: Mapping[str, Any]) -> str:
        eta = self.schedule.eta
        return (f"rung {entry['epochs']} epochs: held-out accuracy {100 * entry['accuracy']:.2f}% has Pareto "
                f"rank (front {entry['front']}) with {entry['ahead']} of {entry['n']} trials ahead at this "
                f"rung; the top 1/{eta} holds {entry['k']}")

    def __call__(self, epoch: int, accuracy: float) -> str | None:
        if epoch not in self.ladder or epoch == self.ladder[-1]:
            return None
        earlier = next((e for e in self.entries if e["epochs"] == epoch and e.get("decision") != "pending"),
                       None)
        entry = earlier if earlier is not None else self.decide(epoch, accuracy)
        return self.reason(entry) if entry["decision"] == "stopped" else None

    def finish(self, epochs: int, accuracy: float) -> dict[str, Any]:
        """The last rung: ranked like the others (for the record), never stopped."""
        return self.decide(epochs, accuracy)
