"""`janitr split`: group-aware, stratified, deterministic train/valid/calib/holdout splits.

Rows whose normalized texts are equal or near-duplicates (`janitr.data.neardup`) form a group,
and a group always lands in one split: that is what keeps the holdout honest. Groups are
stratified by the two-head label set (`labels.training_label_set`) refined by the group's
rarest raw label, so raw-label and label-pair prevalences match the whole data set; the
`SplitReport` measures the per-label and per-pair deltas. Splitting works in two streamed
passes: the plan (id, labels, normalized text per row), then the rows copied byte for byte
into `<split>.jsonl` (files written atomically, rows in input order), plus
`split_report.json`. Same input and seed give byte-identical files. Data must be valid
(`janitr validate`); labels are never edited.

`carve_holdout` uses the same passes to carve a holdout out of train when a data directory
has none (the first stage of `janitr run`), keeping it clear of valid/calib duplicates.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from janitr.artifacts import atomic_path, file_entry, write_json
from janitr.data.labels import CLASSES, collapse, training_label_set
from janitr.data.neardup import DEFAULT_THRESHOLD, NearDupConfig, duplicate_groups
from janitr.data.records import iter_lines, scan
from janitr.errors import ConfigError, DataError, Problem, SplitError

logger = logging.getLogger(__name__)

REPORT_FORMAT = "janitr-split-report v1"
DEFAULT_RATIOS: dict[str, float] = {"train": 0.6, "valid": 0.1, "calib": 0.05, "holdout": 0.25}
#: Labels (and label pairs) rarer than this are reported but not held to the delta bounds:
#: their prevalence cannot be matched in small splits.
MIN_SUPPORT = 20


def parse_ratios(spec: str, *, flag: str = "--ratios") -> dict[str, float]:
    """Parse `train=0.6,valid=0.1,...` into a validated ratio dict.

    Raises:
        ConfigError: naming `flag`, if the spec is malformed, a ratio is not > 0, a split is
            repeated, or the ratios do not sum to 1.
    """
    ratios: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(
                f"{flag}: expected NAME=FRACTION pairs such as "
                f"'train=0.6,holdout=0.4', found {part.strip()!r}"
            )
        if name in ratios:
            raise ConfigError(f"{flag}: split {name!r} is given twice")
        try:
            ratios[name] = float(value)
        except ValueError:
            raise ConfigError(f"{flag}: {name}={value.strip()!r} is not a number") from None
    return check_ratios(ratios, flag=flag)


def check_ratios(ratios: dict[str, float], *, flag: str = "ratios") -> dict[str, float]:
    """Check split ratios: at least two named splits, each > 0, summing to 1 (+-1e-6).

    Raises:
        ConfigError: naming `flag`.
    """
    if len(ratios) < 2:
        raise ConfigError(f"{flag}: expected at least two splits, found {list(ratios)}")
    for name, value in ratios.items():
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"{flag}: split name {name!r} must be letters, digits, - or _")
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{flag}: {name}={value} must be > 0")
    total = sum(ratios.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(
            f"{flag}: ratios must sum to 1, found {total:.6g} "
            f"({', '.join(f'{k}={v}' for k, v in ratios.items())})"
        )
    return dict(ratios)


@dataclass
class SplitReport:
    """What `split_dataset` produced and how well it is stratified.

    Attributes:
        out_dir: where the split files were written.
        seed: the seed used.
        ratios: requested fraction per split.
        rows: rows per split.
        groups: number of duplicate groups, and how many hold more than one row.
        classes: split -> collapsed class -> rows ("all" = the whole data set).
        label_prevalence: raw label -> {"all": p, split: p, ...} (prevalence = share of rows).
        pair_prevalence: "a+b" label pair -> {"all": p, split: p, ...}.
        max_label_delta / max_pair_delta: split -> largest |p_split - p_all| over labels
            (pairs) with support >= MIN_SUPPORT.
        violations: human-readable bound violations (empty when within bounds).
        inputs: input files with SHA-256.
    """

    out_dir: str
    seed: int
    ratios: dict[str, float]
    rows: dict[str, int]
    groups: dict[str, int]
    classes: dict[str, dict[str, int]]
    label_prevalence: dict[str, dict[str, float]]
    pair_prevalence: dict[str, dict[str, float]]
    max_label_delta: dict[str, float]
    max_pair_delta: dict[str, float]
    bounds: dict[str, float]
    violations: list[str] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)
    command: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every delta is within its bound."""
        return not self.violations

    def to_dict(self) -> dict:
        """The JSON written to `split_report.json`."""
        return {
            "format": REPORT_FORMAT,
            "seed": self.seed,
            "ratios": self.ratios,
            "rows": self.rows,
            "groups": self.groups,
            "classes": self.classes,
            "max_label_delta": self.max_label_delta,
            "max_pair_delta": self.max_pair_delta,
            "bounds": self.bounds,
            "violations": self.violations,
            "label_prevalence": self.label_prevalence,
            "pair_prevalence": self.pair_prevalence,
            "inputs": self.inputs,
            "command": self.command,
        }

    def summary(self) -> str:
        """A short table: rows, classes and max deltas per split."""
        lines = [
            f"{'split':<10} {'rows':>8} "
            + " ".join(f"{c:>13}" for c in CLASSES)
            + f" {'max dlabel':>10} {'max dpair':>10}"
        ]
        for name in self.ratios:
            cls = self.classes[name]
            lines.append(
                f"{name:<10} {self.rows[name]:>8} "
                + " ".join(f"{cls.get(c, 0):>13}" for c in CLASSES)
                + f" {self.max_label_delta[name]:>10.4f} {self.max_pair_delta[name]:>10.4f}"
            )
        lines.append(
            f"groups: {self.groups['groups']} ({self.groups['multi_row']} with more "
            f"than one row, {self.groups['rows_in_multi']} rows in them)"
        )
        lines += [f"VIOLATION: {v}" for v in self.violations]
        return "\n".join(lines)


@dataclass
class _Plan:
    ids: list[str]
    labels: list[tuple[str, ...]]
    group: np.ndarray  # (N,) group id per row
    split: np.ndarray  # (N,) split index per row
    per_file: list[int]  # rows per input file


def read_plan_inputs(paths: Sequence[Path]) -> tuple[list[str], list[tuple], list[str], list[int]]:
    """The first pass of a split: `(ids, labels, normalized texts, rows per file)`.

    Raises:
        DataError: listing every bad row, or if the files hold no rows.
    """
    ids: list[str] = []
    labels: list[tuple[str, ...]] = []
    texts: list[str] = []
    per_file = [0] * len(paths)
    problems: list[Problem] = []
    index = {str(p): i for i, p in enumerate(paths)}
    for item in scan(paths, require_labels=True):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        ids.append(item.id)
        labels.append(item.labels)
        texts.append(item.norm_text)
        per_file[index[item.path]] += 1
    if problems:
        raise DataError(
            problems,
            summary=f"{len(problems)} problem(s): fix the data before "
            "splitting (`janitr validate` lists them)",
        )
    if not ids:
        raise DataError([], summary="no rows to split: the input files are empty")
    return ids, labels, texts, per_file


def assign_groups(
    labels: list[tuple[str, ...]], group: np.ndarray, ratios: dict[str, float], seed: int
) -> np.ndarray:
    """Split index per row: groups in a seeded random order, each to the split furthest
    below its target within the group's stratum."""
    n = len(labels)
    raw_count: Counter = Counter()
    for labs in labels:
        raw_count.update(set(labs))
    min_ratio = min(ratios.values())
    # A raw label refines the stratum only if it is common enough to reach every split.
    enough = {lab for lab, c in raw_count.items() if c * min_ratio >= 2}

    # Members of each group, in row order: (G,) group ids, start offsets into `members`.
    order = np.argsort(group, kind="stable")
    sorted_groups = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    ends = np.r_[starts[1:], n]

    strata: dict[tuple, int] = {}
    group_stratum = np.empty(len(starts), dtype=np.int64)
    for g, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        if e - s == 1:
            labs = set(labels[order[s]])
        else:
            labs = set().union(*(labels[i] for i in order[s:e].tolist()))
        rare = [lab for lab in labs if lab in enough]
        rarest = min(rare, key=lambda lab: (raw_count[lab], lab)) if rare else ""
        key = (training_label_set(labs), rarest)
        group_stratum[g] = strata.setdefault(key, len(strata))

    names = list(ratios)
    target = [ratios[k] for k in names]
    n_splits = len(names)
    counts = [[0.0] * n_splits for _ in strata]
    done = [0.0] * len(strata)
    rng = np.random.default_rng(seed)
    split_of_group = np.empty(len(starts), dtype=np.int8)
    sizes = (ends - starts).tolist()
    stratum_of = group_stratum.tolist()
    for g in rng.permutation(len(starts)).tolist():
        st = stratum_of[g]
        size = sizes[g]
        row = counts[st]
        # deficit of each split: its target share (this group included) minus what it has
        total = done[st] + size
        best, best_deficit = 0, -1e300
        for k in range(n_splits):
            deficit = target[k] * total - row[k]
            if deficit > best_deficit:
                best, best_deficit = k, deficit
        split_of_group[g] = best
        row[best] += size
        done[st] = total
    split = np.empty(n, dtype=np.int8)
    split[order] = np.repeat(split_of_group, ends - starts)
    return split


def prevalences(
    labels: list[tuple[str, ...]], split: np.ndarray, names: list[str]
) -> tuple[dict, dict, dict, dict, dict]:
    """Class counts, label and pair prevalence per split and for "all", plus supports."""
    # Count label combinations per split once; labels and pairs derive from the combos.
    combos: list[Counter] = [Counter() for _ in names]
    for labs, s in zip(labels, split.tolist(), strict=True):
        combos[s][tuple(sorted(set(labs)))] += 1
    cols = ["all", *names]
    rows = {name: sum(c.values()) for name, c in zip(names, combos, strict=True)}
    rows["all"] = sum(rows.values())
    classes: dict[str, dict[str, int]] = {c: dict.fromkeys(CLASSES, 0) for c in cols}
    lab_n: dict[str, Counter] = {c: Counter() for c in cols}
    pair_n: dict[str, Counter] = {c: Counter() for c in cols}
    for name, counter in zip(names, combos, strict=True):
        for combo, count in counter.items():
            for col in (name, "all"):
                classes[col][collapse(combo)] += count
                for lab in combo:
                    lab_n[col][lab] += count
                for a, b in combinations(combo, 2):
                    pair_n[col][f"{a}+{b}"] += count

    def prevalence(table: dict[str, Counter]) -> dict[str, dict[str, float]]:
        out = {}
        for key in sorted(table["all"]):
            out[key] = {c: round(table[c][key] / rows[c], 6) if rows[c] else 0.0 for c in cols}
        return out

    return (
        rows,
        classes,
        prevalence(lab_n),
        prevalence(pair_n),
        {"labels": dict(lab_n["all"]), "pairs": dict(pair_n["all"])},
    )


def max_deltas(prev: dict, support: dict, names: list[str]) -> dict[str, tuple[float, str]]:
    """Per split, the largest |prevalence - overall prevalence| among keys (labels or pairs)
    with at least `MIN_SUPPORT` rows, and the key reaching it: `{split: (delta, key)}`."""
    out = {}
    for name in names:
        best = (0.0, "")
        for key, row in prev.items():
            if support.get(key, 0) < MIN_SUPPORT:
                continue
            delta = abs(row[name] - row["all"])
            if delta > best[0]:
                best = (delta, key)
        out[name] = best
    return out


def _violations(rows: dict, names: list[str], tables) -> list[str]:
    """The splits whose largest prevalence delta exceeds its bound: for each (kind, table of
    `max_deltas`, bound), a split of n rows may differ by max(bound, 1/n)."""
    violations = []
    for name in names:
        floor = 1.0 / rows[name] if rows[name] else 1.0
        for kind, table, bound in tables:
            delta, key = table[name]
            if delta > max(bound, floor):
                violations.append(
                    f"{name}: {kind} {key!r} prevalence differs from the whole "
                    f"data by {delta:.4f} > bound {max(bound, floor):.4f}"
                )
    return violations


def _report_violations(violations: list[str], *, strict: bool) -> None:
    """Warn about missed stratification bounds, or with `strict` refuse the split.

    Raises:
        SplitError: with `strict`, if there is any violation.
    """
    if violations and strict:
        raise SplitError(
            "split misses its stratification bounds (nothing written):\n"
            + "\n".join(violations)
            + "\n(try another --seed, looser bounds, or larger splits)"
        )
    for v in violations:
        logger.warning("split: %s", v)


def split_dataset(
    *,
    data: Sequence[str | Path],
    out_dir: str | Path,
    seed: int = 42,
    ratios: dict[str, float] | None = None,
    near_dup_threshold: float = DEFAULT_THRESHOLD,
    max_label_delta: float = 0.03,
    max_pair_delta: float = 0.05,
    strict: bool = False,
) -> SplitReport:
    """Split labeled JSONL files into stratified, leakage-free splits.

    Args:
        data: labeled JSONL files (ids unique across all of them); their rows are pooled.
        out_dir: receives `<split>.jsonl` per split and `split_report.json`.
        seed: the only source of randomness; same input + seed = byte-identical output.
        ratios: fraction per split name (default train 0.6, valid 0.1, calib 0.05,
            holdout 0.25); each > 0, summing to 1.
        near_dup_threshold: Jaccard threshold above which two texts are kept together.
        max_label_delta: bound on |prevalence in split - prevalence overall| per raw label
            (labels with >= MIN_SUPPORT rows). A split of n rows cannot resolve prevalence
            finer than 1/n, so the bound used for it is max(bound, 1/n).
        max_pair_delta: the same bound for co-occurring label pairs.
        strict: raise instead of warning when a bound is exceeded (nothing is written then).

    Returns:
        The report (also written as `split_report.json`).

    Raises:
        ConfigError: bad ratios or threshold.
        DataError: any invalid row in the input (run `janitr validate`).
        SplitError: with `strict`, if a delta exceeds its bound.
    """
    ratios = check_ratios(dict(ratios or DEFAULT_RATIOS))
    paths = [Path(p) for p in data]
    if not paths:
        raise ConfigError("data: expected at least one JSONL file")
    out = Path(out_dir)
    names = list(ratios)

    ids, labels, texts, per_file = read_plan_inputs(paths)
    group = np.asarray(
        duplicate_groups(texts, config=NearDupConfig(threshold=near_dup_threshold)), dtype=np.int64
    )
    del texts
    split = assign_groups(labels, group, ratios, seed)

    rows, classes, label_prev, pair_prev, support = prevalences(labels, split, names)
    label_max = max_deltas(label_prev, support["labels"], names)
    pair_max = max_deltas(pair_prev, support["pairs"], names)
    violations = _violations(rows, names, (("label", label_max, max_label_delta),
                                           ("label pair", pair_max, max_pair_delta)))  # fmt: skip
    _, group_sizes = np.unique(group, return_counts=True)
    report = SplitReport(
        out_dir=str(out),
        seed=seed,
        ratios=ratios,
        rows={k: rows[k] for k in names},
        groups={"groups": int(group_sizes.shape[0]),
                "multi_row": int((group_sizes > 1).sum()),
                "rows_in_multi": int(group_sizes[group_sizes > 1].sum())},
        classes=classes,
        label_prevalence=label_prev,
        pair_prevalence=pair_prev,
        max_label_delta={k: round(v[0], 6) for k, v in label_max.items()},
        max_pair_delta={k: round(v[0], 6) for k, v in pair_max.items()},
        bounds={"max_label_delta": max_label_delta, "max_pair_delta": max_pair_delta,
                "min_support": MIN_SUPPORT, "near_dup_threshold": near_dup_threshold},
        violations=violations,
        inputs=[{"path": str(p), **file_entry(p)} for p in paths],
        command=list(sys.argv),
    )  # fmt: skip
    _report_violations(violations, strict=strict)
    write_splits(paths, per_file, ids, split, names, out)
    write_json(out / "split_report.json", report.to_dict())
    return report


def write_splits(
    paths: list[Path],
    per_file: list[int],
    ids: list[str],
    split: np.ndarray,
    names: list[str],
    out: Path,
) -> None:
    """Second pass: copy each row's line, as read, into its split file (input order).

    Args:
        paths, per_file: the input files and their row counts (from `read_plan_inputs`).
        ids: row ids in input order.
        split: (N,) index into `names` per row.
        names: split names; `out/<name>.jsonl` is written atomically for each.
        out: output directory.

    Raises:
        DataError: if an input file changed since the first pass.
    """
    out.mkdir(parents=True, exist_ok=True)
    split_list = split.tolist()
    with contextlib.ExitStack() as stack:
        handles = []
        for name in names:
            tmp = stack.enter_context(atomic_path(out / f"{name}.jsonl"))
            handles.append(stack.enter_context(open(tmp, "wb")))
        row = 0
        for path, expected in zip(paths, per_file, strict=True):
            seen = 0
            for _, raw in iter_lines(path):
                if row >= len(split_list):
                    row += 1
                    break
                handle = handles[split_list[row]]
                handle.write(raw)
                handle.write(b"\n")
                row += 1
                seen += 1
            if seen != expected:
                raise DataError([Problem(str(path), 0, "<file>",
                                 f"changed while splitting: {seen} rows now, {expected} before",
                                 "do not edit the input during a split")])  # fmt: skip
        for handle in handles:
            handle.flush()
        # handles close before atomic_path renames (ExitStack unwinds in reverse order)
    if row != len(ids):
        raise DataError(
            [
                Problem(
                    str(paths[-1]),
                    0,
                    "<file>",
                    "input changed while splitting",
                    "do not edit the input during a split",
                )
            ]
        )


def carve_holdout(
    data_dir: Path,
    out: Path,
    *,
    fraction: float,
    seed: int,
    threshold: float,
    max_rounds: int = 5,
) -> dict:
    """Carve a holdout out of `train.jsonl` into `out/` (train, holdout, copies of the rest).

    The carve is the group-aware stratified splitter of this module: rows that are equal or
    near-duplicate texts form one group and land on the same side; groups are stratified by
    their label set; the seed makes it reproducible. Two guards keep the holdout honest
    against valid/calib, which select epochs and tune thresholds:

    1. train rows that share an id, a text or a near-duplicate text with valid or calib (and
       their whole duplicate group) are pinned to train before the split;
    2. afterwards `janitr.data.leakage.check_leakage` runs on exactly the files a leakage
       check of the result sees, and any holdout row still overlapping another split is
       dropped (counted, ids kept in the returned report).

    Args:
        data_dir: directory with `train.jsonl` (and `valid`/`calib`/`unlabeled.jsonl`).
        out: directory to write `train.jsonl`, `holdout.jsonl` and copies of the others.
        fraction: share of train to carve, e.g. 0.2.
        seed: seed of the group assignment.
        threshold: near-duplicate Jaccard threshold (grouping and leakage check).
        max_rounds: leakage-check-and-drop rounds before giving up.

    Returns:
        JSON-ready report: fraction, seed, threshold, rows per split, pinned and dropped rows,
        duplicate groups, class counts and largest label-prevalence delta per side.

    Raises:
        SplitError: if the train file is too small to carve from, or the holdout cannot be
            made clean.
    """
    import shutil

    train = data_dir / "train.jsonl"
    others = [p for n in ("valid", "calib") if (p := data_dir / f"{n}.jsonl").is_file()]
    ids, labels, texts, per_file = read_plan_inputs([train])
    n = len(ids)
    group = np.asarray(
        duplicate_groups(texts, config=NearDupConfig(threshold=threshold)), dtype=np.int64
    )
    del texts

    # 1. pin train rows overlapping valid/calib (and their duplicate groups) to train
    flagged = _leaking_ids([train, *others], "train", threshold=threshold) if others else set()
    row_of = {row_id: i for i, row_id in enumerate(ids)}
    pinned_groups = {int(group[row_of[i]]) for i in flagged if i in row_of}
    pinned = np.isin(group, np.asarray(sorted(pinned_groups), dtype=np.int64))
    split = _carve(labels, group, pinned, fraction=fraction, seed=seed)
    names = ["train", "holdout"]
    out.mkdir(parents=True, exist_ok=True)
    write_splits([train], per_file, ids, split, names, out)
    for name in ("valid", "calib", "unlabeled"):
        source = data_dir / f"{name}.jsonl"
        if source.is_file():
            shutil.copyfile(source, out / f"{name}.jsonl")
    # 2. verify with the leakage check itself; drop what still overlaps
    checked = [out / "train.jsonl", *[out / p.name for p in others], out / "holdout.jsonl"]
    dropped = _drop_holdout_leaks(checked, out / "holdout.jsonl", threshold=threshold,
                                  max_rounds=max_rounds)  # fmt: skip
    keep = np.ones(n, dtype=bool)
    keep[[row_of[row_id] for row_id in dropped]] = False
    report = _carve_summary([labels[i] for i in np.flatnonzero(keep).tolist()], split[keep],
                            group, names)  # fmt: skip
    return {
        "source": "train.jsonl",
        "fraction": fraction,
        "seed": seed,
        "near_dup_threshold": threshold,
        "rows": {"train_before": n, **report.pop("rows")},
        "pinned_to_train": int(pinned.sum()),
        "dropped": len(dropped),
        "dropped_ids": dropped,
        **report,
    }


def _carve_summary(kept_labels: list, kept_split: np.ndarray, group: np.ndarray,
                   names: list[str]) -> dict:  # fmt: skip
    """Rows, duplicate groups, classes and largest label-prevalence delta of each side of
    a carve (the rows kept after dropping leaks)."""
    rows, classes, label_prev, _, support = prevalences(kept_labels, kept_split, names)
    deltas = max_deltas(label_prev, support["labels"], names)
    _, sizes = np.unique(group, return_counts=True)
    return {
        "rows": {"train": rows["train"], "holdout": rows["holdout"]},
        "groups": {"groups": int(sizes.shape[0]), "multi_row": int((sizes > 1).sum())},
        "classes": {k: {c: classes[k].get(c, 0) for c in CLASSES} for k in names},
        "max_label_delta": {k: round(v[0], 6) for k, v in deltas.items()},
    }


def _carve(labels: list, group: np.ndarray, pinned: np.ndarray, *, fraction: float,
           seed: int) -> np.ndarray:  # fmt: skip
    """Assign the groups that are not pinned to train (0) or holdout (1), so that the
    holdout holds `fraction` of all rows.

    Raises:
        SplitError: if too few rows are free to carve from.
    """
    n = len(labels)
    free = np.flatnonzero(~pinned)
    want = int(round(fraction * n))
    if want < 1 or len(free) <= want + 1:
        raise SplitError(
            f"train.jsonl has {n} rows ({int(pinned.sum())} pinned to train as duplicates of "
            f"valid/calib): too few to carve a {fraction:.0%} holdout; add a holdout.jsonl "
            "or set data.holdout_fraction = 0 and evaluate.allow_overlap = true"
        )
    share = min(want / len(free), 0.9)
    split = np.zeros(n, dtype=np.int8)
    split[free] = assign_groups(
        [labels[i] for i in free.tolist()],
        group[free],
        {"train": 1.0 - share, "holdout": share},
        seed,
    )
    return split


def _leaking_ids(paths: Sequence[Path], split: str, *, threshold: float) -> set[str]:
    """Ids of the rows of `split` that the leakage check finds in another of `paths`."""
    from janitr.data.leakage import check_leakage

    report = check_leakage(list(paths), threshold=threshold, max_examples=10**9)
    found: set[str] = set()
    for pair in report.pairs:
        for ex in pair.examples:
            if pair.a == split:
                found.add(ex["a_id"])
            if pair.b == split:
                found.add(ex["b_id"])
    return found


def _drop_holdout_leaks(
    paths: Sequence[Path], holdout: Path, *, threshold: float, max_rounds: int
) -> list[str]:
    """Drop the holdout rows that still overlap another split, until none do; the dropped
    ids, round by round.

    Raises:
        SplitError: if overlap remains after `max_rounds` rounds.
    """
    dropped: list[str] = []
    for _ in range(max_rounds):
        bad = _leaking_ids(paths, "holdout", threshold=threshold)
        if not bad:
            return dropped
        dropped += sorted(bad)
        drop_rows(holdout, bad)
    raise SplitError(
        f"could not carve a holdout free of overlap in {max_rounds} rounds "
        f"({len(dropped)} rows dropped); add a holdout.jsonl instead"
    )


def drop_rows(path: Path, ids: set[str]) -> None:
    """Rewrite a JSONL file without the rows whose id is in `ids` (atomically)."""
    import json

    from janitr.artifacts import write_bytes

    kept = [raw for _, raw in iter_lines(path) if json.loads(raw).get("id") not in ids]
    write_bytes(path, b"".join(line + b"\n" for line in kept))
