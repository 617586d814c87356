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

Throughput (issue #5): a session run costs about as much per padded token as per real
token, so `OnnxScorer` pads as little as it can (`plan_batches`), runs whole batches in
parallel on its threads, and leaves out one graph fusion that is slower on CPU
(`DISABLED_OPTIMIZERS`).

Batch invariance (issue #12): a post gets the same score alone or in any batch. fp32 and
static int8 models are invariant by construction (fp32 to ~1e-7, static int8 bit for bit).
A dynamically quantized model measures its activation ranges over each whole padded batch,
so its file says `"batch_invariant": false` in the `janitr.quantization` metadata
(`janitr.student.quantize`), and `OnnxScorer` runs it one post per session run.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from janitr.errors import BundleError

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

    from janitr.runtime.bundle import Bundle

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "student_config.json"
#: ONNX metadata key written by `janitr.student.quantize` (a JSON object).
QUANTIZATION_KEY = "janitr.quantization"
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
    return pad_encodings(_encode(tok, texts, max_length=max_length), pad_id=pad_id)


def _encode(tok: Tokenizer, texts: Sequence[str], *, max_length: int) -> list:
    tok.enable_truncation(max_length)
    tok.no_padding()
    # encode_batch_fast (tokenizers >= 0.20) skips the character offsets: same ids, 1.3x faster.
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)
    return encode(list(texts))


def pad_encodings(encodings: Sequence, *, pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`(ids, mask)` int64 (B, T) of tokenizer encodings, padded with `pad_id` to the longest."""
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
    encodings = _encode(tok, texts, max_length=max_length)
    return np.array([len(e.ids) for e in encodings], dtype=np.int64)


def length_sorted_batches(
    tok: Tokenizer, texts: Sequence[str], batch_size: int, max_length: int
) -> list[np.ndarray]:
    """Row indices grouped into batches of similar length (little padding, fast on CPU).

    Deterministic: a stable sort by token length.
    """
    lengths = token_lengths(tok, texts, max_length=max_length)
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


#: Fixed cost of one session run, in padded tokens: measured on the 4x192 int8 student,
#: a run costs about 100 us plus 17 us per (row x padded length) token on one core.
RUN_COST_TOKENS = 6


def plan_batches(
    lengths: Sequence[int] | np.ndarray, max_rows: int, *, run_cost: float = RUN_COST_TOKENS
) -> list[np.ndarray]:
    """Row indices grouped into batches that waste the least compute on padding.

    Rows are sorted by length (stable) and cut into contiguous groups of at most `max_rows`,
    choosing the cuts that minimize sum(run_cost + rows * longest) over the batches (dynamic
    programming; the cost of a run grows with its padded size, so a batch of 32 random posts
    padded to its longest costs ~2x its real tokens, and these cuts ~1.05x).
    Deterministic. Batches come back longest first.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    n = len(lengths)
    order = np.argsort(lengths, kind="stable")
    if n == 0:
        return []
    max_rows = max(1, int(max_rows))
    sorted_len = lengths[order]
    cost = np.zeros(n + 1)
    cut = np.zeros(n + 1, dtype=np.int64)
    for end in range(1, n + 1):
        start = np.arange(max(0, end - max_rows), end)
        total = cost[start] + run_cost + (end - start) * sorted_len[end - 1]
        best = int(total.argmin())
        cost[end], cut[end] = total[best], start[best]
    bounds, end = [], n
    while end > 0:
        bounds.append((int(cut[end]), end))
        end = int(cut[end])
    return [order[a:b] for a, b in bounds]


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


#: Graph optimizers left out of every session: onnxruntime 1.32's CPU SkipLayerNormalization
#: kernel is slower than the Add + LayerNormalization it replaces (measured on the int8
#: student: 210 vs 25 + 17 us per call, 1.07-1.17x more posts/s without the fusion).
DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def open_session(model_path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session of `model_path` with `session_options(threads)`."""
    import onnxruntime as ort

    return ort.InferenceSession(
        str(model_path),
        session_options(threads),
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(DISABLED_OPTIMIZERS),
    )


class OnnxScorer:
    """Scores normalized texts with an exported student.

    `predict_heads` tokenizes its texts once, cuts them into batches of similar length
    (`plan_batches`: little padding, which costs as much as real tokens) and, with
    `threads` > 1, runs those batches on that many threads at once, each session run on one
    core (whole batches in parallel scale better on a small CPU than onnxruntime's intra-op
    threads, which synchronize after every small operator).

    Args:
        model_path: the `.onnx` file (inputs `input_ids`, `attention_mask`; outputs
            `p_scam`, `p_topic`).
        tokenizer: the student's tokenizer.
        max_length: truncation length the student was trained with.
        threads: batches run at once by `predict_heads` (default: $JANITR_ONNX_THREADS or
            1); a single text always runs on one thread.
        batch_size: most texts per session run (1 for a model whose metadata says it is
            not batch-invariant, whatever is asked).

    Attributes:
        batch_invariant: False for a dynamically quantized model, which is then run one post
            per session run so that its scores do not depend on the batch.
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
        self.model_path = Path(model_path)
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.batch_size = max(1, int(batch_size))
        if threads is None:
            threads = int(os.environ.get(THREADS_ENV, "1"))
        self.threads = max(1, int(threads))
        self._pool = None
        self._pool_pid = os.getpid()
        self._pool_lock = threading.Lock()
        try:
            self.session = open_session(self.model_path, threads=1)
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
        self.batch_invariant = _batch_invariant(self.session, self.model_path)
        if not self.batch_invariant:
            self.batch_size = 1

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
        if not texts:
            return out
        encodings = _encode(self.tokenizer, texts, max_length=self.max_length)
        parallel = self.threads > 1 and len(texts) > 1
        rows = self.batch_size
        if parallel:  # at least one batch per thread
            rows = min(rows, -(-len(texts) // self.threads))
        batches = plan_batches([len(e.ids) for e in encodings], rows, run_cost=RUN_COST_TOKENS)

        def score(idx: np.ndarray) -> None:
            p_scam, p_topic = self.run(*pad_encodings([encodings[i] for i in idx]))
            out[idx, 0] = p_scam
            out[idx, 1] = p_topic

        if parallel and len(batches) > 1:
            # Longest batches first (plan_batches' order), so the threads finish together.
            for future in [self._executor().submit(score, idx) for idx in batches]:
                future.result()
        else:
            for idx in batches:
                score(idx)
        return out

    def _executor(self):
        with self._pool_lock:
            # A forked child inherits the pool object but not its threads: start a new one.
            if self._pool is None or self._pool_pid != os.getpid():
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="janitr-onnx")
                self._pool_pid = os.getpid()
            return self._pool

    def close(self) -> None:
        """Stop the worker threads, if any (a later parallel batch starts them again)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


def _batch_invariant(session, model_path: Path) -> bool:
    """Whether a model's scores are independent of the batch, from its quantization metadata
    (files without it, fp32 exports, are)."""
    raw = session.get_modelmeta().custom_metadata_map.get(QUANTIZATION_KEY)
    if raw is None:
        return True
    try:
        value = json.loads(raw)["batch_invariant"]
    except (ValueError, TypeError, KeyError) as exc:
        raise BundleError(
            f"{model_path}: unreadable {QUANTIZATION_KEY} metadata ({exc}); "
            "re-quantize it with `janitr quantize`"
        ) from exc
    if not isinstance(value, bool):
        raise BundleError(
            f"{model_path}: {QUANTIZATION_KEY} batch_invariant must be true or false, found "
            f"{value!r}; re-quantize it with `janitr quantize`"
        )
    return value


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


def check_vocabulary(scorer: OnnxScorer, *, vocab_size: int, tokenizer_path, config_path) -> None:
    """Check that the tokenizer, the student config and the model's embedding agree.

    A tokenizer that is not the model's own gives ids the embedding does not have (an
    onnxruntime failure deep inside `predict`) or, worse, ids of other words (silently
    wrong scores). The tokenizer's size is compared with the config's `vocab_size`; the
    model's embedding is checked by what matters, without the `onnx` package (not a runtime
    dependency) or reading any weights: onnxruntime must accept the largest id,
    `vocab_size - 1`, and refuse `vocab_size` (its Gather checks the row index).

    Raises:
        BundleError: naming the two sizes that differ.
    """
    tok_size = scorer.tokenizer.get_vocab_size(with_added_tokens=True)
    if tok_size != vocab_size:
        raise BundleError(
            f"{tokenizer_path}: the tokenizer has {tok_size} tokens, but {config_path} says the "
            f"model's vocabulary has {vocab_size}: this tokenizer belongs to another model; "
            "rebuild the bundle with the student's own tokenizer.json"
        )

    import onnxruntime as ort

    quiet = ort.RunOptions()
    quiet.log_severity_level = 4  # the refused id is expected: no error line on stderr

    def accepts(token_id: int) -> bool:
        ids = np.array([[token_id]], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        try:
            scorer.session.run(list(OUTPUT_NAMES), feed, quiet)
        except Exception:  # onnxruntime raises its own untyped errors
            return False
        return True

    if not accepts(vocab_size - 1) or accepts(vocab_size):
        raise BundleError(
            f"{scorer.model_path}: the model's embedding does not have {vocab_size} rows, the "
            f"vocabulary of {tokenizer_path} and {config_path}: the model was exported with "
            "another tokenizer; rebuild the bundle from one student"
        )


def load_scorer(bundle: Bundle, *, threads: int | None = None) -> OnnxScorer:
    """Scorer of an `onnx` bundle (files model.onnx, tokenizer.json, student_config.json).

    Raises:
        BundleError: if a file is missing or unreadable, or the tokenizer's vocabulary
            differs from the model's (`check_vocabulary`).
    """
    config_path = bundle.file(CONFIG_FILE)
    tokenizer_path = bundle.file(TOKENIZER_FILE)
    scorer = OnnxScorer.from_files(
        bundle.file(MODEL_FILE), tokenizer_path, config_path, threads=threads
    )
    vocab_size = read_config(config_path).get("vocab_size")
    if not (isinstance(vocab_size, int) and vocab_size > 0):
        raise BundleError(
            f"{config_path}: expected a positive integer vocab_size, found {vocab_size!r}; "
            "re-export the model"
        )
    check_vocabulary(
        scorer, vocab_size=vocab_size, tokenizer_path=tokenizer_path, config_path=config_path
    )
    return scorer
