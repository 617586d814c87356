"""Distill -> export -> quantize -> bundles on a tiny student (no downloads, seconds).

Covers: torch vs ONNX fp32 vs int8 parity, the parity gate leaving no artifact, cache
provenance refusal, deeper-student-than-cache distillation, determinism, train/serve
normalization skew through `janitr.Classifier`, and the ONNX runtime never importing torch.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from janitr.data.normalize import normalize_text  # noqa: E402
from janitr.errors import ProvenanceError  # noqa: E402
from janitr.evaluation.thresholds import ThresholdPolicy  # noqa: E402
from janitr.student.distill import DistillConfig, distill_student  # noqa: E402
from janitr.student.export import ParityError, export_onnx, write_student_bundles  # noqa: E402
from janitr.student.model import StudentConfig, TorchStudentScorer  # noqa: E402
from janitr.student.quantize import quantize_onnx  # noqa: E402
from tiny_student import build_cache, distill_tiny, make_records, parity_texts  # noqa: E402

pytestmark = pytest.mark.slow

FAST = DistillConfig(epochs=2, batch_size=16, max_steps=6, progress=False, threads=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("student")
    train, valid, calib = (
        make_records("train", 90),
        make_records("valid", 45),
        make_records("calib", 45),
    )
    config, result = distill_tiny(root, train, valid, epochs=FAST.epochs, max_steps=FAST.max_steps)
    texts = parity_texts()
    fp32 = export_onnx(
        student_dir=root / "student", out_path=root / "onnx" / "model.onnx", parity_texts=texts
    )
    int8 = quantize_onnx(
        fp32_path=root / "onnx" / "model.onnx",
        out_path=root / "onnx" / "model.int8.onnx",
        tokenizer_path=root / "student",
        parity_texts=texts,
        calibration_texts=[r.norm_text for r in train],
        student_dir=root / "student",
    )
    bundles = write_student_bundles(
        student_dir=root / "student",
        models={
            "student-fp32": root / "onnx" / "model.onnx",
            "student-int8": root / "onnx" / "model.int8.onnx",
        },
        out_dir=root / "bundles",
        train=train,
        valid=valid,
        calib=calib,
        parity_reports={
            "student-fp32": root / "onnx" / "parity_fp32.json",
            "student-int8": root / "onnx" / "parity_int8.json",
        },
        thresholds=ThresholdPolicy(tune_on="calib", rule="empirical"),
    )
    return {
        "root": root,
        "train": train,
        "valid": valid,
        "calib": calib,
        "config": config,
        "result": result,
        "texts": texts,
        "fp32": fp32,
        "int8": int8,
        "bundles": bundles,
        "vocab": config.vocab_size,
    }


def test_distill_writes_student_dir(tiny):
    student = tiny["root"] / "student"
    names = {p.name for p in student.iterdir()}
    assert {
        "model.safetensors",
        "student_config.json",
        "tokenizer.json",
        "distill_config.json",
        "distill_report.json",
    } <= names
    report = json.loads((student / "distill_report.json").read_text())
    assert report["layer_map"]["student_layer_to_cache_slot"] == [1, 3]
    # default: one obfuscated copy of (nearly) every training row, and the folded normalization
    assert len(tiny["train"]) // 2 < report["augmented_copies"] <= len(tiny["train"])
    assert report["normalization"]["fold_confusables"] is True
    assert report["best_epoch"] in (1, 2) and report["select_metric"] == "scam_ap"


def test_onnx_fp32_parity(tiny):
    rep = tiny["fp32"]
    assert rep.passed and rep.rows == 1000
    assert max(rep.mean_abs_delta.values()) < 1e-4 and rep.decision_agreement == 1.0
    saved = json.loads((tiny["root"] / "onnx" / "parity_fp32.json").read_text())
    assert saved["passed"] and saved["candidate"] == "onnx-fp32"


def test_onnx_has_dynamic_batch_and_sequence(tiny):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tiny["root"] / "onnx" / "model.onnx"))
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask"]
    assert [o.name for o in sess.get_outputs()] == ["p_scam", "p_topic"]
    for batch, seq in ((1, 3), (5, 17), (2, 32)):
        ids = np.full((batch, seq), 7, dtype=np.int64)
        p_scam, p_topic = sess.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        assert p_scam.shape == (batch,) and p_topic.shape == (batch,)


def test_int8_parity_and_size(tiny):
    rep = tiny["int8"]
    assert rep.passed and rep.reference == "onnx-fp32"
    assert rep.extra["vs_torch"]["passed"]
    assert rep.extra["sizes"]["int8_bytes"] < rep.extra["sizes"]["fp32_bytes"]
    assert (tiny["root"] / "onnx" / "parity_int8.json").is_file()


def test_dynamic_quantization(tiny, tmp_path):
    rep = quantize_onnx(
        fp32_path=tiny["root"] / "onnx" / "model.onnx",
        out_path=tmp_path / "dynamic.onnx",
        tokenizer_path=tiny["root"] / "student",
        parity_texts=tiny["texts"],
        mode="dynamic",
    )
    assert rep.passed and (tmp_path / "dynamic.onnx").is_file()
    assert rep.extra["mode"] == "dynamic" and not rep.extra["batch_invariant"]


def test_failed_parity_leaves_no_model(tiny, tmp_path):
    out = tmp_path / "model.onnx"
    with pytest.raises(ParityError, match="failed parity") as info:
        export_onnx(
            student_dir=tiny["root"] / "student",
            out_path=out,
            parity_texts=tiny["texts"],
            max_mean_delta=-1.0,
        )
    assert info.value.report is not None and not info.value.report.passed
    assert not out.exists() and not list(tmp_path.iterdir())
    with pytest.raises(ParityError):
        quantize_onnx(
            fp32_path=tiny["root"] / "onnx" / "model.onnx",
            out_path=out,
            tokenizer_path=tiny["root"] / "student",
            parity_texts=tiny["texts"],
            mode="dynamic",
            min_agreement=1.01,
        )
    assert not list(tmp_path.iterdir())


def test_parity_needs_1000_texts(tiny, tmp_path):
    from janitr.errors import ConfigError

    with pytest.raises(ConfigError, match=">= 1000"):
        export_onnx(
            student_dir=tiny["root"] / "student",
            out_path=tmp_path / "m.onnx",
            parity_texts=tiny["texts"][:999],
        )


def _distill_on_tiny(tiny, out_dir, config, **overrides):
    """`distill_student` on the fixture's data, cache, tokenizer and student config."""
    settings = {
        "train": tiny["train"],
        "valid": tiny["valid"],
        "cache_train": tiny["root"] / "cache",
        "cache_valid": tiny["root"] / "cache",
        "tokenizer_path": tiny["root"] / "tok",
        "student_config": tiny["config"],
        **overrides,
    }
    return distill_student(out_dir=out_dir, config=config, **settings)


def test_distill_refuses_cache_of_other_data(tiny, tmp_path):
    other = make_records("train", 90, seed=5)  # same ids, different texts
    with pytest.raises(ProvenanceError, match="split_hash"):
        _distill_on_tiny(tiny, tmp_path / "s", FAST, train=other)
    assert not (tmp_path / "s").exists()


def test_deeper_student_than_cache_and_determinism(tiny, tmp_path):
    # The original crashed with a 6-layer student on a 4-layer cache (UPSTREAM.md §12.1).
    config = StudentConfig(
        vocab_size=tiny["vocab"], layers=6, hidden=16, heads=2, ffn=32, max_length=32
    )
    one_step = DistillConfig(epochs=1, batch_size=16, max_steps=2, progress=False, threads=1)
    runs = []
    for name in ("a", "b"):
        _distill_on_tiny(tiny, tmp_path / name, one_step, student_config=config)
        runs.append((tmp_path / name / "model.safetensors").read_bytes())
    assert runs[0] == runs[1]
    report = json.loads((tmp_path / "a" / "distill_report.json").read_text())
    assert report["layer_map"]["student_layer_to_cache_slot"] == [0, 0, 1, 2, 2, 3]


def test_distill_trains_on_soft_label_only_rows(tiny, tmp_path):
    from janitr.data.records import Record
    from janitr.errors import ConfigError

    extra = [
        Record(id=f"u-{i}", text=r.text + " extra", labels=(), path="u", line=i + 1)
        for i, r in enumerate(make_records("unlabeled", 30))
    ]
    build_cache(tmp_path / "cache", "unlabeled", extra)
    _distill_on_tiny(tiny, tmp_path / "s", FAST, extra=extra, cache_extra=tmp_path / "cache")
    report = json.loads((tmp_path / "s" / "distill_report.json").read_text())
    assert report["data"]["unlabeled"]["rows"] == 30
    assert report["data"]["train"]["rows"] == len(tiny["train"])
    with pytest.raises(ConfigError, match="cache_extra"):
        _distill_on_tiny(tiny, tmp_path / "t", FAST, extra=extra)


def test_distill_trains_on_mined_hard_negatives(tiny, tmp_path):
    from janitr.data.labels import targets
    from janitr.teacher.cache import read_cache

    config = DistillConfig(
        epochs=1, batch_size=16, max_steps=2, progress=False, threads=1,
        augment_kinds=(), hard_negatives=5, hard_negative_copies=3,
    )  # fmt: skip
    _distill_on_tiny(tiny, tmp_path / "s", config)
    report = json.loads((tmp_path / "s" / "distill_report.json").read_text())
    mined = report["hard_negatives"]["rows"]
    assert report["hard_negatives"]["copies"] == 3 and len(mined) == 5
    assert report["training_rows"] == len(tiny["train"]) + 5 * 3
    # The five are the non-scam train rows with the highest target p_scam, best first.
    cache = read_cache(tiny["root"] / "cache" / "train.safetensors")
    logits = dict(zip(cache.ids, np.asarray(cache.scam_logits, dtype=np.float64), strict=True))
    p = {
        r.id: 1 / (1 + np.exp(logits[r.id][0] - logits[r.id][1]))
        for r in tiny["train"]
        if not targets(r.labels).is_scam
    }
    expected = sorted(p, key=lambda i: -p[i])[:5]
    assert [row["id"] for row in mined] == expected
    assert [row["target_p_scam"] for row in mined] == pytest.approx([p[i] for i in expected])


def test_bundles_thresholds_and_seen_data(tiny):
    from janitr.runtime.bundle import load_bundle

    for name in ("student-fp32", "student-int8"):
        bundle = load_bundle(tiny["root"] / "bundles" / name)
        assert bundle.kind == "onnx"
        assert {"model.onnx", "tokenizer.json", "student_config.json", "parity.json"} <= set(
            bundle.manifest["files"]
        )
        assert bundle.manifest["tuning"]["data"] == "calib"
        assert bundle.manifest["tuning"]["scam_threshold_rule"] == "empirical"
        assert bundle.normalization.fold_confusables  # the default normalization folds
        seen = bundle.seen_data()
        assert set(seen) == {"train", "valid", "calib"}
        assert "calib-0" in seen["calib"]["ids"]


def test_train_serve_skew_via_classifier(tiny):
    """Raw text through Classifier (ONNX) == torch student on normalize_text(raw)."""
    from janitr.runtime.classifier import Classifier

    raw = [
        "CLAIM  Free\u200b AIRDROP now!!",
        "  Bitcoin\tETH   price ",
        "ｃｏｆｆｅｅ lunch",
        "Connect WALLET https://x.co/a 🚀",
        "music\u00a0BOOK",
        "Сlаim yоur F\u0336R\u0336E\u0336E\u0336 аirdrop",  # look-alikes, struck letters
    ]
    torch_scorer = TorchStudentScorer.from_dir(tiny["root"] / "student")
    expected = torch_scorer.predict_heads([normalize_text(t) for t in raw])
    clf = Classifier.load(tiny["root"] / "bundles" / "student-fp32")
    assert np.allclose(clf.predict_heads(raw), expected, atol=1e-5)
    int8 = Classifier.load(tiny["root"] / "bundles" / "student-int8")
    assert np.abs(int8.predict_heads(raw) - expected).max() < 0.05
    assert clf.normalize([raw[-1]]) == ["claim your free airdrop"]


def test_onnx_runtime_never_imports_torch(tiny):
    bundle = tiny["root"] / "bundles" / "student-int8"
    code = (
        "import sys\n"
        "from janitr.runtime.classifier import Classifier\n"
        f"clf = Classifier.load({str(bundle)!r})\n"
        "pred = clf.predict(['claim free airdrop now', 'coffee with friends'])\n"
        "assert len(pred) == 2\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_evaluate_accepts_student_bundle(tiny, tmp_path):
    from janitr.evaluation.evaluate import evaluate_bundle

    fresh = make_records("fresh", 30, seed=9)
    data = tmp_path / "fresh.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": r.id, "text": r.text, "labels": list(r.labels)}) + "\n" for r in fresh
        )
    )
    bundle_dir = tiny["root"] / "bundles" / "student-int8"
    report = evaluate_bundle(model=bundle_dir, data=data, n_boot=0)
    assert report["data"]["rows"] == len(fresh) and report["model"]["kind"] == "onnx"
    # The same numbers as the bundle's own classifier through the one metric code path.
    from janitr.evaluation.metrics import evaluate_predictions
    from janitr.runtime.bundle import load_bundle
    from janitr.runtime.classifier import Classifier

    heads = Classifier.load(bundle_dir).predict_heads([r.text for r in fresh])
    expect = evaluate_predictions(
        [r.gold for r in fresh],
        heads[:, 0],
        heads[:, 1],
        thresholds=load_bundle(bundle_dir).thresholds,
        n_boot=0,
    )
    for key in ("macro_f1", "exact_match"):
        assert report["metrics"][key] == pytest.approx(expect["metrics"][key])
    for cls in ("scam", "topic_crypto", "clean"):
        for key in ("tp", "fp", "fn", "support"):
            assert report["metrics"][cls][key] == expect["metrics"][cls][key]


# --- the optimized export and runtime (issue #5) ----------------------------------------------


def test_optimized_onnx_keeps_interface_and_parity(tiny):
    """The lean export ([CLS]-only last layer) and its int8 model keep the serving contract
    (names, dynamic batch/sequence axes) and reproduce torch, padding and all."""
    import onnx
    import onnxruntime as ort

    from janitr.runtime.onnx import DISABLED_OPTIMIZERS, open_session

    assert tiny["fp32"].passed and tiny["int8"].passed and tiny["int8"].extra["vs_torch"]["passed"]
    for name in ("model.onnx", "model.int8.onnx"):
        path = tiny["root"] / "onnx" / name
        graph = onnx.load(str(path)).graph
        dims = {
            v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(graph.input) + list(graph.output)
        }
        assert dims == {
            "input_ids": ["batch", "seq"],
            "attention_mask": ["batch", "seq"],
            "p_scam": ["batch"],
            "p_topic": ["batch"],
        }
        for sess in (ort.InferenceSession(str(path)), open_session(path)):
            assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask"]
            assert [o.name for o in sess.get_outputs()] == ["p_scam", "p_topic"]
    assert "SkipLayerNormFusion" in DISABLED_OPTIMIZERS

    # fp32 ONNX == torch on a padded batch of random ids, for every sequence length.
    scorer = TorchStudentScorer.from_dir(tiny["root"] / "student")
    sess = open_session(tiny["root"] / "onnx" / "model.onnx")
    gen = torch.Generator().manual_seed(3)
    for batch, seq in ((1, 1), (1, 3), (4, 9), (3, tiny["config"].max_length)):
        ids = torch.randint(5, tiny["vocab"], (batch, seq), generator=gen)
        mask = torch.ones_like(ids)
        if batch > 1:
            mask[1, max(1, seq // 2) :] = 0
            ids[1, max(1, seq // 2) :] = 0
        with torch.no_grad():
            ref = [t.numpy() for t in scorer.model.predict_proba(ids, mask)]
        got = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        for r, g in zip(ref, got, strict=True):
            assert g.shape == (batch,)
            np.testing.assert_allclose(g, r, atol=1e-5)


def test_plan_batches_cover_rows_and_cut_padding():
    from janitr.runtime.onnx import plan_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 97, size=200)
    batches = plan_batches(lengths, 32)
    assert sorted(np.concatenate(batches).tolist()) == list(range(200))
    assert all(1 <= len(b) <= 32 for b in batches)
    assert [b.tolist() for b in batches] == [b.tolist() for b in plan_batches(lengths, 32)]
    longest = [int(lengths[b].max()) for b in batches]
    assert longest == sorted(longest, reverse=True)  # longest first
    padded = sum(len(b) * int(lengths[b].max()) for b in batches)
    order = np.argsort(lengths, kind="stable")
    fixed = sum(len(b) * int(lengths[b].max()) for b in np.array_split(order, 7))
    assert lengths.sum() <= padded < fixed
    assert plan_batches([], 32) == []
    assert [b.tolist() for b in plan_batches([5], 32)] == [[0]]
    assert all(len(b) == 1 for b in plan_batches(lengths[:5], 1))


def test_onnx_scorer_threads_and_batching_do_not_change_scores(tiny):
    """Planned batches on 1 or 2 threads give each text the score it gets alone (fp32)."""
    from janitr.runtime.onnx import OnnxScorer

    student = tiny["root"] / "student"
    model = tiny["root"] / "onnx" / "model.onnx"
    texts = tiny["texts"][:150]
    one = OnnxScorer.from_files(model, student / "tokenizer.json", student / "student_config.json")
    two = OnnxScorer.from_files(
        model, student / "tokenizer.json", student / "student_config.json", threads=2
    )
    alone = np.vstack([one.predict_heads([t]) for t in texts[:40]])
    np.testing.assert_allclose(one.predict_heads(texts)[:40], alone, atol=1e-5)
    np.testing.assert_allclose(two.predict_heads(texts), one.predict_heads(texts), atol=1e-5)
    assert two.predict_heads([]).shape == (0, 2)
    two.close()
    np.testing.assert_allclose(
        two.predict_heads(texts[:3]), one.predict_heads(texts[:3]), atol=1e-5
    )
    two.close()


def _swap_tokenizer(tiny, tmp_path, *, extra_tokens: int, fix_config: bool):
    """A copy of the fp32 bundle whose tokenizer has `extra_tokens` more tokens, with the
    manifest's hashes fixed (and, with `fix_config`, student_config.json's vocab_size too)."""
    import shutil

    from tokenizers import Tokenizer

    from janitr.artifacts import file_entry

    copy = tmp_path / "swapped"
    shutil.copytree(tiny["root"] / "bundles" / "student-fp32", copy)
    tok = Tokenizer.from_file(str(copy / "tokenizer.json"))
    tok.add_tokens([f"zzextra{i}" for i in range(extra_tokens)])
    tok.save(str(copy / "tokenizer.json"))
    changed = ["tokenizer.json"]
    if fix_config:
        config = json.loads((copy / "student_config.json").read_text())
        config["config"]["vocab_size"] = tok.get_vocab_size(with_added_tokens=True)
        (copy / "student_config.json").write_text(json.dumps(config))
        changed.append("student_config.json")
    manifest = json.loads((copy / "bundle.json").read_text())
    for name in changed:
        manifest["files"][name] = file_entry(copy / name)
    (copy / "bundle.json").write_text(json.dumps(manifest))
    return copy


def test_swapped_tokenizer_is_refused_at_load(tiny, tmp_path):
    """Issue #12: a tokenizer of another model, its manifest hash fixed, used to fail inside
    onnxruntime; now the load compares its size with the model's."""
    from janitr.errors import BundleError
    from janitr.runtime.classifier import Classifier

    copy = _swap_tokenizer(tiny, tmp_path, extra_tokens=7, fix_config=False)
    with pytest.raises(BundleError) as info:
        Classifier.load(copy)
    message = str(info.value)
    assert f"the tokenizer has {tiny['vocab'] + 7} tokens" in message
    assert f"vocabulary has {tiny['vocab']}" in message


def test_tokenizer_and_config_swapped_are_refused_by_the_embedding(tiny, tmp_path, capfd):
    from janitr.errors import BundleError
    from janitr.runtime.classifier import Classifier

    copy = _swap_tokenizer(tiny, tmp_path, extra_tokens=7, fix_config=True)
    with pytest.raises(BundleError, match=f"embedding does not have {tiny['vocab'] + 7} rows"):
        Classifier.load(copy)
    # The same check passes on the int8 model (its embedding is quantized), and the probe
    # of the refused id leaves no onnxruntime error line on stderr.
    capfd.readouterr()
    assert Classifier.load(tiny["root"] / "bundles" / "student-int8").kind == "onnx"
    assert "onnxruntime" not in capfd.readouterr().err
