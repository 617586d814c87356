"""The fastText baseline: train, quantize to a ~135 KB `.ftz`, tune thresholds, bundle.

`train_fasttext` reads `train.jsonl` and the tuning split(s) from a data directory, writes a
fastText training file (`__label__scam __label__topic_crypto <normalized text>`, the
co-occurrence label set of `labels.training_label_set`), trains with the official `fasttext`
package (one-vs-all loss: one independent sigmoid per label, so `p_scam` and `p_topic` are
the two heads), quantizes, tunes thresholds on the tuning split *with the quantized model*
(the one that ships), and writes a bundle of kind `fasttext`. Intermediates live in a
temporary directory; the unquantized matrix (hundreds of MB) is never written to the bundle.

The bundle's scorer (`load_scorer`, `FastTextScorer`: head probabilities from the exact
logits) is the runtime's: `janitr.runtime.fasttext`.

Metrics and threshold search are not here (`janitr.evaluation.metrics`,
`janitr.evaluation.thresholds`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from janitr.artifacts import sha256_file
from janitr.config import (
    Config,
    ConfigProblem,
    choice_problems,
    option,
    positive_ints,
    raise_problems,
)
from janitr.data.labels import CLASSES, SCAM, collapse, training_label_set
from janitr.data.normalize import NormalizationConfig
from janitr.data.obfuscate import DEFAULT_AUGMENT_KINDS, augment_kinds_problem
from janitr.data.records import Record, file_problem, read_records, require_rows
from janitr.errors import ConfigError, DataError, Problem
from janitr.evaluation.evaluate import unseen_report
from janitr.evaluation.thresholds import DEFAULT_POLICY, ThresholdPolicy
from janitr.runtime.bundle import Bundle, seen_entry, write_bundle
from janitr.runtime.fasttext import LABEL_PREFIX, fasttext_module, predict_heads_with, scores_for

log = logging.getLogger(__name__)

#: An unquantized fallback model larger than this is refused rather than bundled.
MAX_UNQUANTIZED_BYTES = 50 * 1024 * 1024


#: fastText's loss functions.
LOSSES = ("ova", "softmax", "hs")


@dataclass(frozen=True)
class FastTextConfig(Config):
    """Settings of `janitr train fasttext` (each field is a flag of that verb).

    The default recipe (issue #3: char 3-grams only, dim 50, cutoff 5000) predicts ~1.9x
    faster than the former one (char 2- to 5-grams, dim 100, cutoff 1000): most of fastText's
    predict time goes into building and hashing the char n-grams of every word, and one
    n-gram length instead of four cuts that work. Halving `dim` halves the product-
    quantization codebook (dim x 256 floats, most of the `.ftz`), which pays for keeping 5000
    rows instead of 1000, and the rows kept matter most for quality: in 5-fold
    cross-validation of the quantized model (3208 rows; fold seeds 13 and 7) scam recall at
    FPR <= 2% rose by +0.031 and +0.039 (paired 95% CIs [+0.011, +0.055], [+0.015, +0.064])
    and macro F1 by +0.023 and +0.028, with the same recall on obfuscated posts, at ~135 KB.
    A learning rate of 0.1 instead of 0.5 (same 50 epochs) gives less extreme scores that
    rank better: with the heads read from exact logits, cross-validated recall at FPR <= 2%
    rose by +0.018 and +0.030 (paired 95% CIs [+0.004, +0.033], [+0.012, +0.048]; fold seeds
    13 and 7) and PR-AUC from 0.847 to 0.855 (docs/LEVERS.md, "fastText recipe").
    """

    word_ngrams: int = option(2, help="max length of word n-grams")
    minn: int = option(3, help="min length of character n-grams (0 disables char n-grams)")
    maxn: int = option(3, help="max length of character n-grams")
    dim: int = option(50, help="embedding dimension")
    epoch: int = option(50, help="training epochs")
    lr: float = option(0.1, help="learning rate")
    loss: str = option(
        "ova",
        help="ova (one sigmoid per label: two independent heads), softmax or hs",
        choices=LOSSES,
    )
    bucket: int = option(2_000_000, help="hash buckets for n-grams; 2M matches the original model")
    min_count: int = option(1, help="minimum word count to enter the vocabulary")
    quantize: bool = option(
        True,
        help="quantize to .ftz (off keeps a small unquantized model; refused if it is larger "
        "than 50 MB)",
    )
    cutoff: int = option(5000, help="rows of the embedding matrix kept by quantization")
    dsub: int = option(8, help="sub-vector size of product quantization")
    qnorm: bool = option(False, help="quantize vector norms separately")
    qout: bool = option(
        False,
        help="quantize the output matrix too (needs >= 256 labels, so it falls back to off "
        "for our 3 labels, noted in the bundle)",
    )
    seed: int = option(0, help="random seed of fastText")
    threads: int = option(1, help="training threads; 1 makes training reproducible")
    strip_urls: bool = option(False, help="strip URLs in the normalization (saved in the bundle)")
    augment_kinds: tuple[str, ...] = option(
        DEFAULT_AUGMENT_KINDS,
        metavar="K,K",
        help="add one obfuscated copy of each training row (kind drawn per row from these, "
        "labels kept; janitr obfuscate --help lists them); empty: no copies",
    )
    fold_confusables: bool = option(
        True,
        help="fold Unicode confusables to ASCII (and drop combining marks) in the normalization",
    )

    def __post_init__(self) -> None:
        problems = []
        object.__setattr__(self, "augment_kinds", tuple(self.augment_kinds))
        if problem := augment_kinds_problem(self.augment_kinds):
            problems.append(problem)
        problems += positive_ints(
            self, ("word_ngrams", "dim", "epoch", "bucket", "min_count", "dsub", "threads")
        )
        for name in ("minn", "maxn", "cutoff", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                problems.append(ConfigProblem(name, f"must be an integer >= 0, got {value!r}"))
        if isinstance(self.minn, int) and isinstance(self.maxn, int) and self.maxn < self.minn:
            problems.append(
                ConfigProblem("maxn", f"({self.maxn}) must be >= minn ({self.minn})", ("minn",))
            )
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            problems.append(ConfigProblem("lr", f"must be > 0, got {self.lr!r}"))
        problems += choice_problems(self, ("loss",))
        raise_problems(self, problems)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["augment_kinds"] = list(self.augment_kinds)
        return out


def training_line(
    record_labels: Sequence[str], text: str, *, normalization: NormalizationConfig
) -> str:
    """One fastText training line: labels then the text, normalized with `normalization`.

    Tokens starting with `__label__` are dropped from the text: fastText would read them as
    extra labels in training (and ignores them when predicting, so nothing is lost).
    """
    words = [w for w in normalization.apply(text).split(" ") if not w.startswith(LABEL_PREFIX)]
    labels = " ".join(LABEL_PREFIX + name for name in training_label_set(record_labels))
    return f"{labels} {' '.join(words)}"


#: Train-and-quantize attempts when fastText's quantizer yields NaN.
QUANTIZE_ATTEMPTS = 4


def _text_lines(train_txt: Path) -> list[str]:
    """The texts of a fastText training file (labels removed), to check a model with."""
    with open(train_txt, encoding="utf-8") as handle:
        return [line.rstrip("\n").split(" ", 1)[-1] for line in handle]


def _train_supervised(fasttext, train_txt: Path, config: FastTextConfig, *, attempts: int = 4):
    """`fasttext.train_supervised` with our config; returns `(model, lr_used)`.

    fastText 0.9.3 sometimes stops with "Encountered NaN" (a NaN met in `DenseMatrix::dotRow`)
    on small, fast runs, in training or later when predicting, and not reproducibly: the same
    call succeeds on a rerun, more often at lower learning rates. So each retry halves the
    learning rate; the rate that succeeded is returned and recorded in the bundle, with a
    warning in the log.

    Raises:
        ConfigError: if every attempt ends in NaN (lower --lr).
    """
    lr = config.lr
    # Training can also end without an error but with NaN weights, which only shows when
    # predicting; scoring the training lines once catches that as well.
    check = _text_lines(train_txt)
    for attempt in range(1, attempts + 1):
        try:
            model = fasttext.train_supervised(
                input=str(train_txt), lr=lr, dim=config.dim, epoch=config.epoch,
                minCount=config.min_count, minn=config.minn, maxn=config.maxn,
                wordNgrams=config.word_ngrams, loss=config.loss, bucket=config.bucket,
                thread=config.threads, seed=config.seed, verbose=0,
            )  # fmt: skip
            model.predict(check, k=-1, threshold=0.0)
            return model, lr
        except RuntimeError as exc:
            if "nan" not in str(exc).lower():
                raise
            error = exc
            log.warning(
                "fastText reported NaN at lr %g (attempt %d of %d); retrying at lr %g",
                lr, attempt, attempts, lr / 2,
            )  # fmt: skip
            lr /= 2
    message = f"fastText training diverged ({error}) from {config.lr} down to {lr * 2:g}; lower it"
    raise ConfigError(
        problems=[ConfigProblem("lr", message, ("epoch",))], config=FastTextConfig
    ) from error


def _split_file(data_dir: Path, split: str) -> Path:
    return data_dir / f"{split}.jsonl"


def _read_splits(data_dir: Path, splits: Sequence[str]) -> dict[str, list[Record]]:
    """Read the named splits together (all problems of all files reported at once).

    Raises:
        DataError: on missing files or bad rows.
    """
    hint = f"--data must be a directory holding {', '.join(s + '.jsonl' for s in splits)}"
    if data_dir.is_file():
        raise DataError([Problem(str(data_dir), 0, "<dir>", "is a file, not a directory", hint)])
    bad = [file_problem(_split_file(data_dir, s), hint=hint) for s in splits]
    if any(bad):
        raise DataError([p for p in bad if p], summary=f"{data_dir}: missing split file(s)")
    records = read_records(*(_split_file(data_dir, s) for s in splits))
    by_split: dict[str, list[Record]] = {s: [] for s in splits}
    for record in records:
        by_split[Path(record.path).stem].append(record)
    return by_split


def _quantize_once(model, config: FastTextConfig, check: list[str], *, cutoff: int, qout: bool):
    """Quantize in place with one setting and score `check`; returns None or the error text."""
    try:
        model.quantize(
            input=None, qout=qout, cutoff=cutoff, retrain=False, dsub=config.dsub,
            qnorm=config.qnorm, thread=config.threads, verbose=0,
        )  # fmt: skip
        model.predict(check, k=-1, threshold=0.0)
    except (ValueError, RuntimeError) as exc:
        return str(exc)
    return None


def _quantize_options(config: FastTextConfig) -> list[tuple[int, bool]]:
    """(cutoff, qout) settings to try in order: as configured, then simpler fallbacks."""
    options = [(config.cutoff, config.qout)]
    if config.qout:
        options.append((config.cutoff, False))
    if config.cutoff:
        options.append((0, False))
    return options


def fit_in_fresh_process(train_txt: Path, config: FastTextConfig, out_dir: Path) -> dict:
    """Train and quantize in a fresh child process; the model file lands in `out_dir`.

    fastText 0.9.3 (compiled from source here) sometimes meets NaN in training or
    quantization depending on what the calling process did before (seen only inside long test
    sessions, never in a fresh process, whatever the learning rate). A fresh process starts
    clean, which makes training reproducible wherever it is called from.

    The child is a plain `python -c` subprocess (not multiprocessing: no pickling and no
    resource_tracker process to outlive anyone), and it never outlives this process: it is
    killed here if this function is left early (an exception, Ctrl-C, a SIGTERM turned into
    an exception by the CLI), and it stops by itself when this process dies (`_fit_child`),
    removing `out_dir` (which holds the training text) on the way out.

    Returns:
        `{"lr", "quantization", "model_name"}` as reported by `_fit_and_save`.

    Raises:
        ConfigError: from the child, if training keeps diverging, or if it crashed.
    """
    request = {
        "train_txt": str(train_txt),
        "config": config.to_dict(),
        "out_dir": str(out_dir),
        "parent_pid": os.getpid(),
    }
    result_file = Path(out_dir) / _CHILD_RESULT
    code = "from janitr.baselines.fasttext import _fit_child; _fit_child()"
    child = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(request)], stdin=subprocess.DEVNULL
    )
    try:
        returncode = child.wait()
    finally:
        if child.poll() is None:  # left early: the child goes too
            child.kill()
            child.wait()
    result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else {}
    if returncode == 0 and "fitted" in result:
        return result["fitted"]
    if result.get("error_type") == "ConfigError":
        problems = [ConfigProblem(**p) for p in result.get("problems", ())]
        if problems:
            raise ConfigError(problems=problems, config=FastTextConfig)
        raise ConfigError(result["message"])
    detail = f": {result['error_type']}: {result['message']}" if result else ""
    message = (
        f"fastText crashed while training or quantizing (exit code {returncode}{detail}); "
        "turn it off or try other cutoff/dsub values"
    )
    raise ConfigError(
        problems=[ConfigProblem("quantize", message, ("cutoff", "dsub"))], config=FastTextConfig
    )


#: File in `out_dir` where the child process reports its result (JSON).
_CHILD_RESULT = "fit_result.json"
#: How often the child checks that its parent is alive where the OS cannot tell it (seconds).
_PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def _fit_child() -> None:
    """Entry point of the training child (`fit_in_fresh_process`): argv[1] is the request.

    The training runs in a thread (fastText releases the GIL while it trains); the main
    thread waits for it and watches the parent. When the parent is gone (Linux delivers
    SIGTERM at once through `prctl(PR_SET_PDEATHSIG)`; elsewhere a poll of `getppid` notices
    within `_PARENT_POLL_S`), it removes the parent's temporary folder, which holds the
    training text, and exits without waiting for the training.
    """
    request = json.loads(sys.argv[1])
    parent_pid = int(request["parent_pid"])
    out_dir = Path(request["out_dir"])

    def parent_gone() -> bool:
        return os.getppid() != parent_pid

    def stop(signum, frame) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _set_parent_death_signal(signal.SIGTERM)
    outcome: dict = {}

    def train() -> None:
        try:
            outcome["fitted"] = _fit_and_save(
                request["train_txt"], request["config"], request["out_dir"]
            )
        except Exception as exc:  # reported to the parent, which raises a typed error
            outcome.update(error_type=type(exc).__name__, message=str(exc))
            if isinstance(exc, ConfigError):
                outcome["problems"] = [asdict(p) for p in exc.problems]

    worker = threading.Thread(target=train, name="janitr-fasttext-fit", daemon=True)
    try:
        if parent_gone():  # the parent died before the death signal was set
            raise SystemExit(1)
        worker.start()
        while worker.is_alive():
            worker.join(_PARENT_POLL_S)
            if parent_gone():
                raise SystemExit(1)
    except SystemExit as exc:
        if parent_gone():
            shutil.rmtree(out_dir, ignore_errors=True)
        sys.stderr.flush()
        os._exit(int(exc.code or 1))  # the training thread is inside fastText: do not wait
    from janitr.artifacts import write_json

    write_json(out_dir / _CHILD_RESULT, outcome)
    sys.exit(0 if "fitted" in outcome else 1)


def _set_parent_death_signal(signum: int) -> None:
    """Ask Linux to send `signum` to this process when its parent exits (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the poll in `_fit_child` still works
        pass


def _fit_and_save(train_txt: str, config_dict: dict, out_dir: str) -> dict:
    """Train, quantize (retraining on a NaN codebook) and save; runs in the spawned process."""
    fasttext = fasttext_module()
    config = FastTextConfig.from_dict(config_dict)
    train_txt = Path(train_txt)
    model, lr_used = _train_supervised(fasttext, train_txt, config)
    quant: dict = {"status": "skipped"}
    if config.quantize:
        # A failed quantization leaves the model changed in place (a later quantize may then
        # crash or meet NaN), so every retry starts again from a freshly trained model.
        # fastText's quantizer also meets NaN now and then; the same setting is retried.
        check = _text_lines(train_txt)
        quant = {"status": "failed", "attempts": []}
        retrain = replace(config, lr=lr_used)
        for cutoff, qout in _quantize_options(config):
            for _ in range(QUANTIZE_ATTEMPTS):
                error = _quantize_once(model, config, check, cutoff=cutoff, qout=qout)
                if error is None:
                    quant.update(status="quantized", cutoff=cutoff, dsub=config.dsub, qout=qout)
                    quant["qnorm"] = config.qnorm
                    break
                quant["attempts"].append({"cutoff": cutoff, "qout": qout, "error": error})
                log.warning("quantization (cutoff %d, qout %s) failed: %s", cutoff, qout, error)
                model, _ = _train_supervised(fasttext, train_txt, retrain, attempts=1)
                if "nan" not in error.lower():
                    break  # e.g. a matrix too small: try the next setting
            if quant["status"] == "quantized":
                break
    model_name = "model.ftz" if quant["status"] == "quantized" else "model.bin"
    model.save_model(str(Path(out_dir) / model_name))
    return {"lr": lr_used, "quantization": quant, "model_name": model_name}


def _provenance(path: Path, rows: int) -> dict:
    """The file's name, rows and hash (no absolute path: a bundle does not depend on where
    the data lay, so the same data in another directory gives the same bundle)."""
    return {"file": path.name, "rows": rows, "sha256": sha256_file(path)}


@dataclass
class FittedFastText:
    """A trained (and quantized) fastText model, loaded from the file it was saved to.

    Attributes:
        model: the loaded fastText model, exactly what ships.
        path: its file (`model.ftz`, or `model.bin` unquantized) in the fit's work folder.
        config: the settings, with the learning rate that trained it.
        quantization: what quantization did (status, settings, failed attempts).
        normalization: how texts were normalized for training (and must be for scoring).
        scores: how its heads are read (`runtime.fasttext.scores_for`).
    """

    model: Any
    path: Path
    config: FastTextConfig
    quantization: dict
    normalization: NormalizationConfig
    scores: str

    def predict_heads(self, texts: Sequence[str]) -> np.ndarray:
        """Head probabilities `(N, 2) = [p_scam, p_topic]` of normalized texts."""
        return predict_heads_with(self.model, texts, scores=self.scores)


def fit_fasttext(
    records: Sequence[Record],
    config: FastTextConfig,
    *,
    work_dir: str | Path,
    normalization: NormalizationConfig | None = None,
) -> FittedFastText:
    """Train (and quantize) fastText on `records` in a fresh process.

    Args:
        records: training records (labels and raw texts); with `config.augment_kinds`, one
            obfuscated copy of each is added (`augment_copies`).
        config: training and quantization settings.
        work_dir: folder for the training text and the model file (the caller's to remove).
        normalization: text normalization (default: the config's `strip_urls` and
            `fold_confusables`).

    Returns:
        The `FittedFastText`, reloaded from its saved file.

    Raises:
        ConfigError: if training diverges (NaN; lower --lr).
        MissingDependencyError: if fasttext is not installed.
    """
    fasttext = fasttext_module()
    norm = normalization or NormalizationConfig(
        strip_urls=config.strip_urls, fold_confusables=config.fold_confusables
    )
    work_dir = Path(work_dir)
    train_txt = work_dir / "train.txt"
    with open(train_txt, "w", encoding="utf-8", newline="\n") as handle:
        for r in records:
            handle.write(training_line(r.labels, r.text, normalization=norm) + "\n")
        if config.augment_kinds:
            from janitr.data.obfuscate import augment_copies

            for i, text in augment_copies(records, kinds=config.augment_kinds, seed=config.seed):
                handle.write(training_line(records[i].labels, text, normalization=norm) + "\n")
    log.info(
        "training fastText on %d rows (%d epochs, dim %d, bucket %d)",
        len(records), config.epoch, config.dim, config.bucket,
    )  # fmt: skip
    started = time.perf_counter()
    fitted = fit_in_fresh_process(train_txt, config, work_dir)
    if fitted["lr"] != config.lr:
        config = replace(config, lr=fitted["lr"])  # the bundle records the rate used
    log.info("fastText trained and quantized in %.1fs", time.perf_counter() - started)
    path = work_dir / fitted["model_name"]
    model = fasttext.load_model(str(path))
    return FittedFastText(
        model=model, path=path, config=config, quantization=fitted["quantization"],
        normalization=norm, scores=scores_for(model),
    )  # fmt: skip


def tune_fasttext(
    fitted: FittedFastText, splits: dict[str, list[Record]], thresholds: ThresholdPolicy
) -> dict:
    """Thresholds of the model as saved, on the rows of `thresholds.tune_splits`.

    Returns:
        `ThresholdPolicy.tune`'s result (`thresholds`, `tuning`); disabled classes are
        logged as warnings.
    """
    tune = [r for s in thresholds.tune_splits for r in splits[s]]
    heads = fitted.predict_heads([fitted.normalization.apply(r.text) for r in tune])
    tuned = thresholds.tune([collapse(r.labels) for r in tune], heads)
    for name in tuned["tuning"]["disabled"]:
        log.warning(
            "no %s threshold reaches a positive %s on %s within the constraints: the class "
            "is disabled (never predicted); use more tuning data or a looser target",
            name, "recall" if name == SCAM else "F1", thresholds.tune_on,
        )  # fmt: skip
    return tuned


def write_fasttext_bundle(
    fitted: FittedFastText,
    tuned: dict,
    *,
    out_dir: str | Path,
    data_dir: Path,
    splits: dict[str, list[Record]],
    thresholds: ThresholdPolicy,
    report_split: str | None = None,
    read: Sequence[str] | None = None,
    tuning_data: str | None = None,
    lineage: dict | None = None,
) -> Bundle:
    """The fastText bundle: the model file, thresholds, provenance of every split read, and
    (when `report_split` is given) a report on its rows not seen in training or tuning.

    `read` names the split files the model learned from (default train and the tuning
    splits), `tuning_data` describes the tuning rows (default `thresholds.tune_on`), and
    `lineage` (a refit's: the measured bundle, the data, the out-of-fold tuning) is stored as
    `model.refit`.

    Raises:
        ConfigError: if the model is unquantized and larger than `MAX_UNQUANTIZED_BYTES`.
    """
    quant, config, model_name = fitted.quantization, fitted.config, fitted.path.name
    size = os.path.getsize(fitted.path)
    if model_name == "model.bin" and size > MAX_UNQUANTIZED_BYTES:
        message = (
            f"the unquantized model is {size / 1e6:.0f} MB (quantization: "
            f"{quant['status']}); lower it or keep quantization on"
        )
        raise_problems(config, [ConfigProblem("bucket", message, ("quantize",))])
    read = list(read or ["train", *thresholds.tune_splits])
    data = {s: _provenance(_split_file(data_dir, s), len(splits[s])) for s in read}
    seen = {s: seen_entry([r.id for r in splits[s]], [r.text for r in splits[s]]) for s in read}
    report = None
    if report_split:
        report = unseen_report(
            report_split, splits[report_split], seen, fitted.predict_heads,
            fitted.normalization, thresholds=tuned["thresholds"], seed=config.seed,
        )  # fmt: skip
    model_info = {
        "file": model_name,
        "framework": f"fasttext {getattr(fasttext_module(), '__version__', '0.9.3')}",
        "config": {**config.to_dict(), **thresholds.record()},
        "labels": [LABEL_PREFIX + c for c in CLASSES],
        "quantization": quant,
        "scores": fitted.scores,
        "size_bytes": size,
        "report": report,
    }
    if lineage is not None:
        model_info["refit"] = lineage
    tuning = {"data": tuning_data or thresholds.tune_on, "model_file": model_name,
              **tuned["tuning"]}  # fmt: skip
    bundle = write_bundle(
        out_dir, kind="fasttext", files={model_name: fitted.path},
        thresholds=tuned["thresholds"], tuning=tuning, normalization=fitted.normalization,
        data=data, seen=seen, model=model_info,
    )  # fmt: skip
    log.info("wrote %s (%s, %.1f KB)", out_dir, model_name, size / 1024)
    return bundle


def train_fasttext(
    *,
    data_dir: str | Path,
    out_dir: str | Path,
    config: FastTextConfig,
    thresholds: ThresholdPolicy = DEFAULT_POLICY,
) -> Bundle:
    """Train, quantize, tune and bundle a fastText baseline: `fit_fasttext`,
    `tune_fasttext` and `write_fasttext_bundle` on the splits of `data_dir`.

    Args:
        data_dir: directory with `train.jsonl` and the tuning split(s) (`calib.jsonl`,
            `valid.jsonl`); `valid.jsonl`, when present and not used for tuning, gets a
            metrics report stored in the bundle (`model.report`).
        out_dir: bundle directory to write (replaced atomically if it exists).
        config: training and quantization settings.
        thresholds: the threshold policy (targets, rule, tuning split(s)); recorded with
            the config in the bundle.

    Returns:
        the written, verified Bundle (`bundle.manifest["model"]["report"]` holds the
        evaluation on valid, if any).

    Raises:
        DataError: on missing split files or bad rows (all listed at once).
        ConfigError: if training diverges (NaN; lower --lr) or the unquantized fallback
            would be too large to bundle.
        MissingDependencyError: if fasttext is not installed.
    """
    fasttext_module()  # a missing package is reported before any data is read
    data_dir = Path(data_dir)
    tune_splits = thresholds.tune_splits
    report_split = "valid" if "valid" not in tune_splits else None
    wanted = ["train", *tune_splits]
    if report_split and _split_file(data_dir, report_split).is_file():
        wanted.append(report_split)
    else:
        report_split = None
    splits = _read_splits(data_dir, wanted)
    tune = [r for s in tune_splits for r in splits[s]]
    require_rows(splits["train"], path=_split_file(data_dir, "train"), role="training",
                 kinds=("scam", "topic_crypto", "not scam"))  # fmt: skip
    require_rows(tune, path=" + ".join(str(_split_file(data_dir, s)) for s in tune_splits),
                 role="threshold tuning", kinds=("scam", "not scam"))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="janitr-fasttext-") as tmp:
        fitted = fit_fasttext(splits["train"], config, work_dir=tmp)
        tuned = tune_fasttext(fitted, splits, thresholds)
        return write_fasttext_bundle(
            fitted, tuned, out_dir=out_dir, data_dir=data_dir, splits=splits,
            thresholds=thresholds, report_split=report_split,
        )  # fmt: skip
