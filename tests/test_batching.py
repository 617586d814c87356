"""The shared batching (`janitr.teacher.batching`) against the code it replaced.

Teacher fine-tuning and MLM pretraining drew their batches with a `random.Random`,
distillation with a `numpy.random.Generator`, each with its own copy of the bucketing and
padding. The references below are those copies, verbatim: the shared functions must give
the same batches, epoch after epoch, and the same padded tensors.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from janitr.teacher.batching import bucketed_batches, collate, sorted_batches


def _old_teacher_bucketed(lengths, batch_size, *, rng, bucket_batches=50):
    order = list(range(len(lengths)))
    rng.shuffle(order)
    size = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), size):
        bucket = sorted(order[start : start + size], key=lambda i: lengths[i])
        batches.extend(bucket[k : k + batch_size] for k in range(0, len(bucket), batch_size))
    rng.shuffle(batches)
    return batches


def _old_student_bucketed(lengths, batch_size, rng, *, bucket=50):
    order = rng.permutation(len(lengths))
    batches = []
    chunk = batch_size * bucket
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def _lengths(n: int, seed: int) -> np.ndarray:
    # Few distinct lengths: many ties, which is where sort stability shows.
    return np.random.default_rng(seed).integers(3, 12, size=n)


@pytest.mark.parametrize("n,batch_size", [(0, 4), (1, 4), (37, 4), (1013, 8), (5000, 16)])
def test_same_batches_as_the_teacher_code(n, batch_size):
    lengths = _lengths(n, n)
    old_rng, new_rng = random.Random(7), random.Random(7)
    for _ in range(3):  # epochs: the generator's state carries over
        old = _old_teacher_bucketed(lengths, batch_size, rng=old_rng)
        new = bucketed_batches(lengths, batch_size, new_rng)
        assert [list(b) for b in old] == [b.tolist() for b in new]
    assert old_rng.random() == new_rng.random()


@pytest.mark.parametrize("n,batch_size", [(0, 4), (1, 4), (37, 4), (1013, 8), (5000, 16)])
def test_same_batches_as_the_distill_code(n, batch_size):
    lengths = _lengths(n, n + 1)
    old_rng, new_rng = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(3):
        old = _old_student_bucketed(lengths, batch_size, old_rng)
        new = bucketed_batches(lengths, batch_size, new_rng)
        assert [b.tolist() for b in old] == [b.tolist() for b in new]
    assert old_rng.random() == new_rng.random()


def test_batches_cover_every_row_once_and_sort_within_buckets():
    lengths = _lengths(700, 3)
    batches = bucketed_batches(lengths, 10, random.Random(0), bucket_batches=5)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(700))
    assert all(np.all(np.diff(lengths[b]) >= 0) for b in batches)


def test_sorted_batches_are_in_length_order():
    lengths = _lengths(50, 4)
    batches = sorted_batches(lengths, 7)
    assert [i for b in batches for i in b] == np.argsort(lengths, kind="stable").tolist()


def test_collate_pads_like_the_teacher_code():
    torch = pytest.importorskip("torch")
    seqs = [[5, 6, 7], [8], [9, 10, 11, 12], [13, 14]]
    rows = np.array([2, 1, 3])
    ids, mask = collate(seqs, rows, pad_id=0)
    # The teacher's old collate, verbatim.
    width = max(len(seqs[i]) for i in rows)
    old_ids = torch.full((len(rows), width), 0, dtype=torch.long)
    old_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, i in enumerate(rows):
        old_ids[k, : len(seqs[i])] = torch.tensor(seqs[i], dtype=torch.long)
        old_mask[k, : len(seqs[i])] = 1
    assert ids.dtype == mask.dtype == torch.long
    assert torch.equal(ids, old_ids) and torch.equal(mask, old_mask)
    assert ids.tolist() == [[9, 10, 11, 12], [8, 0, 0, 0], [13, 14, 0, 0]]
