"""A corpus to score: its input files, their shard plan, and the row scorer every engine uses.

`input_files` expands files and folders (JSONL; Parquet when pyarrow is installed),
`plan_shards` cuts each file into shards of at most `shard_rows` rows in one streaming pass
that also hashes it, `shard_lines` reads a shard back, and `RowScorer` turns raw lines into
output rows: `{"id", "class", "p_scam", "p_topic", "bundle"}` (`bundle`: the first 12 hex
digits of the bundle's content id, what `--bundle-id` accepts), or `{"line", "id"?, "error"}`
for a line that cannot be scored, with the words `janitr validate` uses. The job around them
(parts, resume, manifest) is `pipeline.score`; the Ray engine is `pipeline.score_ray`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from janitr.data.labels import CLASSES, SCAM, TOPIC, decide
from janitr.data.normalize import NormalizationConfig, text_problem
from janitr.data.records import dump_row, file_problem, parse_row
from janitr.errors import ConfigError, DataError, Problem

#: Input file suffixes read from a folder (Parquet only when pyarrow is installed).
JSONL_SUFFIXES = (".jsonl",)
PARQUET_SUFFIXES = (".parquet",)
#: Characters of the content id written on every row (what `--bundle-id` accepts).
BUNDLE_ID_CHARS = 12


@dataclass(frozen=True)
class Shard:
    """Rows `first_line .. first_line + rows - 1` of one input: a byte range of a JSONL file
    (`start`, `end`) or a range of row groups of a Parquet file."""

    index: int
    path: str
    kind: str  # "jsonl" | "parquet"
    start: int
    end: int
    first_line: int
    rows: int

    @property
    def part(self) -> str:
        return part_name(self.index)


def part_name(index: int) -> str:
    return f"part-{index:05d}.jsonl"


# --- inputs and the shard plan ---------------------------------------------------------------


def _has_pyarrow() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def input_files(inputs: Sequence[str | Path]) -> list[Path]:
    """The files to score: each file given, and the JSONL (and Parquet, with pyarrow) files
    of each folder given, in name order.

    Raises:
        DataError: naming every input that is missing, unreadable, an empty folder, or of a
            kind that cannot be read.
    """
    suffixes = JSONL_SUFFIXES + (PARQUET_SUFFIXES if _has_pyarrow() else ())
    files: list[Path] = []
    problems: list[Problem] = []
    if not inputs:
        raise ConfigError("give at least one input file or folder")
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in suffixes)
            if not found:
                problems.append(
                    Problem(
                        str(path),
                        0,
                        "<file>",
                        "folder holds no " + " or ".join(f"*{s}" for s in suffixes) + " files",
                        "give a folder of JSONL files, or the files themselves",
                    )
                )
            files += found
            continue
        if path.suffix in PARQUET_SUFFIXES and not _has_pyarrow():
            problems.append(
                Problem(
                    str(path),
                    0,
                    "<file>",
                    "Parquet needs pyarrow",
                    "install it with: pip install 'janitr[ray]' (or pip install pyarrow)",
                )
            )
            continue
        bad = file_problem(path)
        if bad is not None:
            problems.append(bad)
        else:
            files.append(path)
    if problems:
        raise DataError(problems, summary=f"{len(problems)} input(s) cannot be scored")
    return files


def plan_shards(files: Sequence[Path], shard_rows: int) -> tuple[list[Shard], list[dict]]:
    """Cut every input into shards of at most `shard_rows` rows, in one streaming pass per
    file that also hashes it.

    A JSONL row is a line (`\\n`-terminated; a final line without one counts, the newline
    that ends the file starts no row); blank lines are rows too (answered by an error), so
    row k of the output is line k of the input. A Parquet shard is whole row groups.

    Returns:
        `(shards, inputs)`; `inputs` is `[{"path", "sha256", "size", "rows"}]` per file.

    Raises:
        DataError: if a file has no rows.
    """
    shards: list[Shard] = []
    inputs: list[dict] = []
    problems: list[Problem] = []
    for path in files:
        kind = "parquet" if path.suffix in PARQUET_SUFFIXES else "jsonl"
        cuts = _parquet_cuts(path, shard_rows) if kind == "parquet" else None
        digest = hashlib.sha256()
        size = 0
        if kind == "jsonl":
            cuts = []  # (start byte, end byte, first line, rows)
            start, line, rows_here, offset = 0, 1, 0, 0
            with open(path, "rb") as handle:
                for raw in handle:
                    digest.update(raw)
                    offset += len(raw)
                    rows_here += 1
                    if rows_here == shard_rows:
                        cuts.append((start, offset, line, rows_here))
                        start, line, rows_here = offset, line + rows_here, 0
            if rows_here:
                cuts.append((start, offset, line, rows_here))
            size = offset
        else:
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
        rows = sum(c[3] for c in cuts)
        if rows == 0:
            problems.append(
                Problem(
                    str(path),
                    0,
                    "<file>",
                    "no rows: the file is empty",
                    "give a file with at least one row, or leave it out",
                )
            )
            continue
        for start, end, first, n in cuts:
            shards.append(Shard(len(shards), str(path.resolve()), kind, start, end, first, n))
        inputs.append(
            {"path": str(path.resolve()), "sha256": digest.hexdigest(), "size": size, "rows": rows}
        )
    if problems:
        raise DataError(problems, summary=f"{len(problems)} input(s) cannot be scored")
    return shards, inputs


def _parquet_cuts(path: Path, shard_rows: int) -> list[tuple[int, int, int, int]]:
    """`(first row group, end row group, first row, rows)`: consecutive row groups of about
    `shard_rows` rows (a row group is never split)."""
    from janitr.errors import require

    pq = require("pyarrow.parquet", extra="ray")
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises its own error types for a damaged file
        raise DataError(
            [Problem(str(path), 0, "<file>", f"unreadable Parquet ({exc})", "rewrite the file")]
        ) from exc
    cuts, start, first, rows = [], 0, 1, 0
    for group in range(meta.num_row_groups):
        rows += meta.row_group(group).num_rows
        if rows >= shard_rows:
            cuts.append((start, group + 1, first, rows))
            start, first, rows = group + 1, first + rows, 0
    if rows:
        cuts.append((start, meta.num_row_groups, first, rows))
    return cuts


# --- scoring rows: the one code path of every engine --------------------------------------------


class RowScorer:
    """A loaded bundle turning raw input lines into output rows (every engine uses this).

    Args:
        bundle_dir: the bundle.
        content_id: refuse the bundle unless its content id is (starts with) this.
        verify: check the bundle's checksums (done once by the caller; workers skip it).
    """

    def __init__(self, bundle_dir: str | Path, *, content_id: str | None = None, verify=True):
        from janitr.runtime.bundle import load_bundle

        bundle = load_bundle(bundle_dir, verify=verify, content_id=content_id)
        self.content_id = bundle.content_id
        self.bundle_id = bundle.content_id[:BUNDLE_ID_CHARS]
        self.scorer = bundle.scorer()
        self.normalization = bundle.normalization
        # Rows are parsed with the default normalization; reuse it when the bundle's is the same.
        self._default_norm = self.normalization == NormalizationConfig()
        thresholds = bundle.thresholds
        self.t_scam, self.t_topic = thresholds[SCAM], thresholds[TOPIC]

    def score_lines(
        self, path: str, items: Iterable[tuple[int, bytes]], *, batch_size: int = 1024
    ) -> Iterator[tuple[str, str | None]]:
        """`(output line, problem or None)` for each `(line number, raw line)`, in order.

        `raw line` is the line without its line end (a BOM on line 1 is removed here).
        """
        pending: list[tuple[int, dict, str]] = []  # (line, row, normalized text)
        ready: list[tuple[str, str | None]] = []
        for number, raw in items:
            raw = raw.rstrip(b"\r")
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            problems = (
                [Problem(path, number, "<line>", "blank line, expected a JSON row")]
                if not raw.strip()
                else None
            )
            norm = ""
            if problems is None:
                result = parse_row(raw, path=path, line=number, require_labels=False)
                if isinstance(result, list):
                    problems = result
                else:
                    norm = (
                        result.norm_text
                        if self._default_norm
                        else (self.normalization.apply(result.text))
                    )
                    reason = "" if self._default_norm else text_problem(norm)
                    if reason:
                        problems = [Problem(path, number, "text", reason)]
                    else:
                        pending.append((len(ready), {"id": result.id}, norm))
                        ready.append(("", None))  # filled in when its batch is scored
            if problems is not None:
                ready.append(_error_row(raw, number, problems))
            if len(pending) >= batch_size:
                self._fill(pending, ready)
                pending = []
                yield from ready
                ready = []
        if pending:
            self._fill(pending, ready)
        yield from ready

    def _fill(self, pending: list, ready: list) -> None:
        heads = self.scorer.predict_heads([norm for _, _, norm in pending])
        classes = decide(heads[:, 0], heads[:, 1], t_scam=self.t_scam, t_topic=self.t_topic)
        for (slot, row, _), k, (p_scam, p_topic) in zip(
            pending, classes.tolist(), heads.tolist(), strict=True
        ):
            row["class"] = CLASSES[k]
            row["p_scam"] = p_scam
            row["p_topic"] = p_topic
            row["bundle"] = self.bundle_id
            ready[slot] = (dump_row(row), None)


def _error_row(raw: bytes, number: int, problems: list[Problem]) -> tuple[str, str]:
    row: dict = {"line": number}
    try:
        row_id = json.loads(raw).get("id")
    except Exception:  # any unreadable line: its error says why; there is no id to show
        row_id = None
    if isinstance(row_id, str):
        row["id"] = row_id
    row["error"] = "; ".join(f"{p.field}: {p.message}" for p in problems)
    return dump_row(row), "; ".join(str(p) for p in problems)


def shard_lines(shard: Shard) -> Iterator[tuple[int, bytes]]:
    """`(line number, raw line)` of every row of a shard (line end removed)."""
    if shard.kind == "parquet":
        yield from _parquet_lines(shard)
        return
    with open(shard.path, "rb") as handle:
        handle.seek(shard.start)
        remaining = shard.end - shard.start
        number = shard.first_line
        while remaining > 0:
            raw = handle.readline(remaining)
            if not raw:
                break
            remaining -= len(raw)
            yield number, raw.rstrip(b"\n")
            number += 1


def _parquet_lines(shard: Shard) -> Iterator[tuple[int, bytes]]:
    """A Parquet row as the JSON line `{"id", "text"}`, so it is checked like a JSONL row."""
    from janitr.errors import require

    pq = require("pyarrow.parquet", extra="ray")
    table_file = pq.ParquetFile(shard.path)
    columns = [c for c in ("id", "text") if c in table_file.schema_arrow.names]
    number = shard.first_line
    for group in range(shard.start, shard.end):
        table = table_file.read_row_group(group, columns=columns)
        for row in table.to_pylist():
            yield number, parquet_line(row)
            number += 1


def parquet_line(row: dict) -> bytes:
    """A Parquet row `{"id", "text"}` as a JSONL line, so that it is checked like one."""
    return json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogatepass")
