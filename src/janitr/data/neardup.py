"""Near-duplicate text detection: MinHash signatures, LSH banding, exact verification.

Texts are compared as sets of character shingles (default 5 characters) of their
*normalized* form. Two texts are near-duplicates when the Jaccard similarity of their shingle
sets is at least a threshold (default 0.8). The pipeline is:

1. identical texts are grouped by hash first (cheap, exact);
2. each distinct text gets a MinHash signature of `num_perm` values;
3. LSH banding (b bands of r rows, chosen so that recall at the threshold is >= 99%)
   proposes candidate pairs;
4. candidates are filtered by the signature agreement (an unbiased Jaccard estimate) and
   then verified by the *exact* Jaccard of their shingle sets, so no false positive survives.

Signatures use one-permutation MinHash with rotation densification (Shrivastava & Li):
one 64-bit hash per shingle, its top bits pick a bin, the minimum per bin is the signature
value. It has the MinHash property (P[sig_a[i] == sig_b[i]] = Jaccard) at the cost of one
hash per shingle instead of `num_perm`, which is what lets a million rows run in seconds on
two cores. `tests/test_neardup.py`-style checks compare it with `datasketch.MinHash`. Datasets
this module sees fit in memory as strings; it does not read files (callers stream them).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

#: Defaults shared by splits and leakage so both agree on what "near-duplicate" means.
DEFAULT_THRESHOLD = 0.8
DEFAULT_SHINGLE = 5
DEFAULT_NUM_PERM = 64
#: Buckets larger than this propose only pairs with their first members (a bucket this
#: big is almost always one template repeated; union-find still links every member).
_MAX_BUCKET = 64
_BATCH_CHARS = 1_000_000
_U64 = np.uint64
_EMPTY = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True)
class NearDupConfig:
    """What counts as a near-duplicate.

    Attributes:
        threshold: minimum exact Jaccard similarity of shingle sets (0 < threshold <= 1).
        shingle_size: characters per shingle.
        num_perm: MinHash signature length (a power of two, 16..1024).
        seed: seed of the shingle hash; any fixed value gives deterministic results.
    """

    threshold: float = DEFAULT_THRESHOLD
    shingle_size: int = DEFAULT_SHINGLE
    num_perm: int = DEFAULT_NUM_PERM
    seed: int = 1

    def __post_init__(self) -> None:
        from janitr.errors import ConfigError

        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"threshold: expected 0 < threshold <= 1, found {self.threshold}")
        if self.shingle_size < 1:
            raise ConfigError(f"shingle_size: expected >= 1, found {self.shingle_size}")
        n = self.num_perm
        if n < 16 or n > 1024 or n & (n - 1):
            raise ConfigError(f"num_perm: expected a power of two in 16..1024, found {n}")

    @property
    def bands(self) -> tuple[int, int]:
        """`(b, r)`: the largest rows-per-band r whose recall at the threshold is >= 0.99."""
        return band_params(self.threshold, self.num_perm)


def band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Pick LSH bands `(b, r)` with b*r <= num_perm and P(candidate | J=threshold) >= 0.99.

    Larger r means fewer chance candidates between unrelated texts, so the largest r that
    keeps recall is taken.
    """
    best = (num_perm, 1)
    for r in range(1, num_perm + 1):
        b = num_perm // r
        if 1.0 - (1.0 - threshold**r) ** b >= 0.99:
            best = (b, r)
    return best


def shingles(text: str, *, size: int = DEFAULT_SHINGLE) -> set[str]:
    """The character shingles of a text (the text itself if it is shorter than `size`)."""
    if len(text) <= size:
        return {text}
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def jaccard(a: str, b: str, *, size: int = DEFAULT_SHINGLE) -> float:
    """Exact Jaccard similarity of the shingle sets of two texts."""
    sa, sb = shingles(a, size=size), shingles(b, size=size)
    return len(sa & sb) / len(sa | sb)


def text_key(text: str) -> bytes:
    """A 16-byte hash of a (normalized) text: equal texts, equal keys."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _mix64(x: np.ndarray) -> np.ndarray:
    # splitmix64 finalizer: spreads a polynomial hash over all 64 bits. (N,) uint64.
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _batch_signatures(texts: Sequence[str], cfg: NearDupConfig) -> np.ndarray:
    """Signatures of a batch of texts: (len(texts), num_perm) uint32."""
    k = cfg.shingle_size
    n = len(texts)
    # Short texts are padded with U+0001 so that every text has at least one shingle.
    padded = [t if len(t) >= k else t + "\x01" * (k - len(t)) for t in texts]
    lengths = np.fromiter((len(t) for t in padded), dtype=np.int64, count=n)
    cps = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(_U64)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    # Polynomial hash of every window of k code points over the concatenation: (C-k+1,).
    total = cps.shape[0]
    with np.errstate(over="ignore"):
        h = np.full(total - k + 1, np.uint64(cfg.seed * 0x9E3779B97F4A7C15 % (1 << 64)))
        for j in range(k):
            h = h * _U64(1_000_003) + cps[j : total - k + 1 + j]
        h = _mix64(h)
    # Keep windows that lie inside one text: a window starting at p belongs to text d
    # when p <= starts[d] + lengths[d] - k.
    n_windows = lengths - k + 1  # (n,) >= 1 thanks to the padding
    doc = np.repeat(np.arange(n, dtype=np.int64), n_windows)
    pos = np.arange(doc.shape[0], dtype=np.int64) - np.repeat(
        np.cumsum(n_windows) - n_windows, n_windows
    )
    hv = h[starts[doc] + pos]
    m = cfg.num_perm
    shift = _U64(64 - (m.bit_length() - 1))
    bins = (hv >> shift).astype(np.int64)
    vals = (hv & _U64(0xFFFFFFFF)).astype(np.uint32)
    sig = np.full(n * m, 0xFFFFFFFF, dtype=np.uint32)
    np.minimum.at(sig, doc * m + bins, vals)
    sig = sig.reshape(n, m)
    return _densify(sig)


def _densify(sig: np.ndarray) -> np.ndarray:
    """Rotation densification: an empty bin copies the next non-empty bin to its right
    (circularly), offset by the distance so that copies from different distances differ."""
    empty_val = np.uint32(0xFFFFFFFF)
    rows, cols = np.nonzero(sig == empty_val)  # (E,) coordinates of empty bins
    if rows.shape[0] == 0:
        return sig
    m = sig.shape[1]
    out = sig.copy()
    for dist in range(1, m):
        src = sig[rows, (cols + dist) % m]
        found = src != empty_val
        if found.any():
            with np.errstate(over="ignore"):
                val = (src[found].astype(np.uint64) + _U64(dist) * _U64(0x9E3779B1)) & _U64(
                    0xFFFFFFFE
                )
            out[rows[found], cols[found]] = val.astype(np.uint32)
            keep = ~found
            rows, cols = rows[keep], cols[keep]
        if rows.shape[0] == 0:
            break
    return out


def signatures(texts: Sequence[str], *, config: NearDupConfig | None = None) -> np.ndarray:
    """MinHash signatures of texts (already normalized): array (len(texts), num_perm) uint32.

    `mean(sig_a == sig_b)` estimates the Jaccard similarity of the two shingle sets.
    """
    cfg = config or NearDupConfig()
    out = np.empty((len(texts), cfg.num_perm), dtype=np.uint32)
    start = 0
    while start < len(texts):
        end, chars = start, 0
        while end < len(texts) and (chars < _BATCH_CHARS or end == start):
            chars += len(texts[end]) + cfg.shingle_size
            end += 1
        out[start:end] = _batch_signatures(texts[start:end], cfg)
        start = end
    return out


def _band_keys(sig: np.ndarray, b: int, r: int) -> np.ndarray:
    """One 64-bit key per (text, band): (n, b) uint64."""
    n = sig.shape[0]
    keys = np.empty((n, b), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(b):
            acc = np.full(n, np.uint64(band + 1) * _U64(0x9E3779B97F4A7C15), dtype=np.uint64)
            for j in range(band * r, band * r + r):
                acc = _mix64(acc ^ sig[:, j].astype(np.uint64))
            keys[:, band] = acc
    return keys


def _candidates(sig: np.ndarray, cfg: NearDupConfig, group: np.ndarray | None) -> np.ndarray:
    """Candidate pairs (i < j) sharing at least one band key: (P, 2) int64, unique.

    With `group` given, only pairs whose group ids differ are kept.
    """
    b, r = cfg.bands
    keys = _band_keys(sig, b, r)
    n = sig.shape[0]
    found: list[np.ndarray] = []
    for band in range(b):
        col = keys[:, band]
        order = np.argsort(col, kind="stable")
        sorted_keys = col[order]
        boundary = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
        run_start = np.concatenate([[0], boundary])
        run_len = np.diff(np.concatenate([run_start, [n]]))
        multi = run_len > 1
        for offset in range(1, _MAX_BUCKET):
            # Pair the member at position p with the one `offset` places later in its run.
            ok = multi & (run_len > offset)
            if not ok.any():
                break
            s, ln = run_start[ok], run_len[ok]
            cnt = ln - offset
            if offset >= 2:
                # beyond the first link, only the first _MAX_BUCKET members pair fully
                cnt = np.minimum(cnt, _MAX_BUCKET)
            base = np.repeat(s, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
            a, c = order[base], order[base + offset]
            found.append(np.stack([np.minimum(a, c), np.maximum(a, c)], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    if group is not None:
        pairs = pairs[group[pairs[:, 0]] != group[pairs[:, 1]]]
    if pairs.shape[0] == 0:
        return pairs
    flat = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack([flat // n, flat % n], axis=1)


def near_duplicate_pairs(
    texts: Sequence[str],
    *,
    config: NearDupConfig | None = None,
    group: Sequence[int] | np.ndarray | None = None,
) -> list[tuple[int, int, float]]:
    """Pairs of *distinct* texts whose exact shingle Jaccard is >= the threshold.

    Args:
        texts: normalized texts; identical texts should be deduplicated by the caller
            (identical pairs are skipped here: they are exact duplicates, not near ones).
        config: threshold, shingle size, signature length.
        group: optional group id per text; only pairs across different groups are returned
            (e.g. the split a text came from, for leakage).

    Returns:
        `(i, j, jaccard)` with i < j, sorted.
    """
    cfg = config or NearDupConfig()
    if len(texts) < 2:
        return []
    sig = signatures(texts, config=cfg)
    grp = None if group is None else np.asarray(group)
    cand = _candidates(sig, cfg, grp)
    logger.debug("neardup: %d texts, %d LSH candidates", len(texts), cand.shape[0])
    # Signature agreement estimates Jaccard with std ~ sqrt(J(1-J)/m); a margin of 0.2 keeps
    # true pairs (>= 5 sigma) while dropping most chance candidates before exact checks.
    keep: list[np.ndarray] = []
    for start in range(0, cand.shape[0], 200_000):
        chunk = cand[start : start + 200_000]
        est = (sig[chunk[:, 0]] == sig[chunk[:, 1]]).mean(axis=1)
        keep.append(chunk[est >= cfg.threshold - 0.2])
    survivors = np.concatenate(keep) if keep else cand
    out: list[tuple[int, int, float]] = []
    for i, j in survivors.tolist():
        if texts[i] == texts[j]:
            continue
        sim = jaccard(texts[i], texts[j], size=cfg.shingle_size)
        if sim >= cfg.threshold:
            out.append((i, j, sim))
    return out


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving (union by smaller root index)."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


def duplicate_groups(
    texts: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    config: NearDupConfig | None = None,
) -> list[int]:
    """Group id per row: rows with equal or near-duplicate texts share a group (transitively).

    Group ids are the index of the group's first row, so they are deterministic and a
    singleton row's group id is its own index.

    Args:
        texts: normalized texts, one per row.
        threshold: Jaccard threshold (ignored if `config` is given).
        config: full near-duplicate settings.
    """
    cfg = config or NearDupConfig(threshold=threshold)
    first: dict[bytes, int] = {}
    rep = np.empty(len(texts), dtype=np.int64)  # row -> index of first row with equal text
    unique_rows: list[int] = []
    for i, text in enumerate(texts):
        key = text_key(text)
        j = first.setdefault(key, i)
        if j == i:
            unique_rows.append(i)
        rep[i] = j
    uf = UnionFind(len(texts))
    unique_texts = [texts[i] for i in unique_rows]
    for a, b, _ in near_duplicate_pairs(unique_texts, config=cfg):
        uf.union(unique_rows[a], unique_rows[b])
    return [uf.find(int(rep[i])) for i in range(len(texts))]
