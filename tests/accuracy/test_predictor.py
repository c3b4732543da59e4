"""The learned accuracy predictor: features, fitting, saving, loading, the command and the proxy."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from hardsearch.accuracy.data import load_data
from hardsearch.accuracy.objective import create_proxy
from hardsearch.accuracy.predictor import (
    PACKAGED_PREDICTOR,
    FeatureSpec,
    Predictor,
    arch_levels,
    build_estimator,
    cross_validate,
    encode_arch,
    feature_row,
    load_predictor,
)
from hardsearch.arch.costs import cost_totals
from hardsearch.arch.seeds import load_seed
from hardsearch.arch.space import load_space
from hardsearch.core.errors import UserError
from hardsearch.core.paths import ROOT

from searching import run, small

SAMPLE = {"source": "cifar10_sample", "root": None, "resolution": 32, "batch_size": 64, "download": False}


def spec(**changes) -> FeatureSpec:
    base = FeatureSpec(("naswot",), ("params", "macs"), True, 4, (224, 224), dict(SAMPLE), 0)
    return base._replace(**changes)


def test_encoding_of_hardnet68_by_hand():
    arch = load_seed("hardnet68")  # levels: [8], [16, 16], [16], [4] layers; growth 14 | 16, 20 | 40 | 160
    assert [len(level) for level in arch_levels(arch)] == [1, 2, 1, 1]
    e = encode_arch(arch, 4)
    assert (e["stem0"], e["stem1"], e["multiplier"], e["link_base"], e["dropout"]) == (32, 64, 1.7, 2, 0.1)
    assert (e["depthwise"], e["keep_base"]) == (0.0, 0.0)
    assert (e["L1_blocks"], e["L1_depth"], e["L1_growth"], e["L1_width"]) == (1, 8, 14, 128)
    assert (e["L2_blocks"], e["L2_depth"], e["L2_growth"], e["L2_width"]) == (2, 16, 18, 320)
    assert (e["L3_blocks"], e["L3_depth"], e["L3_growth"], e["L3_width"]) == (1, 16, 40, 640)
    assert (e["L4_blocks"], e["L4_depth"], e["L4_growth"], e["L4_width"]) == (1, 4, 160, 1024)
    padded = encode_arch(arch, 5)  # a level the architecture lacks is zero
    assert [padded[f"L5_{k}"] for k in ("blocks", "depth", "growth", "width")] == [0, 0, 0, 0]
    with pytest.raises(UserError, match="hardnet68 has 4 resolution levels; the predictor encodes at most 3"):
        encode_arch(arch, 3)


def test_feature_row_is_scores_then_log_costs_then_encoding():
    arch = load_seed("hardnet68")
    s = spec()
    row = feature_row(arch, {"naswot": 12.5, "meco": 3.0}, s)
    names = s.names()
    assert len(row) == len(names) == 1 + 2 + 7 + 16
    values = dict(zip(names, row, strict=True))
    totals = cost_totals(arch, 224)
    assert values["score:naswot"] == 12.5
    assert values["log10_params"] == pytest.approx(math.log10(17_565_348))  # the published count
    assert values["log10_macs"] == pytest.approx(math.log10(totals.macs))
    assert values["L2_growth"] == 18
    assert feature_row(arch, {"naswot": 1.0}, spec(encoding=False, costs=())) == [1.0]
    with pytest.raises(ValueError, match="scores miss naswot"):
        feature_row(arch, {"meco": 1.0}, s)


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy that rises with feature 0 and falls with feature 1; feature 2 is noise; MACs = feature 2."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = 0.5 + 0.08 * x[:, 0] - 0.04 * x[:, 1] + rng.normal(scale=0.005, size=n)
    return x, np.clip(y, 0, 1), np.exp(x[:, 2])


@pytest.mark.parametrize("model", ["ridge", "gp", "gbm"])
def test_cross_validation_ranks_a_learnable_target_and_not_noise(model):
    x, y, macs = synthetic(40)
    cv = cross_validate(x, y, macs, model=model, folds=5, seed=0)
    assert cv.n == 40 and cv.folds == 5 and len(cv.predictions) == 40
    assert cv.spearman > 0.8 and cv.partial_spearman > 0.8  # MACs (noise here) explain nothing
    shuffled = np.random.default_rng(1).permutation(y)  # no feature predicts a shuffled target
    noise = cross_validate(x, shuffled, macs, model=model, folds=5, seed=0)
    assert noise.spearman < 0.5
    assert cross_validate(x, y, macs, model=model, folds=5, seed=0) == cv  # deterministic


def test_cross_validation_needs_four_rows():
    x, y, macs = synthetic(3)
    with pytest.raises(UserError, match="3 rows; allowed: at least 4"):
        cross_validate(x, y, macs, model="ridge")


def rows_for(archs, s: FeatureSpec, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for arch in archs:
        scores = {"naswot": float(rng.normal(100, 10))}
        macs = cost_totals(arch).macs
        acc = float(np.clip(0.3 + 0.001 * (scores["naswot"] - 100) + 0.02 * math.log10(macs), 0, 1))
        rows.append({"name": arch.name, "digest": arch.name, "accuracy": acc, "scores": scores,
                     "features": feature_row(arch, scores, s)})
    return rows


@pytest.mark.parametrize("model", ["ridge", "gp", "gbm"])
def test_predictor_saves_loads_and_predicts_deterministically(tmp_path, model):
    space = load_space("harmonic")
    s = spec()
    archs = space.sample(12, seed=3)
    predictor = Predictor(spec=s, model=model, rows=rows_for(archs, s), recipe="test recipe", seed=0)
    path = predictor.save(tmp_path / "p.json")
    loaded = load_predictor(path)
    assert loaded.model == model and loaded.spec == s and loaded.recipe == "test recipe"
    new = space.sample(5, seed=4)
    first = [predictor.predict(a, {"naswot": 100.0 + i}) for i, a in enumerate(new)]
    again = [loaded.predict(a, {"naswot": 100.0 + i}) for i, a in enumerate(new)]
    assert first == again  # fitted again on the same rows: the same numbers
    assert all(0.0 <= p <= 1.0 for p in first)
    assert json.loads(path.read_text())["format"] == "hardsearch-predictor/1"


def test_predictions_follow_the_rows_the_predictor_learned():
    space = load_space("harmonic")
    s = spec(costs=(), encoding=False)
    rows = [{"name": f"r{i}", "digest": f"r{i}", "accuracy": 0.2 + 0.05 * i, "features": [float(i)]}
            for i in range(8)]  # accuracy rises with the score
    predictor = Predictor(spec=s, model="ridge", rows=rows)
    arch = space.sample(1, seed=0)[0]
    low, high = predictor.predict(arch, {"naswot": 1.0}), predictor.predict(arch, {"naswot": 6.0})
    assert 0.2 < low < high < 0.6
    assert predictor.predict(arch, {"naswot": 1e6}) == 1.0  # clipped to an accuracy


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("{not json", "not readable JSON"),
    ('{"format": "something-else"}', "format 'something-else'"),
    ('{"format": "hardsearch-predictor/1", "model": "ridge"}', "broken predictor (KeyError"),
])
def test_bad_predictor_files_get_one_line(tmp_path, content, message):
    path = tmp_path / "p.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_predictor(path)
    assert str(err.value).startswith(f"proxy.path: {path}:") and "\n" not in str(err.value)


def test_a_file_whose_features_do_not_match_its_settings_is_refused(tmp_path):
    data = json.loads(PACKAGED_PREDICTOR.read_text())
    data["feature_names"] = data["feature_names"][:-1]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="feature_names do not match"):
        load_predictor(path)


def test_the_packaged_predictor_loads_and_predicts_the_seeds():
    predictor = load_predictor()
    assert predictor.path == PACKAGED_PREDICTOR and predictor.cv is not None
    assert len(predictor.rows) >= 8 and "epochs" in predictor.recipe
    # the packaged file is the default evidence.py chose on HarmonicBench: 48 + 24 networks at least, and
    # its cross-validated ranking meets issue 14's target
    assert predictor.model == "gp" and predictor.spec.proxies == ("grad_norm",)
    assert len(predictor.rows) >= 72 and predictor.cv.spearman >= 0.6 and predictor.cv.partial_spearman >= 0.3
    proxy = create_proxy({"name": "predictor", "path": None}, data=load_data("noise"))
    result = proxy(load_seed("hardnet39ds"))
    assert 0.0 <= result.value <= 1.0 and set(result.raw) == set(predictor.spec.proxies)
    assert result.value == predictor.predict(load_seed("hardnet39ds"), result.raw)
    # the scores come from the predictor's own data (the packaged sample), not the search's noise
    sample = create_proxy({"name": "predictor", "path": None}, data=load_data("cifar10_sample"))
    again = sample(load_seed("hardnet39ds"))
    assert (again.raw, again.value) == (result.raw, result.value)


def test_proxy_options_of_the_predictor_are_checked():
    noise = load_data("noise")
    with pytest.raises(UserError, match="proxy.seed: unknown key for proxy=predictor; allowed keys: name"):
        create_proxy({"name": "predictor", "path": None, "seed": 1}, data=noise)
    with pytest.raises(UserError, match="proxy.path: got 3; allowed: null"):
        create_proxy({"name": "predictor", "path": 3}, data=noise)
    with pytest.raises(UserError, match="proxy.path: nowhere.json: no such file"):
        create_proxy({"name": "predictor", "path": "nowhere.json"}, data=noise)


def command(module: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args, message", [
    ([], "rows: got None; allowed: a list of folders"),
    (["rows=[nowhere]"], "rows: nowhere: no calibration.json and rows.jsonl there"),
    (["rows=[nowhere]", "model=svm"], "model: got 'svm'; allowed: ridge, gp, gbm"),
    (["rows=[nowhere]", "proxies=[params]"], "proxies: got ['params']; allowed: a list of distinct names"),
    (["rows=[nowhere]", "proxies=[]", "costs=[]", "encoding=false"], "all empty; allowed: at least one"),
    (["rows=[nowhere]", "folds=1"], "folds: got 1; allowed: an integer >= 2"),
])
def test_bad_command_lines_give_one_line(args, message):
    result = command("hardsearch.predictor", *args, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_retrain_on_user_rows_end_to_end_and_search_with_it(tmp_path):
    """calibrate on the packaged sample → fit the predictor → search with it: the user's loop."""
    cal = tmp_path / "cal"
    trained = command("hardsearch.calibrate", "+space=harmonic_ds", "n=6", "seed=2", "data=cifar10_sample",
                      "train.steps=2", "train.batch_size=32", "proxies=[grad_norm,macs]", "ensemble=[]",
                      "combinations=[]", f"out={cal}")
    assert trained.returncode == 0, trained.stderr
    out = tmp_path / "mine.json"
    fitted = command("hardsearch.predictor", f"rows=[{cal}]", "folds=3", f"out={out}")
    assert fitted.returncode == 0, fitted.stderr
    assert "(6 with stored scores)" in fitted.stdout  # same data, batch and seed: reused, not rescored
    assert "| predictor (gp) |" in fitted.stdout and "| MACs alone (no fit) |" in fitted.stdout
    saved = json.loads(out.read_text())
    assert len(saved["rows"]) == 6 and saved["cv"]["n"] == 6 and saved["cv"]["folds"] == 3
    assert "2 steps" in saved["recipe"] and saved["source"] == [str(cal)]
    # 2 steps leave every network near chance on the 200 held-out images; where all are equal there is
    # no ranking (nan) and the predictor learns that constant: the rank tests above use learnable rows
    accuracies = {r["accuracy"] for r in saved["rows"]}
    assert math.isfinite(saved["cv"]["mae"]) and (len(accuracies) > 1 or saved["cv"]["mae"] < 0.01)
    stored = [json.loads(line) for line in (cal / "rows.jsonl").read_text().splitlines()]
    assert [r["accuracy"] for r in saved["rows"]] == [r["accuracy"] for r in stored]
    # the same command again gives the same file: features, folds and fit are deterministic
    again = command("hardsearch.predictor", f"rows=[{cal}]", "folds=3", f"out={tmp_path / 'again.json'}")
    assert again.returncode == 0 and (tmp_path / "again.json").read_text() == out.read_text()

    options = small(tmp_path, "proxy=predictor", f"proxy.path={out}", space="harmonic_ds", trials=4)
    study = run(options).study
    values = [t.values[0] for t in study.trials if t.values]
    assert len(values) == 4 and all(0.0 <= v <= 1.0 for v in values)
    assert all(set(t.user_attrs["proxy_raw"]) == {"grad_norm"} for t in study.trials if t.values), [
        t.user_attrs for t in study.trials]
    predictor = load_predictor(out)
    seed = next(t for t in study.trials if t.user_attrs.get("seed") == "hardnet39ds")
    assert seed.values[0] == predictor.predict(load_seed("hardnet39ds"), seed.user_attrs["proxy_raw"])
    assert study.user_attrs["hardsearch.proxy"]["predictor"] == predictor.digest()
    assert "2 steps" in study.user_attrs["hardsearch.proxy"]["recipe"]
    # resuming the study with another predictor would mix two predictors' values: refused, nothing stored
    before = len(study.trials)
    with pytest.raises(UserError, match="is another predictor than the one that scored this study"):
        run(small(tmp_path, "proxy=predictor", space="harmonic_ds", trials=4))
    resumed = small(tmp_path, "proxy=predictor", f"proxy.path={out}", space="harmonic_ds", trials=before + 2)
    assert len(run(resumed).study.trials) == before + 2  # the same predictor resumes


def test_rows_of_two_recipes_are_refused(tmp_path):
    folders = []
    for steps in (1, 2):
        folder = tmp_path / f"s{steps}"
        folder.mkdir()
        settings = {"space": "harmonic", "input_size": [224, 224], "data": "cifar10_sample", "resolution": 32,
                    "batch_size": 64, "proxy_seed": 0,
                    "train": {"epochs": 1, "steps": steps, "batch_size": 128, "lr": 0.01, "momentum": 0.9,
                              "weight_decay": 5e-4, "augment": True, "threads": 0, "seed": 0,
                              "eval_batch_size": 500}}
        (folder / "calibration.json").write_text(json.dumps({"settings": settings}))
        (folder / "rows.jsonl").write_text("")
        folders.append(str(folder))
    result = command("hardsearch.predictor", f"rows=[{','.join(folders)}]", timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"rows: {folders[1]} was trained with another recipe than {folders[0]}" in result.stderr


def test_estimators_by_name():
    x, y, macs = synthetic(8)
    assert build_estimator("ridge").fit(x, y).predict(x).shape == (8,)
    with pytest.raises(UserError, match="model: got 'svm'"):
        build_estimator("svm")
