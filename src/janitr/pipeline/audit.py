"""`janitr audit`: rank the likely label errors of a dataset and write a review file.

Composes three layers: every labeled row of DATA/{train,valid,calib}.jsonl is scored out of
fold by one model family (`crossval.out_of_fold_heads`: the project's group-aware folds, the
fast TF-IDF linear model by default), confident learning ranks the rows
(`evaluation.label_audit.audit_labels`), and the flagged rows go to a review file, most
suspicious first. A reviewer fills `new_labels` of the rows to change, and
`janitr relabel --changes` (`data.relabel`) turns the file into a new dataset version.

A review row (JSONL, `format` = `data.relabel.REVIEW_FORMAT`):

    {"format", "rank", "id", "given_labels", "given_class", "suggested", "score", "flagged",
     "reason", "p": {class: prob}, "file", "line", "text", "new_labels": null, "note": ""}
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from janitr.artifacts import check_output_file, sha256_file, write_lines
from janitr.config import ConfigProblem, choice_problems, option, raise_problems
from janitr.data.records import Record
from janitr.data.relabel import REVIEW_FORMAT
from janitr.errors import require
from janitr.evaluation.label_audit import FILTERS, LabelIssue, audit_labels, class_distribution

log = logging.getLogger(__name__)

#: Families that can score the rows out of fold (single models of `janitr crossval`).
AUDIT_MODELS = ("linear", "fasttext")
SUMMARY_FORMAT = "janitr-audit"
SUMMARY_VERSION = 1


@dataclass(frozen=True)
class AuditConfig:
    """Settings of `janitr audit` (each field is a flag of that verb)."""

    model: str = option(
        "linear",
        choices=AUDIT_MODELS,
        help="family that scores every row out of fold: linear (TF-IDF, seconds) or fasttext",
    )
    folds: int = option(5, metavar="K", help="number of folds (near-duplicates share a fold)")
    seed: int = option(13, help="fold seed")
    linear_c: float = option(4.0, metavar="C", help="inverse regularization of the linear model")
    filter_by: str = option(
        "prune_by_noise_rate",
        flag="--filter",
        choices=FILTERS,
        help="cleanlab's filter deciding which rows are flagged",
    )
    top: int = option(
        200, metavar="N", help="flagged rows written, most suspicious first (0: all of them)"
    )
    progress: bool = option(True, flag="--quiet", help="no progress bar")

    def __post_init__(self) -> None:
        problems = choice_problems(self, ("model",))
        if not isinstance(self.folds, int) or self.folds < 2:
            problems.append(ConfigProblem("folds", f"must be an integer >= 2, got {self.folds!r}"))
        if not self.linear_c > 0:
            problems.append(ConfigProblem("linear_c", f"must be > 0, got {self.linear_c}"))
        problems += choice_problems(self, ("filter_by",))
        if not isinstance(self.top, int) or self.top < 0:
            problems.append(ConfigProblem("top", f"must be an integer >= 0, got {self.top!r}"))
        raise_problems(self, problems)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("progress")
        return out


def audit_records(records: Sequence[Record], *, config: AuditConfig) -> list[LabelIssue]:
    """Score rows out of fold and rank them by how likely their label is wrong.

    Args:
        records: labeled rows (ids unique); every class must occur.
        config: model family, folds, seed and filter.

    Returns:
        one LabelIssue per row (its `index` points into records), flagged rows first.

    Raises:
        ConfigError: on too few rows for the folds or a class without rows.
        MissingDependencyError: if cleanlab is not installed.
    """
    from janitr.pipeline.crossval import CrossvalConfig, out_of_fold_heads

    require("cleanlab", extra="audit")  # before minutes of fitting, not after
    cv = CrossvalConfig(
        model=config.model, folds=config.folds, seed=config.seed, linear_c=config.linear_c,
        robustness=False, n_boot=0,
    )  # fmt: skip
    oof, _ = out_of_fold_heads(records, config=cv, progress=config.progress)
    return audit_labels([r.gold for r in records], class_distribution(oof),
                        filter_by=config.filter_by)  # fmt: skip


def review_rows(records: Sequence[Record], issues: Sequence[LabelIssue], *, top: int) -> list:
    """The review file's rows: flagged issues in rank order, at most `top` (0: all)."""
    flagged = [i for i in issues if i.flagged]
    if top:
        flagged = flagged[:top]
    rows = []
    for rank, issue in enumerate(flagged, start=1):
        r = records[issue.index]
        rows.append({
            "format": REVIEW_FORMAT, "rank": rank, "id": r.id, "given_labels": list(r.labels),
            "given_class": issue.given, "suggested": issue.suggested,
            "score": round(issue.score, 4), "flagged": issue.flagged, "reason": issue.reason,
            "p": issue.probs, "file": Path(r.path).name, "line": r.line, "text": r.text,
            "new_labels": None, "note": "",
        })  # fmt: skip
    return rows


def run_audit(*, data_dir: str | Path, out: str | Path, config: AuditConfig) -> dict:
    """`janitr audit`: audit DATA's labeled splits and write the review file.

    Args:
        data_dir: dataset folder with some of train/valid/calib.jsonl.
        out: the review file to write (JSONL).
        config: audit settings.

    Returns:
        a summary: `format`, `config`, `data` (file -> sha256), `rows`, `flagged`,
        `flagged_moves` (`{"scam->clean": n}`), `written`, `review`, `top` (the first
        rows written), `seconds`.

    Raises:
        DataError: on missing split files or bad rows.
        ConfigError: on bad settings or an unwritable output path.
        MissingDependencyError: if cleanlab is not installed.
    """
    from janitr.pipeline.crossval import SPLITS, read_labeled

    started = time.perf_counter()
    check_output_file(out)
    data_dir = Path(data_dir)
    records = read_labeled(data_dir)
    log.info("auditing %d labeled rows (%s, %d folds)", len(records), config.model, config.folds)
    issues = audit_records(records, config=config)
    rows = review_rows(records, issues, top=config.top)
    write_lines(out, (json.dumps(r, ensure_ascii=False) for r in rows))
    moves: dict[str, int] = {}
    for i in issues:
        if i.flagged:
            key = f"{i.given}->{i.suggested}"
            moves[key] = moves.get(key, 0) + 1
    return {
        "format": SUMMARY_FORMAT,
        "format_version": SUMMARY_VERSION,
        "config": config.to_dict(),
        "data": {
            f"{s}.jsonl": sha256_file(data_dir / f"{s}.jsonl")
            for s in SPLITS
            if (data_dir / f"{s}.jsonl").is_file()
        },  # fmt: skip
        "rows": len(records),
        "flagged": sum(i.flagged for i in issues),
        "flagged_moves": dict(sorted(moves.items(), key=lambda kv: -kv[1])),
        "written": len(rows),
        "review": str(out),
        "top": [
            {k: r[k] for k in ("rank", "id", "given_class", "suggested", "score")}
            for r in rows[:10]
        ],  # fmt: skip
        "seconds": round(time.perf_counter() - started, 1),
    }


def format_audit(summary: dict) -> str:
    """What the audit found, and how to act on it."""
    cfg = summary["config"]
    moves = ", ".join(f"{k} {v}" for k, v in summary["flagged_moves"].items()) or "none"
    lines = [
        f"audit: {summary['rows']} labeled rows scored out of fold ({cfg['model']}, "
        f"{cfg['folds']} folds, seed {cfg['seed']}), {summary['seconds']}s",
        f"flagged by confident learning ({cfg['filter_by']}): {summary['flagged']} ({moves})",
        f"wrote {summary['written']} row(s) to {summary['review']}, most suspicious first",
    ]
    if summary["top"]:
        lines.append(f"{'rank':>4}  {'id':<24}{'given':<14}{'suggested':<14}{'score':>6}")
        for r in summary["top"]:
            lines.append(
                f"{r['rank']:>4}  {r['id'][:23]:<24}{r['given_class']:<14}{r['suggested']:<14}"
                f"{r['score']:>6.3f}"
            )
    lines.append(
        "next: fill `new_labels` of the rows to change (null keeps a row), then "
        f"janitr relabel --data DATA --changes {summary['review']} --out NEW_DATA"
    )
    return "\n".join(lines)
