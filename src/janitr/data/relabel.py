"""`janitr relabel`: apply a reviewed change file to a dataset, as a new dataset version.

The parent directory is never modified. Every `*.jsonl` file of the parent is written into a
new folder: rows named in the change file get their new labels (every other field kept, key
order kept), all other lines are copied byte for byte. The folder carries a manifest,
`DATASET.json` (format-versioned): the parent's files with their SHA-256 and rows, the new
files likewise, the change file's hash, and every change (id, file, line, old and new labels,
old and new class, note). The new version is validated (`validate.validate_files`) before
it is committed (unlabeled files: their bad rows are only counted, as the pipeline skips
them), and its labeled splits are checked for leakage (`leakage.check_leakage`; labels do
not change texts, so any overlap is the parent's, reported in the manifest).

A change file is JSONL; `janitr audit`'s review file is one (each row has `new_labels:
null` until a reviewer fills it). A row:

    {"id": "123", "new_labels": ["clean"], "note": "a news report about a scam"}

`new_labels` null or absent keeps the row as it is. `given_labels`, when present (the review
file has it), must still be the row's labels: a review made on other data is refused.
Files whose name starts with `unlabeled` are copied unchanged and validated without labels.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from janitr.artifacts import atomic_dir, sha256_file, write_json
from janitr.data.labels import collapse
from janitr.data.records import dump_row, file_problem, iter_lines, parse_object, read_records
from janitr.data.taxonomy import known_labels
from janitr.errors import ConfigError, DataError, Problem

log = logging.getLogger(__name__)

#: `format` of each row of a review file (`janitr audit`); optional in a change file.
REVIEW_FORMAT = "janitr-label-review v1"
#: The manifest of a dataset version.
MANIFEST = "DATASET.json"
DATASET_FORMAT = "janitr-dataset-version"
DATASET_VERSION = 1
#: Files whose stem starts with this hold unlabeled rows (copied unchanged).
UNLABELED_PREFIX = "unlabeled"
_EXAMPLE = '{"id": "123", "new_labels": ["clean"], "note": "why"}'


@dataclass(frozen=True)
class Change:
    """One accepted change: row `id` (in `file`, at `line`) gets `new_labels`."""

    id: str
    file: str
    line: int
    old_labels: tuple[str, ...]
    new_labels: tuple[str, ...]
    note: str
    source_line: int  # line in the change file

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "file": self.file,
            "line": self.line,
            "old_labels": list(self.old_labels),
            "new_labels": list(self.new_labels),
            "old_class": collapse(self.old_labels),
            "new_class": collapse(self.new_labels),
            "note": self.note,
            "change_file_line": self.source_line,
        }


def dataset_files(data_dir: str | Path) -> list[Path]:
    """The `*.jsonl` files of a dataset directory, sorted by name.

    Raises:
        DataError: if data_dir is not a directory or holds no JSONL file.
    """
    data_dir = Path(data_dir)
    files = sorted(data_dir.glob("*.jsonl")) if data_dir.is_dir() else []
    if not files:
        what = "is not a directory" if not data_dir.is_dir() else "holds no *.jsonl file"
        raise DataError(
            [Problem(str(data_dir), 0, "<dir>", what,
                     "--data must be a dataset folder (train.jsonl, valid.jsonl, ...)")],
            summary=f"{data_dir}: not a dataset",
        )  # fmt: skip
    return files


def is_unlabeled(path: str | Path) -> bool:
    """True for files of unlabeled rows (`unlabeled*.jsonl`)."""
    return Path(path).stem.startswith(UNLABELED_PREFIX)


def read_changes(path: str | Path, rows_by_id: dict) -> list[Change]:
    """Parse and check a change file against the dataset's labeled rows.

    Args:
        path: the change file (JSONL).
        rows_by_id: id -> `Record` of every labeled row of the dataset.

    Returns:
        the changes that alter a row's labels, in file order (rows with `new_labels` null, or
        equal to the current labels, are left out).

    Raises:
        DataError: listing every bad row (file, line, field, what to do).
    """
    path = Path(path)
    missing = file_problem(path, hint="give the reviewed file written by `janitr audit`")
    if missing:
        raise DataError([missing])
    known = known_labels()
    problems: list[Problem] = []
    changes: list[Change] = []
    seen: dict[str, int] = {}
    for number, raw in iter_lines(path):
        obj = parse_object(raw, path=str(path), line=number, example=_EXAMPLE)
        if isinstance(obj, list):
            problems += obj
            continue
        found = _check_change(obj, rows_by_id, seen=seen, known=known)
        if isinstance(found, tuple):
            field, message, hint = found
            problems.append(Problem(str(path), number, field, message, hint))
        elif found is not None:
            changes.append(replace(found, source_line=number))
        if isinstance(obj.get("id"), str) and obj["id"] not in seen:
            seen[obj["id"]] = number
    if problems:
        raise DataError(problems, summary=f"{len(problems)} bad row(s) in the change file {path}")
    return changes


def _check_change(
    obj: dict, rows_by_id: dict, *, seen: dict[str, int], known: set[str]
) -> Change | tuple[str, str, str] | None:
    """One change row checked: a `Change`, `(field, message, hint)` of its first problem, or
    None for a row that changes nothing (`new_labels` null or equal to the current labels)."""
    if "format" in obj and obj["format"] != REVIEW_FORMAT:
        return ("format", f"expected {REVIEW_FORMAT!r}, found {obj['format']!r}",
                "re-run `janitr audit` with this janitr version")  # fmt: skip
    row_id = obj.get("id")
    if not isinstance(row_id, str) or not row_id:
        return "id", f"expected a non-empty string, found {row_id!r}", f"write rows as {_EXAMPLE}"
    if row_id in seen:
        return ("id", f"{row_id!r} is changed twice (first on line {seen[row_id]})",
                "keep one row per id")  # fmt: skip
    record = rows_by_id.get(row_id)
    if record is None:
        return ("id", f"unknown id {row_id!r}: no labeled row of the dataset has it",
                "the change file must come from an audit of this dataset (--data)")  # fmt: skip
    given = obj.get("given_labels")
    if given is not None and sorted(map(str, given)) != sorted(record.labels):
        return ("given_labels", f"{row_id!r} is now labeled {list(record.labels)}, the review "
                f"saw {given}", "the data changed since the audit; audit it again")  # fmt: skip
    new = obj.get("new_labels")
    if new is None:
        return None
    if (
        not isinstance(new, list)
        or not new
        or not all(isinstance(x, str) and x.strip() for x in new)
    ):
        return ("new_labels", f"expected a non-empty list of label strings, found {new!r}",
                'e.g. "new_labels": ["clean"]; null keeps the row as it is')  # fmt: skip
    unknown = sorted({x for x in new if x not in known})
    if unknown:
        return "new_labels", f"unknown label(s) {unknown}", "`janitr labels` lists the taxonomy"
    note = obj.get("note", "")
    if not isinstance(note, str):
        return "note", f"expected a string, found {type(note).__name__}", "write a short text"
    if sorted(set(new)) == sorted(set(record.labels)):
        return None
    return Change(id=row_id, file=Path(record.path).name, line=record.line,
                  old_labels=tuple(record.labels), new_labels=tuple(dict.fromkeys(new)),
                  note=note, source_line=0)  # fmt: skip


def _file_entry(path: Path) -> dict:
    return {"sha256": sha256_file(path), "rows": sum(1 for _ in iter_lines(path))}


def relabel(
    *, data_dir: str | Path, changes: str | Path, out_dir: str | Path, leakage: bool = True
) -> dict:
    """Write a new dataset version: the parent's files with the reviewed label changes.

    Args:
        data_dir: the parent dataset folder (never modified).
        changes: the reviewed change file (JSONL, see the module docstring).
        out_dir: the new folder; must not exist.
        leakage: check the new splits for overlap (recorded in the manifest).

    Returns:
        the manifest written to `out_dir/DATASET.json`, plus `validation` and `leakage`
        summaries.

    Raises:
        ConfigError: if out_dir exists, is the parent, or the file changes nothing.
        DataError: on bad rows in the parent or the change file, or if the new version fails
            validation (then nothing is written).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if out_dir.exists():
        raise ConfigError(
            f"--out {out_dir} already exists; a dataset version is never overwritten "
            "(give a new folder name)"
        )
    files = dataset_files(data_dir)
    labeled = [f for f in files if not is_unlabeled(f)]
    rows_by_id = {r.id: r for r in read_records(*labeled)}
    accepted = read_changes(changes, rows_by_id)
    if not accepted:
        raise ConfigError(
            f"{changes}: no row changes a label (fill `new_labels` of the rows to change; "
            "null keeps a row)"
        )
    with atomic_dir(out_dir) as tmp:
        _write_version(tmp, files, accepted)
        checks = _check_version(tmp, files, leakage=leakage)
        manifest = {
            "format": DATASET_FORMAT,
            "format_version": DATASET_VERSION,
            "parent": _parent_entry(data_dir, files),
            "files": {f.name: _file_entry(tmp / f.name) for f in files},
            "change_file": {"path": str(Path(changes).resolve()), "sha256": sha256_file(changes)},
            "changes": [c.to_dict() for c in accepted],
            "class_moves": _moves(accepted),
            **checks,
        }
        write_json(tmp / MANIFEST, manifest)
    leak = manifest["leakage"]
    if leak and not leak["ok"]:
        log.warning("the new version's splits overlap (inherited from the parent: labels "
                    "do not change texts); see `janitr leakage %s`", out_dir)  # fmt: skip
    return manifest


def _write_version(tmp: Path, files: list[Path], accepted: list[Change]) -> None:
    """Copy every file into `tmp`, byte for byte except the changed rows' labels."""
    by_file: dict[str, dict[int, Change]] = {}
    for c in accepted:
        by_file.setdefault(c.file, {})[c.line] = c
    for src in files:
        edits = by_file.get(src.name, {})
        with open(tmp / src.name, "wb") as out:
            for number, raw in _lines(src):
                change = edits.get(number)
                if change is not None:
                    ending = raw[len(raw.rstrip(b"\r\n")) :]
                    row = json.loads(raw.decode("utf-8-sig"))
                    row["labels"] = list(change.new_labels)
                    raw = dump_row(row).encode("utf-8") + ending
                out.write(raw)


def _check_version(tmp: Path, files: list[Path], *, leakage: bool) -> dict:
    """Validate the new version (fatal) and check its splits for leakage (recorded).

    Raises:
        DataError: if a labeled file of the new version fails validation.
    """
    from janitr.data.validate import validate_files

    labeled = [tmp / f.name for f in files if not is_unlabeled(f)]
    report = validate_files(labeled)
    if not report.ok:
        raise DataError(report.problems, summary="the new dataset version fails validation")
    # Unlabeled rows are copied as they were; their problems are counted, not fatal (the
    # pipeline skips bad unlabeled rows too).
    unlabeled = [tmp / f.name for f in files if is_unlabeled(f)]
    unlabeled_problems = (
        len(validate_files(unlabeled, require_labels=False).problems) if unlabeled else 0
    )
    leak = None
    if leakage and len(labeled) >= 2:
        from janitr.data.leakage import check_leakage

        result = check_leakage(labeled)
        leak = {
            "ok": result.ok,
            "pairs": [
                {"a": p.a, "b": p.b, "ids": p.ids, "texts": p.texts, "near_dups": p.near_dups}
                for p in result.pairs
                if not p.clean
            ],
        }
    validation = {"ok": report.ok, "rows": report.rows,
                  "class_counts": dict(report.class_counts),
                  "unlabeled_problems": unlabeled_problems}  # fmt: skip
    return {"validation": validation, "leakage": leak}


def _parent_entry(data_dir: Path, files: list[Path]) -> dict:
    """The parent version: its path, every file's hash and rows, its own manifest's hash."""
    parent_manifest = data_dir / MANIFEST
    return {
        "path": str(data_dir.resolve()),
        "files": {f.name: _file_entry(f) for f in files},
        "manifest_sha256": sha256_file(parent_manifest) if parent_manifest.is_file() else None,
    }


def _lines(path: Path):
    """`(line number, raw bytes with line end)` of every line, blank ones included."""
    with open(path, "rb") as handle:
        yield from enumerate(handle, start=1)


def _moves(changes: Sequence[Change]) -> dict[str, int]:
    """How many rows moved from one collapsed class to another, e.g. `{"scam->clean": 3}`."""
    out: dict[str, int] = {}
    for c in changes:
        key = f"{collapse(c.old_labels)}->{collapse(c.new_labels)}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def format_relabel(manifest: dict, out_dir: str | Path) -> str:
    """A short summary: changes, class moves, files, validation and leakage."""
    lines = [
        f"wrote {out_dir}: {len(manifest['changes'])} label change(s) "
        f"({', '.join(f'{k} {v}' for k, v in manifest['class_moves'].items())})",
    ]
    for name, entry in manifest["files"].items():
        parent = manifest["parent"]["files"][name]
        same = " (unchanged)" if entry["sha256"] == parent["sha256"] else ""
        lines.append(f"  {name}: {entry['rows']} rows, sha256 {entry['sha256'][:12]}{same}")
    v = manifest["validation"]
    lines.append(f"validation: OK, {v['rows']} labeled rows {v['class_counts']}")
    leak = manifest.get("leakage")
    if leak is not None:
        lines.append(
            "leakage: none between splits"
            if leak["ok"]
            else f"leakage: {len(leak['pairs'])} split pair(s) overlap (as in the parent)"
        )
    return "\n".join(lines)
