"""CLI surface of the teacher-side verbs: help text, tokenizer training, usage errors."""

from __future__ import annotations

import json

import pytest

from extras import needs
from janitr.cli import build_parser, main
from tiny_bert import synthetic_rows


def _help(capsys, *argv) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return capsys.readouterr().out


def test_train_teacher_help_lists_flags(capsys):
    text = _help(capsys, "train", "teacher")
    for flag in (
        "--model",
        "--seeds",
        "--force",
        "--epochs",
        "--lr",
        "--max-length",
        "--pooling",
        "--select-metric",
        "--threads",
        "--freeze-embeddings",
    ):
        assert flag in text


@pytest.mark.parametrize("verb", [("train", "tokenizer"), ("pretrain",), ("cache",)])
def test_other_verbs_have_help(capsys, verb):
    assert "examples:" in _help(capsys, *verb)


def test_seed_list_and_bad_value():
    args = build_parser().parse_args(
        ["train", "teacher", "--data", "d", "--out", "o", "--seeds", "1,2,3", "--epochs", "2"]
    )
    from janitr.cli.flags import build_config
    from janitr.teacher.model import TeacherConfig

    config = build_config(TeacherConfig, args)
    assert config.seeds == (1, 2, 3) and config.epochs == 2
    with pytest.raises(SystemExit):
        build_parser().parse_args(
            ["train", "teacher", "--data", "d", "--out", "o", "--seeds", "a,b"]
        )


@needs("sentencepiece")
def test_train_tokenizer_cli(tmp_path, capsys):
    rows = synthetic_rows(60)
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(
        [
            "train",
            "tokenizer",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "tok"),
            "--vocab-size",
            "60",
            "--min-frequency",
            "1",
        ]
    )
    assert code == 0
    stats = json.loads((tmp_path / "tok" / "tokenizer_stats.json").read_text())
    assert stats["vocab_size"] == 60 and stats["train_rows"] == 60


def test_one_seed_refused_with_one_line_error(tmp_path, capsys):
    for name, n, offset in (("train", 30, 0), ("valid", 9, 100), ("calib", 9, 200)):
        rows = synthetic_rows(n, offset=offset)
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(
        ["train", "teacher", "--data", str(tmp_path), "--out", str(tmp_path / "t"), "--seeds", "13"]
    )
    assert code == 1
    assert "--force" in capsys.readouterr().err
