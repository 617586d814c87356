"""Scam recall by kind of scam row and scam FPR by negative class: a hand-computed example,
`janitr evaluate`'s text, and the run report's tables (old eval.json files without them too)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from janitr.data.labels import SCAM_KINDS, scam_kind
from janitr.evaluation.evaluate import format_evaluation
from janitr.evaluation.metrics import (
    clopper_pearson,
    evaluate_predictions,
    scam_recall_by_kind,
)

# 12 rows. Scam rows: 3 fraud (2 caught), 2 spam/promo (1 caught); negatives: 4 clean (1
# flagged scam), 3 topic_crypto (2 flagged scam).
ROWS = [
    # (raw labels, predicted class)
    (["scam", "phishing", "topic_crypto"], "scam"),
    (["recovery_scam", "spam"], "scam"),  # fraud first, though also spam
    (["crypto_scam"], "clean"),  # legacy alias of scam: fraud
    (["promo", "topic_ai"], "scam"),
    (["affiliate", "promo", "topic_crypto"], "topic_crypto"),
    (["clean"], "clean"),
    (["clean"], "scam"),
    (["topic_news"], "clean"),
    (["clean", "topic_sports"], "topic_crypto"),
    (["topic_crypto"], "scam"),
    (["topic_crypto"], "scam"),
    (["crypto"], "topic_crypto"),
]
GOLD = ["scam"] * 5 + ["clean"] * 4 + ["topic_crypto"] * 3


def test_scam_kind_follows_the_taxonomy_groups():
    kinds = [scam_kind(labels) for labels, _ in ROWS]
    assert kinds == ["fraud"] * 3 + ["spam_promo"] * 2 + [None] * 7
    assert SCAM_KINDS == ("fraud", "spam_promo", "other")


def test_hand_computed_example():
    labels = [r[0] for r in ROWS]
    pred = [r[1] for r in ROWS]
    by_kind = scam_recall_by_kind(GOLD, pred, labels)
    assert {k: (v["tp"], v["positives"]) for k, v in by_kind.items()} == {
        "fraud": (2, 3), "spam_promo": (1, 2), "other": (0, 0),
    }  # fmt: skip
    assert by_kind["fraud"]["recall"] == pytest.approx(2 / 3)
    assert by_kind["spam_promo"]["recall"] == pytest.approx(1 / 2)
    assert by_kind["other"]["recall"] == 0.0
    assert by_kind["fraud"]["ci95"] == clopper_pearson(2, 3)
    assert by_kind["other"]["ci95"] == {"low": 0.0, "high": 1.0}
    # the kinds partition the scam rows: their hits add up to the pooled recall
    p_scam = np.array([1.0 if p == "scam" else 0.0 for p in pred])
    p_topic = np.array([1.0 if p == "topic_crypto" else 0.0 for p in pred])
    report = evaluate_predictions(
        GOLD, p_scam, p_topic, thresholds={"scam": 0.5, "topic_crypto": 0.5},
        raw_labels=labels, n_boot=0,
    )  # fmt: skip
    assert report["scam_recall_by_kind"] == by_kind
    assert report["metrics"]["scam_recall_by_kind"]["fraud"] == pytest.approx(2 / 3)
    assert report["metrics"]["scam"]["recall"] == pytest.approx(3 / 5)
    fpr = report["scam_fpr_by_negative_class"]
    assert (fpr["clean"]["fp"], fpr["clean"]["negatives"]) == (1, 4)
    assert (fpr["topic_crypto"]["fp"], fpr["topic_crypto"]["negatives"]) == (2, 3)
    # without raw labels the report has no such entry
    plain = evaluate_predictions(
        GOLD, p_scam, p_topic, thresholds={"scam": 0.5, "topic_crypto": 0.5}, n_boot=0
    )
    assert "scam_recall_by_kind" not in plain and "scam_recall_by_kind" not in plain["metrics"]
    with pytest.raises(ValueError, match="raw_labels"):
        evaluate_predictions(
            GOLD, p_scam, p_topic, thresholds={"scam": 0.5, "topic_crypto": 0.5},
            raw_labels=labels[:-1], n_boot=0,
        )  # fmt: skip


def _report(with_kinds: bool) -> dict:
    labels = [r[0] for r in ROWS]
    p_scam = np.array([1.0 if r[1] == "scam" else 0.0 for r in ROWS])
    p_topic = np.array([1.0 if r[1] == "topic_crypto" else 0.0 for r in ROWS])
    report = evaluate_predictions(
        GOLD, p_scam, p_topic, thresholds={"scam": 0.5, "topic_crypto": 0.5},
        raw_labels=labels if with_kinds else None, n_boot=20,
    )  # fmt: skip
    report["model"] = {"path": "b", "kind": "fasttext", "content_id": "c" * 64, "size_bytes": 1}
    report["data"] = {"path": "holdout.jsonl", "rows": len(ROWS), "sha256": "ab" * 32}
    return report


def test_evaluate_text_shows_counts_and_intervals():
    text = format_evaluation(_report(True))
    ci = clopper_pearson(2, 3)
    assert "scam recall by kind of scam row" in text
    assert f"fraud         0.667      2 / 3     [{ci['low']:.3f}, {ci['high']:.3f}]" in text
    assert "spam_promo    0.500      1 / 2" in text
    assert "scam FPR by negative class" in text
    assert "topic_crypto  0.667      2 / 3" in text
    # a report written before the split by kind still renders
    old = _report(False)
    del old["scam_fpr_by_negative_class"]
    text = format_evaluation(old)
    assert "by kind" not in text and "by negative class" not in text


def test_run_report_tables(tmp_path):
    pytest.importorskip("matplotlib")
    from janitr.artifacts import write_json
    from janitr.pipeline.report import render_report
    from janitr.pipeline.rundir import (
        MANIFEST,
        STAGE_FORMAT,
        STAGE_FORMAT_VERSION,
        write_evaluation,
    )

    stage = tmp_path / "stages" / "12-evaluate"
    stage.mkdir(parents=True)
    write_json(stage / MANIFEST, {
        "format": STAGE_FORMAT, "format_version": STAGE_FORMAT_VERSION, "stage": "evaluate",
        "index": 12, "status": "complete", "seconds": 1.0,
        "finished_at": "2026-01-01T00:00:00Z", "summary": {},
    })  # fmt: skip
    old = _report(False)
    del old["scam_fpr_by_negative_class"]  # an eval.json from before either split
    rows = [{"id": f"r{i}", "gold": g, "pred": p, "p_scam": 0.5, "p_topic": 0.5, "text": "t"}
            for i, (g, (_, p)) in enumerate(zip(GOLD, ROWS, strict=True))]  # fmt: skip
    write_evaluation(stage / "fasttext", _report(True), rows)
    write_evaluation(stage / "teacher", old, rows)
    render_report(tmp_path)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    ci = clopper_pearson(2, 3)
    cell = f"0.667 (2/3) [{ci['low']:.3f}, {ci['high']:.3f}]"
    assert "<h3>Scam recall by kind</h3>" in html and "<h3>Scam FPR by negative class</h3>" in html
    assert "\n### Scam recall by kind\n" in md and "\n### Scam FPR by negative class\n" in md
    assert f"| fraud | {cell} | – |" in md
    assert "| spam_promo | 0.500 (1/2)" in md
    assert "| topic_crypto | 0.667 (2/3)" in md
    assert cell in html
    json.dumps(_report(True))  # serializable
