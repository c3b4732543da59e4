"""The proxy objective: single proxies, the calibrated ensemble stored in a study, and training."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import optuna
import pytest

from hardsearch.accuracy.calibration import STUDY_KEY
from hardsearch.accuracy.data import load_data
from hardsearch.accuracy.objective import create_proxy
from hardsearch.accuracy.proxies import score_proxy
from hardsearch.arch.space import load_space
from hardsearch.core.errors import UserError
from hardsearch.core.paths import ROOT

TINY_SPACE = ROOT / "tests" / "spaces" / "tiny.yaml"
ENSEMBLE = {"name": "ensemble", "members": ["naswot", "synflow", "jacob_cov"], "weights": None,
            "reference": 5, "reference_seed": 0, "seed": 0}


@pytest.fixture(scope="module")
def sample():
    return load_data("cifar10_sample")


@pytest.fixture(scope="module")
def space():
    return load_space(TINY_SPACE)


def test_single_proxy_is_the_raw_score(sample, space):
    arch = space.sample(1, seed=5)[0]
    proxy = create_proxy({"name": "synflow", "seed": 1}, data=sample)
    result = proxy(arch)
    model = proxy.scorer.model(arch)
    assert result.value == score_proxy("synflow", model, proxy.scorer.inputs, proxy.scorer.targets, seed=1)
    assert result.raw == {"synflow": result.value} and result.normalised == {}
    assert proxy(arch).value == result.value  # deterministic


def test_ensemble_without_study_calibrates_on_the_reference_sample(sample, space):
    seen = []
    proxy = create_proxy(ENSEMBLE, data=sample, space=space, progress=lambda i, n, name: seen.append((i, n)))
    assert seen[-1] == (5, 5)  # no seeds in this space: 5 random members
    cal = proxy.calibration
    assert list(cal.members) == ["naswot", "synflow", "jacob_cov"]
    assert len(cal.reference) == 5
    result = proxy(space.sample(1, seed=99)[0])
    assert result.value == pytest.approx(sum(result.normalised.values()) / 3)


def test_weights_change_the_ensemble(sample, space):
    arch = space.sample(1, seed=11)[0]
    equal = create_proxy(ENSEMBLE, data=sample, space=space)(arch)
    weighted = create_proxy({**ENSEMBLE, "weights": [1, 0, 0]}, data=sample, space=space)(arch)
    assert weighted.value == pytest.approx(equal.normalised["naswot"])


RESUME = textwrap.dedent("""
    import json, sys
    import hardsearch.accuracy.objective as accuracy
    import optuna
    from hardsearch.accuracy.data import load_data
    from hardsearch.arch.space import load_space
    storage, mode = sys.argv[1], sys.argv[2]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space({space!r})
    if mode == "resume":
        def refuse(*args, **kwargs):
            raise AssertionError("the stored calibration must be reused, not rebuilt")
        accuracy.reference_archs = refuse
    study = optuna.create_study(study_name="s", storage=storage, load_if_exists=True,
                                directions=["maximize", "minimize", "minimize"])
    proxy = accuracy.create_proxy({options}, data=load_data("cifar10_sample"), space=space, study=study)
    archs = space.sample(3, seed=123)
    print(json.dumps([repr(proxy(a).value) for a in archs]))
""")


def _run(storage: str, mode: str, options: dict) -> list[str]:
    script = RESUME.format(space=str(TINY_SPACE), options=repr(options))
    result = subprocess.run([sys.executable, "-c", script, storage, mode], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_resumed_study_reuses_the_stored_calibration(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = _run(storage, "start", ENSEMBLE)
    stored = optuna.load_study(study_name="s", storage=storage).user_attrs[STUDY_KEY]
    again = _run(storage, "resume", ENSEMBLE)  # a new process that may not recalibrate
    assert again == first  # identical scores, to the last bit
    assert optuna.load_study(study_name="s", storage=storage).user_attrs[STUDY_KEY] == stored
    # a study calibrated on another reference sample maps the same raw scores elsewhere,
    # so reuse (not recomputation) is what made the two runs agree
    other = _run(f"sqlite:///{tmp_path / 'other.db'}", "start", {**ENSEMBLE, "reference_seed": 1})
    assert other != first


def test_changed_settings_on_resume_are_refused(tmp_path, sample, space):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    create_proxy(ENSEMBLE, data=sample, space=space, study=study)
    with pytest.raises(UserError, match=r"proxy calibration: members: got \['naswot', 'snip'\]"):
        create_proxy({**ENSEMBLE, "members": ["naswot", "snip"]}, data=sample, space=space, study=study)


def test_train_proxy(sample, space):
    proxy = create_proxy({"name": "train", "steps": 3, "batch_size": 50, "early_stop": None}, data=sample)
    result = proxy(space.sample(1, seed=2)[0])
    assert len(result.per_epoch) == 1 and 0 <= result.value <= 1 and not result.pruned
    rule = create_proxy({"name": "train", "early_stop": {"quantile": 0.5, "min_trials": 2}},
                        data=sample).stop_rule(lambda: [])
    assert rule.quantile == 0.5 and rule.min_trials == 2


@pytest.mark.parametrize("options,message", [
    ({"name": "magic"}, "proxy.name: got 'magic'; allowed: ensemble, train, predictor, naswot, synflow"),
    ({**ENSEMBLE, "members": ["naswot", "fisher"]}, "proxy.members: got ['naswot', 'fisher']; allowed"),
    ({**ENSEMBLE, "weights": [1, 2]}, "proxy.weights: got [1, 2]; allowed: null or 3 numbers >= 0"),
    ({**ENSEMBLE, "reference": -1}, "proxy.reference: got -1; allowed: an integer >= 0"),
    ({"name": "snip", "members": ["snip"]},
     "proxy.members: unknown key for proxy=snip; allowed keys: name, seed"),
    ({"name": "train", "early_stop": {"quantile": 2}}, "proxy.early_stop.quantile: got 2; allowed"),
])
def test_bad_proxy_options(options, message, sample, space):
    with pytest.raises(UserError) as err:
        create_proxy(options, data=sample, space=space)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_ensemble_needs_a_space(sample):
    with pytest.raises(UserError, match=r"needs a search space.*\+space=NAME"):
        create_proxy(ENSEMBLE, data=sample)
