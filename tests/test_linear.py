"""Linear model: save/load gives identical scores, bundle round trip, CLI, config errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from janitr.baselines.linear import LinearConfig, LinearModel, fit_linear, train_linear
from janitr.cli import main
from janitr.data.demo import write_demo_dataset
from janitr.data.records import read_records
from janitr.errors import ConfigError
from janitr.evaluation.evaluate import evaluate_bundle
from janitr.evaluation.thresholds import ThresholdPolicy
from janitr.runtime.bundle import load_bundle
from janitr.runtime.classifier import Classifier


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_demo_dataset(tmp_path_factory.mktemp("demo"), rows=240, seed=0)


def test_save_load_identical(data_dir, tmp_path):
    train = read_records(data_dir / "train.jsonl")
    model = fit_linear(train, LinearConfig(c=2.0))
    files = model.save(tmp_path)
    loaded = LinearModel.load(files["linear.npz"], files["vocab.json"])
    texts = [r.norm_text for r in read_records(data_dir / "valid.jsonl")]
    a, b = model.predict_heads(texts), loaded.predict_heads(texts)
    assert a.shape == (len(texts), 2) and np.array_equal(a, b)
    assert ((a >= 0) & (a <= 1)).all()
    # no pickle anywhere: the arrays load with allow_pickle=False, the rest is JSON
    np.load(files["linear.npz"], allow_pickle=False).close()
    json.loads(files["vocab.json"].read_text())


def test_heads_learn_something(data_dir):
    train = read_records(data_dir / "train.jsonl")
    model = fit_linear(train, LinearConfig())
    valid = read_records(data_dir / "valid.jsonl")
    heads = model.predict_heads([r.norm_text for r in valid])
    is_scam = np.array([r.gold == "scam" for r in valid])
    assert heads[is_scam, 0].mean() > heads[~is_scam, 0].mean() + 0.2


def test_bundle_round_trip_and_cli(data_dir, tmp_path, capsys):
    on_calib = ThresholdPolicy(tune_on="calib", rule="empirical")
    bundle = train_linear(
        data_dir=data_dir, out_dir=tmp_path / "b", config=LinearConfig(), thresholds=on_calib
    )
    assert bundle.kind == "linear" and set(bundle.manifest["files"]) >= {"linear.npz", "vocab.json"}
    assert bundle.manifest["model"]["report"]["split"] == "valid"
    clf = Classifier.load(tmp_path / "b")
    label = clf.predict(["claim your free airdrop now"])[0].label
    assert label in ("scam", "topic_crypto", "clean")
    report = evaluate_bundle(model=tmp_path / "b", data=data_dir / "valid.jsonl", n_boot=0)
    assert report["model"]["kind"] == "linear"
    code = main(["train", "linear", "--data", str(data_dir), "--out", str(tmp_path / "c"),
                 "--c", "2", "--tune-on", "calib"])  # fmt: skip
    assert code == 0
    cli_bundle = load_bundle(tmp_path / "c")
    assert cli_bundle.manifest["model"]["config"]["c"] == 2.0
    # The CLI's default rule is `janitr run`'s: guaranteed at 80% confidence.
    assert cli_bundle.manifest["tuning"]["scam_rule"]["rule"] == "guaranteed"
    assert cli_bundle.manifest["tuning"]["scam_rule"]["confidence"] == 0.8
    assert cli_bundle.manifest["tuning"]["data"] == "calib"
    assert cli_bundle.manifest["model"]["report"]["split"] == "valid"
    assert "thresholds" in capsys.readouterr().out


def test_fold_confusables_bundle(data_dir, tmp_path):
    cfg = LinearConfig(fold_confusables=True)
    bundle = train_linear(data_dir=data_dir, out_dir=tmp_path / "f", config=cfg)
    assert bundle.normalization.fold_confusables
    scorer = bundle.scorer()
    plain = scorer.predict_heads(["claim your airdrop"])
    cyr = scorer.predict_heads(["сlаim yоur аirdrop"])  # Cyrillic look-alikes
    assert np.allclose(plain, cyr)


def test_default_bundle_folds_end_to_end(data_dir, tmp_path):
    # Folding is the default (issue #15 lever 7): a bundle trained with default settings
    # records it, and its Classifier gives a look-alike scam and its plain form the same
    # normalized text and the same scores.
    train_linear(data_dir=data_dir, out_dir=tmp_path / "d", config=LinearConfig())
    clf = Classifier.load(tmp_path / "d")
    assert clf.normalization.fold_confusables
    assert load_bundle(tmp_path / "d").manifest["normalization"]["fold_confusables"] is True
    plain, disguised = "Claim your FREE airdrop", "С\u0336lаim yоur 𝐅𝐑𝐄𝐄 аírdrop"
    assert clf.normalize([disguised]) == clf.normalize([plain]) == ["claim your free airdrop"]
    assert np.array_equal(clf.predict_heads([disguised]), clf.predict_heads([plain]))


def test_config_errors():
    with pytest.raises(ConfigError, match="c: must be > 0"):
        LinearConfig(c=0)
    with pytest.raises(ConfigError, match=r"char_max_n: \(2\) must be >= char_min_n \(5\)"):
        LinearConfig(char_min_n=5, char_max_n=2)
    with pytest.raises(ConfigError, match="unknown"):
        LinearConfig.from_dict({"bogus": 1})
