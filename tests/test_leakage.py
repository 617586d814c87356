"""leakage: id, text and near-duplicate overlap between splits; --previous."""

from __future__ import annotations

import json

import pytest

from janitr.cli import main
from janitr.data.leakage import check_leakage
from janitr.errors import ConfigError, LeakageError

TEXTS = [
    "Connect your wallet at claim-drop.xyz to receive 500 tokens before midnight",
    "The council approved two new bike lanes on the east side after a long debate",
    "Funding rates on perps are getting frothy again, careful with leverage this week",
    "Made sourdough for the first time, the crumb is not perfect but it tastes great",
    "Our keeper saved two penalties tonight and the whole stadium went completely wild",
]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(prefix, texts):
    return [{"id": f"{prefix}{i}", "text": t, "labels": ["clean"]} for i, t in enumerate(texts)]


def test_clean_splits_are_ok(tmp_path):
    _write(tmp_path / "train.jsonl", _rows("a", TEXTS[:3]))
    _write(tmp_path / "holdout.jsonl", _rows("b", TEXTS[3:]))
    report = check_leakage([tmp_path])
    assert report.ok and [(p.a, p.b) for p in report.pairs] == [("holdout", "train")]
    report.raise_if_leaky()


def test_one_character_near_duplicate_is_caught(tmp_path):
    planted = TEXTS[0].replace("500", "501")
    train = _write(tmp_path / "train.jsonl", _rows("a", TEXTS[:3]))
    hold = _write(tmp_path / "holdout.jsonl", _rows("b", [planted, *TEXTS[3:]]))
    report = check_leakage([train, hold])
    (pair,) = report.pairs
    assert (pair.ids, pair.texts, pair.near_dups) == (0, 0, 1)
    assert (pair.rows_a, pair.rows_b) == (1, 1)
    (example,) = pair.examples
    assert example["kind"] == "near-dup" and example["b_id"] == "b0" and example["a_id"] == "a0"
    assert 0.8 <= example["jaccard"] < 1.0
    assert not report.ok and "near-dup" in report.format_table()
    with pytest.raises(LeakageError):
        report.raise_if_leaky()


def test_id_and_text_overlap(tmp_path):
    train = _write(tmp_path / "train.jsonl", _rows("a", TEXTS[:3]))
    rows = _rows("b", TEXTS[3:]) + [
        {"id": "a1", "text": "different text entirely, ok"},
        {"id": "zz", "text": "  " + TEXTS[2].upper()},
    ]
    valid = _write(tmp_path / "valid.jsonl", rows)
    (pair,) = check_leakage([train, valid]).pairs
    assert (pair.ids, pair.texts, pair.near_dups) == (1, 1, 0)
    assert pair.rows_b == 2 and pair.rows_a == 2
    assert {e["kind"] for e in pair.examples} == {"id", "text"}
    assert json.loads(json.dumps(check_leakage([train, valid]).to_dict()))["ok"] is False


def test_previous_catches_old_train_in_new_holdout(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    _write(old / "train.jsonl", _rows("a", TEXTS[:3]))
    _write(old / "holdout.jsonl", _rows("b", TEXTS[3:]))
    _write(new / "train.jsonl", _rows("b", TEXTS[3:]))
    _write(new / "holdout.jsonl", _rows("a", TEXTS[:3]))
    report = check_leakage([new], previous=old)
    pairs = {(p.a, p.b): p for p in report.pairs}
    assert ("previous:train", "previous:holdout") not in pairs
    assert pairs["holdout", "previous:train"].ids == 3
    assert pairs["holdout", "previous:holdout"].clean
    assert pairs["holdout", "train"].clean


def test_errors_and_cli(tmp_path, capsys):
    with pytest.raises(ConfigError):
        check_leakage([tmp_path / "missing"])
    a = _write(tmp_path / "train.jsonl", _rows("a", TEXTS[:3]))
    b = _write(tmp_path / "valid.jsonl", _rows("a", TEXTS[:1]))
    assert main(["leakage", str(a), str(b)]) == 1
    assert main(["leakage", str(a), str(b), "--warn-only"]) == 0
    capsys.readouterr()
    assert main(["leakage", str(a), str(b), "--warn-only", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pairs"][0]["ids"] == 1
    out = tmp_path / "leak.json"
    assert main(["leakage", str(tmp_path), "--json", str(out)]) == 1
    assert json.loads(out.read_text())["format"] == "janitr-leakage v1"
