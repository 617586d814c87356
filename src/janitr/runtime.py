"""`janitr.Classifier`: load a bundle and classify posts.

The serving side of the project. It loads a verified bundle, normalizes each text with
the bundle's own `NormalizationConfig` (exactly what training used),
asks the bundle's scorer for the two head probabilities, and applies the bundle's
thresholds with `labels.decide`. It imports numpy and the scorer's backend (fastText, or
onnxruntime + tokenizers), never torch, so `pip install janitr` can classify.

Training, tuning and evaluation are elsewhere; this module only predicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from janitr.bundle import Bundle, Scorer, load_bundle
from janitr.errors import EmptyTextError
from janitr.labels import CLASSES, SCAM, TOPIC, class_probabilities, decide

#: Texts scored per scorer call (bounds memory on large inputs).
BATCH_SIZE = 4096


@dataclass(frozen=True)
class Prediction:
    """The decision for one post.

    Attributes:
        label: one of CLASSES (scam, topic_crypto, clean).
        probabilities: per-class scores (`labels.class_probabilities`; clean = 1 - max).
        is_scam: label == "scam".
    """

    label: str
    probabilities: dict[str, float] = field(default_factory=dict)
    is_scam: bool = False

    def to_dict(self) -> dict:
        return {"label": self.label, "is_scam": self.is_scam, "probabilities": self.probabilities}


class Classifier:
    """Classify posts with a model bundle.

    >>> clf = Classifier.load("bundles/fasttext")          # doctest: +SKIP
    >>> clf.predict(["claim your free airdrop now"])[0].label  # doctest: +SKIP
    'scam'
    """

    def __init__(self, bundle: Bundle, scorer: Scorer):
        self.bundle = bundle
        self.scorer = scorer
        self.thresholds = bundle.thresholds
        self.normalization = bundle.normalization

    @classmethod
    def load(cls, bundle_dir: str | Path, *, verify: bool = True) -> Classifier:
        """Load and verify a bundle and build its scorer.

        Raises:
            BundleError: if the bundle is missing, of another format version, or damaged.
        """
        bundle = load_bundle(bundle_dir, verify=verify)
        return cls(bundle, bundle.scorer())

    @property
    def kind(self) -> str:
        return self.bundle.kind

    def normalize(self, texts: Sequence[str]) -> list[str]:
        """The normalized texts the scorer receives (the training normalization).

        Raises:
            EmptyTextError: if a text is empty after normalization.
            TypeError: if a text is not a string.
        """
        if isinstance(texts, str):
            texts = [texts]
        out = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is a {type(text).__name__}, expected str")
            norm = self.normalization.apply(text)
            if not norm:
                raise EmptyTextError(
                    f"text {i} is empty after normalization ({text[:40]!r}); "
                    "pass the post's text, not an empty string"
                )
            out.append(norm)
        return out

    def predict_heads(self, texts: Sequence[str] | str) -> np.ndarray:
        """Head probabilities `(N, 2) = [p_scam, p_topic]` for raw texts.

        Raises:
            EmptyTextError: if a text is empty after normalization.
        """
        norm = self.normalize(texts)
        out = np.zeros((len(norm), 2), dtype=np.float64)
        for start in range(0, len(norm), BATCH_SIZE):
            chunk = norm[start : start + BATCH_SIZE]
            out[start : start + len(chunk)] = self.scorer.predict_heads(chunk)
        return out

    def predict_proba(self, texts: Sequence[str] | str) -> np.ndarray:
        """Per-class scores `(N, 3)` in CLASSES order (scam, topic_crypto, clean).

        Raises:
            EmptyTextError: if a text is empty after normalization.
        """
        heads = self.predict_heads(texts)
        clean = 1.0 - heads.max(axis=1, initial=0.0) if heads.size else np.zeros(0)
        return np.column_stack([heads[:, 0], heads[:, 1], clean])

    def predict(self, texts: Sequence[str] | str) -> list[Prediction]:
        """The decision for each text (a single string counts as one text).

        Raises:
            EmptyTextError: if a text is empty after normalization.
        """
        heads = self.predict_heads(texts)
        idx = decide(
            heads[:, 0], heads[:, 1], t_scam=self.thresholds[SCAM], t_topic=self.thresholds[TOPIC]
        )
        return [
            Prediction(
                label=CLASSES[i],
                probabilities=class_probabilities(float(h[0]), float(h[1])),
                is_scam=CLASSES[i] == SCAM,
            )
            for i, h in zip(idx, heads, strict=True)
        ]
