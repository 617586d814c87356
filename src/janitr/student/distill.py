"""Distillation of the tiny student from the cached, calibrated teacher (`janitr distill`).

The teacher is never run here: every target comes from the provenance-checked cache
(`cache.py`), which is refused unless its sidecar matches the data being trained on.

Loss per batch (`distill_loss`), with T the distillation temperature:

    total = alpha * hard + (1 - alpha) * T^2 * soft + hidden_weight * hidden
            + group_weight * group
    hard  = class-weighted CE(scam head, y_scam) + BCE(topic logit, y_topic; pos_weight)
    soft  = KL(softmax(teacher_scam / T) || softmax(student_scam / T))
            + BCE(student_topic / T, sigmoid(teacher_topic / T))
    hidden = mean over student layers i of MSE(student CLS_i, P_i(teacher CLS_map(i)))
    group = mean over labeled rows and scam kinds k of BCE(G(CLS)_k, y_k; pos_weight_k)

On temperatures: the cache holds *calibrated* teacher logits (raw logits divided by the
per-head calibration temperature, so the teacher's probabilities are honest at T = 1). We
distill from those and soften them once more by T. This is deliberate, not the original's
accident (UPSTREAM.md §12.13): calibration fixes the teacher's confidence, T only widens
both distributions equally to expose the teacher's "dark knowledge", and the T^2 factor
restores the gradient scale of that second softening only. Divide T by the calibration
temperature yourself if you want an effective softening of the raw logits instead.

Hard negatives (`hard_negatives`, off by default): the labeled training rows without a scam
label that the teacher targets score most scam-like are mined from the cache and repeated
`hard_negative_copies` more times per epoch, as the original's `mine_hard_negatives` did for
fastText. The targets are the blend the student learns from, so on train rows the linear
share is out of fold: a high score there is a real near-miss, not memory.

Hidden-state matching goes through learned projections P_i = Linear(teacher_H -> student_H),
one per student layer; they exist only during training and are not saved with the student.
Student layer i is matched to cached teacher layer `layer_map(L_s, L_t)[i]`, which works for
ANY pair of depths (the original crashed with an IndexError for 6 student layers against a
4-layer cache, UPSTREAM.md §12.1).

Group heads (`group_weight` > 0, docs/LEVERS.md "Finer supervision"): one auxiliary logit
per scam kind of the training labels (`janitr.data.labels.scam_groups`: fraud, spam_promo,
`other` only where it occurs), G = Linear(student H -> kinds) on the last layer's [CLS]
vector, trained on gold kinds of labeled rows only. Like the projections, G exists only
during training: the student's scam head stays the learned 2-way head, its saved weights
and exported graph (ids, mask -> p_scam, p_topic) are those of a student without groups,
and the report records the kinds and, per epoch, the validation AP of G's noisy-or as a
scam score next to the scam head's.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from janitr.config import (
    Config,
    ConfigProblem,
    non_negative,
    option,
    positive_ints,
    raise_problems,
)
from janitr.data.obfuscate import DEFAULT_AUGMENT_KINDS, augment_kinds_problem
from janitr.errors import ConfigError, ProvenanceError, require
from janitr.teacher.batching import bucketed_batches, collate
from janitr.teacher.groups import group_kinds, group_loss, group_pos_weight, group_targets

log = logging.getLogger(__name__)

REPORT_FILE = "distill_report.json"
CONFIG_FILE = "distill_config.json"
#: Validation metrics a run can select its best epoch by (higher is better for all).
SELECT_METRICS = ("scam_ap", "macro_ap", "neg_loss")


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """Which cached teacher layer each student layer matches: 0-based slots into the cache.

    Student layer i (1-based) sits at relative depth i / L_s and is matched to the cached
    layer at the same relative depth, `round_half_up(i * L_t / L_s)` (at least 1). The last
    student layer always meets the last cached layer; depths need not be equal.

    >>> layer_map(4, 4)
    [0, 1, 2, 3]
    >>> layer_map(6, 4)
    [0, 0, 1, 2, 2, 3]
    >>> layer_map(2, 4)
    [1, 3]
    >>> layer_map(1, 4)
    [3]

    Raises:
        ConfigError: if either depth is < 1.
    """
    if student_layers < 1 or teacher_layers < 1:
        raise ConfigError(
            f"layer_map needs depths >= 1, got student_layers={student_layers}, "
            f"teacher_layers={teacher_layers}"
        )
    out = []
    for i in range(1, student_layers + 1):
        j = math.floor(i * teacher_layers / student_layers + 0.5)
        out.append(min(max(j, 1), teacher_layers) - 1)
    return out


@dataclass(frozen=True)
class DistillConfig(Config):
    """Settings of `distill_student` (`janitr distill` flags). Validated on construction."""

    epochs: int = option(10, help="passes over the training data")
    batch_size: int = option(32, help="training texts per step")
    eval_batch_size: int = option(128, help="texts per forward pass when scoring validation data")
    lr: float = option(
        3e-4, help="peak AdamW learning rate (linear warmup, then linear decay to 0)"
    )
    warmup_ratio: float = option(0.1, help="share of the total steps spent warming up")
    weight_decay: float = option(
        0.01, help="AdamW weight decay (not applied to biases and LayerNorm)"
    )
    temperature: float = option(
        3.0, help="distillation temperature T (applied on top of calibrated logits)"
    )
    alpha: float = option(
        0.5, help="weight of the hard-label loss; 1 - alpha goes to the soft loss"
    )
    hidden_weight: float = option(
        0.2, help="weight (beta) of hidden-state matching; 0 turns it off"
    )
    # Finer supervision (docs/LEVERS.md): training-only heads on the scam kinds.
    group_weight: float = option(
        0.0,
        identity_default=True,
        help="weight of the auxiliary group heads' BCE loss (one logit per scam kind: "
        "fraud, spam_promo, other; gold labels of labeled rows); training only, the student "
        "and its export are unchanged; 0 turns them off",
    )
    grad_clip: float = option(1.0, help="max gradient norm (0 = no clipping)")
    seed: int = option(42, help="seeds weights, dropout and data order (same seed, same weights)")
    threads: int | None = option(None, help="torch CPU threads (default: torch's)")
    max_steps: int | None = option(None, help="stop after N optimizer steps (smoke runs)")
    select_metric: str = option(
        "scam_ap",
        choices=SELECT_METRICS,
        help="validation metric that picks the best epoch: scam_ap (average precision of the "
        "scam head: threshold-free, and the ranking is what an FPR-capped threshold uses), "
        "macro_ap (mean AP of both heads) or neg_loss (lowest validation distill loss)",
    )
    max_unk_rate: float = option(
        0.05, help="refuse a tokenizer that turns more training tokens into [UNK]"
    )
    augment_kinds: tuple[str, ...] = option(
        DEFAULT_AUGMENT_KINDS,
        metavar="K,K",
        help="add one obfuscated copy of each training row (kind drawn per row from these; "
        "janitr obfuscate --help lists them) with the row's labels and teacher outputs, so "
        "the student learns to read through evasion and noise; empty: no copies",
    )
    hard_negatives: int = option(
        0,
        identity_default=True,
        help="mine the N labeled training rows without a scam label that the teacher "
        "targets score most scam-like, and train on extra copies of them (the original's "
        "mine_hard_negatives step; their ids go to distill_report.json); 0: off",
    )
    hard_negative_copies: int = option(
        2, identity_default=True, help="extra copies of each mined hard negative per epoch"
    )
    progress: bool = option(True, flag="--quiet", help="no progress bars")

    def __post_init__(self) -> None:
        problems = []
        object.__setattr__(self, "augment_kinds", tuple(self.augment_kinds))
        if problem := augment_kinds_problem(self.augment_kinds):
            problems.append(problem)
        problems += positive_ints(
            self, ("epochs", "batch_size", "eval_batch_size", "hard_negative_copies")
        )
        if self.hard_negatives < 0:
            problems.append(
                ConfigProblem("hard_negatives", f"must be >= 0 (0: off), got {self.hard_negatives}")
            )
        if self.lr <= 0:
            problems.append(ConfigProblem("lr", f"must be > 0, got {self.lr}"))
        if not 0.0 <= self.warmup_ratio < 1.0:
            problems.append(
                ConfigProblem("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}")
            )
        if self.temperature <= 0:
            problems.append(ConfigProblem("temperature", f"must be > 0, got {self.temperature}"))
        if not 0.0 <= self.alpha <= 1.0:
            problems.append(ConfigProblem("alpha", f"must be in [0, 1], got {self.alpha}"))
        if self.hidden_weight < 0:
            problems.append(
                ConfigProblem("hidden_weight", f"must be >= 0, got {self.hidden_weight}")
            )
        problems += non_negative(self, ("group_weight",))
        for name in ("weight_decay", "grad_clip"):
            if getattr(self, name) < 0:
                problems.append(ConfigProblem(name, f"must be >= 0, got {getattr(self, name)}"))
        if self.threads is not None and self.threads < 1:
            problems.append(ConfigProblem("threads", f"must be >= 1, got {self.threads}"))
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(ConfigProblem("max_steps", f"must be >= 1, got {self.max_steps}"))
        if self.select_metric not in SELECT_METRICS:
            problems.append(
                ConfigProblem(
                    "select_metric",
                    f"must be one of {SELECT_METRICS}, got {self.select_metric!r}",
                )
            )
        raise_problems(self, problems)

    def to_dict(self) -> dict:
        """The settings that shape the student (`progress`, display only, is left out so a
        quiet and a verbose run write the same files)."""
        out = asdict(self)
        del out["progress"]
        out["augment_kinds"] = list(self.augment_kinds)
        return out


# --- losses (small pure functions) -----------------------------------------------------------


def hard_loss(
    scam_logits,
    topic_logits,
    y_scam,
    y_topic,
    *,
    scam_class_weights=None,
    topic_pos_weight=None,
    labeled=None,
):
    """Class-weighted CE on the scam head + BCE (with pos_weight) on the topic head.

    Shapes: scam_logits (B, 2), topic_logits (B,), y_scam (B,) int64, y_topic (B,) float.
    `labeled` (B,) bool marks the rows with gold labels (default: all); the others (soft-
    label-only rows) are left out of both means, and a batch without any gives 0.
    """
    torch = require("torch", extra="train")
    F = require("torch.nn.functional", extra="train")

    if labeled is None:
        ce = F.cross_entropy(scam_logits, y_scam, weight=scam_class_weights)
        bce = F.binary_cross_entropy_with_logits(topic_logits, y_topic, pos_weight=topic_pos_weight)
        return ce + bce
    mask = labeled.to(scam_logits.dtype)
    if not bool(labeled.any()):
        return (scam_logits.sum() + topic_logits.sum()) * 0.0
    ce = F.cross_entropy(scam_logits, y_scam, weight=scam_class_weights, reduction="none")
    row_weight = mask if scam_class_weights is None else mask * scam_class_weights[y_scam]
    bce = F.binary_cross_entropy_with_logits(
        topic_logits, y_topic, pos_weight=topic_pos_weight, reduction="none"
    )
    return (ce * mask).sum() / row_weight.sum() + (bce * mask).sum() / torch.clamp(
        mask.sum(), min=1.0
    )


def soft_loss(scam_logits, topic_logits, teacher_scam, teacher_topic, *, temperature: float):
    """KL(teacher || student) on the scam head and BCE to the teacher's topic probability,
    both at temperature T (without the T^2 factor; `distill_loss` applies it)."""
    torch = require("torch", extra="train")
    F = require("torch.nn.functional", extra="train")

    t = temperature
    kl = F.kl_div(
        F.log_softmax(scam_logits / t, dim=-1),
        F.softmax(teacher_scam / t, dim=-1),
        reduction="batchmean",
    )
    bce = F.binary_cross_entropy_with_logits(topic_logits / t, torch.sigmoid(teacher_topic / t))
    return kl + bce


def hidden_loss(student_cls, teacher_cls, projections, mapping: Sequence[int]):
    """Mean over student layers of MSE(student CLS_i, P_i(teacher CLS_{mapping[i]})).

    Shapes: student_cls (B, L_s, H_s), teacher_cls (B, L_t, H_t); `projections[i]` maps
    H_t -> H_s; `mapping` is `layer_map(L_s, L_t)`.
    """
    F = require("torch.nn.functional", extra="train")

    teacher_cls = teacher_cls.float()
    losses = [
        F.mse_loss(student_cls[:, i], projections[i](teacher_cls[:, j]))
        for i, j in enumerate(mapping)
    ]
    return sum(losses) / len(losses)


@dataclass
class LossParts:
    """The total loss and its (unweighted) parts."""

    total: object
    hard: object
    soft: object
    hidden: object | None = None
    group: object | None = None


def distill_loss(
    scam_logits,
    topic_logits,
    teacher_scam,
    teacher_topic,
    y_scam,
    y_topic,
    *,
    temperature: float,
    alpha: float,
    scam_class_weights=None,
    topic_pos_weight=None,
    hidden=None,
    hidden_weight: float = 0.0,
    labeled=None,
    group=None,
    group_weight: float = 0.0,
) -> LossParts:
    """alpha * hard + (1 - alpha) * T^2 * soft + hidden_weight * hidden
    + group_weight * group.

    Args:
        scam_logits: student scam logits (B, 2).
        topic_logits: student topic logits (B,).
        teacher_scam: calibrated teacher scam logits (B, 2).
        teacher_topic: calibrated teacher topic logits (B,).
        y_scam: gold scam targets (B,) int64; y_topic: gold topic targets (B,) float.
        temperature: distillation temperature T.
        alpha: hard-loss weight.
        scam_class_weights: (2,) CE weights; topic_pos_weight: (1,) BCE pos_weight.
        hidden: a precomputed `hidden_loss` (scalar) or None.
        hidden_weight: its weight.
        labeled: (B,) bool, rows with gold labels (default: all); see `hard_loss`.
        group: a precomputed `group_loss` (scalar) or None.
        group_weight: its weight.
    """
    hard = hard_loss(
        scam_logits,
        topic_logits,
        y_scam,
        y_topic,
        scam_class_weights=scam_class_weights,
        topic_pos_weight=topic_pos_weight,
        labeled=labeled,
    )
    soft = soft_loss(
        scam_logits, topic_logits, teacher_scam, teacher_topic, temperature=temperature
    )
    total = alpha * hard + (1.0 - alpha) * temperature**2 * soft
    if hidden is not None and hidden_weight:
        total = total + hidden_weight * hidden
    if group is not None and group_weight:
        total = total + group_weight * group
    return LossParts(total=total, hard=hard, soft=soft, hidden=hidden, group=group)


# --- data -------------------------------------------------------------------------------------


@dataclass
class _Split:
    """One split, tokenized and aligned with its cache rows."""

    ids: list[np.ndarray]  # token ids per row (variable length)
    y_scam: np.ndarray  # (N,) int64
    y_topic: np.ndarray  # (N,) float32
    t_scam: np.ndarray  # (N, 2) float32 calibrated teacher logits
    t_topic: np.ndarray  # (N,) float32
    hidden: np.ndarray  # (N, L_t, H_t) float16
    labeled: np.ndarray  # (N,) bool: has gold labels (False: soft-label-only row)
    y_groups: np.ndarray  # (N, K) float32: gold scam kinds (`_DistillData.kinds`), 0 if none

    @property
    def rows(self) -> int:
        return len(self.ids)


def _collate(split: _Split, rows: np.ndarray) -> dict:
    """One training batch of `split`: ids/mask (B, T) int64 padded to the longest row, with
    the rows' targets, teacher logits and hidden states."""
    torch = require("torch", extra="train")

    input_ids, attention_mask = collate(split.ids, rows)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "y_scam": torch.from_numpy(split.y_scam[rows]),
        "y_topic": torch.from_numpy(split.y_topic[rows]),
        "t_scam": torch.from_numpy(split.t_scam[rows]),
        "t_topic": torch.from_numpy(split.t_topic[rows]),
        "hidden": torch.from_numpy(split.hidden[rows].astype(np.float32)),
        "labeled": torch.from_numpy(split.labeled[rows]),
        "y_groups": torch.from_numpy(split.y_groups[rows]),
    }


def _row_arrays(split: _Split) -> dict[str, np.ndarray]:
    """The split's per-row arrays (every field but the token ids), by field name."""
    return {f.name: getattr(split, f.name) for f in fields(split) if f.name != "ids"}


def _concat(a: _Split, b: _Split) -> _Split:
    """Rows of `a` then rows of `b`."""
    arrays = {k: np.concatenate([v, getattr(b, k)]) for k, v in _row_arrays(a).items()}
    return _Split(ids=a.ids + b.ids, **arrays)


def _select(split: _Split, rows: np.ndarray) -> _Split:
    """The given rows of `split`, in the given order (repeats allowed)."""
    arrays = {k: v[rows] for k, v in _row_arrays(split).items()}
    return _Split(ids=[split.ids[i] for i in rows], **arrays)


def _augmented(split: _Split, records, *, tok, config: DistillConfig, normalization) -> _Split:
    """Obfuscated copies of the training rows (`augment_copies`), each with its source row's
    gold labels, teacher logits and hidden states: the teacher's reading of the plain text
    is the target for the disguised one. Copies are normalized like every text."""
    from janitr.data.obfuscate import augment_copies

    copies = augment_copies(records, kinds=config.augment_kinds, seed=config.seed)
    src = np.array([i for i, _ in copies], dtype=np.int64)
    texts = [normalization.apply(text) for _, text in copies]
    ids = [np.asarray(e.ids, dtype=np.int64) for e in tok.encode_batch(texts)]
    return replace(_select(split, src), ids=ids)


def target_scam_probability(scam_logits: np.ndarray) -> np.ndarray:
    """p_scam of 2-way scam logits `(N, 2)` (the softmax's scam column), in float64."""
    logits = np.asarray(scam_logits, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))


def mine_hard_negatives(
    scam_logits: np.ndarray, is_scam: np.ndarray, labeled: np.ndarray, count: int
) -> np.ndarray:
    """Indices of the hard negatives among the rows: rows with gold labels and no scam
    label, the `count` whose target scam logits are most scam-like first (ties by row
    order). These are the negatives a student most needs to see again to keep its
    false-positive rate down.

    Args:
        scam_logits: `(N, 2)` teacher-target scam logits (a cache's `scam_logits`).
        is_scam: `(N,)` gold scam label (0/1).
        labeled: `(N,)` bool, rows that have gold labels (soft-label-only rows are never mined).
        count: how many to return at most.
    """
    p_scam = target_scam_probability(scam_logits)
    negatives = np.flatnonzero(np.asarray(labeled, dtype=bool) & (np.asarray(is_scam) == 0))
    order = np.argsort(-p_scam[negatives], kind="stable")
    return negatives[order[:count]]


def as_records(value, name: str, *, require_labels: bool = True):
    from janitr.data.records import read_records

    if isinstance(value, str | Path):
        return read_records(value, require_labels=require_labels)
    records = list(value)
    if not records:
        raise ConfigError(f"{name}: no rows")
    return records


# --- the run: setup, train, save -----------------------------------------------------------


@dataclass
class DistillResult:
    """What `distill_student` produced."""

    student_dir: Path
    best_epoch: int
    best_metric: float
    select_metric: str
    parameters: int
    history: list[dict] = field(default_factory=list)


def distill_student(
    *,
    train,
    valid,
    cache_train: str | Path,
    cache_valid: str | Path,
    tokenizer_path: str | Path,
    out_dir: str | Path,
    student_config=None,
    config: DistillConfig | None = None,
    normalization=None,
    overwrite: bool = True,
    extra=None,
    cache_extra: str | Path | None = None,
) -> DistillResult:
    """Distill a student from the teacher cache; writes the best epoch's student to `out_dir`.

    Args:
        train: training records (`janitr.data.records.Record`s) or a JSONL path.
        valid: validation records or a JSONL path (selects the best epoch).
        cache_train: teacher cache of `train` (directory holding `train.safetensors`, or the
            file); refused unless its sidecar's split hash matches `train`.
        cache_valid: teacher cache of `valid`, likewise.
        tokenizer_path: the student's `tokenizer.json` (or its directory).
        out_dir: student directory to write (model.safetensors, student_config.json,
            tokenizer.json, distill_config.json, distill_report.json).
        student_config: `StudentConfig` (default: 4 x 192; vocab_size must match the tokenizer).
        config: `DistillConfig`.
        normalization: `NormalizationConfig` the texts are normalized with (default: plain).
        overwrite: replace an existing `out_dir`.
        extra: optional rows without gold labels (records or JSONL path, e.g. the cleaned
            unlabeled corpus): trained on with the soft and hidden losses only.
        cache_extra: their teacher cache (split name `unlabeled`).

    Returns:
        A `DistillResult` (best epoch, its validation metric, the per-epoch history).

    Raises:
        ProvenanceError: if a cache does not match its split, or the train and valid caches
            come from different teachers, calibrations or layers.
        TokenizerError: if the tokenizer's vocabulary differs from the student's or its UNK
            rate on the training texts is too high.
        ConfigError: on invalid settings.
    """
    require("torch", extra="train")  # before any data is read: a missing extra is one line
    from janitr.data.normalize import NormalizationConfig
    from janitr.student.model import StudentConfig

    config = config or DistillConfig()
    student_config = student_config or StudentConfig()
    normalization = normalization or NormalizationConfig()
    records = {"train": as_records(train, "train"), "valid": as_records(valid, "valid")}
    cache_paths = {"train": cache_train, "valid": cache_valid}
    if extra is not None:
        if cache_extra is None:
            raise ConfigError("extra rows need their teacher cache (cache_extra)")
        records["unlabeled"] = as_records(extra, "extra", require_labels=False)
        cache_paths["unlabeled"] = cache_extra
    data = _load_data(
        records, cache_paths, tokenizer_path=tokenizer_path, student_config=student_config,
        config=config, normalization=normalization,
    )  # fmt: skip
    with _torch_settings(config.threads):
        run = _setup(data, student_config, config)
        history, best = _fit(run, data, config)
        parameters = run.model.count_parameters()
        _save(
            run, data, out_dir, best=best, history=history, tokenizer_path=tokenizer_path,
            student_config=student_config, config=config, normalization=normalization,
            overwrite=overwrite,
        )  # fmt: skip
    return DistillResult(
        student_dir=Path(out_dir),
        best_epoch=best["epoch"],
        best_metric=float(best["metric"]),
        select_metric=config.select_metric,
        parameters=parameters,
        history=history,
    )


@contextlib.contextmanager
def _torch_settings(threads: int | None):
    """Deterministic algorithms (and `threads` torch threads, when given) inside the block;
    the caller's settings are restored after it."""
    torch = require("torch", extra="train")
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


#: Sidecar fields that must agree between the caches of one distillation.
_CACHE_IDENTITY = ("teacher_id", "calibration", "seeds", "layer_indices", "label_map_hash", "mix")


@dataclass
class _DistillData:
    """The splits, tokenized and aligned with their checked teacher caches."""

    records: dict  # split name -> records
    hashes: dict  # split name -> split hash the caches were checked against
    caches: dict  # split name -> TeacherCache (all rows)
    train: _Split  # train rows, their obfuscated copies, the hard negatives' copies, then
    valid: _Split  # the unlabeled rows when given
    augmented: int = 0  # obfuscated copies of train rows in `train`
    hard_negatives: list[dict] = field(default_factory=list)  # mined rows: id, target p_scam
    kinds: tuple[str, ...] = ()  # scam kinds of the group heads (columns of `y_groups`)


def _load_data(
    records: dict, cache_paths: dict, *, tokenizer_path, student_config, config, normalization
) -> _DistillData:
    """Check every cache against its split and the train cache, tokenize every split."""
    from janitr.data.labels import targets
    from janitr.student.tokenizer import load_tokenizer
    from janitr.teacher.cache import read_cache, split_hash

    strip = normalization.strip_urls
    hashes = {name: split_hash(recs, strip_urls=strip) for name, recs in records.items()}
    caches = {
        name: read_cache(path, expect={"split": name, "split_hash": hashes[name]})
        for name, path in cache_paths.items()
    }
    for name in caches:
        diffs = [
            k
            for k in _CACHE_IDENTITY
            if caches["train"].sidecar.get(k) != caches[name].sidecar.get(k)
        ]
        if caches["train"].hidden_size != caches[name].hidden_size:
            diffs.append("hidden_size")
        if diffs:
            raise ProvenanceError(
                f"the train and {name} teacher caches differ in {diffs}: they come "
                "from different teachers or settings; rebuild them with the same "
                "teacher bundle"
            )
    texts = {name: [normalization.apply(r.text) for r in recs] for name, recs in records.items()}
    tok = load_tokenizer(
        tokenizer_path,
        expected_vocab_size=student_config.vocab_size,
        max_unk_rate=config.max_unk_rate,
        sample_texts=texts["train"],
    )
    tok.enable_truncation(student_config.max_length)
    tok.no_padding()
    kinds = group_kinds(records["train"]) if config.group_weight > 0 else ()
    splits: dict[str, _Split] = {}
    for name, recs in records.items():
        cache = caches[name].select([r.id for r in recs])
        labeled = name != "unlabeled"
        gold = np.zeros((len(recs), 2))  # soft-label-only rows: placeholders, masked out
        groups = np.zeros((len(recs), len(kinds)), dtype=np.float32)  # likewise
        if labeled:
            gold = np.array([(t.is_scam, t.is_topic) for t in (targets(r.labels) for r in recs)])
            groups = group_targets(recs, kinds)
        splits[name] = _Split(
            ids=[np.asarray(e.ids, dtype=np.int64) for e in tok.encode_batch(texts[name])],
            y_scam=gold[:, 0].astype(np.int64),
            y_topic=gold[:, 1].astype(np.float32),
            t_scam=np.asarray(cache.scam_logits, dtype=np.float32),
            t_topic=np.asarray(cache.topic_logits, dtype=np.float32),
            hidden=cache.hidden,
            labeled=np.full(len(recs), labeled),
            y_groups=groups,
        )
    train_split = splits["train"]
    if config.augment_kinds:
        train_split = _concat(
            train_split,
            _augmented(
                train_split, records["train"], tok=tok, config=config, normalization=normalization
            ),
        )
    augmented = train_split.rows - splits["train"].rows
    train = splits["train"]
    mined = mine_hard_negatives(train.t_scam, train.y_scam, train.labeled, config.hard_negatives)
    if len(mined):
        repeats = np.tile(mined, config.hard_negative_copies)
        train_split = _concat(train_split, _select(train, repeats))
    if "unlabeled" in splits:
        train_split = _concat(train_split, splits["unlabeled"])
    p_scam = target_scam_probability(train.t_scam)
    hard = [{"id": records["train"][i].id, "target_p_scam": float(p_scam[i])} for i in mined]
    return _DistillData(
        records, hashes, caches, train_split, splits["valid"], augmented, hard, kinds
    )


@dataclass
class _DistillRun:
    """The training state: student, projections, optimizer, schedule, loss weights."""

    model: Any
    projections: Any  # ModuleList of Linear(teacher H -> student H), one per student layer
    optimizer: Any
    scheduler: Any
    class_weights: Any  # (2,) scam CE weights
    pos_weight: Any  # (1,) topic BCE positive weight
    mapping: list[int]  # student layer -> cache slot
    total_steps: int
    rng: np.random.Generator  # batch order
    config: DistillConfig
    step: int = 0
    group_head: Any = None  # Linear(student H -> kinds), training only; None: no groups
    group_pos_weight: Any = None  # (K,) BCE positive weight per kind
    group_kinds: tuple[str, ...] = ()  # the kind of each group logit

    def heads(self, batch: dict, *, hidden: bool):
        """Scam (B, 2) and topic (B,) logits, the layer CLS states (B, L, H) when `hidden`
        or groups need them (else None), and the group logits (B, K) or None."""
        scam, topic, layers = self.model.forward_with_hidden(
            batch["input_ids"],
            batch["attention_mask"],
            hidden=hidden or self.group_head is not None,
        )
        groups = None
        if self.group_head is not None:
            # layers[:, -1] is the last layer's [CLS], the scam head's input before dropout.
            groups = self.group_head(self.model.dropout(layers[:, -1]))  # (B, K)
        return scam, topic, layers, groups

    def loss_of(self, batch: dict, *, with_hidden: bool) -> LossParts:
        """The distill loss of one batch (hidden-state matching only when training)."""
        config = self.config
        use_hidden = with_hidden and config.hidden_weight > 0
        scam, topic, layers, groups = self.heads(batch, hidden=use_hidden)
        hid = (
            hidden_loss(layers, batch["hidden"], self.projections, self.mapping)
            if use_hidden
            else None
        )
        grp = None
        if groups is not None:
            grp = group_loss(
                groups, batch["y_groups"], pos_weight=self.group_pos_weight,
                labeled=batch["labeled"],
            )  # fmt: skip
        return distill_loss(
            scam,
            topic,
            batch["t_scam"],
            batch["t_topic"],
            batch["y_scam"],
            batch["y_topic"],
            temperature=config.temperature,
            alpha=config.alpha,
            scam_class_weights=self.class_weights,
            topic_pos_weight=self.pos_weight,
            hidden=hid,
            hidden_weight=config.hidden_weight,
            labeled=batch["labeled"],
            group=grp,
            group_weight=config.group_weight,
        )


def _setup(data: _DistillData, student_config, config: DistillConfig) -> _DistillRun:
    """Seeded student and projections, class weights of the labeled rows, AdamW with linear
    warmup and decay."""
    torch = require("torch", extra="train")
    from janitr.student.model import build_model

    train_split = data.train
    hidden_size = data.caches["train"].hidden_size
    torch.manual_seed(config.seed)
    model = build_model(student_config)
    projections = torch.nn.ModuleList(
        torch.nn.Linear(hidden_size, student_config.hidden) for _ in range(student_config.layers)
    )
    n = int(train_split.labeled.sum())
    n_scam = int(train_split.y_scam[train_split.labeled].sum())
    n_topic = int(train_split.y_topic[train_split.labeled].sum())
    class_weights = torch.tensor(
        [n / (2 * max(n - n_scam, 1)), n / (2 * max(n_scam, 1))], dtype=torch.float32
    )
    pos_weight = torch.tensor([(n - n_topic) / max(n_topic, 1)], dtype=torch.float32)
    params = list(model.named_parameters()) + [
        (f"proj.{k}", p) for k, p in projections.named_parameters()
    ]
    group_head = group_weights = None
    if data.kinds:  # built after the rest, so a run without groups draws the same weights
        group_head = torch.nn.Linear(student_config.hidden, len(data.kinds))
        group_weights = torch.from_numpy(
            group_pos_weight(train_split.y_groups[train_split.labeled])
        )
        params += [(f"group.{k}", p) for k, p in group_head.named_parameters()]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for _, p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
            {"params": [p for _, p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=config.lr,
    )
    total_steps = config.epochs * math.ceil(train_split.rows / config.batch_size)
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    warmup = int(config.warmup_ratio * total_steps)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return _DistillRun(
        model=model, projections=projections, optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor),
        class_weights=class_weights, pos_weight=pos_weight,
        mapping=layer_map(student_config.layers, data.caches["train"].num_layers),
        total_steps=total_steps, rng=np.random.default_rng(config.seed), config=config,
        group_head=group_head, group_pos_weight=group_weights, group_kinds=data.kinds,
    )  # fmt: skip


def _fit(run: _DistillRun, data: _DistillData, config: DistillConfig) -> tuple[list, dict]:
    """The epoch loop: train, validate, keep the best epoch's weights (loaded into the model
    on return). Returns the history and the best epoch (`metric`, `epoch`, `state`)."""
    history: list[dict] = []
    best = {"metric": -math.inf, "epoch": 0, "state": None}
    for epoch in range(1, config.epochs + 1):
        record = _train_epoch(run, data, config, epoch)
        history.append(record)
        if record["metric"] > best["metric"]:
            best = {
                "metric": record["metric"],
                "epoch": epoch,
                "state": copy.deepcopy(run.model.state_dict()),
            }
        if config.max_steps and run.step >= run.total_steps:
            break
    if best["state"] is None:  # every epoch's metric was NaN: keep the last weights
        log.warning(
            "validation %s was never finite; keeping the last epoch's weights",
            config.select_metric,
        )
        best = {
            "metric": float("nan"),
            "epoch": history[-1]["epoch"],
            "state": copy.deepcopy(run.model.state_dict()),
        }
    run.model.load_state_dict(best["state"])
    run.model.eval()
    return history, best


def _train_epoch(run: _DistillRun, data: _DistillData, config: DistillConfig, epoch: int) -> dict:
    """One pass over the training rows, then validation: the epoch's history record."""
    torch = require("torch", extra="train")
    from tqdm.auto import tqdm

    model, projections = run.model, run.projections
    model.train()
    projections.train()
    trained = list(model.parameters()) + list(projections.parameters())
    if run.group_head is not None:
        trained += list(run.group_head.parameters())
    totals = {"loss": 0.0, "hard": 0.0, "soft": 0.0, "hidden": 0.0}
    if run.group_head is not None:
        totals["group"] = 0.0
    lengths = np.array([len(x) for x in data.train.ids])
    batches = bucketed_batches(lengths, config.batch_size, run.rng)
    if config.max_steps:
        batches = batches[: max(0, run.total_steps - run.step)]
    bar = tqdm(
        batches,
        desc=f"distill epoch {epoch}/{config.epochs}",
        disable=not config.progress,
        leave=False,
    )
    for rows in bar:
        parts = run.loss_of(_collate(data.train, rows), with_hidden=True)
        run.optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(trained, config.grad_clip)
        run.optimizer.step()
        run.scheduler.step()
        run.step += 1
        totals["loss"] += parts.total.item() * len(rows)
        totals["hard"] += parts.hard.item() * len(rows)
        totals["soft"] += parts.soft.item() * len(rows)
        if parts.hidden is not None:
            totals["hidden"] += parts.hidden.item() * len(rows)
        if parts.group is not None:
            totals["group"] += parts.group.item() * len(rows)
        bar.set_postfix(loss=f"{parts.total.item():.4f}")
    seen = sum(len(b) for b in batches) or 1
    record = {
        "epoch": epoch,
        "step": run.step,
        "train": {k: v / seen for k, v in totals.items()},
        "valid": _evaluate(run, data.valid, config),
    }
    record["metric"] = record["valid"][config.select_metric]
    log.info(
        "epoch %d: train loss %.4f, valid %s %.4f",
        epoch,
        record["train"]["loss"],
        config.select_metric,
        record["metric"],
    )
    return record


def _save(
    run: _DistillRun,
    data: _DistillData,
    out_dir,
    *,
    best: dict,
    history: list[dict],
    tokenizer_path,
    student_config,
    config: DistillConfig,
    normalization,
    overwrite: bool,
) -> None:
    """The student directory: weights, tokenizer, configs and the distillation report."""
    import shutil

    from janitr.artifacts import atomic_dir, write_json
    from janitr.student.model import save_student

    caches = data.caches
    tok_file = Path(tokenizer_path)
    tok_file = tok_file / "tokenizer.json" if tok_file.is_dir() else tok_file
    report = {
        "format": "janitr-distill-report",
        "format_version": 1,
        "best_epoch": best["epoch"],
        "select_metric": config.select_metric,
        "best_metric": best["metric"],
        "parameters": run.model.count_parameters(),
        "history": history,
        "layer_map": {
            "student_layer_to_cache_slot": run.mapping,
            "student_layer_to_teacher_layer": [
                caches["train"].layer_indices[j] for j in run.mapping
            ],
        },
        "temperature_note": "teacher logits in the cache are calibrated; the distill "
        "temperature is applied on top (see janitr.student.distill)",
        "teacher": {k: caches["train"].sidecar.get(k) for k in _CACHE_IDENTITY},
        "data": {
            name: {"rows": len(recs), "split_hash": data.hashes[name]}
            for name, recs in data.records.items()
        },
        "augmented_copies": data.augmented,
        "training_rows": data.train.rows,
        "hard_negatives": {"copies": config.hard_negative_copies, "rows": data.hard_negatives},
        "normalization": normalization.to_dict(),
    }
    distill_config = {
        "format": "janitr-distill-config",
        "format_version": 1,
        "distill": config.to_dict(),
        "student": student_config.to_dict(),
    }
    if data.kinds:
        # Training-only heads: not in model.safetensors, so `load_student` and export see
        # a plain student.
        report["group_heads"] = distill_config["group_heads"] = {
            "kinds": list(data.kinds),
            "saved": False,
        }
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        save_student(run.model, tmp)
        shutil.copyfile(tok_file, tmp / "tokenizer.json")
        write_json(tmp / CONFIG_FILE, distill_config)
        write_json(tmp / REPORT_FILE, report)


def _evaluate(run: _DistillRun, split: _Split, config: DistillConfig) -> dict:
    """Validation metrics of the current weights: head APs and the mean distill loss; with
    group heads also each kind's AP and the AP of their noisy-or as a scam score
    (`group_or_scam_ap`, the "combined" alternative to the learned scam head)."""
    torch = require("torch", extra="train")

    from janitr.evaluation.metrics import average_precision

    run.model.eval()
    p_scam = np.zeros(split.rows)
    p_topic = np.zeros(split.rows)
    p_groups = np.zeros(split.y_groups.shape)
    loss = 0.0
    order = np.argsort([len(x) for x in split.ids], kind="stable")
    with torch.inference_mode():
        for start in range(0, split.rows, config.eval_batch_size):
            rows = order[start : start + config.eval_batch_size]
            batch = _collate(split, rows)
            scam, topic, _, groups = run.heads(batch, hidden=False)
            p_scam[rows] = torch.softmax(scam, dim=-1)[:, 1].double().numpy()
            p_topic[rows] = torch.sigmoid(topic).double().numpy()
            if groups is not None:
                p_groups[rows] = torch.sigmoid(groups).double().numpy()
            loss += float(run.loss_of(batch, with_hidden=False).total) * len(rows)
    scam_ap = average_precision(split.y_scam, p_scam)
    topic_ap = average_precision(split.y_topic, p_topic)
    mean_loss = loss / max(split.rows, 1)
    out = {
        "scam_ap": scam_ap,
        "topic_ap": topic_ap,
        "macro_ap": (scam_ap + topic_ap) / 2,
        "loss": mean_loss,
        "neg_loss": -mean_loss,
    }
    if run.group_head is not None:
        noisy_or = 1.0 - np.prod(1.0 - p_groups, axis=1)  # (N,)
        out["group_or_scam_ap"] = average_precision(split.y_scam, noisy_or)
        out["group_ap"] = {
            kind: average_precision(split.y_groups[:, k], p_groups[:, k])
            for k, kind in enumerate(run.group_kinds)
        }
    return out


def distillation_corpus(
    unlabeled: Path, *, train: Path, evals: Sequence[Path], threshold: float
) -> list:
    """Unlabeled rows fit to distill on: unique ids and texts, none equal to a train text,
    and none equal to or a near duplicate (Jaccard >= `threshold`) of a text of `evals`
    (valid, calib, holdout: files that do not exist are skipped). Rows of `unlabeled` with
    problems are skipped (the validate stage reported them).

    Args:
        unlabeled: the unlabeled JSONL file.
        train: the training split (its exact texts are dropped).
        evals: evaluation splits (exact texts and near-duplicates are dropped).
        threshold: near-duplicate Jaccard threshold.

    Returns:
        The kept `Record`s, in file order.
    """
    from janitr.data.neardup import NearDupConfig, near_duplicate_pairs
    from janitr.data.records import Record, read_records, scan

    eval_texts = sorted({r.norm_text for p in evals if p.is_file() for r in read_records(p)})
    seen_texts = {r.norm_text for r in read_records(train)} | set(eval_texts)
    kept: list[Record] = []
    seen_ids: set[str] = set()
    for row in scan([unlabeled], require_labels=False):
        if not isinstance(row, Record) or row.id in seen_ids or row.norm_text in seen_texts:
            continue
        seen_ids.add(row.id)
        seen_texts.add(row.norm_text)
        kept.append(row)
    pairs = near_duplicate_pairs(
        [r.norm_text for r in kept] + eval_texts,
        config=NearDupConfig(threshold=threshold),
        group=[0] * len(kept) + [1] * len(eval_texts),
    )
    near = {i for pair in pairs for i in pair[:2] if i < len(kept)}
    if near:
        log.info("distillation corpus: dropped %d near-duplicates of eval rows", len(near))
    return [r for i, r in enumerate(kept) if i not in near]
