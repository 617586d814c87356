"""Length-bucketed batches and padding: the one batching code of teacher fine-tuning, MLM
pretraining and student distillation.

It holds how rows are grouped into batches (training: shuffled buckets of similar length;
inference: length order) and how a batch of token id lists is padded into `(B, T)` tensors.
What a batch carries besides ids and mask (targets, teacher logits) stays with its trainer.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from janitr.errors import require


def _permutation(rng: random.Random | np.random.Generator, n: int) -> list[int] | np.ndarray:
    """A random order of `range(n)`, drawn the way each kind of generator always drew it.

    `random.Random.shuffle` swaps positions in a fixed, data-independent sequence, so
    shuffling `range(n)` and indexing gives exactly what shuffling the list itself gave.
    """
    if isinstance(rng, np.random.Generator):
        return rng.permutation(n)
    order = list(range(n))
    rng.shuffle(order)
    return order


def bucketed_batches(
    lengths: Sequence[int] | np.ndarray,
    batch_size: int,
    rng: random.Random | np.random.Generator,
    *,
    bucket_batches: int = 50,
) -> list[np.ndarray]:
    """Training batches of similar length: shuffle, sort within buckets, shuffle batches.

    Each bucket holds `bucket_batches * batch_size` random rows sorted (stably) by length, so
    batches need little padding yet differ from epoch to epoch.

    Args:
        lengths: token count per row.
        batch_size: rows per batch (the last batch of a bucket may be smaller).
        rng: the epoch's random source; a `random.Random` (teacher, pretraining) or a
            `numpy.random.Generator` (distillation) draws the orders each always drew.
        bucket_batches: batches per bucket.

    Returns:
        Row indices per batch (int64 arrays), in training order.
    """
    lengths = np.asarray(lengths)
    order = np.asarray(_permutation(rng, len(lengths)), dtype=np.int64)
    size = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), size):
        part = order[start : start + size]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[k : k + batch_size] for k in range(0, len(part), batch_size))
    return [batches[i] for i in _permutation(rng, len(batches))]


def shard_batches(batches: Sequence, rank: int, size: int) -> list:
    """Rank `rank`'s share of `batches` when `size` processes train one model together
    (DistributedDataParallel): every `size`-th batch from `rank` on, after repeating the first
    batches so that every rank gets the same count (each step is a collective, as in
    torch's `DistributedSampler`).

    >>> shard_batches(["a", "b", "c"], 1, 2)
    ['b', 'a']
    """
    steps = -(-len(batches) // size)  # ceil
    return [batches[i % len(batches)] for i in range(rank, steps * size, size)]


def sorted_batches(lengths: Sequence[int] | np.ndarray, batch_size: int) -> list[list[int]]:
    """Inference batches in length order (least padding); callers restore row order."""
    order = np.argsort(lengths, kind="stable").tolist()
    return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]


def collate(input_ids: Sequence[Sequence[int]], rows: Sequence[int], *, pad_id: int = 0):
    """Pad a batch of rows to its longest: `(input_ids (B, T), attention_mask (B, T))`, int64
    torch tensors."""
    torch = require("torch", extra="train")
    width = max(len(input_ids[r]) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for k, r in enumerate(rows):
        n = len(input_ids[r])
        ids[k, :n] = input_ids[r]
        mask[k, :n] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)
