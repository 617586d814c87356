"""Reading and writing labeled JSONL, one streamed row at a time.

A row is a JSON object with a string `id`, a string `text` (something visible left once
normalized, and valid Unicode: `normalize.text_problem`) and, for labeled data, `labels`: a
non-empty list of taxonomy labels. Unknown fields are kept. Files of any size stream through
`scan`; CRLF line ends, a UTF-8 BOM, blank lines and very long lines are handled. Whatever a
line holds (invalid UTF-8, JSON nested past the parser's limit, a 5,000-digit number, a lone
surrogate) becomes a `Problem` of that line, and a file that is missing, a directory or empty
is a `Problem` of the file. Problems are collected, never raised one at a time: a caller
sees every bad row of every file at once (`read_records` raises one `DataError` listing
them). `require_rows` refuses a split that lacks a kind of row its role needs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from janitr.data.labels import collapse, targets
from janitr.data.normalize import SURROGATE_RE, normalize_text, text_problem
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


def file_problem(path: str | Path, *, hint: str = "check the path") -> Problem | None:
    """Why `path` cannot be read as a JSONL data file (a `<file>` Problem), or None.

    Args:
        path: the data file.
        hint: what to do when it does not exist.
    """
    p = Path(path)
    if p.is_dir():
        inside = sorted(x.name for x in p.glob("*.jsonl"))[:4]
        return Problem(
            str(path), 0, "<file>", "is a directory, expected a JSONL file",
            f"give a file inside it, e.g. {p / inside[0]}" if inside
            else "give the path of a .jsonl file",
        )  # fmt: skip
    if not p.exists():
        return Problem(str(path), 0, "<file>", "file not found", hint)
    if not p.is_file():
        return Problem(str(path), 0, "<file>", "not a regular file", "give a JSONL file")
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:
        return Problem(
            str(path), 0, "<file>", f"cannot be read ({exc.strerror})", "check its permissions"
        )
    return None


def parse_object(
    raw_line: bytes,
    *,
    path: str,
    line: int,
    example: str = '{"id": ..., "text": ..., "labels": [...]}',
) -> dict | list[Problem]:
    """Decode one JSONL line into a JSON object, or the `<line>` problem that stops it.

    Every way a line can fail to be an object is a problem of that line, never an exception:
    invalid UTF-8, invalid JSON, nesting past the parser's recursion limit, an integer longer
    than Python converts, a value that is not an object. Every JSONL reader uses it.

    Args:
        raw_line: the line's bytes (no line end).
        path, line: where it is, for the problem.
        example: the row shape the hint shows.
    """

    def problem(message: str, hint: str) -> list[Problem]:
        return [Problem(path, line, "<line>", message, hint)]

    try:
        decoded = raw_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return problem(f"invalid UTF-8 at byte {exc.start}", "re-encode the file as UTF-8")
    try:
        obj = json.loads(decoded)
    except json.JSONDecodeError as exc:
        return problem(
            f"invalid JSON: {exc.msg} at column {exc.colno}",
            "each line must be one complete JSON object",
        )
    except RecursionError:
        return problem("JSON nested too deeply to read", f"write rows as flat objects {example}")
    except ValueError:  # json raises it for an integer of more digits than Python converts
        return problem(
            f"a number longer than {sys.get_int_max_str_digits()} digits",
            "write long numbers (ids, amounts) as strings",
        )
    if not isinstance(obj, dict):
        return problem(
            f"expected a JSON object, found {type(obj).__name__}", f"write rows as {example}"
        )
    return obj


def parse_row(
    raw_line: bytes, *, path: str, line: int, require_labels: bool = True
) -> Record | list[Problem]:
    """Parse and check one line. Returns a Record, or every problem found in it."""

    def problem(field_: str, message: str, hint: str = "") -> list[Problem]:
        return [Problem(path, line, field_, message, hint)]

    obj = parse_object(raw_line, path=path, line=line)
    if isinstance(obj, list):
        return obj
    problems: list[Problem] = []
    row_id = obj.get("id")
    if not isinstance(row_id, str) or not row_id.strip():
        found = "missing" if row_id is None else f"{type(row_id).__name__} {row_id!r}"[:60]
        problems += problem(
            "id", f"expected a non-empty string, found {found}", "give every row a unique string id"
        )
    elif not row_id.isascii() and SURROGATE_RE.search(row_id):
        problems += problem(
            "id", f"lone surrogate in {row_id!r}"[:80], "ids must be valid Unicode text"
        )
    text = obj.get("text")
    norm_text = normalize_text(text) if isinstance(text, str) else ""
    if not isinstance(text, str):
        found = "missing" if text is None else type(text).__name__
        problems += problem("text", f"expected a string, found {found}", "add the post text")
    else:
        reason = text_problem(norm_text)
        if reason:
            hint = (
                "replace the broken character (e.g. by U+FFFD) or drop the row"
                if reason.startswith("lone surrogate")
                else "drop the row or give it real text"
            )
            problems += problem("text", reason, hint)
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
        bad_file = file_problem(path)
        if bad_file is not None:
            yield bad_file
            continue
        rows = 0
        for number, raw_line in iter_lines(path):
            rows += 1
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
        if rows == 0:
            # An empty file is almost always a mistake (a failed export, the wrong path), and
            # everything downstream of it would be silently meaningless.
            yield Problem(
                path, 0, "<file>", "no rows: the file is empty (or only blank lines)",
                "give a file with at least one JSON row, or leave this file out",
            )  # fmt: skip


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


#: What `require_rows` can ask for: a name and the test a row's labels must pass.
ROW_KINDS = {
    "scam": lambda labels: targets(labels).is_scam == 1,
    "topic_crypto": lambda labels: targets(labels).is_topic == 1,
    "not scam": lambda labels: targets(labels).is_scam == 0,
}


def require_rows(
    records: Iterable[Record], *, path: str | Path, role: str, kinds: Iterable[str]
) -> None:
    """Refuse rows that cannot serve their role: each kind in `kinds` needs at least one row.

    A training split without scam rows, or a tuning split without negatives, does not fail by
    itself: it trains a model that never fires, or tunes a threshold no score reaches, and
    ships it. This check stops that before any work is done.

    Args:
        records: the rows of one split.
        path: the file they came from (for the message).
        role: what the split is for, e.g. "training" or "threshold tuning".
        kinds: names in `ROW_KINDS`.

    Raises:
        DataError: naming the file, what is missing and how many rows there were.
    """
    records = list(records)
    problems = [
        Problem(
            str(path),
            0,
            "labels",
            f"no {kind} rows among {len(records)} row(s); {role} needs at least one",
            "add labeled rows of that kind (see `janitr validate` for the class counts)",
        )  # fmt: skip
        for kind in kinds
        if not any(ROW_KINDS[kind](r.labels) for r in records)
    ]
    if problems:
        raise DataError(problems, summary=f"{path}: not usable for {role}")


def dump_row(obj: dict) -> str:
    """One JSONL line for a row (UTF-8 kept readable, key order preserved)."""
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    if not line.isascii() and SURROGATE_RE.search(line):
        # A lone surrogate (in a field no check looks at) cannot be written as UTF-8; as a
        # \uXXXX escape it is valid JSON and reads back as the same string.
        line = SURROGATE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)
    return line
