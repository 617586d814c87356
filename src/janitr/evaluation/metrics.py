"""Every evaluation metric, computed by one code path for every model.

A model is reduced to two head probabilities per row (`p_scam`, `p_topic`); the decision rule
(`labels.decide`) turns them into one class, and the metrics here compare that class with the
collapsed gold class, one-vs-rest per class (DESIGN.md, "Metrics"): precision, recall, F1,
FPR = fp / (N - support), FNR = fn / support, exact match, macro averages, scam PR-AUC
(average precision), 10-bin calibration tables with ECE and Brier per head, subgroups (short
posts, with/without URL) and seeded percentile-bootstrap 95% confidence intervals. Every zero
denominator gives 0.

This module holds pure functions on arrays only: reading data, loading models and refusing
leaked rows live in `janitr.evaluation.evaluate`; threshold search lives in
`janitr.evaluation.thresholds`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from janitr.data.labels import CLASSES, SCAM, SCAM_KINDS, TOPIC, decide, scam_kind
from janitr.data.normalize import has_url, normalize_text

#: Posts shorter than this many characters (normalized) form the `short_posts_lt_40` subgroup.
SHORT_POST_CHARS = 40
#: Metrics that get a bootstrap confidence interval in every report.
CI_METRICS: tuple[str, ...] = (
    "scam_precision",
    "scam_recall",
    "scam_fpr",
    "scam_f1",
    "macro_f1",
)


def _div(num, den):
    """Elementwise num / den with 0 where den == 0 (scalars or arrays)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _class_indices(labels: Sequence[str] | np.ndarray) -> np.ndarray:
    """Class names (or already indices) -> int array of indices into CLASSES.

    Raises:
        ValueError: on a name that is not one of CLASSES.
    """
    arr = np.asarray(labels)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    lookup = {name: i for i, name in enumerate(CLASSES)}
    try:
        return np.array([lookup[str(x)] for x in arr], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"unknown class {exc.args[0]!r}; expected one of {CLASSES}") from exc


def _counts_to_metrics(tp, fp, fn, n):
    """Per-class metric arrays from tp/fp/fn counts (any matching shapes) over n rows."""
    support = tp + fn
    precision = _div(tp, tp + fp)
    recall = _div(tp, support)
    f1 = _div(2 * precision * recall, precision + recall)
    fpr = _div(fp, n - support)
    fnr = _div(fn, support)
    return precision, recall, f1, fpr, fnr


def _indicators(gold_idx: np.ndarray, pred_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, 3 * n_classes) 0/1 matrix: columns [tp_c, fp_c, fn_c] for each class c in order.

    Summing rows (or weighting them, as the bootstrap does) gives the confusion counts.
    """
    cols = []
    for c in range(n_classes):
        g = gold_idx == c
        p = pred_idx == c
        cols += [g & p, ~g & p, g & ~p]
    return np.stack(cols, axis=1).astype(np.float64)


def per_class_metrics(
    gold_idx: Sequence[int] | np.ndarray,
    pred_idx: Sequence[int] | np.ndarray,
    *,
    classes: Sequence[str] = CLASSES,
) -> dict[str, dict[str, float]]:
    """One-vs-rest metrics for each class from gold and predicted class indices.

    Args:
        gold_idx: gold class index per row (indices into `classes`), or class names.
        pred_idx: predicted class index per row, or class names.
        classes: class names, in index order.

    Returns:
        `{class: {precision, recall, f1, fpr, fnr, support, tp, fp, fn}}`.

    Raises:
        ValueError: if the two sequences differ in length or hold unknown class names.
    """
    gold = _class_indices(gold_idx)
    pred = _class_indices(pred_idx)
    if gold.shape != pred.shape:
        raise ValueError(f"gold has {gold.shape[0]} rows but predictions have {pred.shape[0]}")
    n = gold.shape[0]
    counts = _indicators(gold, pred, len(classes)).sum(axis=0).reshape(len(classes), 3)
    tp, fp, fn = counts[:, 0], counts[:, 1], counts[:, 2]
    precision, recall, f1, fpr, fnr = _counts_to_metrics(tp, fp, fn, n)
    return {
        name: {
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
            "fpr": float(fpr[c]),
            "fnr": float(fnr[c]),
            "support": int(tp[c] + fn[c]),
            "tp": int(tp[c]),
            "fp": int(fp[c]),
            "fn": int(fn[c]),
        }
        for c, name in enumerate(classes)
    }


def confusion_matrix(gold_idx, pred_idx, *, n_classes: int = len(CLASSES)) -> np.ndarray:
    """(n_classes, n_classes) counts; rows = gold class, columns = predicted class."""
    gold = _class_indices(gold_idx)
    pred = _class_indices(pred_idx)
    return np.bincount(gold * n_classes + pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def average_precision(y_true, scores) -> float:
    """Average precision (area under the step PR curve), as scikit-learn computes it.

    AP = sum over distinct score thresholds of (R_k - R_{k-1}) * P_k. Returns 0 when there is
    no positive row (scikit-learn warns and returns a meaningless value there).
    """
    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = y.sum()
    if n_pos == 0 or y.size == 0:
        return 0.0
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    # Last index of each run of tied scores: thresholds sit between distinct values.
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tp = np.cumsum(y)[last]
    predicted = last + 1.0
    precision = tp / predicted
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def calibration_table(y_true, probs, bins: int = 10) -> list[dict]:
    """Reliability table: equal-width bins on [0, 1] (the last bin closed).

    Returns:
        one dict per bin: `{lo, hi, count, mean_conf, empirical_acc}` where `mean_conf` is the
        mean predicted probability and `empirical_acc` the positive rate in the bin (0 if empty).
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(idx, minlength=bins)
    conf = _div(np.bincount(idx, weights=p, minlength=bins), count)
    acc = _div(np.bincount(idx, weights=y, minlength=bins), count)
    return [
        {
            "lo": b / bins,
            "hi": (b + 1) / bins,
            "count": int(count[b]),
            "mean_conf": float(conf[b]),
            "empirical_acc": float(acc[b]),
        }
        for b in range(bins)
    ]


def expected_calibration_error(y_true, probs, bins: int = 10) -> float:
    """ECE = sum over bins of (count / N) * |mean_conf - empirical_acc|; 0 for no rows."""
    table = calibration_table(y_true, probs, bins)
    total = sum(row["count"] for row in table)
    if total == 0:
        return 0.0
    return float(
        sum(row["count"] / total * abs(row["mean_conf"] - row["empirical_acc"]) for row in table)
    )


def brier_score(y_true, probs) -> float:
    """Mean squared difference between probability and 0/1 outcome; 0 for no rows."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    return float(np.mean((p - y) ** 2)) if y.size else 0.0


def bootstrap_weights(n: int, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_boot, n) resample counts: row i of resample b was drawn weights[b, i] times.

    Using the same weights for two models gives a paired bootstrap.
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))  # (B, N) resampled row indices
    flat = (idx + (np.arange(n_boot) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def percentile_interval(samples: np.ndarray, *, level: float = 0.95) -> dict[str, float]:
    """Percentile interval of bootstrap samples: `{"low", "high"}`."""
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(np.asarray(samples, dtype=np.float64), [tail, 100.0 - tail])
    return {"low": float(low), "high": float(high)}


def bootstrap_metric_samples(
    gold_idx, pred_idx, *, weights: np.ndarray, classes: Sequence[str] = CLASSES
) -> dict[str, np.ndarray]:
    """Every per-class metric (and macro F1) for each bootstrap resample, vectorized.

    Args:
        gold_idx: gold class indices (N,).
        pred_idx: predicted class indices (N,).
        weights: (B, N) resample counts from `bootstrap_weights`.
        classes: class names in index order.

    Returns:
        `{"<class>_<metric>": (B,) array, "macro_f1": (B,), "exact_match": (B,)}`.
    """
    gold = _class_indices(gold_idx)
    pred = _class_indices(pred_idx)
    k = len(classes)
    counts = (weights @ _indicators(gold, pred, k)).reshape(-1, k, 3)  # (B, k, [tp, fp, fn])
    n = weights.sum(axis=1)[:, None]  # (B, 1): each resample has N rows
    precision, recall, f1, fpr, fnr = _counts_to_metrics(
        counts[..., 0], counts[..., 1], counts[..., 2], n
    )
    out: dict[str, np.ndarray] = {}
    for c, name in enumerate(classes):
        for metric, values in (
            ("precision", precision),
            ("recall", recall),
            ("f1", f1),
            ("fpr", fpr),
            ("fnr", fnr),
        ):
            out[f"{name}_{metric}"] = values[:, c]
    out["macro_f1"] = f1.mean(axis=1)
    out["exact_match"] = _div(weights @ (gold == pred).astype(np.float64), n[:, 0])
    return out


def bootstrap_ci(
    gold_idx,
    pred_idx,
    *,
    metrics: Sequence[str] = CI_METRICS,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Seeded percentile-bootstrap confidence intervals of classification metrics.

    Rows are resampled with replacement `n_boot` times (vectorized: one (B, N) weight matrix,
    one matrix product), each metric is recomputed per resample, and the interval is the
    (1 - level) / 2 and 1 - (1 - level) / 2 percentiles.

    Args:
        gold_idx: gold class indices (or names), shape (N,).
        pred_idx: predicted class indices (or names), shape (N,).
        metrics: names such as `scam_precision`, `topic_crypto_f1`, `macro_f1`, `exact_match`.
        n_boot: number of resamples.
        seed: random seed (same seed, same intervals).
        level: coverage of the interval.

    Returns:
        `{metric: {"low", "high"}}`; empty dict for no rows or `n_boot == 0`.

    Raises:
        ValueError: on an unknown metric name.
    """
    gold = _class_indices(gold_idx)
    if gold.size == 0 or n_boot <= 0:
        return {}
    weights = bootstrap_weights(gold.size, n_boot=n_boot, seed=seed)
    samples = bootstrap_metric_samples(gold, pred_idx, weights=weights)
    unknown = [m for m in metrics if m not in samples]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {sorted(samples)}")
    return {m: percentile_interval(samples[m], level=level) for m in metrics}


def paired_bootstrap_difference(
    hits_a,
    hits_b,
    *,
    mask=None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float | None]:
    """Difference of two rates on the same rows, with a paired percentile-bootstrap interval.

    The rate of `hits` is its mean over the rows where `mask` is true (e.g. hits = "predicted
    scam", mask = "gold scam" gives scam recall). Every resample draws rows with replacement
    from all N rows and applies the same draw to both models (`bootstrap_weights`), so the
    interval reflects how the two differ on the same posts, not two independent samples.

    Args:
        hits_a, hits_b: (N,) 0/1 per row for model A and model B.
        mask: (N,) bool, the rows the rate is over (default: all).
        n_boot: number of resamples (0: no interval).
        seed: random seed (same seed, same interval).
        level: coverage of the interval.

    Returns:
        `{"diff": rate_a - rate_b, "low", "high"}` (None where the mask selects no row;
        low and high are None without resamples). Resamples that draw no masked row are
        left out of the interval.

    Raises:
        ValueError: if the arrays differ in length.
    """
    a = np.asarray(hits_a, dtype=np.float64)
    b = np.asarray(hits_b, dtype=np.float64)
    m = np.ones(a.shape, dtype=np.float64) if mask is None else np.asarray(mask, np.float64)
    if not a.shape == b.shape == m.shape or a.ndim != 1:
        raise ValueError(f"hits_a, hits_b and mask must be (N,) alike, got {a.shape}, "
                         f"{b.shape}, {m.shape}")  # fmt: skip
    if m.sum() == 0:
        return {"diff": None, "low": None, "high": None}
    diff = float((a * m).sum() / m.sum() - (b * m).sum() / m.sum())
    if n_boot <= 0:
        return {"diff": diff, "low": None, "high": None}
    weights = bootstrap_weights(a.size, n_boot=n_boot, seed=seed)  # (B, N)
    den = weights @ m
    ok = den > 0
    samples = (weights[ok] @ ((a - b) * m)) / den[ok]
    return {"diff": diff, **percentile_interval(samples, level=level)}


def clopper_pearson(k: int, n: int, *, level: float = 0.95) -> dict[str, float]:
    """Exact two-sided binomial confidence interval of a proportion k / n: `{"low", "high"}`.

    `{"low": 0, "high": 1}` when n == 0.
    """
    from scipy.stats import beta

    if n <= 0:
        return {"low": 0.0, "high": 1.0}
    alpha = 1.0 - level
    low = 0.0 if k <= 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k >= n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return {"low": low, "high": high}


def scam_fpr_by_negative_class(gold_idx, pred_idx, *, level: float = 0.95) -> dict[str, dict]:
    """Scam FPR on each kind of negative separately (clean posts, topic_crypto posts).

    A clean post flagged as scam and a crypto-talk post flagged as scam are different
    failures; the pooled scam FPR hides which one dominates.

    Returns:
        `{class: {"fp", "negatives", "fpr", "ci95": {"low", "high"}}}` for every non-scam
        class, with exact Clopper-Pearson intervals.
    """
    gold = _class_indices(gold_idx)
    pred = _class_indices(pred_idx)
    scam = CLASSES.index(SCAM)
    out = {}
    for c, name in enumerate(CLASSES):
        if c == scam:
            continue
        rows = gold == c
        n = int(rows.sum())
        fp = int((pred[rows] == scam).sum())
        out[name] = {
            "fp": fp,
            "negatives": n,
            "fpr": float(_div(fp, n)),
            "ci95": clopper_pearson(fp, n, level=level),
        }
    return out


def scam_recall_by_kind(
    gold_idx, pred_idx, raw_labels: Sequence[Sequence[str]], *, level: float = 0.95
) -> dict[str, dict]:
    """Scam recall on each kind of scam row separately (`labels.scam_kind`: fraud,
    spam_promo, other).

    Missing a phishing post and missing a promo post are different failures; the pooled
    recall hides which kind the model misses. Some kinds are small, hence the counts and
    exact intervals.

    Args:
        gold_idx: gold class per row (names or indices into CLASSES).
        pred_idx: predicted class per row.
        raw_labels: the raw labels of each row (they say the kind).

    Returns:
        `{kind: {"tp", "positives", "recall", "ci95": {"low", "high"}}}` for every kind in
        SCAM_KINDS (0 positives when the data has none), Clopper-Pearson intervals.

    Raises:
        ValueError: if raw_labels has another length than gold_idx.
    """
    gold = _class_indices(gold_idx)
    pred = _class_indices(pred_idx)
    if len(raw_labels) != gold.size:
        raise ValueError(f"raw_labels has {len(raw_labels)} rows for {gold.size} gold classes")
    scam = CLASSES.index(SCAM)
    kinds = np.array([scam_kind(labels) if g == scam else "" for labels, g in
                      zip(raw_labels, gold, strict=True)])  # fmt: skip
    out = {}
    for kind in SCAM_KINDS:
        rows = kinds == kind
        n = int(rows.sum())
        tp = int((pred[rows] == scam).sum())
        out[kind] = {
            "tp": tp,
            "positives": n,
            "recall": float(_div(tp, n)),
            "ci95": clopper_pearson(tp, n, level=level),
        }
    return out


def classification_summary(gold_idx, pred_idx) -> dict:
    """Per-class metrics plus exact match and macro precision/recall/F1."""
    gold = _class_indices(gold_idx)
    pred = _class_indices(pred_idx)
    per_class = per_class_metrics(gold, pred)
    out: dict = dict(per_class)
    for metric in ("precision", "recall", "f1"):
        out[f"macro_{metric}"] = float(np.mean([per_class[c][metric] for c in CLASSES]))
    out["exact_match"] = float(np.mean(gold == pred)) if gold.size else 0.0
    return out


def head_calibration(y_true, probs, *, bins: int = 10) -> dict:
    """`{"bins": calibration_table, "ece", "brier"}` for one head."""
    return {
        "bins": calibration_table(y_true, probs, bins),
        "ece": expected_calibration_error(y_true, probs, bins),
        "brier": brier_score(y_true, probs),
    }


def subgroup_masks(texts_raw: Sequence[str]) -> dict[str, np.ndarray]:
    """Boolean row masks: short posts (< 40 normalized chars), with URL, without URL (raw)."""
    short = np.array([len(normalize_text(t)) < SHORT_POST_CHARS for t in texts_raw], dtype=bool)
    url = np.array([has_url(t) for t in texts_raw], dtype=bool)
    return {f"short_posts_lt_{SHORT_POST_CHARS}": short, "with_url": url, "without_url": ~url}


def _threshold_values(value, n: int):
    """A threshold as given: a float, or an (N,) array of per-row thresholds (cross-fitting)."""
    if np.ndim(value) == 0:
        return float(value)
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size != n:
        raise ValueError(f"per-row thresholds have {arr.size} values for {n} rows")
    return arr


def _threshold_summary(value):
    """What the report records: the float, or min/median/max of per-row thresholds."""
    if isinstance(value, float):
        return value
    if value.size == 0:
        return {"per_row": True, "min": 0.0, "median": 0.0, "max": 0.0}
    return {
        "per_row": True,
        "min": float(value.min()),
        "median": float(np.median(value)),
        "max": float(value.max()),
    }


def _check_inputs(
    n: int, p_scam, p_topic, thresholds, *, is_topic, texts_raw, raw_labels=None
) -> None:
    """Raise ValueError unless every per-row input has `n` rows and both thresholds exist."""
    lengths = {"gold": n, "p_scam": p_scam.size, "p_topic": p_topic.size}
    if is_topic is not None:
        lengths["is_topic"] = len(is_topic)
    if texts_raw is not None:
        lengths["texts_raw"] = len(texts_raw)
    if raw_labels is not None:
        lengths["raw_labels"] = len(raw_labels)
    if len(set(lengths.values())) != 1:
        raise ValueError(f"inputs differ in length: {lengths}")
    missing = {SCAM, TOPIC} - set(thresholds)
    if missing:
        raise ValueError(f"thresholds for {sorted(missing)} are missing")


def evaluate_predictions(
    gold: Sequence[str],
    p_scam: Sequence[float] | np.ndarray,
    p_topic: Sequence[float] | np.ndarray,
    *,
    thresholds: Mapping[str, float],
    is_topic: Sequence[int] | None = None,
    texts_raw: Sequence[str] | None = None,
    raw_labels: Sequence[Sequence[str]] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Every metric of one model on one labeled set (the single evaluation code path).

    Args:
        gold: collapsed gold class name per row (`labels.collapse`).
        p_scam: scam-head probability per row.
        p_topic: topic-head probability per row.
        thresholds: `{"scam": t, "topic_crypto": t}` for the decision rule. A value may
            also be an (N,) array of per-row thresholds (cross-fitting, where each fold has
            thresholds tuned without it); the report then records their min/median/max.
        is_topic: topic-bit target per row (`labels.targets(raw).is_topic`) for the topic
            head's calibration; defaults to `gold == "topic_crypto"`.
        texts_raw: raw texts, to compute subgroups; no subgroups when omitted.
        raw_labels: raw labels per row, to split scam recall by kind
            (`scam_recall_by_kind`); left out of the report when omitted.
        n_boot: bootstrap resamples for the confidence intervals (0 disables them).
        seed: bootstrap seed.

    Returns:
        `{"rows", "thresholds", "metrics": {<class>: {...}, macro_*, exact_match,
        scam_pr_auc, scam_fpr_by_negative_class: {clean, topic_crypto}}, "ci95": {metric:
        {low, high}}, "confusion": {...}, "calibration": {"scam": {...}, "topic_crypto":
        {...}}, "subgroups": {...}, "scam_fpr_by_negative_class": {class: {fp, negatives,
        fpr, ci95}}, "scam_recall_by_kind": {kind: {tp, positives, recall, ci95}}}` (the
        last two with exact Clopper-Pearson intervals; the last only with `raw_labels`).

    Raises:
        ValueError: if the inputs differ in length, a threshold is missing, or a gold class
            is unknown.
    """
    gold_idx = _class_indices(list(gold))
    p_scam = np.asarray(p_scam, dtype=np.float64).reshape(-1)
    p_topic = np.asarray(p_topic, dtype=np.float64).reshape(-1)
    n = gold_idx.size
    _check_inputs(
        n, p_scam, p_topic, thresholds, is_topic=is_topic, texts_raw=texts_raw,
        raw_labels=raw_labels,
    )  # fmt: skip
    t_scam = _threshold_values(thresholds[SCAM], n)
    t_topic = _threshold_values(thresholds[TOPIC], n)
    pred_idx = decide(p_scam, p_topic, t_scam=t_scam, t_topic=t_topic)

    is_scam = (gold_idx == CLASSES.index(SCAM)).astype(np.int64)
    metrics = classification_summary(gold_idx, pred_idx)
    metrics["scam_pr_auc"] = average_precision(is_scam, p_scam)
    by_negative = scam_fpr_by_negative_class(gold_idx, pred_idx)
    metrics["scam_fpr_by_negative_class"] = {k: v["fpr"] for k, v in by_negative.items()}
    cm = confusion_matrix(gold_idx, pred_idx)
    report = {
        "rows": int(n),
        "thresholds": {SCAM: _threshold_summary(t_scam), TOPIC: _threshold_summary(t_topic)},
        "metrics": metrics,
        "ci95": bootstrap_ci(gold_idx, pred_idx, n_boot=n_boot, seed=seed),
        "bootstrap": {"n_boot": int(n_boot), "seed": int(seed), "method": "percentile"},
        "confusion": {"classes": list(CLASSES), "rows_gold_cols_pred": cm.tolist()},
        "calibration": _calibration(gold_idx, p_scam, p_topic, is_topic=is_topic),
        "subgroups": {},
        "scam_fpr_by_negative_class": by_negative,
    }
    if raw_labels is not None:
        by_kind = scam_recall_by_kind(gold_idx, pred_idx, raw_labels)
        metrics["scam_recall_by_kind"] = {k: v["recall"] for k, v in by_kind.items()}
        report["scam_recall_by_kind"] = by_kind
    if texts_raw is not None:
        report["subgroups"] = _subgroups(gold_idx, pred_idx, texts_raw)
    return report


def _calibration(gold_idx: np.ndarray, p_scam, p_topic, *, is_topic) -> dict:
    """Each head's calibration; the topic bit is `is_topic` or else `gold == topic_crypto`."""
    is_scam = (gold_idx == CLASSES.index(SCAM)).astype(np.int64)
    topic_y = (
        np.asarray(is_topic, dtype=np.int64)
        if is_topic is not None
        else (gold_idx == CLASSES.index(TOPIC)).astype(np.int64)
    )
    return {SCAM: head_calibration(is_scam, p_scam), TOPIC: head_calibration(topic_y, p_topic)}


def _subgroups(gold_idx: np.ndarray, pred_idx: np.ndarray, texts_raw: Sequence[str]) -> dict:
    """Rows and the classification summary of each text subgroup (`subgroup_masks`)."""
    return {
        name: {
            "rows": int(mask.sum()),
            "metrics": classification_summary(gold_idx[mask], pred_idx[mask]),
        }
        for name, mask in subgroup_masks(texts_raw).items()
    }
