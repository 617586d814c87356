"""Threshold search vs a brute-force scan of every candidate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janitr.data.labels import CLASSES, decide
from janitr.evaluation.thresholds import (
    DISABLED,
    tune_threshold,
    tune_thresholds,
    tune_topic_threshold,
)


def brute_force(y, s, target):
    """Try every candidate; max recall with FPR <= target, ties -> higher threshold."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    pos, neg = y.sum(), (1 - y).sum()
    best = (0.0, DISABLED)  # (recall, threshold): the disable candidate
    for t in sorted(set(s.tolist()), reverse=True):
        pred = s >= t
        fp = int((pred & (y == 0)).sum())
        tp = int((pred & (y == 1)).sum())
        fpr = fp / neg if neg else 0.0
        recall = tp / pos if pos else 0.0
        if fpr <= target + 1e-12 and recall > best[0]:
            best = (recall, t)
    return best


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 20)), min_size=0, max_size=60),
    target=st.sampled_from([0.0, 0.02, 0.1, 0.3, 1.0]),
)
def test_tune_threshold_matches_brute_force(data, target):
    y = np.array([d[0] for d in data], dtype=int)
    s = np.array([d[1] / 20 for d in data])  # coarse grid: many ties
    result = tune_threshold(y, s, target_fpr=target)
    recall, threshold = brute_force(y, s, target)
    assert result.recall == pytest.approx(recall)
    assert result.threshold == pytest.approx(threshold)
    assert result.disabled == (recall == 0)
    assert result.fpr <= target + 1e-12


def test_infeasible_disables_the_class():
    # Every positive scores below a negative: any threshold catching a scam flags a clean post.
    y = np.array([0, 1, 1])
    s = np.array([0.9, 0.5, 0.4])
    r = tune_threshold(y, s, target_fpr=0.0)
    assert r.disabled and r.threshold == DISABLED and r.recall == 0.0
    assert not (decide(s, s, t_scam=r.threshold, t_topic=r.threshold) == 0).any()


def brute_force_topic(gold, ps, pt, t_scam, target):
    gold = np.asarray(gold)
    best = (0.0, DISABLED)
    for t in sorted(set(np.asarray(pt).tolist()), reverse=True):
        pred = decide(ps, pt, t_scam=t_scam, t_topic=t)
        y = gold == "topic_crypto"
        p = pred == CLASSES.index("topic_crypto")
        tp, fp, fn = (y & p).sum(), (~y & p).sum(), (y & ~p).sum()
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        neg = (~y).sum()
        if target is not None and (fp / neg if neg else 0.0) > target + 1e-12:
            continue
        if f1 > best[0] + 1e-15:
            best = (f1, t)
    return best


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(CLASSES), st.integers(0, 10), st.integers(0, 10)), max_size=50
    ),
    target=st.sampled_from([None, 0.05, 0.3]),
)
def test_topic_threshold_matches_brute_force(rows, target):
    gold = [r[0] for r in rows]
    ps = np.array([r[1] / 10 for r in rows])
    pt = np.array([r[2] / 10 for r in rows])
    result = tune_topic_threshold(gold, ps, pt, t_scam=0.5, target_fpr=target)
    f1, threshold = brute_force_topic(gold, ps, pt, 0.5, target)
    assert result.f1 == pytest.approx(f1)
    assert result.threshold == pytest.approx(threshold)


def test_tune_thresholds_payload():
    rng = np.random.default_rng(0)
    gold = rng.choice(CLASSES, 500).tolist()
    ps = np.clip([0.7 if g == "scam" else 0.3 for g in gold] + rng.normal(0, 0.2, 500), 0, 1)
    pt = np.clip(
        [0.7 if g == "topic_crypto" else 0.3 for g in gold] + rng.normal(0, 0.2, 500), 0, 1
    )
    out = tune_thresholds(gold, ps, pt, scam_target_fpr=0.02)
    assert set(out["thresholds"]) == {"scam", "topic_crypto"}
    tuning = out["tuning"]
    assert tuning["scam"]["fpr"] <= 0.02
    assert tuning["scam"]["negatives"] == sum(g != "scam" for g in gold)
    assert tuning["disabled"] == []
    assert tuning["rows"] == 500


def test_bad_inputs():
    with pytest.raises(ValueError, match="rows"):
        tune_threshold([0, 1], [0.5], target_fpr=0.02)
    with pytest.raises(ValueError, match="target_fpr"):
        tune_threshold([0, 1], [0.1, 0.5], target_fpr=2)
