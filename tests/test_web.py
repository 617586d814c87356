"""Web bundles (`janitr export web`) and the extension's parity fixtures (probes, sweep,
the committed normalize cases), on a tiny ONNX student built here (no torch, no downloads)."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from janitr.artifacts import read_json, sha256_file
from janitr.cli import main
from janitr.data.normalize import NormalizationConfig
from janitr.errors import BundleError, DataError
from janitr.runtime.bundle import seen_entry, write_bundle
from janitr.runtime.classifier import Classifier
from janitr.runtime.web import (
    EDGE_CASES,
    WEB_MANIFEST,
    assigned_ranges,
    export_web,
    normalize_cases,
    probes,
    resolve_student_bundle,
    sigma_context,
    sweep,
    web_normalization,
    write_probes,
)
from tiny_fasttext import train_tiny_bundle, write_tiny_splits
from tiny_student import build_tokenizer, make_records

COMMITTED_CASES = Path(__file__).parents[1] / "extension/test/fixtures/normalize_cases.json"
MAX_LENGTH = 12


def tiny_onnx(path: Path, vocab: int) -> None:
    """A student-shaped ONNX graph: masked mean of 2-d embeddings, sigmoid per head."""
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(0)
    emb = numpy_helper.from_array(rng.normal(0, 2, (vocab, 2)).astype(np.float32), "emb")
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["e"]),  # (B, T, 2)
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["m", "axis2"], ["m3"]),
        helper.make_node("Mul", ["e", "m3"], ["em"]),
        helper.make_node("ReduceSum", ["em", "axis1"], ["s"], keepdims=0),  # (B, 2)
        helper.make_node("ReduceSum", ["m3", "axis1"], ["n"], keepdims=0),  # (B, 1)
        helper.make_node("Div", ["s", "n"], ["mean"]),
        helper.make_node("Sigmoid", ["mean"], ["p"]),
        helper.make_node("Gather", ["p", "zero"], ["p_scam"], axis=1),
        helper.make_node("Gather", ["p", "one"], ["p_topic"], axis=1),
    ]
    consts = [
        numpy_helper.from_array(np.array([2], np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array(1, np.int64), "one"),
    ]
    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["B", "T"])
            for n in ("input_ids", "attention_mask")]  # fmt: skip
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B"])
            for n in ("p_scam", "p_topic")]  # fmt: skip
    graph = helper.make_graph(nodes, "tiny", ints, outs, initializer=[emb, *consts])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A tiny `onnx` bundle (with seen_data.json and data hashes, which must stay out)."""
    pytest.importorskip("sentencepiece")  # its tokenizer is trained (the `train` extra)
    tmp = tmp_path_factory.mktemp("web")
    records = make_records("train", 60)
    vocab = build_tokenizer(records, tmp / "tok")
    tiny_onnx(tmp / "model.onnx", vocab)
    (tmp / "student_config.json").write_text(json.dumps({
        "format": "janitr-student", "format_version": 1,
        "config": {"max_length": MAX_LENGTH, "pad_token_id": 0, "vocab_size": vocab},
    }))  # fmt: skip
    return write_bundle(
        tmp / "run" / "bundles" / "student-int8",
        kind="onnx",
        files={
            "model.onnx": tmp / "model.onnx",
            "tokenizer.json": tmp / "tok" / "tokenizer.json",
            "student_config.json": tmp / "student_config.json",
        },  # fmt: skip
        thresholds={"scam": 0.5, "topic_crypto": 0.45},
        tuning={"data": "calib"},
        normalization=NormalizationConfig(strip_urls=True),
        data={"train": {"rows": 60, "sha256": "d" * 64}},
        seen={"train": seen_entry([r.id for r in records], [r.text for r in records])},
        model={"variant": "student-int8", "distill": {"teacher": {"teacher_id": "teacher-x"}}},
    )


def test_export_web_writes_model_tokenizer_manifest(student, tmp_path):
    out = tmp_path / "web"
    manifest = export_web(student.path, out)
    assert sorted(p.name for p in out.iterdir()) == [WEB_MANIFEST, "model.onnx", "tokenizer.json"]
    assert read_json(out / WEB_MANIFEST) == manifest
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": sha256_file(out / name), "size": (out / name).stat().st_size}
        assert (out / name).read_bytes() == student.file(name).read_bytes()
    assert manifest["format"] == "janitr-web" and manifest["format_version"] == 1
    assert manifest["id"] == f"student-int8-{student.content_id[:12]}"
    assert manifest["lineage"]["bundle_sha256"] == student.content_id
    assert manifest["lineage"]["teacher_id"] == "teacher-x"
    assert manifest["classes"] == ["scam", "topic_crypto", "clean"]
    assert manifest["thresholds"] == {"scam": 0.5, "topic_crypto": 0.45}
    assert manifest["model"] == {
        "file": "model.onnx", "inputs": ["input_ids", "attention_mask"], "input_type": "int64",
        "outputs": ["p_scam", "p_topic"], "max_length": MAX_LENGTH, "pad_token_id": 0,
    }  # fmt: skip
    norm = manifest["normalization"]
    # folding is the default normalization: the manifest carries what normalize.js needs
    assert norm["strip_urls"] is True and norm["fold_confusables"] is True
    assert norm["confusables"][str(ord("а"))] == "a"  # Cyrillic a
    assert [0x0300, 0x036F] in norm["combining_marks"]
    assert norm["unicode_version"] == unicodedata.unidata_version


def test_export_web_leaves_private_data_behind(student, tmp_path):
    export_web(student.path, tmp_path / "web")
    text = (tmp_path / "web" / WEB_MANIFEST).read_text()
    seen = read_json(student.file("seen_data.json"))
    assert seen["train"]["ids"] and seen["train"]["text_keys"]
    for secret in [*seen["train"]["ids"][:5], *seen["train"]["text_keys"][:5], "d" * 64]:
        assert secret not in text
    assert "seen_data" not in text and '"data"' not in text


def test_run_directory_means_its_int8_student(student):
    run = student.path.parents[1]
    assert resolve_student_bundle(run) == student.path
    with pytest.raises(BundleError, match="not a model bundle"):
        resolve_student_bundle(run / "bundles")


def test_other_bundle_kinds_are_refused(tmp_path):
    fasttext = train_tiny_bundle(tmp_path)
    with pytest.raises(BundleError, match="ONNX students only"):
        export_web(fasttext.path, tmp_path / "web")


def test_normalization_without_a_port_is_refused(student, tmp_path, capsys):
    with pytest.raises(BundleError, match=r"\['emoji_map'\] have no JavaScript port"):
        web_normalization({"strip_urls": True, "emoji_map": True})
    copy = tmp_path / "student"
    shutil.copytree(student.path, copy)
    manifest = read_json(copy / "bundle.json")
    manifest["normalization"]["emoji_map"] = True
    (copy / "bundle.json").write_text(json.dumps(manifest))
    assert main(["export", "web", "--model", str(copy), "--out", str(tmp_path / "web")]) == 1
    err = capsys.readouterr().err
    # An option the Python side does not know either is refused by the manifest schema at load.
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert "normalization.emoji_map: unknown option" in err
    assert not (tmp_path / "web").exists()


def test_confusables_table_travels_when_folding():
    norm = web_normalization({"fold_confusables": True})
    assert norm["confusables"][str(ord("а"))] == "a"  # Cyrillic a
    assert all(len(v) == 1 and v.isascii() for v in norm["confusables"].values())


def test_unicode_data_matches_this_python():
    ranges = assigned_ranges()
    assert all(a <= b < c for (a, b), (c, _) in zip(ranges, ranges[1:], strict=False))
    inside = lambda cp, rs: any(a <= cp <= b for a, b in rs)  # noqa: E731
    assert inside(ord("A"), ranges) and inside(0xD800, ranges) and not inside(0x0378, ranges)
    sigma = sigma_context()
    assert inside(ord("A"), sigma["cased"]) and inside(ord("ʕ"), sigma["cased"])
    assert inside(0x0301, sigma["case_ignorable"]) and inside(ord("'"), sigma["case_ignorable"])
    assert not inside(ord("1"), sigma["cased"]) and not inside(ord("1"), sigma["case_ignorable"])


def test_probes_match_the_python_runtime(student, tmp_path):
    texts = [r.text for r in make_records("valid", 30)] + list(EDGE_CASES)
    rows = probes(student, texts)
    assert [r["raw"] for r in rows] == texts
    clf = Classifier.load(student.path)
    for row in rows:
        assert row["normalized"] == student.normalization.apply(row["raw"])
        if not row["normalized"]:
            assert row["ids"] is row["p_scam"] is row["label"] is None
            continue
        assert row["ids"][0] == 2 and row["ids"][-1] == 3 and len(row["ids"]) <= MAX_LENGTH
        (pred,) = clf.predict([row["raw"]])
        assert row["label"] == pred.label
        assert row["p_scam"] == pytest.approx(pred.probabilities["scam"], abs=1e-6)
        assert row["p_topic"] == pytest.approx(pred.probabilities["topic_crypto"], abs=1e-6)
    assert sum(r["ids"] is None for r in rows) == 3  # "", whitespace, zero-width only
    assert max(len(r["ids"] or []) for r in rows) == MAX_LENGTH  # the 10k texts, truncated


def test_probe_file_and_cli(student, tmp_path, capsys):
    data = write_tiny_splits(tmp_path / "data")
    out = tmp_path / "probes.json"
    assert main(["export", "probes", "--model", str(student.path), "--data", str(data),
                 "--out", str(out)]) == 0  # fmt: skip
    doc = json.loads(out.read_text(encoding="ascii"))
    assert doc["format"] == "janitr-probes" and doc["batch_size"] == 1
    lines = [(data / f"{name}.jsonl").read_text().splitlines() for name in ("valid", "calib")]
    rows = [json.loads(line) for part in lines for line in part]
    distinct = list(dict.fromkeys([r["text"] for r in rows] + list(EDGE_CASES)))
    assert [p["raw"] for p in doc["probes"]] == distinct
    assert f"{len(doc['probes'])} probes" in capsys.readouterr().out
    with pytest.raises(DataError, match="none of valid.jsonl"):
        write_probes(student.path, tmp_path, tmp_path / "p.json")


def test_cli_export_web_and_the_onnx_export_flags(student, tmp_path, capsys):
    assert main(["export", "web", "--model", str(student.path), "--out", str(tmp_path / "w")]) == 0
    assert "student-int8-" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["export", "--student", "x"])
    assert exc.value.code == 2
    assert "--data, --out" in capsys.readouterr().err
    for argv, flags in [(["export", "web"], ["--model", "--out"]),
                        (["export", "probes"], ["--model", "--data", "--out"]),
                        (["export"], ["--student", "web", "probes", "sweep"])]:  # fmt: skip
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        text = capsys.readouterr().out
        assert all(flag in text for flag in flags), argv


def test_sweep_covers_every_assigned_code_point():
    doc = sweep({"plain": ("a{c}b",)})
    count = sum(b - a + 1 for a, b in assigned_ranges())
    assert len(doc["codepoints"]) == count > 140_000
    (case,) = doc["cases"]
    out = dict(zip(doc["codepoints"], case["outputs"], strict=True))
    assert out[ord("A")] == "aab" and out[0x85] == "a b" and out[0xFEFF] == "ab"
    assert out[0xFF21] == "aab"  # full-width A


def test_committed_normalize_cases_are_current():
    """extension/test/fixtures/normalize_cases.json is what this Python writes; regenerate:
    python -c "from janitr.runtime.web import write_normalize_cases as w; w('PATH')"."""
    committed = json.loads(COMMITTED_CASES.read_text(encoding="ascii"))
    if committed["normalization"]["unicode_version"] != unicodedata.unidata_version:
        pytest.skip("fixture written by a Python with other Unicode data")
    assert committed == json.loads(json.dumps(normalize_cases()))


def test_web_export_never_imports_torch(student, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from janitr.runtime.web import export_web; "
        f"export_web({str(student.path)!r}, {str(tmp_path / 'w')!r}); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
