"""Classifier: no torch import, train/serve skew, empty input."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from janitr.fasttext_baseline import FastTextConfig, training_line
from janitr.labels import CLASSES
from janitr.runtime import Classifier, EmptyTextError
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
    trained = training_line(["scam"], raw, strip_urls=bundle.normalization.strip_urls)
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
