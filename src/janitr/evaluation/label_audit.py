"""Confident learning on out-of-fold scores: which given labels are likely wrong.

Input: each row's given class (the 3-class collapse) and out-of-fold head probabilities
(scored by a model that never trained on the row). The two heads become one distribution over
the classes in the decision rule's priority (`class_distribution`); cleanlab's
`find_label_issues` (prune by noise rate over the confident joint) flags the rows whose label
disagrees with a confident prediction of another class, and its self-confidence label quality
score (the probability of the given class) ranks them: lowest first.

cleanlab is an optional dependency (the `audit` extra). Fitting the out-of-fold models is not
here (`janitr.pipeline.crossval`), nor reading or writing files (`janitr.pipeline.audit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from janitr.data.labels import CLASSES, CLEAN, SCAM, TOPIC
from janitr.errors import ConfigError, require

#: cleanlab's filters (`find_label_issues(filter_by=...)`).
FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning")


def class_distribution(heads: np.ndarray) -> np.ndarray:
    """Two head probabilities -> a distribution over CLASSES, in the decision rule's order.

    scam = p_scam; topic_crypto = (1 - p_scam) * p_topic; clean = (1 - p_scam) * (1 - p_topic):
    a row is scam first, topic when not scam, clean otherwise, as `labels.decide` decides.

    Args:
        heads: `(N, 2)` probabilities `[p_scam, p_topic]`.

    Returns:
        `(N, 3)` probabilities in CLASSES order, rows summing to 1.
    """
    heads = np.clip(np.asarray(heads, dtype=np.float64), 0.0, 1.0)
    p_scam, p_topic = heads[:, 0], heads[:, 1]
    out = np.empty((heads.shape[0], len(CLASSES)))
    out[:, CLASSES.index(SCAM)] = p_scam
    out[:, CLASSES.index(TOPIC)] = (1 - p_scam) * p_topic
    out[:, CLASSES.index(CLEAN)] = (1 - p_scam) * (1 - p_topic)
    return out


@dataclass(frozen=True)
class LabelIssue:
    """The audit's view of one row (index into the audited rows).

    Attributes:
        index: the row's position in the input.
        given: its given (collapsed) class.
        suggested: the most probable other class.
        score: label quality (self-confidence: the probability of the given class); low
            means likely mislabeled.
        flagged: confident learning counts it as a label issue.
        probs: `{class: probability}`.
        reason: one line a reviewer can check.
    """

    index: int
    given: str
    suggested: str
    score: float
    flagged: bool
    probs: dict[str, float]
    reason: str


def audit_labels(
    given: Sequence[str], probs: np.ndarray, *, filter_by: str = "prune_by_noise_rate"
) -> list[LabelIssue]:
    """Rank every row by how likely its given class is wrong.

    Args:
        given: given class per row (names in CLASSES).
        probs: `(N, 3)` out-of-fold class probabilities (`class_distribution`).
        filter_by: cleanlab's filter for the `flagged` bit (see FILTERS).

    Returns:
        one LabelIssue per row, flagged rows first, each group by ascending score.

    Raises:
        ConfigError: on an unknown filter, a shape mismatch, or a class without rows.
        MissingDependencyError: if cleanlab is not installed (`pip install 'janitr[audit]'`).
    """
    if filter_by not in FILTERS:
        raise ConfigError(f"--filter must be one of {', '.join(FILTERS)}, got {filter_by!r}")
    probs = np.asarray(probs, dtype=np.float64)
    unknown = sorted({g for g in given if g not in CLASSES})
    if unknown:
        raise ConfigError(f"unknown class(es) {unknown}; expected {', '.join(CLASSES)}")
    labels = np.array([CLASSES.index(g) for g in given], dtype=np.int64)
    if probs.shape != (labels.size, len(CLASSES)):
        raise ConfigError(f"probabilities of shape {probs.shape} for {labels.size} rows")
    counts = np.bincount(labels, minlength=len(CLASSES))
    if (counts == 0).any():
        empty = [c for c, n in zip(CLASSES, counts, strict=True) if n == 0]
        raise ConfigError(f"no rows of class(es) {empty}: confident learning needs every class")
    require("cleanlab", extra="audit")
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    flagged = find_label_issues(labels, probs, filter_by=filter_by, n_jobs=1)
    score = get_label_quality_scores(labels, probs, method="self_confidence")
    # Per-class confident thresholds (cleanlab's t_j): the mean probability of class j on
    # rows labeled j. A row counts toward class j when p_j >= t_j; shown in the reason.
    thresholds = np.array([probs[labels == j, j].mean() for j in range(len(CLASSES))])
    others = probs.copy()
    others[np.arange(labels.size), labels] = -1.0
    suggested = others.argmax(axis=1)
    order = np.lexsort((score, ~flagged))  # flagged first, then by score
    out = []
    for i in order:
        g, s = labels[i], suggested[i]
        confident = probs[i, s] >= thresholds[s]
        reason = (
            f"given {CLASSES[g]} (p={probs[i, g]:.2f}, class threshold {thresholds[g]:.2f}); "
            f"out of fold p({CLASSES[s]})={probs[i, s]:.2f}"
            + (f" >= its threshold {thresholds[s]:.2f}" if confident else "")
            + ("" if flagged[i] else "; not flagged by confident learning")
        )
        out.append(
            LabelIssue(
                index=int(i), given=CLASSES[g], suggested=CLASSES[s], score=float(score[i]),
                flagged=bool(flagged[i]),
                probs={c: round(float(probs[i, j]), 4) for j, c in enumerate(CLASSES)},
                reason=reason,
            )
        )  # fmt: skip
    return out


def planted_recovery(ranked_indices: Sequence[int], planted: set[int], *, k: int) -> dict:
    """Precision and recall of the first k ranked rows at finding the planted flips.

    Args:
        ranked_indices: row indices, most suspicious first.
        planted: indices of the rows whose label was flipped.
        k: how many of the first rows to inspect.
    """
    top = list(ranked_indices)[:k]
    hits = sum(1 for i in top if i in planted)
    return {
        "k": k,
        "hits": hits,
        "precision": hits / len(top) if top else 0.0,
        "recall": hits / len(planted) if planted else 0.0,
    }
