"""`janitr leakage`: overlap between splits by id, normalized text and near-duplicate text.

For every pair of splits it counts shared ids, shared normalized texts, and near-duplicate
text pairs (shingle Jaccard >= threshold but not identical, found with `janitr.data.neardup`),
plus the rows of each split involved and a few example pairs. With `previous`, the new splits
are also checked against an older split set: the "old train inside the new holdout" trap.
It reports; it does not fix or drop anything (the CLI exits 1 unless `--warn-only`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from janitr.data.neardup import DEFAULT_THRESHOLD, NearDupConfig, near_duplicate_pairs, text_key
from janitr.data.records import scan
from janitr.errors import ConfigError, DataError, LeakageError, Problem

REPORT_FORMAT = "janitr-leakage v1"
PREVIOUS_PREFIX = "previous:"
_EXAMPLE_CHARS = 120


@dataclass
class _Split:
    name: str
    path: str
    ids: list[str]
    uidx: np.ndarray  # (rows,) index of each row's text in `utexts`
    utexts: list[str]  # distinct normalized texts of this split
    ukeys: list[bytes]  # text_key of each distinct text
    ufirst: list[int]  # first row having each distinct text


@dataclass
class PairOverlap:
    """Overlap between split `a` and split `b`.

    Attributes:
        ids: ids present in both.
        texts: distinct normalized texts present in both.
        near_dups: pairs of distinct, non-identical texts with Jaccard >= threshold.
        rows_a / rows_b: rows of a (of b) involved in any of the above.
        examples: up to `max_examples` per kind: {"kind", "a_id", "b_id", "a_text",
            "b_text", "jaccard"}.
    """

    a: str
    b: str
    ids: int = 0
    texts: int = 0
    near_dups: int = 0
    rows_a: int = 0
    rows_b: int = 0
    examples: list[dict] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.ids or self.texts or self.near_dups)


@dataclass
class LeakageReport:
    """Overlaps for every pair of splits (and new vs previous splits)."""

    threshold: float
    splits: dict[str, dict]
    pairs: list[PairOverlap]

    @property
    def ok(self) -> bool:
        """True when no pair shares an id, a text or a near-duplicate text."""
        return all(p.clean for p in self.pairs)

    def to_dict(self) -> dict:
        """JSON-ready dict (format-versioned)."""
        return {
            "format": REPORT_FORMAT,
            "ok": self.ok,
            "threshold": self.threshold,
            "splits": self.splits,
            "pairs": [
                {"a": p.a, "b": p.b, "ids": p.ids, "texts": p.texts, "near_dups": p.near_dups,
                 "rows_a": p.rows_a, "rows_b": p.rows_b, "examples": p.examples}
                for p in self.pairs
            ],
        }  # fmt: skip

    def format_table(self) -> str:
        """A table of every split pair, then the example pairs of the leaky ones."""
        width = max([len(p.a) for p in self.pairs] + [len(p.b) for p in self.pairs] + [5])
        head = (
            f"{'split a':<{width}} {'split b':<{width}} {'ids':>7} {'texts':>7} "
            f"{'near-dup':>8} {'rows a':>7} {'rows b':>7}"
        )
        lines = [head, "-" * len(head)]
        for p in self.pairs:
            lines.append(
                f"{p.a:<{width}} {p.b:<{width}} {p.ids:>7} {p.texts:>7} "
                f"{p.near_dups:>8} {p.rows_a:>7} {p.rows_b:>7}"
            )
        for p in self.pairs:
            for ex in p.examples:
                sim = f" J={ex['jaccard']:.2f}" if ex.get("jaccard") is not None else ""
                lines.append(f"[{p.a} / {p.b}] {ex['kind']}{sim}: {ex['a_id']} <-> {ex['b_id']}")
                lines.append(f"    a: {ex['a_text']}")
                lines.append(f"    b: {ex['b_text']}")
        verdict = (
            "OK: no overlap"
            if self.ok
            else "LEAKAGE: splits overlap (see above); fix the split or pass --warn-only"
        )
        lines.append(verdict)
        return "\n".join(lines)

    def raise_if_leaky(self) -> None:
        """Raises:
        LeakageError: if any pair of splits overlaps.
        """
        if not self.ok:
            bad = [
                f"{p.a}/{p.b}: ids={p.ids} texts={p.texts} near_dups={p.near_dups}"
                for p in self.pairs
                if not p.clean
            ]
            raise LeakageError("splits overlap: " + "; ".join(bad))


def _expand(inputs: Sequence[str | Path], *, prefix: str = "") -> list[tuple[str, Path]]:
    named: list[tuple[str, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(path.glob("*.jsonl"))
            if not files:
                raise ConfigError(f"{path}: directory has no *.jsonl split files")
            named += [(prefix + f.stem, f) for f in files]
        elif path.is_file():
            named.append((prefix + path.stem, path))
        else:
            raise ConfigError(
                f"{path}: no such file or directory (expected split JSONL files "
                "or a directory of them)"
            )
    seen: dict[str, Path] = {}
    for name, path in named:
        if name in seen:
            raise ConfigError(
                f"split name {name!r} comes from both {seen[name]} and {path}; "
                "split names are file stems and must be unique"
            )
        seen[name] = path
    return named


def _load(name: str, path: Path) -> _Split:
    ids: list[str] = []
    uidx: list[int] = []
    utexts: list[str] = []
    ukeys: list[bytes] = []
    ufirst: list[int] = []
    index: dict[bytes, int] = {}
    problems: list[Problem] = []
    for item in scan([path], require_labels=False):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        text = item.norm_text
        key = text_key(text)
        u = index.get(key)
        if u is None:
            u = index[key] = len(utexts)
            utexts.append(text)
            ukeys.append(key)
            ufirst.append(len(ids))
        uidx.append(u)
        ids.append(item.id)
    if problems:
        raise DataError(
            problems,
            summary=f"{len(problems)} problem(s) in {path}: the leakage "
            "check needs readable rows with unique ids",
        )
    return _Split(name, str(path), ids, np.asarray(uidx, dtype=np.int64), utexts, ukeys, ufirst)


def _short(text: str) -> str:
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 3] + "..."


def check_leakage(
    inputs: Sequence[str | Path],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    previous: str | Path | None = None,
    max_examples: int = 5,
) -> LeakageReport:
    """Measure overlap between every pair of splits.

    Args:
        inputs: split JSONL files, or directories whose `*.jsonl` files are splits; a
            split's name is its file stem (`holdout.jsonl` -> `holdout`).
        threshold: Jaccard threshold on 5-character shingles of normalized text.
        previous: an older split set (directory or file); each new split is compared with
            each previous split (named `previous:<stem>`).
        max_examples: example pairs kept per split pair.

    Returns:
        The report; `report.ok` is false on any overlap.

    Raises:
        ConfigError: missing inputs, clashing split names, or a bad threshold.
        DataError: unreadable rows or duplicate ids inside one split file.
    """
    cfg = NearDupConfig(threshold=threshold)
    named = _expand(inputs)
    if previous is not None:
        named += _expand([previous], prefix=PREVIOUS_PREFIX)
    if len(named) < 2:
        raise ConfigError(f"need at least two splits to compare, found {[n for n, _ in named]}")
    splits = [_load(name, path) for name, path in named]
    is_prev = [s.name.startswith(PREVIOUS_PREFIX) for s in splits]
    pair_list = [
        (i, j) for i, j in combinations(range(len(splits)), 2) if not (is_prev[i] and is_prev[j])
    ]
    overlaps = _Overlaps(splits, pair_list, max_examples)
    overlaps.count_ids()
    overlaps.count_texts()
    overlaps.count_near_dups(cfg)
    pairs = overlaps.finish()
    info = {
        s.name: {"path": s.path, "rows": len(s.ids), "distinct_texts": len(s.utexts)}
        for s in splits
    }
    return LeakageReport(threshold=threshold, splits=info, pairs=[pairs[k] for k in pair_list])


class _Overlaps:
    """Overlap counts, flagged rows and examples of every compared pair of splits."""

    def __init__(self, splits: list[_Split], pair_list: list[tuple[int, int]], max_examples: int):
        self.splits = splits
        self.max_examples = max_examples
        self.pairs = {(i, j): PairOverlap(splits[i].name, splits[j].name) for i, j in pair_list}
        # Rows (by split) involved in any overlap of the pair: (i, j) -> (flags_i, flags_j).
        self.row_flags = {
            (i, j): (np.zeros(len(splits[i].ids), bool), np.zeros(len(splits[j].ids), bool))
            for i, j in pair_list
        }
        self.text_flags = {
            (i, j): (np.zeros(len(splits[i].utexts), bool), np.zeros(len(splits[j].utexts), bool))
            for i, j in pair_list
        }

    def add_example(self, key, kind, ra, rb, sim=None) -> None:
        pair = self.pairs[key]
        if len([e for e in pair.examples if e["kind"] == kind]) >= self.max_examples:
            return
        a, b = self.splits[key[0]], self.splits[key[1]]
        pair.examples.append({
            "kind": kind, "a_id": a.ids[ra], "b_id": b.ids[rb],
            "a_text": _short(a.utexts[a.uidx[ra]]), "b_text": _short(b.utexts[b.uidx[rb]]),
            "jaccard": None if sim is None else round(sim, 4),
        })  # fmt: skip

    def count_ids(self) -> None:
        """1. Shared ids: id -> [(split, row)]."""
        where: dict[str, list[tuple[int, int]]] = {}
        for s, split in enumerate(self.splits):
            for r, row_id in enumerate(split.ids):
                where.setdefault(row_id, []).append((s, r))
        for hits in where.values():
            for (si, ri), (sj, rj) in combinations(hits, 2):
                if (si, sj) in self.pairs:
                    self.pairs[si, sj].ids += 1
                    self.row_flags[si, sj][0][ri] = True
                    self.row_flags[si, sj][1][rj] = True
                    self.add_example((si, sj), "id", ri, rj)

    def count_texts(self) -> None:
        """2. Identical normalized texts: key -> [(split, distinct-text index)]."""
        splits = self.splits
        by_key: dict[bytes, list[tuple[int, int]]] = {}
        for s, split in enumerate(splits):
            for u, key in enumerate(split.ukeys):
                by_key.setdefault(key, []).append((s, u))
        for hits in by_key.values():
            for (si, ui), (sj, uj) in combinations(hits, 2):
                if (si, sj) in self.pairs:
                    self._text_hit(si, sj, ui, uj, "text", 1.0)
                    self.pairs[si, sj].texts += 1

    def count_near_dups(self, cfg: NearDupConfig) -> None:
        """3. Near-duplicates across splits (identical texts are skipped: counted above)."""
        all_texts: list[str] = []
        owner: list[int] = []
        offsets = [0]
        for s, split in enumerate(self.splits):
            all_texts += split.utexts
            owner += [s] * len(split.utexts)
            offsets.append(len(all_texts))
        for gi, gj, sim in near_duplicate_pairs(all_texts, config=cfg, group=owner):
            si, sj = owner[gi], owner[gj]
            if (si, sj) in self.pairs:
                self.pairs[si, sj].near_dups += 1
                self._text_hit(si, sj, gi - offsets[si], gj - offsets[sj], "near-dup", sim)

    def _text_hit(self, si: int, sj: int, ui: int, uj: int, kind: str, sim: float) -> None:
        self.text_flags[si, sj][0][ui] = True
        self.text_flags[si, sj][1][uj] = True
        self.add_example((si, sj), kind, self.splits[si].ufirst[ui], self.splits[sj].ufirst[uj],
                         sim)  # fmt: skip

    def finish(self) -> dict[tuple[int, int], PairOverlap]:
        """The pairs, with the rows of each side involved in any overlap counted."""
        for key, pair in self.pairs.items():
            (ra, rb), (ta, tb) = self.row_flags[key], self.text_flags[key]
            a, b = self.splits[key[0]], self.splits[key[1]]
            pair.rows_a = int((ra | ta[a.uidx]).sum())
            pair.rows_b = int((rb | tb[b.uidx]).sum())
        return self.pairs
