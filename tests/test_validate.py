"""validate: every problem of a corrupted copy is reported with file and line."""

from __future__ import annotations

import json

import pytest

from janitr.cli import main
from janitr.data.validate import format_report, validate_files


def _row(i: int, text: str = "hello world", labels=("clean",)) -> bytes:
    return json.dumps({"id": f"r{i}", "text": text, "labels": list(labels)}).encode()


@pytest.fixture
def corrupted(tmp_path):
    """A file with one problem per listed line; returns (path, {line: field})."""
    big = json.dumps({"id": "big", "text": "x" * (10 * 2**20), "labels": ["clean"]}).encode()
    lines = [
        b"\xef\xbb\xbf" + _row(1) + b"\r\n",  # 1 BOM + CRLF: fine
        b'{"id": "r2", "text": \n',  # 2 bad JSON
        json.dumps({"id": "r3", "text": "no labels"}).encode() + b"\n",  # 3
        _row(4, labels=["clean", "not_a_label"]) + b"\r\n",  # 4 unknown label
        _row(1) + b"\n",  # 5 duplicate id
        b'{"id":"r6","text":"caf\xe9","labels":["clean"]}\n',  # 6 invalid UTF-8
        _row(7, text=" \u200b ") + b"\n",  # 7 empty text after normalization
        b"\n",  # 8 blank: ignored
        b"   \r\n",  # 9 blank: ignored
        big[:-1] + b"\n",  # 10 a 10 MB line with broken JSON
        big + b"\n",  # 11 a valid 10 MB line
        json.dumps({"id": "r12", "text": "ok", "labels": ["scam"], "extra": {"a": 1}}).encode(),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(lines))
    expected = {2: "<line>", 3: "labels", 4: "labels", 5: "id", 6: "<line>", 7: "text",
                10: "<line>"}  # fmt: skip
    return path, expected


def test_every_problem_reported_with_file_and_line(corrupted):
    path, expected = corrupted
    report = validate_files([path])
    assert not report.ok
    found = {p.line: p.field for p in report.problems}
    assert found == expected
    assert all(p.path == str(path) for p in report.problems)
    assert report.rows == 3  # lines 1, 11, 12
    assert report.class_counts["scam"] == 1 and report.label_counts["clean"] == 2
    text = format_report(report)
    for line in expected:
        assert f"{path}:{line}: " in text
    assert "FAILED: 7 problem(s)" in text
    assert len(text) < 20_000  # the 10 MB line is never echoed


def test_clean_files_pass_with_counts(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(_row(1) + b"\n" + _row(2, labels=["scam", "topic_crypto"]) + b"\n")
    b.write_bytes(_row(3, labels=["crypto"]) + b"\n")
    report = validate_files([a, b])
    assert report.ok and report.rows == 3
    assert report.to_dict()["class_counts"] == {"scam": 1, "topic_crypto": 1, "clean": 1}
    assert report.rows_per_file == {str(a): 2, str(b): 1}


def test_duplicate_id_across_files(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(_row(1) + b"\n")
    b.write_bytes(_row(1) + b"\n")
    (problem,) = validate_files([a, b]).problems
    assert problem.path == str(b) and problem.line == 1 and f"{a}:1" in problem.message


def test_unlabeled_mode_and_missing_file(tmp_path):
    a = tmp_path / "u.jsonl"
    a.write_text(json.dumps({"id": "u1", "text": "hi", "source": "x"}) + "\n")
    assert validate_files([a], require_labels=False).ok
    report = validate_files([tmp_path / "missing.jsonl"])
    assert not report.ok and "file not found" in format_report(report)


def test_cli_exits_1_without_traceback(corrupted, capsys, tmp_path):
    path, _ = corrupted
    out_json = tmp_path / "report.json"
    assert main(["validate", str(path), "--json", str(out_json)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert f"{path}:2: <line>: invalid JSON" in captured.out
    data = json.loads(out_json.read_text())
    assert data["ok"] is False and len(data["problems"]) == 7
