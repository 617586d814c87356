"""Guaranteed-FPR thresholds vs a brute-force scan with scipy's exact binomial bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from janitr.evaluation.thresholds import (
    DISABLED,
    fpr_upper_bound,
    min_negatives_for_guarantee,
    tune_threshold,
    tune_threshold_guaranteed,
    tune_thresholds,
)


def brute_force_guaranteed(y, s, target, confidence=0.95):
    """Every candidate; feasible if the Clopper-Pearson upper bound <= target."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    pos, neg = y.sum(), (1 - y).sum()
    best = (0.0, DISABLED)
    for t in sorted(set(s.tolist()), reverse=True):
        pred = s >= t
        fp = int((pred & (y == 0)).sum())
        tp = int((pred & (y == 1)).sum())
        upper = fpr_upper_bound(fp, neg, confidence=confidence) if neg else 0.0
        recall = tp / pos if pos else 0.0
        if upper <= target + 1e-12 and recall > best[0]:
            best = (recall, t)
    return best


def test_upper_bound_is_the_exact_binomial_bound():
    # The bound u solves P(Binomial(n, u) <= k) = 1 - confidence.
    for k, n in [(0, 10), (1, 200), (5, 300), (40, 1000)]:
        u = fpr_upper_bound(k, n)
        assert binom.cdf(k, n, u) == pytest.approx(0.05, abs=1e-6)
    assert fpr_upper_bound(7, 7) == 1.0


def test_min_negatives_matches_definition():
    n = min_negatives_for_guarantee(0.02, 0.95)
    assert n == 149
    assert fpr_upper_bound(0, n) <= 0.02 < fpr_upper_bound(0, n - 1)
    for target, conf in [(0.01, 0.95), (0.05, 0.9), (0.02, 0.99)]:
        n = min_negatives_for_guarantee(target, conf)
        assert (1 - target) ** n <= 1 - conf < (1 - target) ** (n - 1)
    with pytest.raises(ValueError):
        min_negatives_for_guarantee(0.0)


@settings(max_examples=120, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 30)), min_size=0, max_size=400),
    target=st.sampled_from([0.02, 0.05, 0.2, 0.5]),
)
def test_guaranteed_matches_brute_force(data, target):
    y = np.array([d[0] for d in data], dtype=int)
    s = np.array([d[1] / 30 for d in data])
    result = tune_threshold_guaranteed(y, s, target_fpr=target)
    recall, threshold = brute_force_guaranteed(y, s, target)
    assert result.recall == pytest.approx(recall)
    if recall > 0:
        assert result.threshold == pytest.approx(threshold)
    else:
        assert result.disabled and result.threshold == DISABLED


def test_guaranteed_is_stricter_than_empirical():
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.25).astype(int)
    s = np.clip(rng.normal(0.35 + 0.4 * y, 0.15), 0, 1)
    emp = tune_threshold(y, s, target_fpr=0.02)
    gua = tune_threshold_guaranteed(y, s, target_fpr=0.02)
    assert gua.threshold >= emp.threshold and gua.recall <= emp.recall
    assert fpr_upper_bound(gua.fp, gua.negatives) <= 0.02


def test_too_few_negatives_disables():
    # 100 negatives < 149: even zero false positives cannot certify 2%.
    y = np.r_[np.ones(50, int), np.zeros(100, int)]
    s = np.r_[np.full(50, 0.9), np.full(100, 0.1)]
    assert tune_threshold_guaranteed(y, s, target_fpr=0.02).disabled
    assert not tune_threshold(y, s, target_fpr=0.02).disabled


def test_tune_thresholds_rule_selectable_and_defaults_are_the_policy():
    rng = np.random.default_rng(1)
    gold = rng.choice(["scam", "topic_crypto", "clean"], size=800, p=[0.2, 0.3, 0.5])
    p_scam = np.clip(rng.normal(np.where(gold == "scam", 0.7, 0.3), 0.15), 0, 1)
    p_topic = np.clip(rng.normal(np.where(gold == "topic_crypto", 0.7, 0.3), 0.15), 0, 1)
    default = tune_thresholds(gold, p_scam, p_topic)
    assert default == tune_thresholds(
        gold, p_scam, p_topic, scam_target_fpr=0.02, rule="guaranteed", confidence=0.8
    )
    empirical = tune_thresholds(gold, p_scam, p_topic, rule="empirical")
    assert "scam_rule" not in empirical["tuning"]
    assert default["thresholds"]["scam"] >= empirical["thresholds"]["scam"]
    gua = tune_thresholds(gold, p_scam, p_topic, rule="guaranteed", confidence=0.95)
    info = gua["tuning"]["scam_rule"]
    assert info["fpr_upper_bound"] <= 0.02 and info["min_negatives"] == 149
    assert gua["thresholds"]["scam"] >= empirical["thresholds"]["scam"]
    with pytest.raises(ValueError, match="rule"):
        tune_thresholds(gold, p_scam, p_topic, rule="magic")
    assert math.isfinite(gua["thresholds"]["topic_crypto"])
