"""The cost-aware sampler: exact costs for every candidate, a surrogate only for the proxy.

In hardsearch the costs of an architecture are exact and take microseconds (closed form); only
its proxy score is expensive. Generic samplers know neither. For each trial this sampler

1. generates ``candidates`` points of the space: mutations and crossovers of the current
   Pareto front and of the seeds (:mod:`hardsearch.search.genome`), plus uniformly random ones;
2. drops those the study has already seen (or that another worker is evaluating) and those over
   a limit, by their exact costs, so an over-limit architecture never reaches the proxy;
3. picks the candidate with the largest expected hypervolume improvement
   (:func:`hardsearch.search.acquisition.ehvi`, exact for one uncertain objective) under a
   Gaussian-process surrogate of the proxy (:class:`~hardsearch.search.surrogate.Surrogate`)
   fitted on the study's scored trials. Trials other workers are running enter the front at
   their predicted score (a "kriging believer"), so workers spread out. Before choosing, a short
   local search on the acquisition (``refine_rounds`` rounds of 16 new mutants of each of the
   ``refine_top`` candidates of largest EHVI) adds points near the best ones.

Under a multi-fidelity schedule (``proxy.schedule``) the scored trials are those at the highest
rung that ``n_startup_trials`` of them reached, each at its accuracy there, stopped ones included
(BOHB's rule): the surrogate and the front compare one fidelity, and no trained candidate is lost.

Until ``n_startup_trials`` trials are scored, it picks the candidate farthest (in log MACs, CIO
and params) from every trial so far, which spreads the first trials along the cost axes around
the seeds. A device profile's ``latency_model`` is closed form too (a linear model of the exact
costs). When an objective is not closed form (measured ``latency``), no hypervolume can be
predicted, and it keeps to evolution: a uniformly chosen mutant or crossover of the front.

Every trial draws the whole genome. The sampler holds no state that matters between trials
(the surrogate's kernel is only a warm start), so several workers can share a study and a
resumed run goes on where the last stopped; for a seed and a history it proposes the same point.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from hardsearch.arch.costs import cost_totals
from hardsearch.arch.latency_model import LatencyProfile
from hardsearch.arch.space import Param, SearchSpace, SpaceError
from hardsearch.core.errors import UserError
from hardsearch.search.acquisition import ehvi
from hardsearch.search.genome import crossover, features, genome_key, mutate, random_genome
from hardsearch.search.surrogate import Surrogate
from hardsearch.study.fidelity import at_rung, model_rung
from hardsearch.study.front import feasible, pareto_front

__all__ = ["CostAwareSampler", "CLOSED_FORM", "MODE_KEY"]

CLOSED_FORM = ("params", "macs", "cio", "peak_activations", "latency_model")
MODE_KEY = "cost_aware:mode"  # trial system attribute: how the point was chosen
_SPREAD = ("params", "macs", "cio")


class Candidate(NamedTuple):
    """A point the sampler may propose: its genome, exact costs, how it was made and its key."""

    genome: dict[str, Any]
    costs: dict[str, float]
    how: str  # random, mutation, crossover, refined
    key: tuple  # genome_key: what its architecture depends on


def distribution(param: Param) -> BaseDistribution:
    """The Optuna distribution :meth:`Param.suggest` draws from."""
    if param.choices is not None:
        return CategoricalDistribution(list(param.choices))
    if param.integer:
        return IntDistribution(int(param.low), int(param.high), step=int(param.step or 1), log=param.log)
    return FloatDistribution(param.low, param.high, step=param.step, log=param.log)


class CostAwareSampler(optuna.samplers.BaseSampler):
    """See the module docstring. ``seeds``: the genomes of the study's seed architectures."""

    def __init__(self, space: SearchSpace, objectives: Sequence[str], limits: Mapping[str, float], *,
                 seeds: Sequence[Mapping[str, Any]] = (), seed: int = 0, candidates: int = 256,
                 n_startup_trials: int = 10, refit_every: int = 8, random_fraction: float = 0.25,
                 refine_rounds: int = 2, refine_top: int = 8, profile: LatencyProfile | None = None) -> None:
        if objectives[0] != "proxy":
            raise UserError(f"sampler=cost_aware: objectives: got {list(objectives)}; allowed: proxy first")
        self.space = space
        self.profile = profile
        self.objectives = list(objectives)
        self.limits = {k: v for k, v in limits.items() if k in CLOSED_FORM}
        self.seeds = [dict(s) for s in seeds]
        self.seed = seed
        self.candidates = candidates
        self.n_startup_trials = n_startup_trials
        self.random_fraction = random_fraction
        self.refine_rounds = refine_rounds
        self.refine_top = refine_top
        self.closed_form = all(o in CLOSED_FORM and (o != "latency_model" or profile is not None)
                               for o in self.objectives[1:])
        self._surrogate = Surrogate(refit_every=refit_every)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._space = {key: distribution(param) for key, param in space.genes()}
        self._costs: dict[tuple, dict[str, float] | None] = {}  # genome key -> costs (None: invalid)
        self._features: dict[tuple, list[float]] = {}  # genome key -> surrogate features

    # -- Optuna's sampler interface --------------------------------------------------------------
    def reseed_rng(self) -> None:
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space or trial.system_attrs.get("fixed_params"):
            return {}  # a queued trial (a seed, a retry) keeps its parameters
        rng = np.random.default_rng([self.seed, trial.number])
        genome, mode, info = self.propose(study.get_trials(deepcopy=False), rng, exclude=trial.number)
        study._storage.set_trial_system_attr(trial._trial_id, MODE_KEY, {"mode": mode, **info})
        return {key: genome[key] for key in search_space if key in genome}

    # -- the proposal, on plain data -------------------------------------------------------------
    def costs(self, genome: Mapping[str, Any], key: tuple | None = None) -> dict[str, float] | None:
        """Closed-form costs of a point (cached by its architecture, ``key``); None if it is not valid."""
        key = genome_key(self.space, genome) if key is None else key
        if key not in self._costs:
            try:
                arch = self.space.decode(genome, name="candidate", check=False)
                c = cost_totals(arch, self.space.input_size)
                costs = {"params": float(c.params), "macs": float(c.macs), "cio": float(c.cio),
                         "peak_activations": float(c.peak_activations)}
                if self.profile is not None:
                    costs["latency_model"] = self.profile.predict_us(arch)
                self._costs[key] = costs
            except (SpaceError, UserError):
                self._costs[key] = None
        return self._costs[key]

    def features(self, genome: Mapping[str, Any], costs: Mapping[str, float],
                 key: tuple | None = None) -> list[float]:
        key = genome_key(self.space, genome) if key is None else key
        if key not in self._features:
            self._features[key] = features(self.space, genome, costs)
        return self._features[key]

    def within_limits(self, costs: Mapping[str, float]) -> bool:
        return all(costs[k] <= limit for k, limit in self.limits.items())

    def propose(self, trials: Sequence[FrozenTrial], rng: np.random.Generator, *,
                exclude: int | None = None) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """The next point, how it was chosen (``startup``, ``model``, ``evolution``, ``random``),
        and what the choice saw (candidates kept, predicted mean and sd, EHVI)."""
        trials = [t for t in trials if t.number != exclude]
        genomes = {t.number: self._genome_of(t) for t in trials}  # None: still drawing its parameters
        scored = [t for t in self._at_one_fidelity(trials) if feasible(t) and t.values is not None
                  and math.isfinite(t.values[0]) and "duplicate_of" not in t.user_attrs]
        pending = [(g, c) for g, c in ((g, self.costs(g)) for g in (
            genomes[t.number] for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING))
            if g is not None) if c is not None]
        # the study's points; grows with every candidate tried, so none is tried twice
        tried = {genome_key(self.space, g) for g in genomes.values() if g is not None}
        front = pareto_front(scored, ["maximize"] + ["minimize"] * (len(self.objectives) - 1))
        parents = [genomes[t.number] for t in front if genomes[t.number] is not None] + self.seeds
        pool = self._candidates(parents, rng, tried)
        if not pool:
            return random_genome(self.space, rng), "random", {"candidates": 0}
        if not self.closed_form:
            evolved = [c for c in pool if c.how != "random"] or pool
            chosen = evolved[int(rng.integers(len(evolved)))]
            return chosen.genome, "evolution", {"candidates": len(pool), "from": chosen.how}
        if len(scored) < self.n_startup_trials:
            done_costs = [self.costs(g) for g in (genomes[t.number] for t in scored) if g is not None]
            genome, mode = self._spread(pool, [c for c in done_costs if c] + [c for _, c in pending])
            return genome, mode, {"candidates": len(pool)}
        return self._model(scored, genomes, pending, pool, rng, tried)

    def _at_one_fidelity(self, trials: Sequence[FrozenTrial]) -> Sequence[FrozenTrial]:
        """Under a multi-fidelity schedule, the trials at the highest rung enough of them reached
        (``n_startup_trials``; BOHB's rule), each at its accuracy there, stopped ones included: the
        surrogate and the front compare one fidelity, and every trained candidate counts."""
        rung = model_rung(trials, self.n_startup_trials)
        return trials if rung is None else at_rung(trials, rung, self.objectives)

    def _genome_of(self, trial: FrozenTrial) -> dict[str, Any] | None:
        params = trial.system_attrs.get("fixed_params") or trial.params
        try:
            return self.space.complete(params)
        except SpaceError:  # a running trial still drawing its parameters
            return None

    def _candidates(self, parents: list[dict[str, Any]], rng: np.random.Generator,
                    keys: set[tuple]) -> list[Candidate]:
        """Up to ``self.candidates`` new points within the limits (``keys``: points already seen or
        tried, updated)."""
        out: list[Candidate] = []
        n_random = max(1, int(round(self.candidates * self.random_fraction))) if parents else self.candidates
        n_cross = (self.candidates - n_random) // 3 if len(parents) >= 2 else 0
        n_mutation = self.candidates - n_random - n_cross
        plan = ["random"] * n_random + ["crossover"] * n_cross + ["mutation"] * n_mutation
        for _ in range(4):  # limits can reject many: try again, at most 4 rounds
            for how in plan:
                if how == "random":
                    genome = random_genome(self.space, rng)
                elif how == "crossover":
                    i, j = rng.choice(len(parents), size=2, replace=False)
                    genome = crossover(self.space, parents[i], parents[j], rng)
                    if rng.random() < 0.5:
                        genome = mutate(self.space, genome, rng)
                else:
                    genome = mutate(self.space, parents[int(rng.integers(len(parents)))], rng,
                                    rate=1.5 / len(self._space))
                candidate = self._admit(genome, how, keys)
                if candidate is not None:
                    out.append(candidate)
            if len(out) >= self.candidates // 8:
                break
        return out

    def _spread(self, pool: list[Candidate],
                known: list[dict[str, float]]) -> tuple[dict[str, Any], str]:
        """The candidate farthest (in log costs, each scaled by its spread in the pool) from every known
        point: the first trials spread out along the cost axes."""
        points = np.log(np.array([[c.costs[k] for k in _SPREAD] for c in pool]))
        scale = points.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        if not known:
            distance = -np.abs(points - points.mean(axis=0)).sum(axis=1)  # no history: the most typical
        else:
            ref = np.log(np.array([[c[k] for k in _SPREAD] for c in known]))
            gaps = np.abs(points[:, None, :] - ref[None, :, :]) / scale
            distance = np.sqrt((gaps ** 2).sum(axis=2)).min(axis=1)
        best = int(np.argmax(distance))
        return pool[best].genome, "startup"

    def _model(self, scored: list[FrozenTrial], genomes: Mapping[int, dict[str, Any] | None],
               pending: list[tuple[dict[str, Any], dict[str, float]]],
               pool: list[Candidate], rng: np.random.Generator,
               keys: set[tuple]) -> tuple[dict[str, Any], str, dict[str, Any]]:
        rows, ys, vectors = [], [], []
        for t in scored:
            genome = genomes[t.number]
            costs = self.costs(genome) if genome is not None else None
            if costs is None:
                continue
            rows.append(self.features(genome, costs))
            ys.append(float(t.values[0]))
            vectors.append([-float(t.values[0])] + [float(v) for v in t.values[1:]])
        surrogate = self._surrogate.fit(np.array(rows), np.array(ys))
        points = np.array(vectors)
        if pending:  # other workers' running trials count at their predicted score
            p_mean, _ = surrogate.predict(np.array([self.features(g, c) for g, c in pending]))
            points = np.vstack([points, [[-m] + [c[o] for o in self.objectives[1:]]
                                         for m, (_, c) in zip(p_mean, pending, strict=True)]])
        low, high = points.min(axis=0), points.max(axis=0)
        span = np.where(high > low, high - low, 1.0)
        front = _nondominated((points - low) / span)
        reference = np.full(points.shape[1], 1.1)

        def score(batch: list[Candidate]) -> tuple[np.ndarray, ...]:
            mean, sd = surrogate.predict(np.array([self.features(c.genome, c.costs, c.key) for c in batch]))
            cand_costs = np.array([[c.costs[o] for o in self.objectives[1:]] for c in batch])
            gain = ehvi((-mean - low[0]) / span[0], sd / span[0], (cand_costs - low[1:]) / span[1:], front,
                        reference)
            return mean, sd, gain

        mean, sd, gain = score(pool)
        for _ in range(self.refine_rounds):  # local search on the acquisition around its best candidates
            top = np.argsort(-gain, kind="stable")[:self.refine_top]
            found = self._neighbours([pool[i].genome for i in top if gain[i] > 0], rng, keys)
            if not found:
                break
            m, s, g = score(found)
            pool = pool + found
            mean, sd, gain = np.concatenate([mean, m]), np.concatenate([sd, s]), np.concatenate([gain, g])
        if gain.max() <= 0:  # nothing is expected to improve the front: the most promising by mean + sd
            best = int(np.argmax(mean + sd))
        else:
            best = int(np.argmax(gain))
        info = {"candidates": len(pool), "mean": float(mean[best]), "sd": float(sd[best]),
                "ehvi": float(gain[best]), "from": pool[best].how}
        return pool[best].genome, "model", info

    def _neighbours(self, genomes: list[dict[str, Any]], rng: np.random.Generator, keys: set[tuple],
                    per: int = 16) -> list[Candidate]:
        """New single- and double-gene mutants of each genome, within the limits (``keys``: points
        already seen or tried, updated)."""
        out = []
        for genome in genomes:
            for _ in range(per):
                mutant = mutate(self.space, genome, rng, rate=1.5 / len(self._space))
                candidate = self._admit(mutant, "refined", keys)
                if candidate is not None:
                    out.append(candidate)
        return out

    def _admit(self, genome: dict[str, Any], how: str, keys: set[tuple]) -> Candidate | None:
        """``genome`` as a candidate, or None: a point already in ``keys`` (then added), invalid, or
        over a limit."""
        key = genome_key(self.space, genome)
        if key in keys:
            return None
        keys.add(key)
        costs = self.costs(genome, key)
        if costs is None or not self.within_limits(costs):
            return None
        return Candidate(genome, costs, how, key)


def _nondominated_mask(points: np.ndarray) -> np.ndarray:
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not keep[i]:
            continue
        dominated = np.all(points <= points[i], axis=1) & np.any(points < points[i], axis=1)
        if dominated.any():
            keep[i] = False
    return keep


def _nondominated(points: np.ndarray) -> np.ndarray:
    return points[_nondominated_mask(points)] if len(points) else points
