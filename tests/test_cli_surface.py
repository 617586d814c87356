"""Small things a user trips on (issue #12 item 7): `--version`, help text rendered as
written, and `--quiet` silencing Hugging Face load reports and progress bars."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from janitr.cli import build_parser, main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"janitr {version('janitr')}"


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_help_text_shows_no_format_escapes():
    """argparse %-formats `help=` strings but not descriptions: `95%%` in a description
    used to reach the screen as is."""
    seen = 0
    for parser in _parsers(build_parser()):
        text = parser.format_help()
        assert "%%" not in text, parser.prog
        seen += 1
    assert seen > 20  # every verb and sub-verb was rendered
    evaluate = next(p for p in _parsers(build_parser()) if p.prog.endswith(" evaluate"))
    assert "bootstrap 95% confidence" in " ".join(evaluate.format_help().split())


@pytest.mark.slow
def test_quiet_silences_hugging_face(tmp_path):
    """`--quiet` hides transformers' LOAD REPORT and every progress bar (shown without it)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_bert import make_tiny_bert, synthetic_rows

    model = make_tiny_bert(tmp_path / "bert")
    for name, n, offset in (("train", 30, 0), ("valid", 15, 100), ("calib", 15, 200)):
        rows = synthetic_rows(n, offset=offset)
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = [sys.executable, "-m", "janitr", "train", "teacher", "--data", str(tmp_path),
            "--model", str(model), "--seeds", "1", "--force", "--max-steps", "1",
            "--epochs", "1", "--threads", "1"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TQDM_", "HF_", "TRANS"))}

    def stderr(*extra: str) -> str:
        out = tmp_path / f"out{len(extra)}"
        run = subprocess.run(
            [*argv, "--out", str(out), *extra], env=env, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        return run.stderr

    loud = stderr()
    assert "LOAD REPORT" in loud and "it/s]" in loud  # what --quiet must hide
    quiet = stderr("--quiet")
    assert "LOAD REPORT" not in quiet and "it/s" not in quiet and "%|" not in quiet, quiet
    assert "seed 1: best epoch 1" in quiet  # janitr's own log lines stay
