"""`janitr errors`: worst false positives / negatives from predictions, runs or bundles."""

from __future__ import annotations

import json

import pytest

from janitr.cli import main
from janitr.errors import ConfigError, DataError
from janitr.evaluation.error_analysis import error_analysis, format_errors


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


ROWS = [
    {"id": "a", "gold": "clean", "pred": "scam", "p_scam": 0.7, "p_topic": 0.1},
    {"id": "b", "gold": "topic_crypto", "pred": "scam", "p_scam": 0.9, "p_topic": 0.8},
    {"id": "c", "gold": "scam", "pred": "clean", "p_scam": 0.05, "p_topic": 0.1},
    {"id": "d", "gold": "scam", "pred": "topic_crypto", "p_scam": 0.3, "p_topic": 0.7},
    {"id": "e", "gold": "scam", "pred": "scam", "p_scam": 0.95, "p_topic": 0.2},
    {"id": "f", "gold": "clean", "pred": "clean", "p_scam": 0.01, "p_topic": 0.0},
]


def test_orders_and_counts(tmp_path):
    _write(tmp_path / "p.jsonl", ROWS)
    data = tmp_path / "d.jsonl"
    _write(data, [{"id": r["id"], "text": f"text {r['id']}", "labels": ["clean"]} for r in ROWS])
    res = error_analysis(source=tmp_path / "p.jsonl", data=[data], top=5)
    r = res["sources"]["p.jsonl"]
    assert r["counts"] == {"scam_fp": 2, "scam_fn": 2, "topic_fp": 1, "topic_fn": 1}
    assert [e["id"] for e in r["scam_false_positives"]] == ["b", "a"]  # highest p_scam first
    assert [e["id"] for e in r["scam_false_negatives"]] == ["c", "d"]  # lowest p_scam first
    assert r["scam_false_positives"][0]["text"] == "text b"
    assert r["scam_false_positives"][0]["labels"] == ["clean"]
    assert "scam false positives" in format_errors(res)


def test_run_directory_and_cli(tmp_path, capsys):
    (tmp_path / "run" / "evaluations" / "linear").mkdir(parents=True)
    _write(tmp_path / "run" / "evaluations" / "linear" / "predictions.jsonl", ROWS)
    assert main(["errors", str(tmp_path / "run"), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "evaluations/linear" in out and "scam FP 2" in out


def test_bad_inputs(tmp_path):
    with pytest.raises(ConfigError):
        error_analysis()
    with pytest.raises(DataError):
        error_analysis(source=tmp_path / "missing.jsonl")
    _write(tmp_path / "bad.jsonl", [{"id": "x"}])
    with pytest.raises(DataError, match="missing"):
        error_analysis(source=tmp_path / "bad.jsonl")
