"""Tiny synthetic labeled splits and a fast fastText config for the tests that need a bundle."""

from __future__ import annotations

import json
import random
from pathlib import Path

from janitr.baselines.fasttext import FastTextConfig, train_fasttext
from janitr.evaluation.thresholds import ThresholdPolicy

SCAM = [
    "claim your free {coin} airdrop now at bit.ly/x{n}",
    "send {n} {coin} and get double back, giveaway ends soon",
    "connect wallet to verify and claim {coin} reward {n}",
    "dm me for guaranteed {coin} profit {n}x",
]
TOPIC = [
    "{coin} price is up {n} percent today",
    "new {coin} upgrade ships next week, devs say",
    "on-chain data shows {coin} whales accumulating {n}",
    "my take on the {coin} etf flows this month",
]
CLEAN = [
    "lovely lunch in the park with friends {n}",
    "the new album is out, track {n} is my favourite",
    "rain again in the city, stay dry everyone",
    "finished my run, {n} km before work https://example.com/run",
]
COINS = ["bitcoin", "eth", "solana", "doge"]

#: Fast settings: seconds, not minutes; big enough for quantization (the default cutoff).
TINY = FastTextConfig(dim=16, epoch=10, bucket=20_000, lr=0.05, threads=1, seed=1)
#: Thresholds tuned on calib alone, so that valid gets a report.
ON_CALIB = ThresholdPolicy(tune_on="calib", rule="empirical")


def _rows(prefix: str, n: int, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(n):
        kind = i % 3
        template = rng.choice((SCAM, TOPIC, CLEAN)[kind])
        text = template.format(coin=rng.choice(COINS), n=rng.randint(1, 10_000))
        labels = (["scam", "topic_crypto"], ["topic_crypto"], ["clean"])[kind]
        rows.append({"id": f"{prefix}-{i}", "text": text, "labels": labels})
    return rows


def write_tiny_splits(data_dir: Path, *, n_train: int = 240, n_eval: int = 90, seed: int = 0):
    """Write train/calib/valid JSONL files; returns the data directory."""
    rng = random.Random(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("calib", n_eval), ("valid", n_eval)):
        rows = _rows(split, n, rng)
        (data_dir / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )
    return data_dir


def train_tiny_bundle(tmp: Path, config: FastTextConfig = TINY):
    """Tiny splits under tmp/data and a fastText bundle at tmp/bundle."""
    data = write_tiny_splits(tmp / "data")
    return train_fasttext(data_dir=data, out_dir=tmp / "bundle", config=config, thresholds=ON_CALIB)
