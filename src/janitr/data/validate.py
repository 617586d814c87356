"""`janitr validate`: check labeled JSONL files and report every problem at once.

The checks themselves live in `janitr.data.records` (one row: UTF-8, JSON, id, text, labels;
across rows: duplicate ids within and across files). This module streams the files through
`records.scan`, collects the problems and counts rows, raw labels and collapsed classes into a
`ValidationReport`, and renders it for people (`format_report`) or machines (`to_dict`). It
never fixes data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from janitr.data.labels import CLASSES, collapse
from janitr.data.records import scan
from janitr.errors import Problem

REPORT_FORMAT = "janitr-validation v1"


@dataclass
class ValidationReport:
    """What `validate_files` found.

    Attributes:
        files: the checked paths, in order.
        problems: every problem, in file and line order per file.
        rows: number of valid rows (rows with a problem are not counted).
        rows_per_file: valid rows per file.
        label_counts: raw label -> number of valid rows carrying it.
        class_counts: collapsed class (scam / topic_crypto / clean) -> rows.
        require_labels: whether labels were required.
    """

    files: list[str]
    problems: list[Problem] = field(default_factory=list)
    rows: int = 0
    rows_per_file: dict[str, int] = field(default_factory=dict)
    label_counts: Counter = field(default_factory=Counter)
    class_counts: Counter = field(default_factory=Counter)
    require_labels: bool = True

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict:
        """A JSON-ready dict (format-versioned)."""
        return {
            "format": REPORT_FORMAT,
            "ok": self.ok,
            "files": list(self.files),
            "rows": self.rows,
            "rows_per_file": dict(self.rows_per_file),
            "require_labels": self.require_labels,
            "problems": [
                {"path": p.path, "line": p.line, "field": p.field, "message": p.message,
                 "hint": p.hint}
                for p in self.problems
            ],
            "label_counts": dict(sorted(self.label_counts.items())),
            "class_counts": {c: self.class_counts.get(c, 0) for c in CLASSES},
        }  # fmt: skip


def validate_files(paths: Iterable[str | Path], *, require_labels: bool = True) -> ValidationReport:
    """Stream every row of every file and collect problems and counts.

    Args:
        paths: JSONL files; ids must be unique across all of them.
        require_labels: if false (unlabeled corpora), rows need only `id` and `text`.

    Returns:
        The report; `report.ok` is false if any problem was found. Nothing is raised for bad
        data: a missing file is a problem of that file.
    """
    files = [str(p) for p in paths]
    report = ValidationReport(files=files, require_labels=require_labels)
    report.rows_per_file = {f: 0 for f in files}
    for item in scan(files, require_labels=require_labels):
        if isinstance(item, Problem):
            report.problems.append(item)
            continue
        report.rows += 1
        report.rows_per_file[item.path] = report.rows_per_file.get(item.path, 0) + 1
        if require_labels:
            report.label_counts.update(set(item.labels))
            report.class_counts[collapse(item.labels)] += 1
    return report


def format_report(report: ValidationReport, *, max_problems: int | None = None) -> str:
    """Render a report: each problem as `file:line: field: what is wrong (how to fix)`,
    then row counts per file, collapsed class counts and raw label counts.

    Args:
        report: from `validate_files`.
        max_problems: show at most this many problems (all when None).
    """
    lines: list[str] = []
    shown = report.problems if max_problems is None else report.problems[:max_problems]
    lines += [str(p) for p in shown]
    if len(shown) < len(report.problems):
        lines.append(f"... and {len(report.problems) - len(shown)} more problem(s)")
    if report.problems:
        lines.append("")
    status = "OK" if report.ok else f"FAILED: {len(report.problems)} problem(s)"
    lines.append(f"{status}; {report.rows} valid row(s) in {len(report.files)} file(s)")
    for path, count in report.rows_per_file.items():
        lines.append(f"  {path}: {count} row(s)")
    if report.require_labels and report.rows:
        counts = {c: report.class_counts.get(c, 0) for c in CLASSES}
        shares = ", ".join(f"{c}={n} ({n / report.rows:.1%})" for c, n in counts.items())
        lines.append(f"classes (collapsed): {shares}")
        lines.append(f"raw labels ({len(report.label_counts)}):")
        for label, count in sorted(report.label_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {label:<28} {count:>8}")
    return "\n".join(lines)
