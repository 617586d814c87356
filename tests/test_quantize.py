"""Int8 quantization: files that cannot saturate on any CPU, scores that do not depend on the
batch, the metadata the runtime reads, and the options and messages of `janitr quantize`."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from janitr.errors import BundleError, ConfigError, ParityError  # noqa: E402
from janitr.runtime.onnx import QUANTIZATION_KEY, OnnxScorer, encode_batch, open_session  # noqa: E402
from janitr.student.export import LINEAGE_KEY, export_onnx  # noqa: E402
from janitr.student.quantize import (  # noqa: E402
    SAFE_INT8_WEIGHT,
    int8_weight_range,
    quantization_info,
    quantize_onnx,
)
from tiny_student import distill_tiny, make_records, parity_texts  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny distilled student, its fp32 export, and static and dynamic int8 models."""
    root = tmp_path_factory.mktemp("quantize")
    train, valid = make_records("train", 90), make_records("valid", 45)
    distill_tiny(root, train, valid)
    texts = parity_texts()
    export_onnx(student_dir=root / "student", out_path=root / "fp32.onnx", parity_texts=texts)
    common = {
        "fp32_path": root / "fp32.onnx",
        "tokenizer_path": root / "student",
        "parity_texts": texts,
        "calibration_texts": [r.norm_text for r in train],
    }
    reports = {
        "static": quantize_onnx(**common, out_path=root / "static.onnx"),
        "dynamic": quantize_onnx(
            **common, out_path=root / "dynamic.onnx", mode="dynamic", weights="int7"
        ),
    }
    return {"root": root, "train": train, "texts": texts, "common": common, "reports": reports}


def _scorer(tiny, name: str, **kw) -> OnnxScorer:
    student = tiny["root"] / "student"
    return OnnxScorer.from_files(
        tiny["root"] / f"{name}.onnx",
        student / "tokenizer.json",
        student / "student_config.json",
        **kw,
    )


def test_int8_weights_cannot_saturate_int16_on_any_cpu(tiny, tmp_path):
    # u8 x s8 kernels without VNNI add two u8*s8 products in a saturating int16:
    # 2 * 255 * 64 fits, 2 * 255 * 127 does not.
    assert 2 * 255 * SAFE_INT8_WEIGHT <= 2**15 - 1 < 2 * 255 * 127
    for path, report in ((tiny["root"] / "static.onnx", tiny["reports"]["static"]),
                         (tiny["root"] / "dynamic.onnx", tiny["reports"]["dynamic"])):  # fmt: skip
        lo, hi = int8_weight_range(onnx.load(str(path)))
        assert -SAFE_INT8_WEIGHT <= lo < 0 < hi <= SAFE_INT8_WEIGHT
        assert report.passed and report.extra["int8_weight_range"] == [lo, hi]
    # The default is int7; u8 weights: no int8 weight at all.
    assert quantization_info(onnx.load(str(tiny["root"] / "static.onnx")))["weights"] == "int7"
    rep = quantize_onnx(**tiny["common"], out_path=tmp_path / "u8.onnx", weights="uint8")
    assert int8_weight_range(onnx.load(str(tmp_path / "u8.onnx"))) == (0, 0)
    assert rep.passed and rep.extra["int8_weight_range"] == [0, 0]


def test_static_mode_quantizes_only_weights_and_embeddings(tiny):
    model = onnx.load(str(tiny["root"] / "static.onnx"))
    inits = {i.name for i in model.graph.initializer}
    made_by = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        if node.op_type == "MatMul":
            dequantized = [made_by.get(i) is not None and made_by[i].op_type == "DequantizeLinear"
                           for i in node.input]  # fmt: skip
            weight = made_by.get(node.input[1])
            # Dense layers: both inputs dequantized, B from an int8 initializer; attention's
            # activation x activation matmuls stay fp32.
            assert dequantized in ([True, True], [False, False])
            if dequantized[0]:
                assert weight.input[0] in inits
    assert any(n.op_type == "Gather" and made_by.get(n.input[0]) is not None
               and made_by[n.input[0]].op_type == "DequantizeLinear"
               for n in model.graph.node)  # fmt: skip


def test_static_mode_keeps_the_residual_stream_float(tiny, tmp_path):
    """Every residual Add reads the float LayerNorm output, never its int8 round trip (the
    MatMuls still read the quantized copy); without `float_residuals` some did."""
    from janitr.student.quantize import float_residuals

    def adds_reading_round_trips(model) -> int:
        made_by = {out: node for node in model.graph.node for out in node.output}

        def op(name):
            node = made_by.get(name)
            return node.op_type if node is not None else None

        def round_trip(name):
            # DequantizeLinear(QuantizeLinear(x)), x not itself moved out of a dequantized
            # tensor (the embedding Gather's output is on the int8 grid already).
            if op(name) != "DequantizeLinear" or op(made_by[name].input[0]) != "QuantizeLinear":
                return False
            source = made_by.get(made_by[made_by[name].input[0]].input[0])
            return source is None or all(op(i) != "DequantizeLinear" for i in source.input)

        return sum(round_trip(i) for n in model.graph.node if n.op_type == "Add" for i in n.input)

    from janitr.student.quantize import calibration_reader, write_int8_model
    from janitr.student.tokenizer import load_tokenizer

    tok = load_tokenizer(tiny["root"] / "student" / "tokenizer.json", expected_vocab_size=None)
    reader = calibration_reader(tok, tiny["common"]["calibration_texts"], max_length=32,
                                batch_size=32)  # fmt: skip
    write_int8_model(tiny["root"] / "fp32.onnx", tmp_path / "q.onnx", weights="int7",
                     reader=reader, float_residual_adds=False)  # fmt: skip
    before = onnx.load(str(tmp_path / "q.onnx"))
    assert quantization_info(before)["residuals"] == "quantized"
    n = adds_reading_round_trips(before)
    assert n > 0 and float_residuals(before) == n
    assert adds_reading_round_trips(before) == 0
    shipped = onnx.load(str(tiny["root"] / "static.onnx"))
    assert adds_reading_round_trips(shipped) == 0
    assert sum(n.op_type == "MatMul" for n in shipped.graph.node) == sum(
        n.op_type == "MatMul" for n in before.graph.node
    )


def test_metadata_tells_the_runtime_how_to_batch(tiny):
    static = quantization_info(onnx.load(str(tiny["root"] / "static.onnx")))
    dynamic = quantization_info(onnx.load(str(tiny["root"] / "dynamic.onnx")))
    assert static == {
        "format": "janitr-int8",
        "format_version": 1,
        "mode": "static",
        "weights": "int7",
        "per_channel": False,
        "residuals": "float",
        "batch_invariant": True,
    }
    assert dynamic["mode"] == "dynamic" and dynamic["batch_invariant"] is False
    assert quantization_info(onnx.load(str(tiny["root"] / "fp32.onnx"))) == {}
    # The fp32 file's student lineage stamp survives quantization.
    for name in ("static", "dynamic"):
        keys = {p.key for p in onnx.load(str(tiny["root"] / f"{name}.onnx")).metadata_props}
        assert {LINEAGE_KEY, QUANTIZATION_KEY} <= keys
    assert _scorer(tiny, "static").batch_size == 32
    one = _scorer(tiny, "dynamic", batch_size=64)
    assert one.batch_size == 1 and not one.batch_invariant
    assert _scorer(tiny, "fp32").batch_invariant


@pytest.mark.parametrize("name", ["static", "dynamic", "fp32"])
def test_scores_do_not_depend_on_the_batch(tiny, name):
    """Shuffled and regrouped into batches of other sizes (and threads), every probe text
    gets the score it gets alone: bit for bit for int8, within 1e-6 for fp32."""
    probe = tiny["texts"][:240]
    alone = np.vstack([_scorer(tiny, name).predict_heads([t]) for t in probe])
    rng = np.random.default_rng(12)
    for batch_size, threads in ((5, 1), (32, 1), (64, 2), (240, 1)):
        perm = rng.permutation(len(probe))
        scorer = _scorer(tiny, name, batch_size=batch_size, threads=threads)
        got = np.empty_like(alone)
        got[perm] = scorer.predict_heads([probe[i] for i in perm])
        scorer.close()
        if name == "fp32":
            np.testing.assert_allclose(got, alone, rtol=0, atol=1e-6)
        else:
            np.testing.assert_array_equal(got, alone)


def test_static_int8_file_is_batch_invariant_without_the_runtime(tiny):
    """The file itself, run on arbitrary padded groups (a short post beside a long one), gives
    each post its lone score: what the browser runtime gets too."""
    from janitr.student.tokenizer import load_tokenizer

    tok = load_tokenizer(tiny["root"] / "student" / "tokenizer.json", expected_vocab_size=None)
    sess = open_session(tiny["root"] / "static.onnx")
    probe = tiny["texts"][:120]

    def run(rows):
        ids, mask = encode_batch(tok, [probe[i] for i in rows], max_length=32)
        return np.stack(sess.run(None, {"input_ids": ids, "attention_mask": mask}), axis=1)

    alone = np.vstack([run([i]) for i in range(len(probe))])
    rng = np.random.default_rng(5)
    for size in (2, 7, 120):
        perm = rng.permutation(len(probe))
        for start in range(0, len(probe), size):
            rows = perm[start : start + size]
            np.testing.assert_array_equal(run(rows), alone[rows])


def test_static_mode_needs_calibration_texts_and_known_options(tiny, tmp_path):
    common = {**tiny["common"], "out_path": tmp_path / "m.onnx"}
    with pytest.raises(ConfigError, match="calibration texts.*--mode dynamic"):
        quantize_onnx(**{**common, "calibration_texts": None})
    with pytest.raises(ConfigError, match="--weights must be one of"):
        quantize_onnx(**common, weights="int8")
    with pytest.raises(ConfigError, match="--mode must be one of"):
        quantize_onnx(**common, mode="qat")
    assert not list(tmp_path.iterdir())


def test_failed_parity_names_what_to_try(tiny, tmp_path):
    with pytest.raises(ParityError) as info:
        quantize_onnx(**tiny["common"], out_path=tmp_path / "m.onnx", min_agreement=1.01)
    message = str(info.value)
    assert "mode static, weights int7, per_channel False" in message
    for hint in ("--per-channel", "--weights uint8", "--mode dynamic", "ship the fp32 model"):
        assert hint in message
    assert not list(tmp_path.iterdir())
    with pytest.raises(ParityError, match="--mode static") as info:
        quantize_onnx(
            **tiny["common"],
            out_path=tmp_path / "m.onnx",
            mode="dynamic",
            weights="int7",
            per_channel=True,
            min_agreement=1.01,
        )
    assert "--per-channel" not in str(info.value) and "--weights uint8" in str(info.value)


def test_bad_quantization_metadata_is_a_bundle_error(tiny, tmp_path):
    model = onnx.load(str(tiny["root"] / "fp32.onnx"))
    student = tiny["root"] / "student"
    for value, match in (("{not json", "unreadable"), ('{"batch_invariant": "yes"}', "true or")):
        del model.metadata_props[:]
        onnx.helper.set_model_props(model, {QUANTIZATION_KEY: value})
        onnx.save(model, str(tmp_path / "bad.onnx"))
        with pytest.raises(BundleError, match=match):
            OnnxScorer.from_files(
                tmp_path / "bad.onnx", student / "tokenizer.json", student / "student_config.json"
            )


def test_cli_quantize_exposes_the_options(tiny, tmp_path, capsys):
    from janitr.cli import main

    data = tmp_path / "data"
    data.mkdir()
    rows = [{"id": r.id, "text": r.text, "labels": list(r.labels)} for r in tiny["train"]]
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    extra = [{"id": f"u{i}", "text": t} for i, t in enumerate(tiny["texts"])]
    (data / "unlabeled.jsonl").write_text("".join(json.dumps(r) + "\n" for r in extra))
    out = tmp_path / "q" / "model.int8.onnx"
    argv = ["quantize", "--fp32", str(tiny["root"] / "fp32.onnx"), "--student",
            str(tiny["root"] / "student"), "--data", str(data), "--out", str(out)]  # fmt: skip
    assert main([*argv, "--weights", "int7", "--per-channel"]) == 0
    info = quantization_info(onnx.load(str(out)))
    assert (info["mode"], info["weights"], info["per_channel"]) == ("static", "int7", True)
    report = json.loads((out.parent / "parity_int8.json").read_text())
    assert report["passed"] and report["extra"]["calibration_texts"] == len(rows)
    assert main([*argv, "--mode", "dynamic"]) == 0
    assert quantization_info(onnx.load(str(out)))["batch_invariant"] is False
    assert "PASS" in capsys.readouterr().out


def test_quantize_student_writes_the_int8_model_and_both_bundles(tiny, tmp_path):
    """The library work of `janitr quantize`: calibrated on DATA/train texts, parity on the
    data's texts, and two bundles whose thresholds were tuned with their own model."""
    from janitr.evaluation.thresholds import ThresholdPolicy
    from janitr.runtime.bundle import load_bundle
    from janitr.student.quantize import quantize_student

    data = tmp_path / "data"
    data.mkdir()
    rows = [{"id": r.id, "text": r.text, "labels": list(r.labels)} for r in tiny["train"]]
    for name, part in (("train", rows[:60]), ("valid", rows[60:75]), ("calib", rows[75:])):
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    extra = [{"id": f"u{i}", "text": t} for i, t in enumerate(tiny["texts"])]
    (data / "unlabeled.jsonl").write_text("".join(json.dumps(r) + "\n" for r in extra))
    out = tmp_path / "q" / "model.int8.onnx"
    policy = ThresholdPolicy(rule="empirical", tune_on="calib")
    result = quantize_student(
        fp32_path=tiny["root"] / "fp32.onnx", student_dir=tiny["root"] / "student",
        data_dir=data, out_path=out, bundles_dir=tmp_path / "bundles", thresholds=policy,
    )  # fmt: skip
    assert result.report.passed and out.is_file()
    assert result.report.extra["calibration_texts"] == 60
    assert sorted(result.bundles) == ["student-fp32", "student-int8"]
    for name, bundle in result.bundles.items():
        loaded = load_bundle(tmp_path / "bundles" / name)
        assert loaded.thresholds == bundle.thresholds
    with pytest.raises(ConfigError, match="parity_rows must be >= 1000"):
        quantize_student(
            fp32_path=tiny["root"] / "fp32.onnx", student_dir=tiny["root"] / "student",
            data_dir=data, out_path=out, parity_rows=10,
        )  # fmt: skip
