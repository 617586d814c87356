"""Finer supervision of the linear model (issue #15 lever 3): group heads, their combination
into p_scam, bundles with `heads = "groups"`, and config errors naming the field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from janitr.baselines.linear import LinearConfig, LinearModel, fit_linear, group_targets, noisy_or
from janitr.cli import main
from janitr.data.demo import write_demo_dataset
from janitr.data.labels import scam_groups, scam_kind
from janitr.data.records import read_records
from janitr.errors import BundleError, ConfigError
from janitr.evaluation.evaluate import evaluate_bundle
from janitr.pipeline.crossval import CrossvalConfig
from janitr.runtime.bundle import load_bundle
from janitr.runtime.classifier import Classifier

GROUPS = LinearConfig(heads="groups")
STACK = LinearConfig(heads="groups", group_combine="stack")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_demo_dataset(tmp_path_factory.mktemp("demo"), rows=240, seed=0)


@pytest.fixture(scope="module")
def train(data_dir):
    return read_records(data_dir / "train.jsonl")


@pytest.fixture(scope="module")
def valid(data_dir):
    return read_records(data_dir / "valid.jsonl")


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_group_targets_follow_scam_kind():
    rows = [["scam", "spam", "topic_crypto"], ["promo"], ["low_effort", "topic_ai"], ["clean"]]
    kinds, y = group_targets(rows)
    assert kinds == ("fraud", "spam_promo")
    # a phishing post that is also spam is positive for both heads; a spam-group label that
    # is no scam label (low_effort) is positive for none
    assert y.tolist() == [[1, 1], [0, 1], [0, 0], [0, 0]]
    # one grouping: the first kind of a row's groups is its kind in evaluation's split
    for row in rows:
        groups = scam_groups(row)
        assert scam_kind(row) == (min(groups, key=("fraud", "spam_promo", "other").index)
                                  if groups else None)  # fmt: skip


def test_noisy_or_matches_the_product_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(scale=4.0, size=(50, 3))
    expected = 1.0 - np.prod(1.0 - _sigmoid(z), axis=1)
    assert np.allclose(noisy_or(z), expected, rtol=1e-12, atol=1e-15)
    # one head alone is its own sigmoid; a certain head makes the scam certain
    assert np.allclose(noisy_or(z[:, :1]), _sigmoid(z[:, 0]))
    assert noisy_or(np.array([[40.0, -40.0]]))[0] == pytest.approx(1.0)
    assert noisy_or(np.array([[-40.0, -40.0]]))[0] == pytest.approx(2 * np.exp(-40.0), rel=1e-6)


def test_group_heads_fit_on_a_tiny_dataset(train, valid):
    model = fit_linear(train, GROUPS)
    assert model.heads == ("fraud", "spam_promo", "topic")
    assert model.coef.shape[0] == 3 and model.stack_coef is None
    texts = [r.norm_text for r in valid]
    logits = model.head_logits(texts)
    heads = model.predict_heads(texts)
    assert heads.shape == (len(valid), 2) and ((heads >= 0) & (heads <= 1)).all()
    # the combined p_scam is the noisy-or of the group heads; p_topic is the topic head
    assert np.allclose(heads[:, 0], 1.0 - np.prod(1.0 - _sigmoid(logits[:, :2]), axis=1))
    assert np.allclose(heads[:, 1], _sigmoid(logits[:, 2]))
    # each group head ranks its own kind above the rows of no scam kind
    kinds = np.array([scam_kind(r.labels) or "" for r in valid])
    for j, kind in enumerate(("fraud", "spam_promo")):
        assert logits[kinds == kind, j].mean() > logits[kinds == "", j].mean()
    is_scam = kinds != ""
    assert heads[is_scam, 0].mean() > heads[~is_scam, 0].mean() + 0.2


def test_stacked_combiner_is_a_logistic_regression_on_group_logits(train, valid):
    model = fit_linear(train, STACK)
    assert model.stack_coef.shape == (2,) and np.isfinite(model.stack_intercept)
    texts = [r.norm_text for r in valid]
    z = model.head_logits(texts)[:, :2]
    heads = model.predict_heads(texts)
    assert np.allclose(heads[:, 0], _sigmoid(z @ model.stack_coef + model.stack_intercept))
    # the heads themselves are the noisy-or model's: only the combination differs
    assert np.array_equal(model.coef, fit_linear(train, GROUPS).coef)


@pytest.mark.parametrize("config", [GROUPS, STACK], ids=["noisy_or", "stack"])
def test_groups_bundle_round_trip_and_evaluate(config, data_dir, train, valid, tmp_path, capsys):
    model = fit_linear(train, config)
    files = model.save(tmp_path / "m")
    loaded = LinearModel.load(files["linear.npz"], files["vocab.json"])
    texts = [r.norm_text for r in valid]
    assert loaded.heads == model.heads
    assert np.array_equal(loaded.predict_heads(texts), model.predict_heads(texts))

    args = ["--heads", "groups", "--group-combine", config.group_combine]
    code = main(["train", "linear", "--data", str(data_dir), "--out", str(tmp_path / "b"),
                 "--tune-on", "calib", *args])  # fmt: skip
    assert code == 0
    bundle = load_bundle(tmp_path / "b")
    assert bundle.manifest["model"]["config"]["heads"] == "groups"
    assert bundle.manifest["model"]["config"]["group_combine"] == config.group_combine
    assert bundle.manifest["model"]["heads"] == ["fraud", "spam_promo", "topic"]
    # the runtime scores the bundle as the fitted model does (same training rows, same fit)
    assert np.array_equal(bundle.scorer().predict_heads(texts), model.predict_heads(texts))
    clf = Classifier.load(tmp_path / "b")
    assert clf.predict(["claim your free airdrop"])[0].label in ("scam", "topic_crypto", "clean")
    report = evaluate_bundle(model=tmp_path / "b", data=data_dir / "valid.jsonl", n_boot=0)
    assert report["model"]["kind"] == "linear"
    capsys.readouterr()
    out = tmp_path / "eval.json"
    code = main(["evaluate", "--model", str(tmp_path / "b"), "--data",
                 str(data_dir / "valid.jsonl"), "--n-boot", "0", "--json", str(out)])  # fmt: skip
    assert code == 0
    assert json.loads(out.read_text())["scam_recall_by_kind"]["fraud"]["positives"] > 0


def test_v1_model_files_load_as_collapsed(train, valid, tmp_path):
    model = fit_linear(train, LinearConfig(heads="collapsed"))
    files = model.save(tmp_path)
    vocab = json.loads(files["vocab.json"].read_text())
    vocab["format_version"] = 1
    del vocab["heads"], vocab["config"]["heads"], vocab["config"]["group_combine"]
    files["vocab.json"].write_text(json.dumps(vocab))
    loaded = LinearModel.load(files["linear.npz"], files["vocab.json"])
    assert loaded.config.heads == "collapsed" and loaded.heads == ("scam", "topic")
    texts = [r.norm_text for r in valid]
    assert np.array_equal(loaded.predict_heads(texts), model.predict_heads(texts))


def test_mismatched_heads_are_a_bundle_error(train, tmp_path):
    files = fit_linear(train, GROUPS).save(tmp_path)
    vocab = json.loads(files["vocab.json"].read_text())
    vocab["config"]["heads"] = "collapsed"
    files["vocab.json"].write_text(json.dumps(vocab))
    with pytest.raises(BundleError, match="heads = collapsed needs heads scam, topic"):
        LinearModel.load(files["linear.npz"], files["vocab.json"])


def test_bad_heads_settings_name_the_field():
    with pytest.raises(ConfigError, match="heads: must be one of collapsed, groups, got 'kinds'"):
        LinearConfig(heads="kinds")
    with pytest.raises(ConfigError, match="group_combine: must be one of noisy_or, stack"):
        LinearConfig.from_dict({"heads": "groups", "group_combine": "max"})
    with pytest.raises(ConfigError, match="linear_heads: must be one of collapsed, groups"):
        CrossvalConfig(linear_heads="fine")
