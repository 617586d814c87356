"""Reading and writing labeled JSONL, one streamed row at a time.

A row is a JSON object with a string `id`, a string `text` (non-empty once normalized) and,
for labeled data, `labels`: a non-empty list of taxonomy labels. Unknown fields are kept.
Files of any size stream through `scan`; CRLF line ends, a UTF-8 BOM, blank lines and very
long lines are handled. Problems are collected, never raised one at a time: a caller sees
every bad row of every file at once (`read_records` raises one `DataError` listing them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from janitr.data.labels import collapse
from janitr.data.normalize import normalize_text
from janitr.data.taxonomy import known_labels
from janitr.errors import DataError, Problem


@dataclass(frozen=True)
class Record:
    """One valid row. `raw` is the parsed object as read (unknown fields included)."""

    id: str
    text: str
    labels: tuple[str, ...]
    path: str
    line: int
    raw: dict = field(repr=False, compare=False, default_factory=dict)
    #: The normalized text (default settings); computed once, when the record is made.
    norm_text: str = field(repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        if not self.norm_text:
            object.__setattr__(self, "norm_text", normalize_text(self.text))

    @property
    def gold(self) -> str:
        """The collapsed 3-class gold label."""
        return collapse(self.labels)


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """Yield `(line_number, raw_bytes)` for every non-blank line; BOM and CR stripped."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield number, line


def parse_row(
    raw_line: bytes, *, path: str, line: int, require_labels: bool = True
) -> Record | list[Problem]:
    """Parse and check one line. Returns a Record, or every problem found in it."""

    def problem(field_: str, message: str, hint: str = "") -> list[Problem]:
        return [Problem(path, line, field_, message, hint)]

    try:
        decoded = raw_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return problem(
            "<line>", f"invalid UTF-8 at byte {exc.start}", "re-encode the file as UTF-8"
        )
    try:
        obj = json.loads(decoded)
    except json.JSONDecodeError as exc:
        return problem(
            "<line>",
            f"invalid JSON: {exc.msg} at column {exc.colno}",
            "each line must be one complete JSON object",
        )
    if not isinstance(obj, dict):
        return problem(
            "<line>",
            f"expected a JSON object, found {type(obj).__name__}",
            'write rows as {"id": ..., "text": ..., "labels": [...]}',
        )
    problems: list[Problem] = []
    row_id = obj.get("id")
    if not isinstance(row_id, str) or not row_id.strip():
        found = "missing" if row_id is None else f"{type(row_id).__name__} {row_id!r}"[:60]
        problems += problem(
            "id", f"expected a non-empty string, found {found}", "give every row a unique string id"
        )
    text = obj.get("text")
    norm_text = normalize_text(text) if isinstance(text, str) else ""
    if not isinstance(text, str):
        found = "missing" if text is None else type(text).__name__
        problems += problem("text", f"expected a string, found {found}", "add the post text")
    elif not norm_text:
        problems += problem(
            "text", "empty after normalization", "drop the row or give it real text"
        )
    labels = obj.get("labels")
    if require_labels:
        if labels is None:
            problems += problem("labels", "missing", 'add a list such as ["clean"]')
        elif not isinstance(labels, list) or not labels:
            problems += problem(
                "labels",
                f"expected a non-empty list, found {labels!r}"[:80],
                'use a list such as ["clean"]',
            )
        else:
            known = known_labels()
            for label in labels:
                if not isinstance(label, str):
                    problems += problem("labels", f"expected strings, found {label!r}"[:80])
                elif label.strip().lower() not in known:
                    problems += problem(
                        "labels", f"unknown label {label!r}", "see `janitr labels` for the taxonomy"
                    )
    if problems:
        return problems
    clean_labels = tuple(str(x).strip().lower() for x in labels) if isinstance(labels, list) else ()
    return Record(
        id=row_id,
        text=text,
        labels=clean_labels,
        path=str(path),
        line=line,
        raw=obj,
        norm_text=norm_text,
    )


def scan(paths: Iterable[str | Path], *, require_labels: bool = True) -> Iterator[Record | Problem]:
    """Stream Records and Problems from several files, checking ids across all of them.

    A duplicate id (within a file or across files) is reported as a Problem at its second
    occurrence, naming where the first one was; the duplicate row itself is not yielded.
    """
    first_seen: dict[str, tuple[str, int]] = {}
    for path in paths:
        path = str(path)
        if not Path(path).is_file():
            yield Problem(path, 0, "<file>", "file not found", "check the path")
            continue
        for number, raw_line in iter_lines(path):
            result = parse_row(raw_line, path=path, line=number, require_labels=require_labels)
            if isinstance(result, list):
                yield from result
                continue
            where = first_seen.get(result.id)
            if where is not None:
                yield Problem(
                    path,
                    number,
                    "id",
                    f"duplicate id {result.id!r} (first at {where[0]}:{where[1]})",
                    "ids must be unique",
                )
                continue
            first_seen[result.id] = (path, number)
            yield result


def read_records(*paths: str | Path, require_labels: bool = True) -> list[Record]:
    """Read every row of the given files into memory.

    Raises:
        DataError: listing every problem in every file, if there is any.
    """
    records: list[Record] = []
    problems: list[Problem] = []
    for item in scan(paths, require_labels=require_labels):
        (problems if isinstance(item, Problem) else records).append(item)
    if problems:
        raise DataError(problems)
    return records


def dump_row(obj: dict) -> str:
    """One JSONL line for a row (UTF-8 kept readable, key order preserved)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def split_hash(records: Iterable, *, strip_urls: bool = False) -> str:
    """Content hash of a split: ids, normalized texts and two-head targets, in order.

    Args:
        records: `Record`s (anything with `id`, `text`, `labels`).
        strip_urls: the normalization setting the model uses.
    """
    from janitr.artifacts import hash_object
    from janitr.data.labels import targets

    rows = []
    for r in records:
        t = targets(r.labels)
        rows.append([r.id, normalize_text(r.text, strip_urls=strip_urls), t.is_scam, t.is_topic])
    return hash_object(rows)
