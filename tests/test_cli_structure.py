"""The CLI's structure and the config core: one registry of verb groups, one flag generator
from field metadata, structured config problems shown as `--flag` or `section.key`, one
`PretrainConfig` for the verb and the run, and the typed pipeline config."""

from __future__ import annotations

import argparse
import dataclasses
import io
from dataclasses import dataclass
from typing import Literal

import pytest

from janitr.cli import build_parser, config_message, main
from janitr.cli.flags import add_config_flags, build_config, flag_name
from janitr.cli.registry import VERB_GROUPS, verb_groups
from janitr.config import ConfigProblem, option, raise_problems
from janitr.errors import ConfigError, TextError


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


# --- the registry --------------------------------------------------------------------------


def test_every_group_registers_its_verbs_once_and_main_reaches_them():
    seen: dict[str, str] = {}
    for group in verb_groups():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        group.register(sub)
        verbs = _subparsers(parser)
        assert verbs, group.__name__
        for verb in verbs:
            assert verb not in seen, f"{verb} registered by {seen.get(verb)} and {group.__name__}"
            seen[verb] = group.__name__
    assert len(VERB_GROUPS) == len(set(VERB_GROUPS))
    top = _subparsers(build_parser())
    assert sorted(top) == sorted(seen)  # build_parser walks exactly the registry
    for verb in ("validate", "train", "distill", "pretrain", "evaluate", "classify", "run"):
        assert verb in top
    for verb, parser in top.items():  # every verb is reachable: its help renders
        assert parser.format_help(), verb


# --- the flag generator --------------------------------------------------------------------


@dataclass(frozen=True)
class _Example:
    epochs: int = option(3, help="passes over the data")
    lr: float = option(0.5, help="learning rate of 5%")
    mode: str = option("fast", choices=("fast", "slow"), help="how")
    kind: Literal["a", "b"] = option("a", help="a kind")
    shuffle: bool = option(True, help="shuffle rows")
    progress: bool = option(True, flag="--quiet", help="no progress bars")
    seeds: tuple[int, ...] = option((1, 2), help="seeds")
    threads: int | None = option(None, help="threads (default: all)")
    model_name: str | None = option(None, flag="--model", help="model")
    internal: int = option(0, cli=False, help="not a flag")

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(ConfigProblem("epochs", f"must be >= 1, got {self.epochs}"))
        if self.model_name == "":
            problems.append(ConfigProblem("model_name", "must not be empty", ("epochs",)))
        raise_problems(self, problems)


def _example_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="x")
    add_config_flags(parser, _Example)
    return parser


def test_generator_makes_one_typed_flag_per_field():
    parser = _example_parser()
    actions = {a.option_strings[0]: a for a in parser._actions if a.option_strings}
    assert "--internal" not in actions
    assert set(actions) == {"-h", "--epochs", "--lr", "--mode", "--kind", "--shuffle",
                            "--quiet", "--seeds", "--threads", "--model"}  # fmt: skip
    assert actions["--epochs"].type is int and actions["--lr"].type is float
    assert actions["--mode"].choices == ("fast", "slow")
    assert actions["--kind"].choices == ("a", "b")
    assert actions["--shuffle"].option_strings == ["--shuffle", "--no-shuffle"]
    help_text = " ".join(parser.format_help().split())
    assert "passes over the data (default: 3)" in help_text
    assert "learning rate of 5% (default: 0.5)" in help_text  # % escaped for argparse
    assert "threads (default: all)" in help_text and "(default: all) (default" not in help_text

    args = parser.parse_args([])
    assert build_config(_Example, args) == _Example()  # unset flags keep the defaults
    args = parser.parse_args(
        ["--epochs", "7", "--no-shuffle", "--quiet", "--seeds", "4,5,6", "--threads", "none",
         "--model", "m", "--kind", "b"]
    )  # fmt: skip
    config = build_config(_Example, args)
    assert (config.epochs, config.shuffle, config.progress) == (7, False, False)
    assert config.seeds == (4, 5, 6) and config.threads is None and config.model_name == "m"
    assert config.kind == "b"
    assert build_config(_Example, parser.parse_args(["--threads", "2"])).threads == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "medium"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--seeds", "a,b"])


def test_flags_of_the_real_configs_come_from_the_generator():
    from janitr.evaluation.thresholds import ThresholdPolicy
    from janitr.teacher.model import TeacherConfig

    assert flag_name(ThresholdPolicy, "rule") == "--threshold-rule"
    assert flag_name(TeacherConfig, "model_name_or_path") == "--model"
    assert flag_name(TeacherConfig, "max_steps") == "--max-steps"
    teacher = _subparsers(_subparsers(build_parser())["train"])["teacher"]
    flags = {s for a in teacher._actions for s in a.option_strings}
    # the teacher's flags that used to be written by hand are generated now
    assert {"--model", "--seeds", "--threads", "--max-steps", "--quiet"} <= flags
    for f in dataclasses.fields(TeacherConfig):
        assert flag_name(TeacherConfig, f.name) in flags, f.name


# --- config problems, both ways ------------------------------------------------------------


def test_a_problem_is_a_flag_on_the_cli_and_a_key_in_a_run(tmp_path, capsys):
    from janitr.pipeline.config import load_config

    with pytest.raises(ConfigError) as info:
        _Example(epochs=0, model_name="")
    assert [p.field for p in info.value.problems] == ["epochs", "model_name"]
    assert config_message(info.value) == (
        "--epochs: must be >= 1, got 0; --model: must not be empty (see --epochs)"
    )

    # the same bad value of a stage config: a flag on the command line ...
    data = tmp_path / "data"
    data.mkdir()
    code = main(["distill", "--data", str(data), "--cache", str(data), "--tokenizer", "t",
                 "--out", str(tmp_path / "s"), "--alpha", "2"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: --alpha: must be in [0, 1], got 2.0"), err
    # ... and its key in a TOML config
    toml = tmp_path / "c.toml"
    toml.write_text("[distill]\nalpha = 2\n[student]\nhidden = 30\n")
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    message = str(info.value)
    assert "distill.alpha: must be in [0, 1], got 2.0" in message
    assert "student.hidden: must be divisible by heads, got 30 and 4 heads (see student.heads)" in (
        message
    )
    assert "--" not in message.replace(str(toml), "")
    assert {p.field for p in info.value.problems} == {"distill.alpha", "student.hidden"}


# --- one PretrainConfig --------------------------------------------------------------------


def test_pretrain_verb_and_run_build_the_same_config_class(tmp_path, monkeypatch):
    import janitr.teacher.pretrain as pretrain
    from janitr.pipeline import stages
    from janitr.pipeline.config import SECTIONS, load_config
    from janitr.pipeline.runner import StageContext

    assert SECTIONS["pretrain"] is pretrain.PretrainConfig
    seen = []

    def fake_pretrain_mlm(**kwargs):
        seen.append(kwargs["config"])
        return kwargs["out_dir"]

    monkeypatch.setattr(pretrain, "pretrain_mlm", fake_pretrain_mlm)
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text('{"id": "a", "text": "hello there", "labels": ["clean"]}\n')
    argv = ["pretrain", "--data", str(data), "--out", str(tmp_path / "m"), "--lr", "1e-4",
            "--max-steps", "3", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    config = load_config(overrides=["pretrain.enabled=true", "pretrain.lr=1e-4",
                                    "pretrain.max_steps=3"])  # fmt: skip
    ctx = StageContext(name="pretrain", run_dir=tmp_path, data_dir=data, config=config,
                       out=tmp_path / "stage", upstream={}, quiet=True)  # fmt: skip
    stages.stage_pretrain(ctx)
    cli_config, run_config = seen
    assert type(cli_config) is type(run_config) is pretrain.PretrainConfig
    assert dataclasses.replace(run_config, enabled=False) == cli_config


# --- the typed pipeline config -------------------------------------------------------------


def test_pipeline_config_has_one_typed_attribute_per_section():
    import typing

    from janitr.pipeline.config import SECTIONS, PipelineConfig, load_config
    from janitr.teacher.model import TeacherConfig

    hints = typing.get_type_hints(PipelineConfig)
    assert list(hints) == list(SECTIONS)
    assert all(hints[name] is cls for name, cls in SECTIONS.items())
    assert not hasattr(PipelineConfig, "__getattr__")
    config = load_config(overrides=["teacher.epochs=3"])
    assert isinstance(config.teacher, TeacherConfig) and config.teacher.epochs == 3
    assert config.section("teacher") is config.teacher
    with pytest.raises(AttributeError):
        config.teachr  # noqa: B018
    with pytest.raises(KeyError):
        config.section("teachr")
    assert PipelineConfig() == load_config()


# --- classify's inputs, in the runtime ------------------------------------------------------


class _Fake:
    """Answers like `Classifier.predict_each`: the text back, or an error for an empty one."""

    def predict_each(self, texts):
        return [
            TextError(f"text {i} is empty") if not t else t.upper() for i, t in enumerate(texts)
        ]


def test_classify_inputs_answer_every_argument_and_line_in_order():
    from janitr.runtime.classifier import classify_inputs

    bad_arg = b"ok \xff".decode("utf-8", "surrogateescape")
    answers = classify_inputs(_Fake(), texts=["a", bad_arg, ""])
    assert answers[0] == ("a", "A")
    assert answers[1][0] == "" and "text 1 is not valid UTF-8 (byte 3)" in str(answers[1][1])
    assert answers[2][0] == "" and isinstance(answers[2][1], TextError)
    stream = io.BytesIO(b"\xef\xbb\xbfhi\r\n\n\xc3(\nbye\n")
    answers = classify_inputs(_Fake(), stream=stream)
    assert [a[0] for a in answers] == ["hi", "", "", "bye"]
    assert [a[1] for a in answers][::3] == ["HI", "BYE"]
    assert "text 2 is not valid UTF-8 (byte 0)" in str(answers[2][1])
    with pytest.raises(ValueError, match="exactly one"):
        classify_inputs(_Fake(), texts=["a"], stream=io.BytesIO(b""))
