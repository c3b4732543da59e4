"""hardsearch.study.front: feasibility and the Pareto front."""

from __future__ import annotations

import optuna

from hardsearch.study.front import pareto_front


def test_pareto_front_by_hand():
    def trial(number, values, violations=()):
        return optuna.trial.create_trial(values=values, user_attrs={"constraints": list(violations)}) \
            if values else None

    trials = [trial(0, [1.0, 5.0]), trial(1, [2.0, 6.0]), trial(2, [0.5, 1.0]), trial(3, [2.0, 7.0]),
              trial(4, [3.0, 1.0], violations=[0.5])]
    for i, t in enumerate(trials):
        t.number = i
    front = pareto_front(trials, ["maximize", "minimize"])
    # 0 is dominated by nothing? 2 has lower proxy but lower cost; 1 beats 3; 4 is infeasible
    assert [t.number for t in front] == [0, 1, 2]
