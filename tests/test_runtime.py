"""Classifier: no torch import, train/serve skew, empty input, batches split across processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from janitr.baselines.fasttext import FastTextConfig, training_line
from janitr.data.labels import CLASSES, class_probabilities
from janitr.runtime.classifier import MIN_SHARE, Classifier, EmptyTextError
from tiny_fasttext import train_tiny_bundle

STRIP = FastTextConfig(dim=16, epoch=10, bucket=20_000, lr=0.05, strip_urls=True)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return train_tiny_bundle(tmp_path_factory.mktemp("rt"), STRIP)


def test_predict_and_proba(bundle):
    clf = Classifier.load(bundle.path)
    texts = ["claim your free eth airdrop at bit.ly/x", "lovely lunch in the park"]
    preds = clf.predict(texts)
    proba = clf.predict_proba(texts)
    assert proba.shape == (2, 3)
    for p, row in zip(preds, proba, strict=True):
        assert p.label in CLASSES
        assert p.is_scam == (p.label == "scam")
        assert [p.probabilities[c] for c in CLASSES] == pytest.approx(row.tolist())


def test_prediction_probabilities_are_class_probabilities(bundle):
    """predict() builds the per-class dict on whole columns; it equals the labels rule."""
    clf = Classifier.load(bundle.path)
    texts = ["claim your free eth airdrop at bit.ly/x", "lovely lunch", "btc is up 5% today"]
    heads = clf.predict_heads(texts)
    for pred, (s, t) in zip(clf.predict(texts), heads.tolist(), strict=True):
        assert pred.probabilities == class_probabilities(s, t)
        assert all(type(v) is float for v in pred.probabilities.values())


def test_empty_text_is_a_clear_error(bundle):
    clf = Classifier.load(bundle.path)
    for bad in ("", "   ", "\u200b\n"):
        with pytest.raises(EmptyTextError, match="empty after normalization"):
            clf.predict(["fine text", bad])
    assert isinstance(EmptyTextError("x"), ValueError)


def test_train_serve_skew(bundle):
    """The text the scorer receives is exactly the text fastText was trained on."""
    clf = Classifier.load(bundle.path)
    seen: list[str] = []

    class Spy:
        def predict_heads(self, texts):
            seen.extend(texts)
            return np.zeros((len(texts), 2))

    clf.scorer = Spy()
    raw = "  Claim\u200b YOUR  ＦＲＥＥ airdrop\nhttps://scam.example/x NOW "
    clf.predict([raw])
    trained = training_line(["scam"], raw, normalization=bundle.normalization)
    assert bundle.normalization.strip_urls is True
    assert seen == [trained.split(" ", 1)[1]]
    assert seen == ["claim your free airdrop now"]


@pytest.mark.integration
def test_runtime_never_imports_torch(bundle):
    code = textwrap.dedent(f"""
        import sys
        from janitr import Classifier
        clf = Classifier.load({str(bundle.path)!r})
        print(clf.predict(["claim your free airdrop"])[0].label)
        assert "torch" not in sys.modules, "runtime imported torch"
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in CLASSES


TEXTS = [f"claim your free eth airdrop {i} now" if i % 3 == 0 else f"lunch in the park, day {i}"
         for i in range(3 * MIN_SHARE + 5)]  # fmt: skip


def test_processes_must_be_positive(bundle):
    with pytest.raises(ValueError, match="processes"):
        Classifier.load(bundle.path, processes=0)


@pytest.mark.integration
def test_batches_split_across_processes(bundle):
    """processes=3 spawns two workers: same heads and decisions as one process, small batches
    stay here, and errors name the index in the whole batch."""
    serial = Classifier.load(bundle.path)
    with Classifier.load(bundle.path, processes=3) as clf:
        np.testing.assert_array_equal(clf.predict_heads(TEXTS), serial.predict_heads(TEXTS))
        assert clf.predict(TEXTS) == serial.predict(TEXTS)
        assert clf._pool is not None
        pool, clf._pool = clf._pool, None  # a smaller batch would start a pool if it split
        small = TEXTS[: 3 * MIN_SHARE - 1]
        np.testing.assert_array_equal(clf.predict_heads(small), serial.predict_heads(small))
        assert clf._pool is None
        clf._pool = pool
        last = len(TEXTS) - 1  # in the last worker's share
        with pytest.raises(EmptyTextError, match=f"text {last} is empty"):
            clf.predict(TEXTS[:last] + ["\u200b "])
        with pytest.raises(TypeError, match="text 7 is a int"):
            clf.predict(TEXTS[:7] + [7] + TEXTS[8:])
        np.testing.assert_array_equal(clf.predict_heads(TEXTS), serial.predict_heads(TEXTS))
    assert clf._pool is None
