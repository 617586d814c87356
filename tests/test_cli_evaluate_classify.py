"""CLI surface of `train fasttext`, `evaluate` and `classify`: exit codes, no tracebacks."""

from __future__ import annotations

import json

import pytest

from janitr.cli import main
from tiny_fasttext import train_tiny_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return train_tiny_bundle(tmp_path_factory.mktemp("cli"))


def test_help_teaches(capsys):
    for argv in (["train", "fasttext", "--help"], ["evaluate", "--help"], ["classify", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        assert "examples:" in capsys.readouterr().out


def test_classify_text_and_empty(bundle, capsys):
    assert main(["classify", "--model", str(bundle.path), "--json", "claim free eth"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["label"] in ("scam", "topic_crypto", "clean")
    assert row["content_id"] == bundle.content_id  # which exact bundle answered
    assert main(["classify", "--model", str(bundle.path), ""]) == 1
    err = capsys.readouterr().err
    assert "empty after normalization" in err and "Traceback" not in err


def test_classify_batch(bundle, tmp_path, capsys):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "1", "text": "claim free eth"}\n{"id": "2", "text": "hello"}\n')
    out = tmp_path / "out.jsonl"
    argv = ["classify", "--model", str(bundle.path), "--input", str(inp), "--output", str(out),
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["1", "2"]


def test_classify_tampered_bundle(bundle, tmp_path, capsys):
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(bundle.path, copy)
    model = copy / "model.ftz"
    data = bytearray(model.read_bytes())
    data[-1] ^= 1
    model.write_bytes(bytes(data))
    assert main(["classify", "--model", str(copy), "hi"]) == 1
    assert "SHA-256" in capsys.readouterr().err


def test_evaluate_exit_codes(bundle, tmp_path, capsys):
    report = tmp_path / "r.json"
    data = bundle.path.parent / "data"
    # Training data: refused as leakage.
    assert main(["evaluate", "--model", str(bundle.path), "--data", str(data / "train.jsonl")]) == 1
    assert "--allow-overlap" in capsys.readouterr().err
    argv = ["evaluate", "--model", str(bundle.path), "--data", str(data / "valid.jsonl"),
            "--exclude-overlap", "--n-boot", "50", "--json", str(report)]  # fmt: skip
    assert main(argv) == 0
    assert "macro" in capsys.readouterr().out
    assert json.loads(report.read_text())["metrics"]["scam"]["support"] >= 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x", "labels": ["nope"]}\n')
    assert main(["evaluate", "--model", str(bundle.path), "--data", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "unknown label 'nope'" in err and "Traceback" not in err
