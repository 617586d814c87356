"""`janitr.Classifier`: load a bundle and classify posts.

The serving side of the project. It loads a verified bundle, normalizes each text with
the bundle's own `NormalizationConfig` (exactly what training used),
asks the bundle's scorer for the two head probabilities, and applies the bundle's
thresholds with `labels.decide`. It imports numpy and the scorer's backend (fastText, or
onnxruntime + tokenizers), never torch, so `pip install janitr` can classify.

`Classifier.load(..., processes=N)` splits each large batch across N processes (this one
and N - 1 spawned workers that load the same bundle), each normalizing and scoring its share:
the way to use several cores with a scorer that runs on one core and holds the GIL while
predicting (fastText 0.9.3; threads would take turns). ONNX and torch scorers have their own
intra-op threads and do not need it.

Training, tuning and evaluation are elsewhere; this module only predicts.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from janitr.data.labels import CLASSES, CLEAN, SCAM, TOPIC, decide
from janitr.data.normalize import text_problem
from janitr.errors import EmptyTextError, TextError
from janitr.runtime.bundle import Bundle, Scorer, load_bundle

#: Texts scored per scorer call (bounds memory on large inputs).
BATCH_SIZE = 4096
#: With `processes > 1`, a batch is split only if every share gets at least this many texts
#: (below that, sending texts to a worker costs more than it saves).
MIN_SHARE = 64


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

    def __init__(self, bundle: Bundle, scorer: Scorer, *, processes: int = 1):
        if not isinstance(processes, int) or processes < 1:
            raise ValueError(f"processes must be a positive integer, got {processes!r}")
        self.bundle = bundle
        self.scorer = scorer
        self.thresholds = bundle.thresholds
        self.normalization = bundle.normalization
        self.processes = processes
        self._pool = None
        self._pool_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        bundle_dir: str | Path,
        *,
        verify: bool = True,
        processes: int = 1,
        content_id: str | None = None,
    ) -> Classifier:
        """Load and verify a bundle and build its scorer.

        Args:
            bundle_dir: the bundle directory.
            verify: check the bundle files against their checksums.
            content_id: refuse the bundle unless its content id is this (or starts with it;
                `Bundle.content_id`): pins exactly the bundle that was tested.
            processes: split batches of at least `processes * MIN_SHARE` texts across this
                many processes (this one included). The workers are spawned on the first
                such batch (about a second), each loads the bundle with its own scorer, and
                they stop with `close()`, at exit, or when the Classifier is
                garbage-collected. For fastText, which holds the GIL while predicting. The
                workers are spawned, so a script using this needs the usual
                `if __name__ == "__main__":` guard of multiprocessing.

        Raises:
            BundleError: if the bundle is missing, of another format version, damaged, has
                an invalid manifest, or is not the pinned `content_id`.
        """
        bundle = load_bundle(bundle_dir, verify=verify, content_id=content_id)
        return cls(bundle, bundle.scorer(), processes=processes)

    def close(self) -> None:
        """Stop the worker processes, if any (a later parallel batch starts them again)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def kind(self) -> str:
        return self.bundle.kind

    @property
    def content_id(self) -> str:
        """The loaded bundle's content id (`Bundle.content_id`)."""
        return self.bundle.content_id

    def normalize(self, texts: Sequence[str]) -> list[str]:
        """The normalized texts the scorer receives (the training normalization).

        Raises:
            TextError: if a text cannot be classified (see `predict`).
            TypeError: if a text is not a string.
        """
        return _normalize_all(self.normalization, _as_texts(texts))

    def predict_heads(self, texts: Sequence[str] | str) -> np.ndarray:
        """Head probabilities `(N, 2) = [p_scam, p_topic]` for raw texts.

        Raises:
            TextError: if a text cannot be classified (see `predict`).
            TypeError: if a text is not a string.
        """
        texts = _as_texts(texts)
        if self.processes > 1 and len(texts) >= self.processes * MIN_SHARE:
            return self._predict_heads_parallel(texts)
        return _heads(self.normalization, self.scorer, texts)

    def _predict_heads_parallel(self, texts: Sequence[str]) -> np.ndarray:
        """Share 0 here, shares 1.. in the workers; errors name the index in `texts`."""
        if not all(isinstance(t, str) for t in texts):
            return _heads(self.normalization, self.scorer, texts)  # raises the TypeError
        with self._pool_lock:
            if self._pool is None:
                self._pool = _start_pool(self.bundle.path, self.processes - 1)
                # Stop the workers when this Classifier goes away without close().
                weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
            pool = self._pool
        bounds = np.linspace(0, len(texts), self.processes + 1).round().astype(int).tolist()
        texts = list(texts)
        jobs = [
            pool.submit(_worker_heads, texts[a:b], a)
            for a, b in zip(bounds[1:-1], bounds[2:], strict=True)
        ]
        try:
            first = _heads(self.normalization, self.scorer, texts[: bounds[1]])
        except Exception:
            for job in jobs:
                job.cancel()
            raise
        return np.concatenate([first, *(job.result() for job in jobs)])

    def predict_proba(self, texts: Sequence[str] | str) -> np.ndarray:
        """Per-class scores `(N, 3)` in CLASSES order (scam, topic_crypto, clean).

        Raises:
            TextError: if a text cannot be classified (see `predict`).
        """
        heads = self.predict_heads(texts)
        clean = 1.0 - heads.max(axis=1, initial=0.0) if heads.size else np.zeros(0)
        return np.column_stack([heads[:, 0], heads[:, 1], clean])

    def predict(self, texts: Sequence[str] | str) -> list[Prediction]:
        """The decision for each text (a single string counts as one text).

        Raises:
            TextError: if a text cannot be classified (`normalize.text_problem`: nothing
                visible after normalization, which raises its subclass EmptyTextError, or a
                lone surrogate).
            TypeError: if `texts` is not a string or a sequence of strings.
        """
        return self._decisions(self.predict_heads(texts))

    def _decisions(self, heads: np.ndarray) -> list[Prediction]:
        """Predictions from head probabilities `(N, 2)` and the bundle's thresholds."""
        idx = decide(
            heads[:, 0], heads[:, 1], t_scam=self.thresholds[SCAM], t_topic=self.thresholds[TOPIC]
        )
        # `labels.class_probabilities` on whole columns (clean = 1 - max of the heads); plain
        # floats from tolist() are ~1.5x faster than indexing numpy rows one by one.
        clean = (1.0 - heads.max(axis=1)).tolist()
        return [
            Prediction(label=CLASSES[i], probabilities={SCAM: s, TOPIC: t, CLEAN: c},
                       is_scam=i == _SCAM_INDEX)
            for i, (s, t), c in zip(idx.tolist(), heads.tolist(), clean, strict=True)
        ]  # fmt: skip

    def predict_each(self, texts: Sequence[str] | str) -> list[Prediction | TextError]:
        """`predict`, with a text that cannot be classified answered by its error in its
        place instead of failing the whole batch: one result per text, in order.

        Raises:
            TypeError: if `texts` is not a string or a sequence of strings.
        """
        texts = _as_texts(texts)
        results: list[Prediction | TextError | None] = [None] * len(texts)
        norm: list[str] = []
        good: list[int] = []
        for i, text in enumerate(texts):
            try:
                norm += _normalize_all(self.normalization, [text], offset=i)
            except TextError as exc:
                results[i] = exc
            else:
                good.append(i)
        for i, pred in zip(good, self._decisions(_score(self.scorer, norm)), strict=True):
            results[i] = pred
        return results


_SCAM_INDEX = CLASSES.index(SCAM)


def _as_texts(texts) -> Sequence[str]:
    """A single string as a list of one; any other sequence as it is.

    A mapping, set or iterator is refused: iterating a dict gives its keys, a set has no
    order to match results to, and an iterator would be used up by the first pass.

    Raises:
        TypeError: naming what was expected.
    """
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, np.ndarray) and texts.ndim == 1:
        return texts.tolist()
    if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Sequence):
        hint = " (for a dict's texts pass list(d.values()))" if isinstance(texts, dict) else ""
        raise TypeError(
            f"texts must be a str or a sequence (list, tuple) of str, got "
            f"{type(texts).__name__}{hint}"
        )
    return texts


def _normalize_all(normalization, texts: Sequence[str], offset: int = 0) -> list[str]:
    """Normalize texts; error messages count from `offset` (a share of a larger batch).

    Raises:
        TypeError: if a text is not a str.
        TextError: if a text cannot be classified (EmptyTextError when nothing visible is
            left), the reason from `normalize.text_problem`, the same check data files get.
    """
    apply = normalization.apply
    out = []
    for i, text in enumerate(texts, offset):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is a {type(text).__name__}, expected str")
        norm = apply(text)
        reason = text_problem(norm)
        if reason:
            error = TextError if reason.startswith("lone surrogate") else EmptyTextError
            what = (
                f"is {reason}" if reason.startswith("empty") else f"cannot be classified: {reason}"
            )
            raise error(f"text {i} {what} ({text[:40]!r}); pass the post's visible text", reason)
        out.append(norm)
    return out


def _heads(normalization, scorer: Scorer, texts: Sequence[str], offset: int = 0) -> np.ndarray:
    """Normalize and score texts in chunks of BATCH_SIZE; `(N, 2)` head probabilities."""
    return _score(scorer, _normalize_all(normalization, texts, offset))


def _score(scorer: Scorer, norm: Sequence[str]) -> np.ndarray:
    """Score normalized texts in chunks of BATCH_SIZE; `(N, 2)` head probabilities."""
    out = np.zeros((len(norm), 2), dtype=np.float64)
    for start in range(0, len(norm), BATCH_SIZE):
        chunk = norm[start : start + BATCH_SIZE]
        out[start : start + len(chunk)] = scorer.predict_heads(chunk)
    return out


# --- worker processes of `Classifier(processes=N)` --------------------------------------------

_worker: Classifier | None = None


def _start_pool(bundle_dir: Path, workers: int):
    """Spawned processes, each holding the bundle's Classifier, started and loaded now (the
    bundle was verified when this process loaded it)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker, initargs=(str(bundle_dir),),
    )  # fmt: skip
    try:
        for job in [pool.submit(_worker_ready) for _ in range(workers)]:
            job.result()  # a worker that cannot load the bundle breaks the pool: raise now
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    return pool


def _init_worker(bundle_dir: str) -> None:
    global _worker
    _worker = Classifier.load(bundle_dir, verify=False)


def _worker_ready() -> bool:
    return _worker is not None


def _worker_heads(texts: list[str], offset: int) -> np.ndarray:
    return _heads(_worker.normalization, _worker.scorer, texts, offset)


# --- files: one output row per input line ------------------------------------------------------


def classify_jsonl(
    classifier: Classifier,
    *,
    input: str | Path,
    output: str | Path,
    batch_size: int = 1024,
    progress: bool = False,
) -> tuple[int, list[str]]:
    """Classify a JSONL file of `{"id", "text"}` rows into a JSONL file, line for line.

    Output line k answers input line k: `{"id", "label", "is_scam", "probabilities"}`, or
    `{"line", "id"?, "error"}` for a line that cannot be classified (a blank line, bad JSON,
    no id, a text `normalize.text_problem` refuses), with the same words `janitr validate`
    uses. One bad row never costs the others their answers, and no row is dropped.

    Args:
        classifier: the loaded bundle.
        input: JSONL file; rows need `id` and `text`, other fields are ignored.
        output: JSONL file to write (atomically).
        batch_size: texts scored per call.
        progress: show a progress bar on stderr.

    Returns:
        `(rows written, error messages as "input:line: field: message")`.

    Raises:
        DataError: if `input` is missing, a directory, unreadable or empty.
        ConfigError: if `output` is a directory.
    """
    import sys

    from tqdm import tqdm

    from janitr.artifacts import check_output_file, write_lines
    from janitr.data.records import dump_row, file_problem, parse_row
    from janitr.errors import DataError, Problem

    check_output_file(output)
    bad_file = file_problem(input)
    if bad_file is not None:
        raise DataError([bad_file])
    with open(input, "rb") as handle:
        lines = handle.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line starts no new one
    if not any(line.strip() for line in lines):
        raise DataError([Problem(str(input), 0, "<file>", "no rows: the file is empty")])
    rows: list[dict | None] = [None] * len(lines)
    errors: list[str] = []
    todo: list[tuple[int, str]] = []  # (index, text)
    for i, raw in enumerate(lines):
        raw = raw.rstrip(b"\r")
        if i == 0 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        result = (
            [Problem(str(input), i + 1, "<line>", "blank line, expected a JSON row")]
            if not raw.strip()
            else parse_row(raw, path=str(input), line=i + 1, require_labels=False)
        )
        if isinstance(result, list):
            rows[i] = {"line": i + 1, **_row_id(raw)}
            rows[i]["error"] = "; ".join(f"{p.field}: {p.message}" for p in result)
            errors += [str(p) for p in result]
        else:
            rows[i] = {"id": result.id}
            todo.append((i, result.text))
    with tqdm(total=len(todo), unit="post", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            answers = classifier.predict_each([text for _, text in chunk])
            for (i, _), answer in zip(chunk, answers, strict=True):
                if isinstance(answer, TextError):
                    # Rows pass the default normalization; the bundle's own (strip_urls,
                    # say) may still leave nothing: the same error, on this row only.
                    rows[i]["error"] = f"text: {answer.reason}"
                    errors.append(f"{input}:{i + 1}: text: {answer.reason}")
                else:
                    rows[i].update(answer.to_dict())
            bar.update(len(chunk))
    write_lines(output, (dump_row(r) for r in rows))
    return len(rows), errors


def _row_id(raw: bytes) -> dict:
    """`{"id": ...}` of a refused row when it has a readable string id, else `{}`."""
    import json

    try:
        row_id = json.loads(raw).get("id")
    except Exception:  # any unreadable line: its error says why; there is no id to show
        return {}
    return {"id": row_id} if isinstance(row_id, str) else {}


# --- texts from a command line or a stream ---------------------------------------------------


def decode_arguments(texts: Sequence[str]) -> list[str | TextError]:
    """Command-line arguments as texts, in order; one that was not valid UTF-8 becomes its
    error (Python hands such bytes over as lone surrogates U+DC80..U+DCFF).

    A real lone surrogate (not an undecodable byte) is kept: `Classifier.predict_each` says
    what is wrong with it.
    """
    out: list[str | TextError] = []
    for i, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            try:
                raw = text.encode("utf-8", "surrogateescape")
                raw.decode("utf-8")
            except UnicodeEncodeError:
                pass  # a real lone surrogate
            except UnicodeDecodeError as exc:
                reason = f"text {i} is not valid UTF-8 (byte {exc.start}); pass UTF-8 text"
                out.append(TextError(reason))
                continue
        out.append(text)
    return out


def read_lines(stream: BinaryIO) -> list[str | TextError]:
    """One text per line of a byte stream (blank lines included: one answer per line; a
    leading byte-order mark dropped); a line that is not UTF-8 becomes its error."""
    out: list[str | TextError] = []
    for i, raw in enumerate(stream):
        raw = raw.rstrip(b"\r\n")
        if i == 0 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            out.append(
                TextError(f"text {i} is not valid UTF-8 (byte {exc.start}); pass UTF-8 text")
            )
    return out


def classify_inputs(
    classifier: Classifier,
    *,
    texts: Sequence[str] | None = None,
    stream: BinaryIO | None = None,
) -> list[tuple[str, Prediction | TextError]]:
    """Classify command-line texts or the lines of a stream: one answer per input, in order.

    Text i is argument i or line i (counted from 0, as in the messages). An input that cannot
    be classified (not UTF-8, empty or invisible after normalization, a lone surrogate) is
    answered with its `TextError`, paired with "" as its text when it could not be decoded.

    Args:
        classifier: the loaded bundle.
        texts: command-line arguments (`decode_arguments`), or
        stream: a binary stream read line by line (`read_lines`), e.g. `sys.stdin.buffer`.

    Raises:
        ValueError: unless exactly one of `texts` and `stream` is given.
    """
    if (texts is None) == (stream is None):
        raise ValueError("classify_inputs needs exactly one of texts= and stream=")
    items = decode_arguments(texts) if texts is not None else read_lines(stream)
    answers = classifier.predict_each([t if isinstance(t, str) else "" for t in items])
    return [
        (item, answer) if isinstance(item, str) else ("", item)
        for item, answer in zip(items, answers, strict=True)
    ]
