"""The CLI surface: `--help` of janitr and of the data verbs teaches every verb and flag."""

from __future__ import annotations

import json

import pytest

from janitr.cli import build_parser, main


def _help(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_data_verbs(capsys):
    text = _help(capsys, [])
    for verb in ["validate", "split", "leakage", "benchmark", "demo-data", "labels"]:
        assert verb in text


@pytest.mark.parametrize(
    ("argv", "flags"),
    [
        (["validate"], ["--unlabeled", "--json"]),
        (["split"], ["--data", "--out", "--seed", "--ratios", "--near-dup-threshold",
                     "--max-label-delta", "--max-pair-delta", "--strict", "examples:"]),
        (["leakage"], ["--previous", "--threshold", "--json", "--warn-only", "examples:"]),
        (["benchmark"], ["freeze", "verify", "examples:"]),
        (["benchmark", "freeze"], ["--name", "--out", "--force"]),
        (["benchmark", "verify"], ["NAME_OR_DIR"]),
        (["demo-data"], ["--out", "--rows", "--seed", "example:"]),
        (["labels"], ["collapse"]),
    ],
)  # fmt: skip
def test_verb_help_mentions_flags(capsys, argv, flags):
    text = _help(capsys, argv)
    for flag in flags:
        assert flag in text, f"{flag} missing from `janitr {' '.join(argv)} --help`"


def test_labels_prints_taxonomy_and_rule(capsys):
    assert main(["labels"]) == 0
    out = capsys.readouterr().out
    assert "security_fraud" in out and "1. scam" in out and "crypto -> topic_crypto" in out


def test_bad_ratios_is_a_one_line_error(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "1", "text": "x", "labels": ["clean"]}) + "\n")
    code = main(["split", "--data", str(data), "--out", str(tmp_path / "o"),
                 "--ratios", "train=0.5,holdout=0.6"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: --ratios") and "Traceback" not in err


@pytest.mark.integration
def test_demo_split_leakage_chain(tmp_path, capsys):
    assert main(["demo-data", "--out", str(tmp_path / "d"), "--rows", "300"]) == 0
    files = [str(tmp_path / "d" / f"{n}.jsonl") for n in ("train", "valid", "calib")]
    assert main(["validate", *files]) == 0
    assert main(["split", "--data", *files, "--out", str(tmp_path / "s")]) == 0
    assert main(["leakage", str(tmp_path / "s")]) == 0


def test_parser_builds_without_side_effects():
    assert build_parser().prog == "janitr"
