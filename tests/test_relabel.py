"""`janitr relabel`: a reviewed change file becomes a new dataset version, never in place."""

from __future__ import annotations

import json

import pytest

from janitr.artifacts import sha256_file
from janitr.cli import main
from janitr.data.relabel import MANIFEST, REVIEW_FORMAT, relabel
from janitr.data.validate import validate_files
from janitr.errors import ConfigError, DataError

TRAIN = [
    {"id": "t1", "text": "claim your free airdrop now, connect wallet", "labels": ["scam"],
     "extra": {"kept": True}},
    {"id": "t2", "text": "bitcoin closed the week above its average", "labels": ["topic_crypto"]},
    {"id": "t3", "text": "walked the dog along the river this morning", "labels": ["clean"]},
    {"id": "t4", "text": "the new ETF filings are out, analysts say", "labels": ["scam"]},
]  # fmt: skip
VALID = [
    {"id": "v1", "text": "send 1 ETH get 2 back, giveaway ends soon", "labels": ["scam"]},
    {"id": "v2", "text": "baked bread for the first time today", "labels": ["topic_crypto"]},
]
CALIB = [{"id": "c1", "text": "great match last night, what a goal", "labels": ["clean"]}]


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    for name, rows in (("train", TRAIN), ("valid", VALID), ("calib", CALIB)):
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "unlabeled.jsonl").write_text(json.dumps({"id": "u1", "text": "hello there"}) + "\n")
    return d


def _changes(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def _hashes(folder):
    return {p.name: sha256_file(p) for p in sorted(folder.glob("*.jsonl"))}


def test_new_version_beside_an_untouched_parent(data, tmp_path):
    before = _hashes(data)
    changes = _changes(tmp_path / "reviewed.jsonl", [
        # a review row as `janitr audit` writes it, with new_labels filled in
        {"format": REVIEW_FORMAT, "rank": 1, "id": "t4", "given_labels": ["scam"],
         "given_class": "scam", "suggested": "topic_crypto", "score": 0.02,
         "new_labels": ["topic_crypto", "topic_news"], "note": "news, not a scam"},
        {"id": "v2", "new_labels": ["clean"]},
        {"id": "t1", "new_labels": None},  # reviewed, kept
        {"id": "t2", "new_labels": ["topic_crypto"]},  # same labels: no change
    ])  # fmt: skip
    out = tmp_path / "data-v2"
    manifest = relabel(data_dir=data, changes=changes, out_dir=out)

    assert _hashes(data) == before  # the parent is never modified
    assert sorted(p.name for p in out.iterdir()) == sorted([*before, MANIFEST])
    on_disk = json.loads((out / MANIFEST).read_text())
    assert on_disk == manifest
    assert manifest["format"] == "janitr-dataset-version" and manifest["format_version"] == 1
    assert {k: v["sha256"] for k, v in manifest["parent"]["files"].items()} == before
    assert {k: v["sha256"] for k, v in manifest["files"].items()} == _hashes(out)
    assert manifest["files"]["train.jsonl"]["rows"] == 4
    assert manifest["change_file"]["sha256"] == sha256_file(changes)
    assert [(c["id"], c["file"], c["line"], c["old_class"], c["new_class"], c["note"])
            for c in manifest["changes"]] == [
        ("t4", "train.jsonl", 4, "scam", "topic_crypto", "news, not a scam"),
        ("v2", "valid.jsonl", 2, "topic_crypto", "clean", ""),
    ]  # fmt: skip
    assert manifest["class_moves"] == {"scam->topic_crypto": 1, "topic_crypto->clean": 1}
    # changed rows carry the new labels and every other field; other lines are byte-identical
    new_train = (out / "train.jsonl").read_text().splitlines()
    old_train = (data / "train.jsonl").read_text().splitlines()
    assert new_train[:3] == old_train[:3]
    assert json.loads(new_train[3]) == {**TRAIN[3], "labels": ["topic_crypto", "topic_news"]}
    assert sha256_file(out / "calib.jsonl") == before["calib.jsonl"]
    assert sha256_file(out / "unlabeled.jsonl") == before["unlabeled.jsonl"]
    # the new version validates, and its splits were checked for leakage
    report = validate_files([out / f"{s}.jsonl" for s in ("train", "valid", "calib")])
    assert report.ok and report.class_counts["clean"] == 3
    assert manifest["validation"]["ok"] and manifest["leakage"]["ok"]


def test_an_existing_folder_is_never_overwritten(data, tmp_path):
    changes = _changes(tmp_path / "c.jsonl", [{"id": "t4", "new_labels": ["clean"]}])
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        relabel(data_dir=data, changes=changes, out_dir=out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    before = _hashes(data)
    with pytest.raises(ConfigError, match="never overwritten"):
        relabel(data_dir=data, changes=changes, out_dir=data)  # in place
    assert _hashes(data) == before


def test_bad_change_rows_are_all_reported_with_file_and_line(data, tmp_path):
    changes = _changes(tmp_path / "c.jsonl", [
        {"id": "t1", "new_labels": ["clean"]},
        {"id": "nope", "new_labels": ["clean"]},
        {"id": "t2", "new_labels": ["not_a_label"]},
        {"id": "t3", "new_labels": "clean"},
        {"id": "t1", "new_labels": ["scam"]},
        {"id": "v1", "given_labels": ["clean"], "new_labels": ["clean"]},
        "{not json",
        {"new_labels": ["clean"]},
        {"format": "janitr-label-review v0", "id": "c1", "new_labels": ["scam"]},
    ])  # fmt: skip
    out = tmp_path / "v2"
    with pytest.raises(DataError) as info:
        relabel(data_dir=data, changes=changes, out_dir=out)
    found = [(p.line, p.field) for p in info.value.problems]
    assert found == [(2, "id"), (3, "new_labels"), (4, "new_labels"), (5, "id"),
                     (6, "given_labels"), (7, "<line>"), (8, "id"), (9, "format")]  # fmt: skip
    text = str(info.value)
    assert f"{changes}:2: id: unknown id 'nope'" in text
    assert "not_a_label" in text and "janitr labels" in text
    assert "changed twice (first on line 1)" in text
    assert "audit it again" in text
    assert not out.exists()


def test_a_file_that_changes_nothing_is_refused(data, tmp_path):
    changes = _changes(tmp_path / "c.jsonl", [{"id": "t1", "new_labels": None}])
    with pytest.raises(ConfigError, match="no row changes a label"):
        relabel(data_dir=data, changes=changes, out_dir=tmp_path / "v2")
    assert not (tmp_path / "v2").exists()


def test_cli_relabel(data, tmp_path, capsys):
    good = _changes(tmp_path / "good.jsonl", [{"id": "t4", "new_labels": ["clean"]}])
    assert main(["relabel", "--data", str(data), "--changes", good,
                 "--out", str(tmp_path / "v2")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "1 label change(s) (scam->clean 1)" in out and "validation: OK" in out
    assert "calib.jsonl: 1 rows" in out and "(unchanged)" in out
    bad = _changes(tmp_path / "bad.jsonl", [{"id": "zz", "new_labels": ["clean"]}])
    assert main(["relabel", "--data", str(data), "--changes", bad,
                 "--out", str(tmp_path / "v3")]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert f"{bad}:1: id: unknown id 'zz'" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as info:
        main(["relabel", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "--changes" in text and "NEW dataset version" in text
