"""`evaluate_bundle`: the JSON contract, overlap refusal, broken rows."""

from __future__ import annotations

import json

import pytest

from janitr.data.labels import CLASSES
from janitr.errors import DataError, LeakageError
from janitr.evaluation.evaluate import evaluate_bundle, format_evaluation, write_predictions
from tiny_fasttext import train_tiny_bundle


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ev")
    bundle = train_tiny_bundle(tmp)
    fresh = tmp / "fresh.jsonl"
    rows = [
        {
            "id": "f1",
            "text": "Send 5 ETH, get 10 back! giveaway https://scam.example",
            "labels": ["scam"],
        },
        {"id": "f2", "text": "ETH gas fees dropped a lot this week", "labels": ["topic_crypto"]},
        {"id": "f3", "text": "Walked the dog along the river this morning", "labels": ["clean"]},
        {"id": "f4", "text": "claim the solana airdrop, connect wallet", "labels": ["crypto_scam"]},
    ]
    fresh.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return bundle, fresh, tmp


def test_json_contract(setup):
    bundle, fresh, _ = setup
    report = evaluate_bundle(model=bundle.path, data=fresh, n_boot=100)
    for c in CLASSES:
        assert set(report["metrics"][c]) >= {"precision", "recall", "f1", "fpr", "fnr", "support"}
    for key in ("macro_f1", "exact_match", "scam_pr_auc"):
        assert isinstance(report["metrics"][key], float)
    assert set(report["ci95"]["scam_recall"]) == {"low", "high"}
    assert set(report["thresholds"]) == {"scam", "topic_crypto"}
    assert report["data"]["rows"] == 4 and len(report["data"]["sha256"]) == 64
    assert report["model"]["kind"] == "fasttext" and report["model"]["content_id"]
    assert "calibration" in report and "subgroups" in report
    json.dumps(report)  # serializable
    assert "scam" in format_evaluation(report)


def test_predictions(setup, tmp_path):
    bundle, fresh, _ = setup
    report = evaluate_bundle(model=bundle.path, data=fresh, n_boot=0, with_predictions=True)
    assert report["predictions"]["ids"] == ["f1", "f2", "f3", "f4"]
    assert write_predictions(tmp_path / "p.jsonl", report) == 4


def test_overlap_refused(setup, tmp_path):
    bundle, _, tmp = setup
    with pytest.raises(LeakageError, match=r"rows .* seen by the model.*train") as info:
        evaluate_bundle(model=bundle.path, data=tmp / "data" / "train.jsonl", n_boot=0)
    assert "--allow-overlap" in str(info.value)
    # Same text under a new id is still refused (normalized-text key).
    leaked = tmp_path / "leak.jsonl"
    row = json.loads((tmp / "data" / "calib.jsonl").read_text().splitlines()[0])
    row["id"] = "new-id"
    row["text"] = "  " + row["text"].upper() + "\u200b"
    leaked.write_text(json.dumps(row) + "\n")
    with pytest.raises(LeakageError, match="by normalized text"):
        evaluate_bundle(model=bundle.path, data=leaked, n_boot=0)
    report = evaluate_bundle(model=bundle.path, data=leaked, n_boot=0, allow_overlap=True)
    assert report["overlap"]["rows"] == 1 and report["overlap"]["allowed"]


def test_broken_rows_listed(setup, tmp_path):
    bundle, _, _ = setup
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "ok", "labels": ["clean"]}\n{not json\n'
                   '{"id": "b", "text": "", "labels": ["clean"]}\n')  # fmt: skip
    with pytest.raises(DataError) as info:
        evaluate_bundle(model=bundle.path, data=bad)
    assert len(info.value.problems) == 2
    assert ":2:" in str(info.value) and ":3:" in str(info.value)


def test_unseen_report_scores_only_rows_the_model_never_saw():
    """A trainer's valid report skips rows seen in training or tuning, by id or by
    normalized text, and says how many it skipped."""
    import numpy as np

    from janitr.data.normalize import NormalizationConfig
    from janitr.data.records import Record
    from janitr.evaluation.evaluate import unseen_report
    from janitr.runtime.bundle import seen_entry

    def row(i, text, label):
        return Record(id=i, text=text, labels=(label,), path="valid.jsonl", line=1)

    valid = [
        row("a", "free airdrop claim now", "scam"),
        row("b", "Seen  TEXT", "clean"),
        row("c", "gm everyone", "clean"),
        row("d", "send eth to double it", "scam"),
    ]
    seen = {"train": seen_entry(["a"], ["seen text"])}  # "a" by id, "b" by normalized text
    scored = []

    def heads(texts):
        scored.extend(texts)
        return np.array([[0.9 if "eth" in t else 0.1, 0.0] for t in texts])

    report = unseen_report("valid", valid, seen, heads, NormalizationConfig(),
                           thresholds={"scam": 0.5, "topic_crypto": 0.5}, seed=0)  # fmt: skip
    assert scored == ["gm everyone", "send eth to double it"]
    assert report["split"] == "valid" and report["rows"] == 2
    assert report["excluded_overlap"] == 2
    assert report["metrics"]["scam"]["recall"] == 1.0
