"""Tiny synthetic data, tokenizer and teacher cache for the student tests (no downloads)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from janitr.data.normalize import normalize_text
from janitr.data.records import Record
from janitr.teacher.cache import TeacherCache, split_hash, write_cache

SCAM = [
    "claim",
    "free",
    "airdrop",
    "now",
    "connect",
    "wallet",
    "giveaway",
    "dm",
    "me",
    "bonus",
    "send",
]
CRYPTO = ["bitcoin", "eth", "price", "chart", "market", "token", "defi", "staking", "nft", "layer"]
CLEAN = [
    "coffee",
    "weather",
    "football",
    "movie",
    "lunch",
    "friends",
    "music",
    "book",
    "garden",
    "city",
]
LABELS = (("scam",), ("topic_crypto",), ("topic_news",))


def make_records(split: str, n: int, seed: int = 0) -> list[Record]:
    """Rows cycling scam / crypto / clean, texts of 3-30 words with a class signal."""
    rng = random.Random(f"{split}-{seed}")
    out = []
    for i in range(n):
        k = i % 3
        words = (SCAM, CRYPTO, CLEAN)[k] + CLEAN
        text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 30)))
        out.append(Record(id=f"{split}-{i}", text=text, labels=LABELS[k], path=split, line=i + 1))
    return out


def parity_texts(n: int = 1000, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    vocab = SCAM + CRYPTO + CLEAN + ["zzqx", "🚀", "$eth", "https://x.co/a"]
    return [
        normalize_text(" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 40))))
        for _ in range(n)
    ]


def build_tokenizer(records, out_dir: Path):
    from janitr.student.tokenizer import TokenizerConfig, save_tokenizer, train_tokenizer

    tok = train_tokenizer(
        [r.norm_text for r in records], config=TokenizerConfig(vocab_size=200, min_frequency=1)
    )
    save_tokenizer(tok, out_dir)
    return tok.get_vocab_size()


def build_cache(
    out_dir: Path, split: str, records, *, layers=(1, 2, 3, 4), hidden=24, teacher_id="teacher-tiny"
) -> None:
    """A fake calibrated teacher: logits that follow the labels, random hidden states."""
    rng = np.random.default_rng(7)
    n = len(records)
    y = np.array([r.gold == "scam" for r in records], dtype=np.float32)
    t = np.array([r.gold == "topic_crypto" for r in records], dtype=np.float32)
    scam = np.stack([-2 * y + 1, 2 * y - 1], axis=1) + rng.normal(scale=0.3, size=(n, 2))
    cache = TeacherCache(
        ids=[r.id for r in records],
        scam_logits=scam.astype(np.float32),
        topic_logits=(4 * t - 2).astype(np.float32),
        hidden=rng.normal(size=(n, len(layers), hidden)).astype(np.float16),
        layer_indices=list(layers),
    )
    write_cache(
        out_dir,
        split=split,
        cache=cache,
        overwrite=True,
        sidecar={
            "teacher_id": teacher_id,
            "split_hash": split_hash(records),
            "calibration": {"scam": 1.5, "topic_crypto": 1.2},
            "seeds": [1],
        },
    )


#: The tiny student's architecture (the tokenizer's vocabulary size is added).
TINY_ARCH = {"layers": 2, "hidden": 32, "heads": 4, "ffn": 64, "max_length": 32}


def distill_tiny(root: Path, train, valid, *, epochs: int = 1, max_steps: int = 4, **settings):
    """A tiny student distilled from a fake teacher cache into `root/student`; `settings` are
    further `DistillConfig` fields.

    Returns `(student_config, distill_result)`; the tokenizer is in `root/tok`, the cache in
    `root/cache`.
    """
    from janitr.student.distill import DistillConfig, distill_student
    from janitr.student.model import StudentConfig

    vocab = build_tokenizer(train, root / "tok")
    build_cache(root / "cache", "train", train)
    build_cache(root / "cache", "valid", valid)
    student_config = StudentConfig(vocab_size=vocab, **TINY_ARCH)
    result = distill_student(
        train=train,
        valid=valid,
        cache_train=root / "cache",
        cache_valid=root / "cache",
        tokenizer_path=root / "tok",
        out_dir=root / "student",
        student_config=student_config,
        config=DistillConfig(
            epochs=epochs,
            batch_size=16,
            max_steps=max_steps,
            progress=False,
            threads=1,
            **settings,
        ),
    )
    return student_config, result
