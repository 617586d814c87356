"""From raw multi-labels to what the models learn.

The dataset keeps its raw taxonomy labels; this module derives, without editing the data:

- the 3-class collapse (priority scam > topic_crypto > clean) used for gold classes and
  exact match, and
- the two-head targets: `is_scam` (scam vs not) and `is_topic` (topic_crypto present, legacy
  `crypto` included), independent of each other, so a crypto scam is positive for both.

The decision rule that turns two head probabilities back into one class lives here too, so
that every model and every runtime decides the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from janitr.data.taxonomy import label_group

SCAM = "scam"
TOPIC = "topic_crypto"
CLEAN = "clean"
#: Class order used in every report and array in the project.
CLASSES: tuple[str, str, str] = (SCAM, TOPIC, CLEAN)

#: Raw labels that make a post a scam for training purposes (DESIGN.md, collapse rule 1).
SCAM_RAW_LABELS: frozenset[str] = frozenset(
    {
        "scam", "crypto_scam", "phishing", "malware", "fake_support", "recovery_scam",
        "job_scam", "romance_scam", "impersonation", "account_compromise", "spam",
        "reply_spam", "dm_spam", "promo", "affiliate", "lead_gen", "engagement_bait",
        "follow_train", "giveaway", "bot",
    }
)  # fmt: skip
#: Raw labels that set the topic bit (legacy `crypto` included).
TOPIC_RAW_LABELS: frozenset[str] = frozenset({"topic_crypto", "crypto"})


def _clean(labels: Iterable[str]) -> set[str]:
    return {str(label).strip().lower() for label in labels}


def collapse(labels: Iterable[str]) -> str:
    """Collapse raw labels to one training class by priority: scam > topic_crypto > clean.

    >>> collapse(["topic_crypto", "giveaway"])
    'scam'
    >>> collapse(["crypto"])
    'topic_crypto'
    >>> collapse(["topic_news"])
    'clean'
    """
    raw = _clean(labels)
    if raw & SCAM_RAW_LABELS:
        return SCAM
    if raw & TOPIC_RAW_LABELS:
        return TOPIC
    return CLEAN


@dataclass(frozen=True)
class Targets:
    """The two-head targets of one row."""

    is_scam: int
    is_topic: int


def targets(labels: Iterable[str]) -> Targets:
    """Two-head targets: scam-vs-not and the independent topic bit.

    >>> targets(["scam", "topic_crypto"])
    Targets(is_scam=1, is_topic=1)
    """
    raw = _clean(labels)
    return Targets(
        is_scam=int(bool(raw & SCAM_RAW_LABELS)), is_topic=int(bool(raw & TOPIC_RAW_LABELS))
    )


def training_label_set(labels: Iterable[str]) -> tuple[str, ...]:
    """The co-occurrence label set used for stratification and fastText training.

    Keeps both `scam` and `topic_crypto` when both apply; `clean` only if neither.
    """
    t = targets(labels)
    out = tuple(name for name, on in ((SCAM, t.is_scam), (TOPIC, t.is_topic)) if on)
    return out or (CLEAN,)


#: Kinds of scam rows, in priority order (`scam_kind`): security fraud (phishing, recovery
#: scams, impersonation, ...), spam and promotion (spam, promo, affiliate, giveaway, ...),
#: and anything else.
SCAM_KINDS: tuple[str, str, str] = ("fraud", "spam_promo", "other")
_KIND_GROUPS = {"security_fraud": "fraud", "spam_manipulation_commercial": "spam_promo"}


def scam_groups(labels: Iterable[str]) -> frozenset[str]:
    """The kinds (`SCAM_KINDS`) of a row's scam labels, each label by its taxonomy group; empty
    if it is no scam. A row may have several (a phishing post that is also spam).

    These are the label groups of the linear model's group heads (`linear.LinearConfig.heads`)
    as well as of `scam_kind`.

    >>> sorted(scam_groups(["scam", "spam", "topic_crypto"]))
    ['fraud', 'spam_promo']
    >>> scam_groups(["low_effort", "topic_ai"])  # spam group, but no scam label
    frozenset()
    """
    raw = _clean(labels) & SCAM_RAW_LABELS
    return frozenset(_KIND_GROUPS.get(label_group(label) or "", SCAM_KINDS[2]) for label in raw)


def scam_group_kinds(rows: Iterable[Iterable[str]]) -> tuple[str, ...]:
    """The kinds (`SCAM_KINDS` order) that occur among the rows' scam labels (`scam_groups`):
    the columns of group heads trained on these rows.

    >>> scam_group_kinds([["spam"], ["topic_crypto"], ["phishing", "promo"]])
    ('fraud', 'spam_promo')
    """
    seen = set().union(*(scam_groups(labels) for labels in rows))
    return tuple(k for k in SCAM_KINDS if k in seen)


def scam_group_targets(rows: Iterable[Iterable[str]], kinds: Sequence[str]) -> np.ndarray:
    """(N, K) int64 targets of group heads: 1 where row n has a scam label of kind `kinds[k]`
    (a row with labels of two kinds is positive for both)."""
    groups = [scam_groups(labels) for labels in rows]
    y = np.array([[int(k in g) for k in kinds] for g in groups], dtype=np.int64)
    return y.reshape(len(groups), len(kinds))


def scam_kind(labels: Iterable[str]) -> str | None:
    """The kind of a scam row by its raw labels' taxonomy groups; None if it is no scam.

    A row with any security-fraud label is `fraud` (a phishing post that is also spam is
    fraud first), else one with any spam/manipulation/commercial label is `spam_promo`,
    else `other`.

    >>> scam_kind(["scam", "spam", "topic_crypto"])
    'fraud'
    >>> scam_kind(["promo", "topic_ai"])
    'spam_promo'
    >>> scam_kind(["topic_crypto"]) is None
    True
    """
    kinds = scam_groups(labels)
    return next((k for k in SCAM_KINDS if k in kinds), None)


def decide(p_scam: np.ndarray, p_topic: np.ndarray, *, t_scam: float, t_topic: float) -> np.ndarray:
    """Apply the decision rule to head probabilities; returns class indices into CLASSES.

    scam if p_scam >= t_scam, else topic_crypto if p_topic >= t_topic, else clean.
    """
    p_scam = np.asarray(p_scam, dtype=np.float64)
    p_topic = np.asarray(p_topic, dtype=np.float64)
    out = np.full(p_scam.shape, CLASSES.index(CLEAN), dtype=np.int64)
    out[p_topic >= t_topic] = CLASSES.index(TOPIC)
    out[p_scam >= t_scam] = CLASSES.index(SCAM)
    return out


def class_probabilities(p_scam: float, p_topic: float) -> dict[str, float]:
    """Per-class scores shown to users: clean is 1 - max(scam, topic)."""
    return {SCAM: float(p_scam), TOPIC: float(p_topic), CLEAN: float(1.0 - max(p_scam, p_topic))}
