"""`janitr errors`: the worst mistakes of a model, to read one by one.

Input is per-row predictions (`id`, `gold`, `pred`, `p_scam`, `p_topic`, optionally `text`),
as written by `janitr evaluate --predictions`, `janitr crossval --predictions` or a pipeline
run (`<run>/**/predictions.jsonl`), or a bundle scored on a labeled file right now. Labeled
files given with `data` supply texts and raw labels by id.

Lists, per predictions source: scam false positives by descending `p_scam` (the posts that
would be wrongly flagged first), scam false negatives by ascending `p_scam` (scams the model
is most sure are fine), and topic_crypto confusions. Nothing is re-tuned or re-measured here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from janitr.data.labels import SCAM, TOPIC
from janitr.data.records import Record, file_problem, iter_lines, parse_object, read_records
from janitr.errors import ConfigError, DataError, Problem

PREDICTIONS_GLOB = "predictions*.jsonl"


def read_predictions(path: str | Path) -> list[dict]:
    """Rows of a predictions JSONL file.

    Raises:
        DataError: on a missing file, bad JSON or a row without the needed fields.
    """
    path = Path(path)
    bad_file = file_problem(path)
    if bad_file is not None:
        raise DataError([bad_file])
    rows, problems = [], []
    need = ("id", "gold", "pred", "p_scam")
    for number, line in iter_lines(path):
        row = parse_object(line, path=str(path), line=number,
                           example='{"id", "gold", "pred", "p_scam", ...}')  # fmt: skip
        if isinstance(row, list):
            problems += row
            continue
        missing = [k for k in need if k not in row]
        if missing:
            problems.append(
                Problem(
                    str(path),
                    number,
                    ",".join(missing),
                    "missing",
                    "expected a predictions file (id, gold, pred, p_scam)",
                )
            )
            continue
        rows.append(row)
    if problems:
        raise DataError(problems)
    return rows


def find_prediction_files(source: str | Path) -> dict[str, Path]:
    """`{name: path}` of predictions files: the file itself, or every one under a run dir.

    Raises:
        DataError: if the source does not exist or holds no predictions file.
    """
    source = Path(source)
    if source.is_file():
        return {source.name: source}
    if source.is_dir():
        found = sorted(source.rglob(PREDICTIONS_GLOB))
        if found:
            return {p.parent.relative_to(source).as_posix() or p.name: p for p in found}
    raise DataError(
        [Problem(str(source), 0, "<source>", "no predictions found",
                 "pass a predictions JSONL, a run directory with evaluations, "
                 "or --model BUNDLE --data FILE")]
    )  # fmt: skip


def _rows_from_bundle(
    model, data: Sequence[str | Path], allow_overlap: bool, exclude_overlap: bool
) -> list[dict]:
    from janitr.evaluation.evaluate import evaluate_bundle

    if len(data) != 1:
        raise ConfigError("--model needs exactly one --data FILE to score")
    report = evaluate_bundle(model=model, data=data[0], allow_overlap=allow_overlap, n_boot=0,
                             exclude_overlap=exclude_overlap, with_predictions=True)  # fmt: skip
    p = report["predictions"]
    return [
        {"id": i, "gold": g, "pred": pr, "p_scam": s, "p_topic": t}
        for i, g, pr, s, t in zip(
            p["ids"], p["gold"], p["pred"], p["p_scam"], p["p_topic"], strict=True
        )  # fmt: skip
    ]


def _entry(row: dict, records: dict[str, Record]) -> dict:
    rec = records.get(row["id"])
    text = row.get("text") or (rec.text if rec else "")
    out = {
        "id": row["id"],
        "gold": row["gold"],
        "pred": row["pred"],
        "p_scam": float(row["p_scam"]),
        "p_topic": float(row.get("p_topic", 0.0)),
        "labels": list(rec.labels) if rec else row.get("labels"),
        "text": text,
    }
    if "fold" in row:
        out["fold"] = row["fold"]
    return out


def worst_errors(rows: Sequence[dict], records: dict[str, Record], *, top: int = 15) -> dict:
    """The worst mistakes of one predictions list.

    Returns:
        `{"rows", "counts": {scam_fp, scam_fn, topic_fp, topic_fn}, "scam_false_positives",
        "scam_false_negatives", "topic_false_positives", "topic_false_negatives"}`; each list
        holds up to `top` entries (id, gold, pred, p_scam, p_topic, labels, text).
    """

    def pick(cond, key, reverse):
        chosen = sorted((r for r in rows if cond(r)), key=key, reverse=reverse)
        return [_entry(r, records) for r in chosen[:top]], len(chosen)

    scam_fp, n_sfp = pick(lambda r: r["gold"] != SCAM and r["pred"] == SCAM,
                          lambda r: float(r["p_scam"]), True)  # fmt: skip
    scam_fn, n_sfn = pick(lambda r: r["gold"] == SCAM and r["pred"] != SCAM,
                          lambda r: float(r["p_scam"]), False)  # fmt: skip
    topic_fp, n_tfp = pick(lambda r: r["gold"] != TOPIC and r["pred"] == TOPIC,
                           lambda r: float(r.get("p_topic", 0)), True)  # fmt: skip
    topic_fn, n_tfn = pick(lambda r: r["gold"] == TOPIC and r["pred"] != TOPIC,
                           lambda r: float(r.get("p_topic", 0)), False)  # fmt: skip
    return {
        "rows": len(rows),
        "counts": {"scam_fp": n_sfp, "scam_fn": n_sfn, "topic_fp": n_tfp, "topic_fn": n_tfn},
        "scam_false_positives": scam_fp,
        "scam_false_negatives": scam_fn,
        "topic_false_positives": topic_fp,
        "topic_false_negatives": topic_fn,
    }


def error_analysis(
    *,
    source: str | Path | None = None,
    model: str | Path | None = None,
    data: Sequence[str | Path] = (),
    top: int = 15,
    allow_overlap: bool = False,
    exclude_overlap: bool = False,
) -> dict:
    """Worst errors of each predictions source.

    Args:
        source: predictions JSONL or run directory.
        model: bundle to score `data` with (instead of `source`).
        data: labeled JSONL file(s): texts and raw labels by id.
        top: entries per list.
        allow_overlap: with `model`, score rows the bundle trained or was tuned on.
        exclude_overlap: with `model`, drop those rows and score the rest.

    Returns:
        `{"sources": {name: worst_errors(...)}}`.

    Raises:
        ConfigError: if neither or both of source and model are given.
        DataError: on unreadable inputs.
    """
    if (source is None) == (model is None):
        raise ConfigError("give a RUN_OR_PREDICTIONS source, or --model BUNDLE --data FILE")
    records = {r.id: r for r in read_records(*data)} if data else {}
    if model is not None:
        sources = {Path(model).name: _rows_from_bundle(model, data, allow_overlap, exclude_overlap)}
    else:
        sources = {name: read_predictions(p) for name, p in find_prediction_files(source).items()}
    return {
        "sources": {name: worst_errors(rows, records, top=top) for name, rows in sources.items()}
    }


def _line(e: dict) -> str:
    text = " ".join((e.get("text") or "").split())
    labels = ",".join(e["labels"]) if e.get("labels") else "?"
    return (f"  p_scam {e['p_scam']:.3f}  p_topic {e['p_topic']:.3f}  gold {e['gold']:<12} "
            f"pred {e['pred']:<12} [{labels}] {e['id']}\n      {text[:160]!r}")  # fmt: skip


def format_errors(result: dict) -> str:
    """Readable lists of the worst errors per source."""
    lines = []
    titles = (
        ("scam_false_positives", "scam false positives (highest p_scam first)"),
        ("scam_false_negatives", "scam false negatives (lowest p_scam first)"),
        ("topic_false_positives", "topic_crypto false positives (highest p_topic first)"),
        ("topic_false_negatives", "topic_crypto false negatives (lowest p_topic first)"),
    )
    for name, r in result["sources"].items():
        c = r["counts"]
        lines.append(
            f"== {name}: {r['rows']} rows; scam FP {c['scam_fp']}, scam FN "
            f"{c['scam_fn']}, topic FP {c['topic_fp']}, topic FN {c['topic_fn']}"
        )
        for key, title in titles:
            if r[key]:
                lines.append(f"{title}:")
                lines += [_line(e) for e in r[key]]
        lines.append("")
    return "\n".join(lines).rstrip()
