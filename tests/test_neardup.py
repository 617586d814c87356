"""neardup: MinHash estimates agree with datasketch; planted near-duplicates are found."""

from __future__ import annotations

import random

import numpy as np
import pytest

from janitr.data.neardup import (
    NearDupConfig,
    band_params,
    duplicate_groups,
    jaccard,
    near_duplicate_pairs,
    shingles,
    signatures,
)

WORDS = [
    "claim", "free", "airdrop", "wallet", "connect", "market", "bitcoin",
    "news", "coffee", "game", "team", "launch", "price",
]  # fmt: skip


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) + str(rng.randint(0, 999)) for _ in range(12))
            for _ in range(n)]  # fmt: skip


def test_band_params_recall_at_threshold():
    for m in (32, 64, 128):
        b, r = band_params(0.8, m)
        assert b * r <= m and 1 - (1 - 0.8**r) ** b >= 0.99


def test_signature_estimate_matches_exact_and_datasketch():
    datasketch = pytest.importorskip("datasketch")
    rng = random.Random(1)
    base = _texts(40, seed=1)
    errors, ds_errors = [], []
    for text in base:
        chars = list(text)
        for _ in range(rng.randint(0, 12)):
            chars[rng.randrange(len(chars))] = "#"
        other = "".join(chars)
        sig = signatures([text, other], config=NearDupConfig(num_perm=128))
        est = float((sig[0] == sig[1]).mean())
        exact = jaccard(text, other)
        m1, m2 = datasketch.MinHash(num_perm=128), datasketch.MinHash(num_perm=128)
        m1.update_batch([s.encode() for s in shingles(text)])
        m2.update_batch([s.encode() for s in shingles(other)])
        errors.append(est - exact)
        ds_errors.append(m1.jaccard(m2) - exact)
    # unbiased and about as precise as datasketch's own MinHash
    assert abs(np.mean(errors)) < 0.03
    assert np.std(errors) < 2 * np.std(ds_errors) + 0.02


def test_signatures_deterministic_and_handle_short_texts():
    texts = ["", "a", "abcd", "abcde", "hello world"]
    a = signatures(texts)
    assert np.array_equal(a, signatures(texts)) and a.shape == (5, 64)
    assert not np.array_equal(a[1], a[2])


def test_planted_near_duplicate_found_without_false_positives():
    texts = _texts(500)
    planted = texts[7][:20] + "X" + texts[7][21:]
    texts.append(planted)
    pairs = near_duplicate_pairs(texts)
    assert [(i, j) for i, j, _ in pairs] == [(7, 500)]
    assert pairs[0][2] == pytest.approx(jaccard(texts[7], planted))


def test_cross_group_only():
    texts = ["the quick brown fox jumps over", "the quick brown fox jumps over!", "unrelated"]
    assert near_duplicate_pairs(texts, group=[0, 0, 1]) == []
    assert len(near_duplicate_pairs(texts, group=[0, 1, 1])) == 1


def test_duplicate_groups_exact_and_transitive():
    a = "free airdrop claim now at the official link"
    texts = [a, "something else entirely, about football", a, a + "!", "x"]
    groups = duplicate_groups(texts)
    assert groups[0] == groups[2] == groups[3] == 0
    assert groups[1] == 1 and groups[4] == 4
