"""`janitr benchmark freeze|verify`: pin a split set so later numbers stay comparable.

Freezing a split directory writes, into a benchmark directory, one `<split>.ids.txt` per
split (ids in file order) and a `MANIFEST.json` (format version, name, creation time and
command, seed from `split_report.json` if present, rows, raw and collapsed label support,
SHA-256 of every split JSONL and every id list). Verifying recomputes all of it and fails
loudly, listing every mismatch, if one byte changed. The split JSONL files stay where they
are (the manifest stores their path relative to the benchmark directory); nothing is copied.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from janitr.artifacts import atomic_dir, read_json, sha256_file, write_json, write_lines
from janitr.data.labels import CLASSES, collapse
from janitr.data.records import scan
from janitr.errors import BenchmarkError, DataError, Problem

MANIFEST_FORMAT = "janitr-benchmark v1"
MANIFEST = "MANIFEST.json"
#: Where `freeze_benchmark` puts benchmarks and `verify_benchmark` looks names up.
DEFAULT_ROOT = Path("benchmarks/frozen")


def _split_summary(path: Path) -> tuple[list[str], dict]:
    """Ids in file order plus rows and label support of one split file."""
    ids: list[str] = []
    raw: Counter = Counter()
    classes: Counter = Counter()
    labeled = True
    problems: list[Problem] = []
    for item in scan([path], require_labels=False):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        ids.append(item.id)
        if item.labels:
            raw.update(set(item.labels))
            classes[collapse(item.labels)] += 1
        else:
            labeled = False
    if problems:
        raise DataError(problems, summary=f"{len(problems)} problem(s) in {path}")
    return ids, {
        "rows": len(ids),
        "labeled": labeled,
        "label_support": dict(sorted(raw.items())),
        "class_support": {c: classes.get(c, 0) for c in CLASSES},
    }


def _split_files(split_dir: Path) -> list[Path]:
    if not split_dir.is_dir():
        raise BenchmarkError(
            f"{split_dir}: not a directory (expected a split directory with "
            "<split>.jsonl files, e.g. the --out of `janitr split`)"
        )
    files = sorted(split_dir.glob("*.jsonl"))
    if not files:
        raise BenchmarkError(f"{split_dir}: no *.jsonl split files found")
    return files


def freeze_benchmark(
    split_dir: str | Path,
    *,
    name: str,
    out: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Freeze the splits in `split_dir` as benchmark `name`.

    Args:
        split_dir: directory of `<split>.jsonl` files (and optionally `split_report.json`).
        name: benchmark name (letters, digits, `-`, `_`, `.`).
        out: benchmark directory (default `benchmarks/frozen/<name>`).
        overwrite: replace an existing benchmark directory.

    Returns:
        The benchmark directory.

    Raises:
        BenchmarkError: bad name, missing splits, or the benchmark exists already.
        DataError: unreadable rows in a split file.
    """
    if not name or not all(ch.isalnum() or ch in "-_." for ch in name) or name.startswith("."):
        raise BenchmarkError(f"--name: {name!r} must be letters, digits, '-', '_' or '.'")
    split_dir = Path(split_dir)
    target = Path(out) if out is not None else DEFAULT_ROOT / name
    if target.exists() and not overwrite:
        raise BenchmarkError(
            f"{target} already exists; choose another --name or --out "
            "(frozen benchmarks are never silently replaced)"
        )
    files = _split_files(split_dir)
    report_path = split_dir / "split_report.json"
    seed = None
    if report_path.is_file():
        seed = read_json(report_path).get("seed")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(target, overwrite=overwrite) as tmp:
        splits = {}
        for path in files:
            ids, summary = _split_summary(path)
            ids_name = f"{path.stem}.ids.txt"
            write_lines(tmp / ids_name, ids)
            splits[path.stem] = {
                **summary,
                "jsonl": os.path.relpath(path.resolve(), target.resolve()),
                "jsonl_sha256": sha256_file(path),
                "ids": ids_name,
                "ids_sha256": sha256_file(tmp / ids_name),
            }
        manifest = {
            "format": MANIFEST_FORMAT,
            "name": name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": list(sys.argv),
            "seed": seed,
            "source_dir": str(split_dir.resolve()),
            "split_report_sha256": sha256_file(report_path) if report_path.is_file() else None,
            "splits": splits,
        }
        write_json(tmp / MANIFEST, manifest)
    return target


def resolve_benchmark(name_or_dir: str | Path) -> Path:
    """A benchmark directory from a path, or a name under `benchmarks/frozen/`.

    Raises:
        BenchmarkError: if neither holds a MANIFEST.json.
    """
    for candidate in (Path(name_or_dir), DEFAULT_ROOT / str(name_or_dir)):
        if (candidate / MANIFEST).is_file():
            return candidate
    raise BenchmarkError(
        f"no frozen benchmark at {name_or_dir!r} or "
        f"{DEFAULT_ROOT / str(name_or_dir)} (expected a directory with {MANIFEST}; "
        "create one with `janitr benchmark freeze`)"
    )


def verify_benchmark(name_or_dir: str | Path) -> dict:
    """Recompute every hash, id list, row count and label support of a frozen benchmark.

    Returns:
        The manifest, if everything matches.

    Raises:
        BenchmarkError: listing every mismatch (a missing file, a changed byte, a changed id
            list or support), or an unknown manifest format.
    """
    bench = resolve_benchmark(name_or_dir)
    manifest = read_json(bench / MANIFEST)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BenchmarkError(
            f"{bench / MANIFEST}: format {manifest.get('format')!r} is not "
            f"{MANIFEST_FORMAT!r} (re-freeze it with this version of janitr)"
        )
    errors: list[str] = []
    for split, entry in manifest["splits"].items():
        ids_path = bench / entry["ids"]
        jsonl = (bench / entry["jsonl"]).resolve()
        if not ids_path.is_file():
            errors.append(f"{split}: id list {ids_path} is missing")
        elif sha256_file(ids_path) != entry["ids_sha256"]:
            errors.append(f"{split}: id list {ids_path} changed (SHA-256 differs)")
        if not jsonl.is_file():
            errors.append(f"{split}: split file {jsonl} is missing")
            continue
        if sha256_file(jsonl) != entry["jsonl_sha256"]:
            errors.append(f"{split}: {jsonl} changed (SHA-256 differs from the manifest)")
        try:
            ids, summary = _split_summary(jsonl)
        except DataError as exc:
            errors.append(f"{split}: {jsonl} has unreadable rows: {exc.problems[0]}")
            continue
        if ids_path.is_file():
            frozen = ids_path.read_text("utf-8").splitlines()
            if frozen != ids:
                errors.append(
                    f"{split}: ids in {jsonl} differ from {ids_path} "
                    f"({len(ids)} now, {len(frozen)} frozen)"
                )
        for key in ("rows", "label_support", "class_support"):
            if summary[key] != entry[key]:
                errors.append(f"{split}: {key} changed: {summary[key]} != frozen {entry[key]}")
    if errors:
        raise BenchmarkError(
            f"benchmark {manifest.get('name')!r} at {bench} does not match its "
            "manifest:\n" + "\n".join(f"  {e}" for e in errors)
        )
    return manifest
