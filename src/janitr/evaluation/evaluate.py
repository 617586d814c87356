"""`janitr evaluate`: score any bundle on any labeled JSONL file, honestly.

Reads the file (every broken row reported at once), refuses rows the bundle trained or was
tuned on (by id or normalized text; `allow_overlap` to override, recorded in the report),
normalizes texts with the bundle's own normalization settings, scores them through the
bundle's scorer and hands gold classes and head probabilities to
`metrics.evaluate_predictions`, the one metric code path. The result is a JSON-able dict
with a stable contract (`metrics.<class>.{precision,recall,f1,fpr,fnr,support}`,
`metrics.macro_f1`, `metrics.exact_match`, `metrics.scam_pr_auc`, `ci95`, `thresholds`,
`data`, `model`, `calibration`, `subgroups`, `scam_recall_by_kind`,
`scam_fpr_by_negative_class`); `format_evaluation` renders it as a table.

Comparing two reports (paired bootstrap) is left to the run registry; the per-row
predictions needed for it are kept when asked for (`with_predictions`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from janitr.artifacts import atomic_path, sha256_file
from janitr.data.labels import CLASSES, SCAM, TOPIC, collapse, decide, targets
from janitr.data.records import Record, read_records
from janitr.errors import LeakageError
from janitr.evaluation.metrics import evaluate_predictions
from janitr.runtime.bundle import Bundle, load_bundle, text_key

REPORT_FORMAT = "janitr-evaluation"
REPORT_VERSION = 1
#: Rows scored per scorer call (bounds memory on large files).
BATCH_SIZE = 2048


def overlapping_rows(records: Sequence[Record], bundle: Bundle) -> set[int]:
    """Indices of records whose id or normalized-text key the bundle has seen."""
    ids: set[str] = set()
    keys: set[str] = set()
    for entry in bundle.seen_data().values():
        ids.update(entry.get("ids", ()))
        keys.update(entry.get("text_keys", ()))
    return {i for i, r in enumerate(records) if r.id in ids or text_key(r.text) in keys}


def find_overlap(records: Sequence[Record], bundle: Bundle) -> dict:
    """Rows of `records` the bundle has seen, per seen split.

    Returns:
        `{"rows": n_overlapping_rows, "splits": {split: {"by_id": n, "by_text": n,
        "rows": n}}, "ids": [first 20 overlapping ids]}`.
    """
    seen = bundle.seen_data()
    keys = [text_key(r.text) for r in records]
    overlapping: set[int] = set()
    per_split = {}
    for split, entry in seen.items():
        ids = set(entry.get("ids", ()))
        text_keys = set(entry.get("text_keys", ()))
        by_id = {i for i, r in enumerate(records) if r.id in ids}
        by_text = {i for i, k in enumerate(keys) if k in text_keys}
        hit = by_id | by_text
        if hit:
            per_split[split] = {"by_id": len(by_id), "by_text": len(by_text), "rows": len(hit)}
        overlapping |= hit
    return {
        "rows": len(overlapping),
        "splits": per_split,
        "ids": [records[i].id for i in sorted(overlapping)[:20]],
    }


def score_records(
    bundle: Bundle, records: Sequence[Record], *, batch_size: int = BATCH_SIZE
) -> np.ndarray:
    """Head probabilities `(N, 2)` for records, normalized with the bundle's settings."""
    scorer = bundle.scorer()
    normalization = bundle.normalization
    out = np.zeros((len(records), 2), dtype=np.float64)
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        texts = [normalization.apply(r.text) for r in chunk]
        out[start : start + len(chunk)] = scorer.predict_heads(texts)
    return out


def unseen_report(
    split: str,
    records: Sequence[Record],
    seen: Mapping[str, dict],
    predict_heads: Callable[[list[str]], np.ndarray],
    normalization,
    *,
    thresholds: Mapping[str, float],
    seed: int,
) -> dict:
    """A trainer's report on a split: metrics at its tuned thresholds on the rows it neither
    trained nor tuned on.

    Rows duplicated (by id or normalized text) in the training or tuning data would flatter
    the report, so only unseen ones are scored, as `evaluate_bundle` insists.

    Args:
        split: the split's name (recorded).
        records: its rows.
        seen: the bundle's seen data (`{split: runtime.bundle.seen_entry(...)}`).
        predict_heads: normalized texts -> `(N, 2)` head probabilities.
        normalization: the `NormalizationConfig` the model was trained with.
        thresholds: the tuned thresholds.
        seed: bootstrap seed.

    Returns:
        `{"split", "rows", "excluded_overlap", "metrics", "ci95", "thresholds"}`.
    """
    seen_ids = {i for e in seen.values() for i in e["ids"]}
    seen_keys = {k for e in seen.values() for k in e["text_keys"]}
    rows = [r for r in records if r.id not in seen_ids and text_key(r.text) not in seen_keys]
    h = predict_heads([normalization.apply(r.text) for r in rows])
    full = evaluate_predictions(
        [collapse(r.labels) for r in rows], h[:, 0], h[:, 1],
        thresholds=thresholds, is_topic=[targets(r.labels).is_topic for r in rows],
        texts_raw=[r.text for r in rows], n_boot=1000, seed=seed,
    )  # fmt: skip
    return {
        "split": split,
        "rows": full["rows"],
        "excluded_overlap": len(records) - len(rows),
        "metrics": full["metrics"],
        "ci95": full["ci95"],
        "thresholds": full["thresholds"],
    }


def evaluate_bundle(
    *,
    model: str | Path,
    data: str | Path,
    allow_overlap: bool = False,
    exclude_overlap: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    with_predictions: bool = False,
    content_id: str | None = None,
) -> dict:
    """Evaluate a model bundle on a labeled JSONL file.

    Args:
        model: bundle directory.
        data: labeled JSONL file (`id`, `text`, `labels` per row).
        allow_overlap: score rows the bundle trained or was tuned on anyway (the report
            records the overlap); refused by default.
        exclude_overlap: drop those rows and score the rest (the report records how many
            were dropped).
        n_boot: bootstrap resamples for the 95% CIs (0 disables them).
        seed: bootstrap seed.
        with_predictions: add `predictions` (per-row id, gold, pred, p_scam, p_topic, as
            columns) for paired comparisons.
        content_id: refuse the bundle unless its content id is this (or starts with it).

    Returns:
        the report dict (see the module docstring for the stable keys).

    Raises:
        BundleError: if the bundle is missing, of another format version, damaged, or not
            the pinned `content_id`.
        DataError: listing every broken row of the data file.
        LeakageError: if rows overlap the bundle's training or tuning data.
    """
    bundle = load_bundle(model, content_id=content_id)
    data = Path(data)
    records, overlap, excluded = _unseen_records(
        read_records(data), bundle, data=data, model=model, allow_overlap=allow_overlap,
        exclude_overlap=exclude_overlap,
    )  # fmt: skip
    heads = score_records(bundle, records)
    gold = [collapse(r.labels) for r in records]
    result = evaluate_predictions(
        gold,
        heads[:, 0],
        heads[:, 1],
        thresholds=bundle.thresholds,
        is_topic=[targets(r.labels).is_topic for r in records],
        texts_raw=[r.text for r in records],
        raw_labels=[r.labels for r in records],
        n_boot=n_boot,
        seed=seed,
    )
    report = {
        "format": REPORT_FORMAT,
        "format_version": REPORT_VERSION,
        "model": {
            "kind": bundle.kind,
            "content_id": bundle.content_id,
            "path": str(bundle.path),
            "size_bytes": int(sum(e["size"] for e in bundle.manifest["files"].values())),
            "tuning_data": bundle.manifest.get("tuning", {}).get("data"),
            "tuning_rule": _rule_label(bundle.manifest.get("tuning", {})),
        },
        "data": {
            "path": str(data),
            "rows": len(records),
            "sha256": sha256_file(data),
            "rows_in_file": len(records) + excluded,
        },
        "overlap": {**overlap, "allowed": bool(allow_overlap), "excluded_rows": excluded},
        **{k: v for k, v in result.items() if k != "rows"},
    }
    if with_predictions:
        report["predictions"] = _predictions(records, gold, heads, bundle.thresholds)
    return report


def _unseen_records(records: list[Record], bundle: Bundle, *, data: Path, model,
                    allow_overlap: bool, exclude_overlap: bool):  # fmt: skip
    """The rows to score, the overlap found and the number of rows excluded.

    Raises:
        LeakageError: if rows overlap and neither override is given, or nothing is left.
    """
    overlap = find_overlap(records, bundle)
    excluded = 0
    if overlap["rows"] and exclude_overlap:
        seen_rows = overlapping_rows(records, bundle)
        records = [r for i, r in enumerate(records) if i not in seen_rows]
        excluded = len(seen_rows)
    elif overlap["rows"] and not allow_overlap:
        detail = "; ".join(
            f"{split}: {v['rows']} rows ({v['by_id']} by id, {v['by_text']} by normalized text)"
            for split, v in overlap["splits"].items()
        )
        raise LeakageError(
            f"{overlap['rows']} of {len(records)} rows in {data} were seen by the model in "
            f"{model} ({detail}); e.g. ids {', '.join(overlap['ids'][:5])}. Evaluate on "
            "held-out data, pass --exclude-overlap to score only the unseen rows, or "
            "--allow-overlap to score them anyway (the report will say so)"
        )
    if not records:
        raise LeakageError(f"every row of {data} was seen by the model; nothing left to score")
    return records, overlap, excluded


def _predictions(records, gold: list[str], heads: np.ndarray, th: Mapping[str, float]) -> dict:
    """Per-row ids, gold and predicted classes and head probabilities, as columns."""
    idx = decide(heads[:, 0], heads[:, 1], t_scam=th[SCAM], t_topic=th[TOPIC])
    return {
        "ids": [r.id for r in records],
        "gold": gold,
        "pred": [CLASSES[i] for i in idx],
        "p_scam": [round(float(x), 6) for x in heads[:, 0]],
        "p_topic": [round(float(x), 6) for x in heads[:, 1]],
    }


def write_predictions(path: str | Path, report: dict) -> int:
    """Write a report's `predictions` as JSONL (one row per post); returns the row count.

    Raises:
        KeyError: if the report was made without `with_predictions`.
    """
    p = report["predictions"]
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for i, row_id in enumerate(p["ids"]):
            row = {
                "id": row_id,
                "gold": p["gold"][i],
                "pred": p["pred"][i],
                "p_scam": p["p_scam"][i],
                "p_topic": p["p_topic"][i],
            }
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(p["ids"])


def _ci(report: dict, key: str) -> str:
    ci = report.get("ci95", {}).get(key)
    return f"[{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""


def _rule_label(tuning: Mapping) -> str:
    """How the scam threshold was chosen, e.g. `empirical` or `guaranteed@0.8`."""
    rule = tuning.get("scam_threshold_rule", "empirical")
    return f"{rule}@{tuning['confidence']:g}" if "confidence" in tuning else rule


def format_evaluation(report: dict) -> str:
    """A readable table of a report: per-class metrics, macro, CIs, calibration, subgroups."""
    m = report["metrics"]
    model, data, th = report["model"], report["data"], report["thresholds"]
    lines = [
        f"model  {model['path']}  (kind {model['kind']}, {model['size_bytes'] / 1024:.1f} KB, "
        f"content id {model['content_id'][:12]})",
        f"data   {data['path']}  ({data['rows']} rows, sha256 {data['sha256'][:12]})",
        f"thresholds  scam >= {th[SCAM]:.4f}   topic_crypto >= {th[TOPIC]:.4f}",
    ]
    if report.get("overlap", {}).get("excluded_rows"):
        lines.append(
            f"note: {report['overlap']['excluded_rows']} rows seen in training/tuning "
            "were excluded (--exclude-overlap)"
        )
    elif report.get("overlap", {}).get("rows"):
        lines.append(
            f"WARNING: {report['overlap']['rows']} rows were seen in training/tuning "
            "(--allow-overlap); these numbers are optimistic"
        )
    lines += [
        "",
        f"{'class':<14}{'precision':>10}{'recall':>9}{'f1':>8}{'fpr':>8}{'fnr':>8}{'support':>9}",
    ]
    for c in CLASSES:
        r = m[c]
        lines.append(
            f"{c:<14}{r['precision']:>10.3f}{r['recall']:>9.3f}{r['f1']:>8.3f}"
            f"{r['fpr']:>8.3f}{r['fnr']:>8.3f}{r['support']:>9d}"
        )
    lines.append(
        f"{'macro':<14}{m['macro_precision']:>10.3f}{m['macro_recall']:>9.3f}{m['macro_f1']:>8.3f}"
    )
    lines += [
        "",
        f"exact match {m['exact_match']:.3f}   macro F1 {m['macro_f1']:.3f} "
        f"{_ci(report, 'macro_f1')}"
        f"   scam PR-AUC (AP) {m['scam_pr_auc']:.3f}",
    ]
    if report.get("ci95"):
        boot = report.get("bootstrap", {})
        lines.append(f"scam, 95% CI (percentile bootstrap, {boot.get('n_boot', '?')} resamples):")
        for key in ("precision", "recall", "fpr", "f1"):
            lines.append(f"  {key:<10}{m[SCAM][key]:.3f} {_ci(report, 'scam_' + key)}")
    lines += format_by_kind(report)
    cal = report.get("calibration", {})
    if cal:
        lines.append(
            "calibration  "
            + "   ".join(
                f"{head}: ECE {v['ece']:.3f} Brier {v['brier']:.3f}" for head, v in cal.items()
            )
        )
    if report.get("subgroups"):
        lines += [
            "",
            f"{'subgroup':<20}{'rows':>6}{'scam P':>8}{'scam R':>8}{'scam FPR':>9}"
            f"{'macro F1':>9}{'exact':>7}",
        ]
        for name, g in report["subgroups"].items():
            s = g["metrics"]
            lines.append(
                f"{name:<20}{g['rows']:>6d}{s[SCAM]['precision']:>8.3f}"
                f"{s[SCAM]['recall']:>8.3f}{s[SCAM]['fpr']:>9.3f}"
                f"{s['macro_f1']:>9.3f}{s['exact_match']:>7.3f}"
            )
    return "\n".join(lines)


def _interval(entry: Mapping) -> str:
    ci = entry.get("ci95")
    return f"[{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""


def format_by_kind(report: Mapping) -> list[str]:
    """Lines of scam recall per kind of scam row and scam FPR per kind of negative row,
    each with its counts and exact 95% interval; nothing for a report without them (reports
    written before `scam_recall_by_kind` existed)."""
    lines: list[str] = []
    by_kind = report.get("scam_recall_by_kind")
    if by_kind:
        lines += ["", "scam recall by kind of scam row (exact 95% CI):"]
        for kind, v in by_kind.items():
            lines.append(
                f"  {kind:<12}{v['recall']:>7.3f}  {v['tp']:>5d} / {v['positives']:<5d} "
                f"{_interval(v)}"
            )
    by_negative = report.get("scam_fpr_by_negative_class")
    if by_negative:
        lines += ["", "scam FPR by negative class (exact 95% CI):"]
        for name, v in by_negative.items():
            lines.append(
                f"  {name:<12}{v['fpr']:>7.3f}  {v['fp']:>5d} / {v['negatives']:<5d} {_interval(v)}"
            )
    return lines


def format_bundle_report(bundle: Bundle) -> str:
    """Summary of a freshly trained bundle: size, thresholds, tuning and its stored report.

    The report (`manifest["model"]["report"]`, written by the trainer on a split it did not
    train or tune on) is shown as a per-class table with scam CIs.
    """
    info = bundle.manifest.get("model", {})
    tuning = bundle.manifest.get("tuning", {})
    th = bundle.thresholds
    size = sum(e["size"] for e in bundle.manifest["files"].values())
    lines = [
        f"bundle {bundle.path}  (kind {bundle.kind}, {size / 1024:.1f} KB; model file "
        f"{info.get('file', '?')} {info.get('size_bytes', 0) / 1024:.1f} KB)",
        f"thresholds  scam >= {th[SCAM]:.4f}   topic_crypto >= {th[TOPIC]:.4f}   tuned on "
        f"{tuning.get('data', '?')} ({tuning.get('rows', '?')} rows, scam FPR <= "
        f"{tuning.get('scam_target_fpr', '?')}, {_rule_label(tuning)} rule)",
    ]
    for name in tuning.get("disabled", []):
        lines.append(
            f"WARNING: {name} is disabled (no threshold met the target on the "
            "tuning data); it will never be predicted"
        )
    report = info.get("report")
    if report:
        m = report["metrics"]
        excluded = report.get("excluded_overlap", 0)
        note = f", {excluded} rows seen in training/tuning excluded" if excluded else ""
        lines += [
            "",
            f"on {report['split']} ({report['rows']} rows{note}):",
            f"{'class':<14}{'precision':>10}{'recall':>9}{'f1':>8}{'fpr':>8}{'support':>9}",
        ]
        for c in CLASSES:
            r = m[c]
            lines.append(
                f"{c:<14}{r['precision']:>10.3f}{r['recall']:>9.3f}{r['f1']:>8.3f}"
                f"{r['fpr']:>8.3f}{r['support']:>9d}"
            )
        lines.append(
            f"macro F1 {m['macro_f1']:.3f} {_ci(report, 'macro_f1')}   exact match "
            f"{m['exact_match']:.3f}   scam PR-AUC {m['scam_pr_auc']:.3f}"
        )
        lines.append(
            "scam "
            + "   ".join(
                f"{k} {m[SCAM][k]:.3f} {_ci(report, 'scam_' + k)}"
                for k in ("precision", "recall", "fpr")
            )
        )
    return "\n".join(lines)
