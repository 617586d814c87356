"""Metrics vs scikit-learn on random inputs, a hand-worked example, and bootstrap sanity."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    precision_recall_fscore_support,
)

from janitr.data.labels import CLASSES
from janitr.evaluation.metrics import (
    average_precision,
    bootstrap_ci,
    bootstrap_metric_samples,
    bootstrap_weights,
    brier_score,
    calibration_table,
    evaluate_predictions,
    expected_calibration_error,
    per_class_metrics,
)
from janitr.evaluation.metrics import confusion_matrix as our_confusion


@pytest.mark.parametrize("seed", range(5))
def test_per_class_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    gold = rng.integers(0, 3, n)
    pred = rng.integers(0, 3, n)
    ours = per_class_metrics(gold, pred)
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=[0, 1, 2], zero_division=0)
    cm = confusion_matrix(gold, pred, labels=[0, 1, 2])
    assert (our_confusion(gold, pred) == cm).all()
    for c, name in enumerate(CLASSES):
        fp = cm[:, c].sum() - cm[c, c]
        fn = cm[c].sum() - cm[c, c]
        assert ours[name]["precision"] == pytest.approx(p[c])
        assert ours[name]["recall"] == pytest.approx(r[c])
        assert ours[name]["f1"] == pytest.approx(f[c])
        assert ours[name]["support"] == s[c]
        neg = n - s[c]
        assert ours[name]["fpr"] == pytest.approx(fp / neg if neg else 0.0)
        assert ours[name]["fnr"] == pytest.approx(fn / s[c] if s[c] else 0.0)


def test_hand_worked_example():
    # gold:  scam scam scam topic topic clean clean clean clean clean  (N = 10)
    # pred:  scam scam clean scam topic clean clean clean topic clean
    gold = ["scam"] * 3 + ["topic_crypto"] * 2 + ["clean"] * 5
    pred = ["scam", "scam", "clean", "scam", "topic_crypto", "clean", "clean", "clean",
            "topic_crypto", "clean"]  # fmt: skip
    m = per_class_metrics(gold, pred)
    # scam: tp 2, fp 1, fn 1 -> P 2/3, R 2/3, F1 2/3, FPR 1/7, FNR 1/3
    assert m["scam"]["precision"] == pytest.approx(2 / 3)
    assert m["scam"]["recall"] == pytest.approx(2 / 3)
    assert m["scam"]["fpr"] == pytest.approx(1 / 7)
    assert m["scam"]["fnr"] == pytest.approx(1 / 3)
    # topic: tp 1, fp 1, fn 1 -> P 1/2, R 1/2, FPR 1/8
    assert m["topic_crypto"]["precision"] == pytest.approx(0.5)
    assert m["topic_crypto"]["fpr"] == pytest.approx(1 / 8)
    # clean: tp 4, fp 1, fn 1 -> P 4/5, R 4/5, FPR 1/5
    assert m["clean"]["f1"] == pytest.approx(0.8)
    assert m["clean"]["fpr"] == pytest.approx(0.2)


def test_zero_denominators_give_zero():
    m = per_class_metrics(["clean", "clean"], ["clean", "clean"])
    assert m["scam"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "fpr": 0.0, "fnr": 0.0,
                         "support": 0, "tp": 0, "fp": 0, "fn": 0}  # fmt: skip
    assert m["clean"]["fpr"] == 0.0  # N - support == 0


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = 200
    y = rng.integers(0, 2, n)
    p = np.round(rng.random(n), 1)  # many ties
    assert average_precision(y, p) == pytest.approx(average_precision_score(y, p))
    assert average_precision(np.zeros(5), rng.random(5)) == 0.0


def test_brier_and_calibration():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = rng.random(500)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p))
    table = calibration_table(y, p, bins=10)
    assert sum(b["count"] for b in table) == 500
    # A value of exactly 1.0 belongs to the last (closed) bin.
    assert calibration_table([1], [1.0])[-1]["count"] == 1
    manual = sum(b["count"] / 500 * abs(b["mean_conf"] - b["empirical_acc"]) for b in table)
    assert expected_calibration_error(y, p) == pytest.approx(manual)
    # Perfectly calibrated constant predictions: ECE 0.
    assert expected_calibration_error([1, 0, 1, 0], [0.5] * 4) == pytest.approx(0.0)


def test_bootstrap_vectorized_equals_loop():
    rng = np.random.default_rng(1)
    n = 5000
    gold = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.8, gold, rng.integers(0, 3, n))
    ci = bootstrap_ci(gold, pred, n_boot=1000, seed=0)
    assert set(ci) == {"scam_precision", "scam_recall", "scam_fpr", "scam_f1", "macro_f1"}
    w = bootstrap_weights(n, n_boot=5, seed=3)
    assert (w.sum(axis=1) == n).all()
    samples = bootstrap_metric_samples(gold, pred, weights=w)
    # Resample b explicitly and compare with the plain metric code.
    idx = np.repeat(np.arange(n), w[2].astype(int))
    plain = per_class_metrics(gold[idx], pred[idx])
    assert samples["scam_precision"][2] == pytest.approx(plain["scam"]["precision"])
    assert samples["macro_f1"][2] == pytest.approx(np.mean([plain[c]["f1"] for c in CLASSES]))
    point = per_class_metrics(gold, pred)["scam"]["recall"]
    assert ci["scam_recall"]["low"] <= point <= ci["scam_recall"]["high"]
    assert bootstrap_ci(gold, pred, n_boot=200, seed=7) == bootstrap_ci(
        gold, pred, n_boot=200, seed=7
    )


def test_evaluate_predictions_contract_and_subgroups():
    gold = ["scam", "topic_crypto", "clean", "clean", "scam"]
    p_scam = [0.9, 0.1, 0.2, 0.95, 0.3]
    p_topic = [0.5, 0.8, 0.1, 0.1, 0.9]
    texts = ["free airdrop https://x.co/a", "btc up " * 10, "hi", "long clean post " * 5, "eth"]
    r = evaluate_predictions(gold, p_scam, p_topic, thresholds={"scam": 0.5, "topic_crypto": 0.5},
                             texts_raw=texts, n_boot=50)  # fmt: skip
    assert r["rows"] == 5
    for c in CLASSES:
        assert set(r["metrics"][c]) >= {"precision", "recall", "f1", "fpr", "fnr", "support"}
    for key in ("macro_f1", "macro_precision", "macro_recall", "exact_match", "scam_pr_auc"):
        assert key in r["metrics"]
    # preds: scam, topic, clean, scam, topic -> 3 of 5 right
    assert r["metrics"]["exact_match"] == pytest.approx(0.6)
    assert r["metrics"]["scam"]["fpr"] == pytest.approx(1 / 3)
    assert r["subgroups"]["with_url"]["rows"] == 1
    assert r["subgroups"]["without_url"]["rows"] == 4
    assert r["subgroups"]["short_posts_lt_40"]["rows"] == 3
    assert len(r["calibration"]["scam"]["bins"]) == 10
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_predictions(
            gold, p_scam[:2], p_topic, thresholds={"scam": 0.5, "topic_crypto": 0.5}
        )
