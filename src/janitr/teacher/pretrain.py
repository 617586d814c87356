"""Optional domain-adaptive MLM pretraining of the teacher's encoder.

Continues masked-language-model training of a pretrained encoder on in-domain text (the
unlabeled X replies plus the training texts) and saves a Hugging Face directory that
`janitr train teacher --model DIR` fine-tunes from. Evaluation text must never enter this
corpus (the original's corpus included holdout text, UPSTREAM.md §12.18): `pretrain_mlm`
takes the evaluation records and refuses any corpus row that shares an id or a normalized
text with them (or drops those rows when asked to).

Masking is written out (`mask_tokens`, BERT's 80/10/10 rule); batches are dynamically padded
and length-bucketed as in teacher fine-tuning.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from janitr.artifacts import hash_strings, write_json
from janitr.config import ConfigProblem, option, positive_ints, raise_problems
from janitr.errors import ConfigError, LeakageError, require

log = logging.getLogger(__name__)

FORMAT = "janitr-mlm-pretrain"
FORMAT_VERSION = 1
MANIFEST = "pretrain_manifest.json"


@dataclass
class PretrainConfig:
    """Settings of MLM pretraining: `janitr pretrain`'s flags and `janitr run`'s [pretrain].

    The one config of the pretraining stage: the CLI verb builds it from flags, the
    pipeline from the `[pretrain]` section (where `enabled` turns the stage on).
    """

    enabled: bool = option(
        False, cli=False, help="run the pretraining stage in `janitr run` (pipeline only)"
    )
    epochs: int = option(1, help="passes over the corpus")
    lr: float = option(5e-5, help="peak AdamW learning rate")
    batch_size: int = option(32, help="sequences per step")
    max_length: int = option(96, help="tokens per text, special tokens included")
    mlm_probability: float = option(
        0.15, help="share of (non-special) tokens selected for prediction"
    )
    warmup_ratio: float = option(0.06, help="share of steps with linearly rising learning rate")
    weight_decay: float = option(0.01, help="AdamW weight decay")
    seed: int = option(42, help="random seed (masking, batch order)")
    threads: int | None = option(None, help="torch CPU threads (default: all cores)")
    max_steps: int | None = option(None, help="stop after N optimizer steps")
    drop_overlap: bool = option(
        False, help="drop corpus rows that overlap the evaluation data instead of refusing"
    )
    progress: bool = option(True, flag="--quiet", help="no progress bars")

    def __post_init__(self) -> None:
        problems = positive_ints(self, ("epochs", "batch_size"))
        if not 8 <= self.max_length <= 512:
            problems.append(
                ConfigProblem("max_length", f"must be in [8, 512], got {self.max_length}")
            )
        if not 0 < self.mlm_probability < 1:
            problems.append(
                ConfigProblem("mlm_probability", f"must be in (0, 1), got {self.mlm_probability}")
            )
        if not self.lr > 0:
            problems.append(ConfigProblem("lr", f"must be > 0, got {self.lr}"))
        if not 0 <= self.warmup_ratio < 1:
            problems.append(
                ConfigProblem("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}")
            )
        if self.weight_decay < 0:
            problems.append(ConfigProblem("weight_decay", f"must be >= 0, got {self.weight_decay}"))
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(ConfigProblem("max_steps", f"must be >= 1, got {self.max_steps}"))
        if self.threads is not None and self.threads < 1:
            problems.append(ConfigProblem("threads", f"must be >= 1, got {self.threads}"))
        raise_problems(self, problems)


def mask_tokens(
    input_ids,
    attention_mask,
    *,
    special_ids: Sequence[int],
    mask_id: int,
    vocab_size: int,
    probability: float,
    generator,
):
    """BERT masking: select `probability` of real, non-special tokens; of those 80% become
    [MASK], 10% a random token, 10% stay. Pure function of its inputs and the generator.

    Args:
        input_ids: (B, T) long tensor; attention_mask: (B, T), 0 on padding.

    Returns:
        (masked_input_ids (B, T), labels (B, T) with -100 where nothing is predicted).
    """
    torch = require("torch", extra="train")
    labels = input_ids.clone()
    candidates = attention_mask.bool()
    for sid in special_ids:
        candidates &= input_ids != sid
    probs = torch.full(input_ids.shape, probability)
    selected = (torch.rand(input_ids.shape, generator=generator) < probs) & candidates
    labels[~selected] = -100
    masked = input_ids.clone()
    roll = torch.rand(input_ids.shape, generator=generator)
    to_mask = selected & (roll < 0.8)
    to_random = selected & (roll >= 0.8) & (roll < 0.9)
    masked[to_mask] = mask_id
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    masked[to_random] = random_ids[to_random]
    return masked, labels


def check_no_eval_overlap(corpus: Sequence, exclude: Sequence, *, drop: bool) -> tuple[list, int]:
    """Corpus rows sharing no id and no normalized text with `exclude` (evaluation rows).

    Returns:
        (kept rows, number dropped).

    Raises:
        LeakageError: if rows overlap and `drop` is false.
    """
    from janitr.data.normalize import normalize_text

    ids = {r.id for r in exclude}
    texts = {normalize_text(r.text) for r in exclude}
    kept, bad = [], []
    for r in corpus:
        (bad if r.id in ids or normalize_text(r.text) in texts else kept).append(r)
    if bad and not drop:
        raise LeakageError(
            f"{len(bad)} pretraining rows share an id or normalized text with the evaluation "
            f"data (e.g. {', '.join(r.id for r in bad[:5])}); pretraining on evaluation text "
            "inflates every later metric. Remove them, or pass --drop-overlap to skip them"
        )
    return kept, len(bad)


def corpus_from_dir(
    data_dir: str | Path,
    *,
    unlabeled: Sequence[str | Path] | None = None,
    exclude_files: Sequence[str | Path] = (),
) -> tuple[list, list]:
    """`(corpus, exclude)` from a data directory: train.jsonl + unlabeled rows as corpus;
    valid.jsonl, calib.jsonl and holdout.jsonl (those present) as evaluation rows.

    Args:
        data_dir: the dataset directory.
        unlabeled: unlabeled JSONL files (id, text) to add to the corpus; None: the
            directory's unlabeled.jsonl when it exists (what `janitr run` does).
        exclude_files: more evaluation files (labels optional) whose rows must not be trained on.

    Raises:
        ConfigError: if there is no train.jsonl.
    """
    from janitr.data.records import read_records

    data_dir = Path(data_dir)
    if not (data_dir / "train.jsonl").is_file():
        raise ConfigError(f"--data: {data_dir} has no train.jsonl")
    if unlabeled is None:
        unlabeled = (
            [data_dir / "unlabeled.jsonl"] if (data_dir / "unlabeled.jsonl").is_file() else []
        )
    corpus = read_records(data_dir / "train.jsonl")
    if unlabeled:
        corpus += read_records(*unlabeled, require_labels=False)
    exclude = [
        r
        for name in ("valid.jsonl", "calib.jsonl", "holdout.jsonl")
        if (data_dir / name).is_file()
        for r in read_records(data_dir / name)
    ]
    if exclude_files:
        exclude += read_records(*exclude_files, require_labels=False)
    return corpus, exclude


def pretrain_mlm(
    *,
    out_dir: str | Path,
    config: PretrainConfig | None = None,
    corpus: Sequence | None = None,
    data_dir: str | Path | None = None,
    model_name_or_path: str | None = None,
    exclude: Sequence = (),
    unlabeled: Sequence[str | Path] | None = None,
    exclude_files: Sequence[str | Path] = (),
) -> Path:
    """Continue MLM training of an encoder on in-domain text; save an HF model directory.

    Args:
        out_dir: directory to write (`save_pretrained` model + tokenizer + manifest).
        config: training settings (the CLI's flags or the run's `[pretrain]` section).
        corpus: records (`id`, `text`): training rows and unlabeled rows; never eval rows.
        data_dir: instead of `corpus`: a directory whose train.jsonl + unlabeled.jsonl form
            the corpus and whose valid/calib/holdout files are excluded (`corpus_from_dir`).
        model_name_or_path: HF hub id or local dir (default: the installed MiniLM).
        exclude: evaluation records (valid, calib, holdout); overlap is refused.
        unlabeled: with `data_dir`: unlabeled files for the corpus (`corpus_from_dir`).
        exclude_files: with `data_dir`: more evaluation files to exclude.

    Returns:
        `out_dir`, loadable by `AutoModel.from_pretrained` and `janitr train teacher --model`.

    Raises:
        LeakageError: if the corpus overlaps the evaluation rows (unless `drop_overlap`).
        ConfigError: if neither or both of `corpus` and `data_dir` are given, or the corpus
            is empty.
    """
    if (corpus is None) == (data_dir is None):
        raise ConfigError("pretrain_mlm needs exactly one of corpus= and data_dir=")
    if data_dir is not None:
        corpus, from_dir = corpus_from_dir(
            data_dir, unlabeled=unlabeled, exclude_files=exclude_files
        )
        exclude = [*exclude, *from_dir]
    config = config or PretrainConfig()
    from janitr.data.normalize import normalize_text
    from janitr.teacher.model import default_model_path

    rows, dropped = check_no_eval_overlap(corpus, exclude, drop=config.drop_overlap)
    texts = sorted({normalize_text(r.text) for r in rows} - {""})
    if not texts:
        raise ConfigError("pretraining corpus is empty after removing evaluation overlap")
    model_path = model_name_or_path or default_model_path()
    run = _setup(texts, config, model_path)
    run.model.train()
    for epoch in range(1, config.epochs + 1):
        _train_epoch(run, config, epoch)
        if run.step >= run.total:
            break
    out_dir = Path(out_dir)
    _save(run, out_dir, texts=texts, model_path=model_path, dropped=dropped,
          excluded_rows=len(exclude), config=config)  # fmt: skip
    log.info(
        "MLM pretraining: %d texts, %d steps, mean loss %.4f -> %s",
        len(texts),
        run.step,
        run.mean_loss,
        out_dir,
    )
    return out_dir


@dataclass
class _MlmRun:
    """The state of one pretraining run: model, optimizer, tokenized corpus, counters."""

    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    device: Any
    ids: list[list[int]]  # token ids per text (unpadded)
    special: list[int]  # special token ids, never masked
    total: int  # steps to run
    generator: Any  # torch.Generator of the masking
    rng: random.Random  # batch order
    started: float
    step: int = 0
    running: float = 0.0  # summed loss of the `count` steps so far
    count: int = 0

    @property
    def mean_loss(self) -> float:
        return self.running / max(self.count, 1)


def _setup(texts: list[str], config: PretrainConfig, model_path: str) -> _MlmRun:
    """Seeded model, tokenized corpus, AdamW with linear warmup and decay."""
    torch = require("torch", extra="train")
    transformers = require("transformers", extra="train")
    from janitr.teacher.model import encode_texts, select_device, set_seed

    set_seed(config.seed)
    device = select_device(config.threads)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_path)
    model = transformers.AutoModelForMaskedLM.from_pretrained(model_path).to(device)
    ids = encode_texts(tokenizer, texts, max_length=config.max_length)
    special = [i for i in tokenizer.all_special_ids if i != tokenizer.unk_token_id]
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    total = math.ceil(len(ids) / config.batch_size) * config.epochs
    total = min(total, config.max_steps or total)
    warmup = int(round(config.warmup_ratio * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            (s + 1) / max(warmup, 1)
            if s < warmup
            else max(0.0, (total - s) / max(total - warmup, 1))
        ),
    )
    return _MlmRun(
        model=model, tokenizer=tokenizer, optimizer=optimizer, scheduler=scheduler,
        device=device, ids=ids, special=special, total=total,
        generator=torch.Generator().manual_seed(config.seed), rng=random.Random(config.seed),
        started=time.perf_counter(),
    )  # fmt: skip


def _train_epoch(run: _MlmRun, config: PretrainConfig, epoch: int) -> None:
    """One pass over the corpus in length-bucketed batches (stops at `run.total` steps)."""
    torch = require("torch", extra="train")
    from tqdm.auto import tqdm

    from janitr.teacher.batching import bucketed_batches, collate

    tokenizer, device = run.tokenizer, run.device
    bar = tqdm(
        bucketed_batches([len(x) for x in run.ids], config.batch_size, run.rng),
        desc=f"mlm epoch {epoch}/{config.epochs}",
        disable=not config.progress,
        leave=False,
    )
    for batch in bar:
        input_ids, mask = collate(run.ids, batch, pad_id=tokenizer.pad_token_id or 0)
        masked, labels = mask_tokens(
            input_ids,
            mask,
            special_ids=run.special,
            mask_id=tokenizer.mask_token_id,
            vocab_size=len(tokenizer),
            probability=config.mlm_probability,
            generator=run.generator,
        )
        if (labels != -100).sum() == 0:
            continue
        loss = run.model(
            input_ids=masked.to(device),
            attention_mask=mask.to(device),
            labels=labels.to(device),
        ).loss
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
        run.optimizer.step()
        run.scheduler.step()
        run.step += 1
        run.running, run.count = run.running + loss.item(), run.count + 1
        bar.set_postfix(loss=f"{run.mean_loss:.4f}")
        if run.step >= run.total:
            break


def _save(
    run: _MlmRun,
    out_dir: Path,
    *,
    texts: list[str],
    model_path: str,
    dropped: int,
    excluded_rows: int,
    config: PretrainConfig,
) -> None:
    """The model and tokenizer (`save_pretrained`) and the manifest of the corpus."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run.model.save_pretrained(out_dir, safe_serialization=True)
    run.tokenizer.save_pretrained(out_dir)
    write_json(
        out_dir / MANIFEST,
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "base_model": model_path,
            "rows": len(texts),
            "dropped_eval_overlap": dropped,
            "corpus_sha256": hash_strings(texts),
            "excluded_rows": excluded_rows,
            "steps": run.step,
            "mean_loss": run.mean_loss,
            "seconds": round(time.perf_counter() - run.started, 1),
            "config": asdict(config),
        },
    )
