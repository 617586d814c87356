"""labels: collapse priority, two-head targets, stratification label sets, decision rule."""

from __future__ import annotations

import numpy as np
import pytest

from janitr.data.labels import CLASSES, collapse, decide, targets, training_label_set
from janitr.data.taxonomy import known_labels


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["topic_crypto", "giveaway"], "scam"),
        (["crypto_scam"], "scam"),
        (["crypto"], "topic_crypto"),
        (["topic_news", "ai_generated_reply"], "clean"),
        ([" Phishing "], "scam"),
        (["clean", "topic_crypto"], "topic_crypto"),
    ],
)
def test_collapse_priority(raw, expected):
    assert collapse(raw) == expected


def test_targets_and_label_sets_are_independent_heads():
    assert targets(["scam", "topic_crypto"]) == targets(["phishing", "crypto"])
    assert training_label_set(["scam", "topic_crypto"]) == ("scam", "topic_crypto")
    assert training_label_set(["topic_news"]) == ("clean",)


def test_decide_rule():
    out = decide(np.array([0.9, 0.1, 0.1]), np.array([0.9, 0.8, 0.1]), t_scam=0.5, t_topic=0.5)
    assert [CLASSES[i] for i in out] == ["scam", "topic_crypto", "clean"]


def test_taxonomy_has_aliases_and_collapse_labels():
    labels = known_labels()
    assert {"crypto", "crypto_scam", "topic_crypto", "clean"} <= labels
    assert len(labels) >= 99
