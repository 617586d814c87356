"""The fastText scorer: head probabilities from a `fasttext` bundle's `.ftz`, without torch.

`load_scorer` / `FastTextScorer` turn a bundle back into head probabilities
(`predict_heads_with`). They come from the model's exact logits (`head_logits`), not from
fastText's `predict`, whose table sigmoid saturates at 1.0 for every logit above 8 and so
leaves the scam threshold no room among the most confident posts (`SCORES`). Bundles record
which of the two they were tuned with (`model.scores`). fasttext 0.9.3's single-string
`predict` calls `np.array(probs, copy=False)`, which NumPy 2 rejects: it is never used.

Training lives in `janitr.baselines.fasttext`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from janitr.data.labels import SCAM, TOPIC
from janitr.errors import BundleError, require
from janitr.runtime.bundle import Bundle

#: fastText's label prefix (`__label__scam`).
LABEL_PREFIX = "__label__"


def fasttext_module():
    """The `fasttext` package (a core dependency; the message says how to reinstall it)."""
    return require("fasttext", extra=None)


#: fastText labels of the two heads, in column order.
HEAD_LABELS = (LABEL_PREFIX + SCAM, LABEL_PREFIX + TOPIC)


#: How a bundle's head probabilities are read from its model (`model.scores` in bundle.json).
#: `logits` (bundles written since this field exists): the exact output logits (the sentence
#: vector, which is the hidden layer of a supervised model, times the output matrix) through a
#: float64 sigmoid (ova) or softmax. `predict`: fastText's own `predict`, whose sigmoid is a
#: 512-step lookup table clamped to [-8, 8]: every logit above 8 scores exactly 1.0, so the
#: most confident scams (about 1 in 8 calib posts) tie and the scam threshold has no room
#: between them and the rest. Both give the same ranking below the clamp.
SCORES = ("logits", "predict")


def scores_for(model) -> str:
    """The best way to read this model's heads: `logits` when it has a plain output layer
    (ova or softmax loss, output matrix not quantized), else `predict`."""
    if _loss_name(model) not in ("ova", "softmax"):
        return "predict"
    try:
        model.f.getOutputMatrix()
    except (AttributeError, RuntimeError, ValueError):  # e.g. a quantized output matrix
        return "predict"
    return "logits"


def predict_heads_with(model, texts: Sequence[str], *, scores: str | None = None) -> np.ndarray:
    """Head probabilities `(N, 2) = [p_scam, p_topic]` from a loaded fastText model.

    `scores="logits"` computes the exact logits, `head_logits`, and applies a float64
    sigmoid (ova) or softmax. `scores="predict"` reads fastText's own `predict` (see
    `SCORES`), as bundles without `model.scores` were tuned. None picks `scores_for(model)`.

    The predict path uses the list form with `k=-1, threshold=0.0` (every label, every row):
    in fasttext 0.9.3 the single-string form calls `np.array(..., copy=False)`, which raises
    under NumPy 2. The bindings' `multilinePredict` is called directly when the model has it:
    the Python wrapper only checks each line for a newline and appends one, which costs ~2 us
    per post in Python; newlines are replaced by spaces, on both paths. Probabilities are
    clamped to [0, 1] (fastText adds 1e-5 inside its log, so a sigmoid of 1 comes back as
    1.00001). fastText holds the GIL on both paths (0.9.3): threads do not run it in
    parallel (`FastTextScorer.holds_gil`).
    """
    scores = scores or scores_for(model)
    if scores not in SCORES:
        raise BundleError(f"unknown fastText scores {scores!r}: expected one of {SCORES}")
    if scores == "logits":
        return LogitHeads(model).heads(texts)  # (0, 2) for no texts
    n = len(texts)
    if not n:
        return np.zeros((0, 2), dtype=np.float64)
    multiline = getattr(getattr(model, "f", None), "multilinePredict", None)
    if multiline is not None:
        labels, probs = multiline([t.replace("\n", " ") + "\n" for t in texts], -1, 0.0, "strict")
    else:
        texts = [t.replace("\n", " ") for t in texts]
        labels, probs = model.predict(texts, k=-1, threshold=0.0)
    return _head_columns(labels, probs, n)


def _loss_name(model) -> str | None:
    """The model's training loss (`ova`, `softmax`, `hs`, `ns`), None if it cannot say."""
    try:
        return model.f.getArgs().loss.name
    except AttributeError:
        return None


class LogitHeads:
    """Head probabilities from a supervised fastText model's exact output logits.

    The hidden layer of a supervised model is the mean of the input vectors of a line's
    words, word n-grams, char n-grams and end-of-line token, which is what
    `getSentenceVector` returns for it; the logits are that times the output matrix. (The
    Python wrapper's `get_output_matrix` refuses every quantized model, but with `qout`
    off the output matrix is a plain dense one, which the bindings return.) Through
    fastText's table sigmoid these logits give its `predict` output to ~5e-8 (checked on the
    shared train split and by a test). The output matrix, loss and label columns are read
    once, here; a scorer keeps one of these.

    Raises:
        BundleError: if the model has no plain output layer (`scores_for` says `predict`).
    """

    def __init__(self, model):
        if scores_for(model) != "logits":
            raise BundleError(
                "this fastText model has no plain output layer (hierarchical softmax or a "
                "quantized output matrix): read it with scores='predict'"
            )
        self._f = model.f
        self._out = np.asarray(model.f.getOutputMatrix(), dtype=np.float64)
        self._ova = _loss_name(model) == "ova"
        labels = model.get_labels()
        self._columns = [labels.index(head) for head in HEAD_LABELS]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Exact output logits `(N, L)`, labels in model order; newlines become spaces."""
        import fasttext_pybind

        vector = fasttext_pybind.Vector(self._out.shape[1])  # per call: threads may share self
        hidden = np.empty((len(texts), self._out.shape[1]), dtype=np.float32)
        sentence_vector = self._f.getSentenceVector
        for i, text in enumerate(texts):
            sentence_vector(vector, text.replace("\n", " ") + "\n")
            hidden[i] = np.asarray(vector)
        # Elementwise product, then a sum over the hidden axis: each row's logits are summed
        # in the same order whatever the batch size (a BLAS matmul picks kernels by shape,
        # and gemv vs gemm differ in the last bit), so a post scores the same alone or in
        # any batch. (N, L, d) float64 is small: L = 3 labels, d = the model's dim.
        return (hidden.astype(np.float64)[:, None, :] * self._out[None, :, :]).sum(axis=-1)

    def heads(self, texts: Sequence[str]) -> np.ndarray:
        """`(N, 2) = [p_scam, p_topic]`: a float64 sigmoid (ova) or softmax of the logits."""
        z = self.logits(texts)
        if self._ova:
            p = np.exp(-np.logaddexp(0.0, -z))  # sigmoid, without overflow
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
        return np.ascontiguousarray(p[:, self._columns])


def head_logits(model, texts: Sequence[str]) -> np.ndarray:
    """Exact output logits `(N, L)` of a supervised fastText model (`LogitHeads`)."""
    return LogitHeads(model).logits(texts)


#: Up to this many rows, fastText's output is read row by row (numpy's fixed cost per call
#: is larger than the loop there).
_LOOP_ROWS = 16


def _head_columns(labels: Sequence[Sequence[str]], probs: Sequence, n: int) -> np.ndarray:
    """`(n, 2)` head probabilities in [0, 1] from fastText's per-row labels and probabilities.

    With `k=-1, threshold=0.0` every row lists every label (sorted by probability), so large
    batches stack into `(n, L)` arrays and the heads are picked with two vectorized masks,
    ~2.5x faster than a loop over rows; small batches and ragged rows (another k or
    threshold) take the loop.
    """
    if n > _LOOP_ROWS:
        try:
            p = np.asarray(probs, dtype=np.float64)
            lab = np.asarray(labels, dtype=str)
        except ValueError:  # rows of different lengths
            p = lab = None
        if p is not None and p.ndim == 2 and p.shape == lab.shape and p.shape[0] == n:
            out = np.empty((n, 2), dtype=np.float64)
            for j, head in enumerate(HEAD_LABELS):
                out[:, j] = np.where(lab == head, p, 0.0).sum(axis=1)
            return np.clip(out, 0.0, 1.0, out=out)
    scam, topic = HEAD_LABELS
    rows = []
    for row_labels, row_probs in zip(labels, probs, strict=True):
        s = t = 0.0
        for label, prob in zip(row_labels, row_probs, strict=True):
            if label == scam:
                s = min(max(float(prob), 0.0), 1.0)
            elif label == topic:
                t = min(max(float(prob), 0.0), 1.0)
        rows.append((s, t))
    return np.array(rows, dtype=np.float64).reshape(n, 2)


class FastTextScorer:
    """Scorer of a `fasttext` bundle: normalized texts -> `(N, 2)` head probabilities."""

    #: fastText predicts on one core and holds the GIL (0.9.3): threads take turns, so
    #: batches use several cores through `Classifier.load(..., processes=N)` instead.
    holds_gil = True

    def __init__(self, model, *, path: Path | None = None, scores: str = "predict"):
        self.model = model
        self.path = path
        self.scores = scores
        self._logit_heads = LogitHeads(model) if scores == "logits" else None

    def predict_heads(self, texts: Sequence[str]) -> np.ndarray:
        """Return float array (N, 2): column 0 = p(scam), column 1 = p(topic_crypto)."""
        texts = list(texts)
        if self._logit_heads is not None:
            return self._logit_heads.heads(texts)
        return predict_heads_with(self.model, texts, scores=self.scores)


def load_scorer(bundle: Bundle) -> FastTextScorer:
    """Build the scorer of a loaded `fasttext` bundle.

    Raises:
        BundleError: if the bundle has no model file or fastText cannot read it.
    """
    info = bundle.manifest.get("model", {})
    name = info.get("file", "model.ftz")
    if not isinstance(name, str):
        raise BundleError(
            f"{bundle.path / 'bundle.json'}: model.file is {name!r}, expected the name of the "
            "model file in the bundle (e.g. model.ftz); rebuild the bundle"
        )
    # Bundles from before `model.scores` existed were tuned on fastText's own predict.
    scores = info.get("scores", "predict")
    if scores not in SCORES:
        raise BundleError(
            f"{bundle.path / 'bundle.json'}: model.scores is {scores!r}, expected one of "
            f"{SCORES}; rebuild the bundle with this version of janitr"
        )
    path = bundle.file(name)
    fasttext = fasttext_module()
    try:
        model = fasttext.load_model(str(path))
    except ValueError as exc:
        raise BundleError(
            f"{path}: fastText cannot read this model ({exc}); rebuild the bundle"
        ) from exc
    if scores == "logits" and scores_for(model) != "logits":
        raise BundleError(
            f"{path}: bundle.json says scores=logits, but the model has no plain "
            "output layer; rebuild the bundle"
        )
    return FastTextScorer(model, path=path, scores=scores)
