"""ONNX scorer for exported students (bundle kind `onnx`): tokenizers + onnxruntime + numpy.

This module must never import torch (a test runs it in a fresh interpreter and checks
`sys.modules`): an exported student is served by `pip install janitr` alone.

It also owns `encode_batch`, the one place where normalized text becomes model input, used
by the torch student, distillation, export parity and this runtime alike:

    ids  = [CLS] pieces... [SEP], truncated to max_length (the [SEP] kept)
    mask = 1 for real tokens, 0 for padding; a batch is padded with [PAD]=0 to its longest row

The exported graph takes `input_ids` and `attention_mask` (int64, (batch, seq), both axes
dynamic) and returns `p_scam` (batch,) = softmax(scam_logits)[:, 1] and `p_topic` (batch,) =
sigmoid(topic_logit): probabilities, so no runtime re-implements the heads' activations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from janitr.errors import BundleError

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

    from janitr.bundle import Bundle

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "student_config.json"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("p_scam", "p_topic")
#: Environment variable for the default intra-op thread count of ONNX sessions.
THREADS_ENV = "JANITR_ONNX_THREADS"


def encode_batch(
    tok: Tokenizer, texts: Sequence[str], *, max_length: int, pad_id: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Tokenize normalized texts into padded int64 arrays `(ids, mask)`, each (B, T).

    T is the longest encoded text in the batch (at most `max_length`). The tokenizer's
    post-processor adds [CLS]/[SEP]; truncation keeps them.
    """
    tok.enable_truncation(max_length)
    tok.no_padding()
    encodings = tok.encode_batch(list(texts))
    width = max((len(e.ids) for e in encodings), default=1)
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        ids[row, :n] = enc.ids
        mask[row, :n] = 1
    return ids, mask


def token_lengths(tok: Tokenizer, texts: Sequence[str], *, max_length: int) -> np.ndarray:
    """Encoded length (special tokens included, truncated) of each text, (N,) int64."""
    tok.enable_truncation(max_length)
    tok.no_padding()
    return np.array([len(e.ids) for e in tok.encode_batch(list(texts))], dtype=np.int64)


def length_sorted_batches(
    tok: Tokenizer, texts: Sequence[str], batch_size: int, max_length: int
) -> list[np.ndarray]:
    """Row indices grouped into batches of similar length (little padding, fast on CPU).

    Deterministic: a stable sort by token length.
    """
    lengths = token_lengths(tok, texts, max_length=max_length)
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def session_options(threads: int | None = None):
    """onnxruntime session options: `threads` intra-op threads (default: $JANITR_ONNX_THREADS
    or 1), one inter-op thread, sequential execution, all graph optimizations, no spinning."""
    import onnxruntime as ort

    if threads is None:
        threads = int(os.environ.get(THREADS_ENV, "1"))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # No busy-waiting of idle pool threads: on a shared 2-core machine spinning threads
    # fight the other processes (measured: 2-thread throughput 437 -> 810 posts/s).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


class OnnxScorer:
    """Scores normalized texts with an exported student.

    Args:
        model_path: the `.onnx` file (inputs `input_ids`, `attention_mask`; outputs
            `p_scam`, `p_topic`).
        tokenizer: the student's tokenizer.
        max_length: truncation length the student was trained with.
        threads: intra-op threads (default: $JANITR_ONNX_THREADS or 1).
        batch_size: texts per session run in `predict_heads` (32 was fastest on CPU).
    """

    def __init__(
        self,
        model_path: str | Path,
        tokenizer: Tokenizer,
        *,
        max_length: int,
        threads: int | None = None,
        batch_size: int = 32,
    ):
        import onnxruntime as ort

        self.model_path = Path(model_path)
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        try:
            self.session = ort.InferenceSession(
                str(self.model_path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise BundleError(
                f"{self.model_path}: onnxruntime cannot load the model ({exc}); "
                "re-export it with `janitr export`"
            ) from exc
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if sorted(inputs) != sorted(INPUT_NAMES) or list(outputs) != list(OUTPUT_NAMES):
            raise BundleError(
                f"{self.model_path}: expected inputs {list(INPUT_NAMES)} and "
                f"outputs {list(OUTPUT_NAMES)}, found {inputs} -> {outputs}; "
                "re-export it with `janitr export`"
            )

    @classmethod
    def from_files(
        cls,
        model_path: str | Path,
        tokenizer_path: str | Path,
        config_path: str | Path,
        *,
        threads: int | None = None,
        batch_size: int = 32,
    ) -> OnnxScorer:
        """Build from a model file, a tokenizer.json and a student_config.json."""
        from tokenizers import Tokenizer

        config = read_config(config_path)
        try:
            tok = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises a bare Exception
            raise BundleError(f"{tokenizer_path}: unreadable tokenizer ({exc})") from exc
        return cls(
            model_path, tok, max_length=config["max_length"], threads=threads, batch_size=batch_size
        )

    def run(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One session run on encoded arrays: `(p_scam (B,), p_topic (B,))` float32."""
        p_scam, p_topic = self.session.run(
            list(OUTPUT_NAMES), {"input_ids": ids, "attention_mask": mask}
        )
        return p_scam, p_topic

    def predict_heads(self, texts: Sequence[str]) -> np.ndarray:
        """(N, 2) float64: p(scam), p(topic) per normalized text."""
        texts = list(texts)
        out = np.zeros((len(texts), 2), dtype=np.float64)
        for idx in length_sorted_batches(self.tokenizer, texts, self.batch_size, self.max_length):
            ids, mask = encode_batch(
                self.tokenizer, [texts[i] for i in idx], max_length=self.max_length
            )
            p_scam, p_topic = self.run(ids, mask)
            out[idx, 0] = p_scam
            out[idx, 1] = p_topic
        return out


def read_config(path: str | Path) -> dict:
    """The architecture dict of a `student_config.json` (read without importing torch).

    Raises:
        BundleError: if it is missing or of another format version.
    """
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: no student config")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != "janitr-student" or data.get("format_version") != 1:
        raise BundleError(
            f"{path}: expected janitr-student v1, found {data.get('format')!r} "
            f"v{data.get('format_version')!r}; re-export the model"
        )
    return data["config"]


def load_scorer(bundle: Bundle, *, threads: int | None = None) -> OnnxScorer:
    """Scorer of an `onnx` bundle (files model.onnx, tokenizer.json, student_config.json)."""
    return OnnxScorer.from_files(
        bundle.file(MODEL_FILE),
        bundle.file(TOKENIZER_FILE),
        bundle.file(CONFIG_FILE),
        threads=threads,
    )
