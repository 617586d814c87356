"""Batch invariance of `janitr score` with the int8 student (static int7, the default): the
same post gets the same score bit for bit with 1 or 2 workers, any shard size, any batch
size, alone, and on Ray. Exact equality, no tolerance: a static int8 model computes each row
with fixed quantization parameters and integer kernels whose per-row sums do not depend on
the other rows of the batch (`runtime.onnx`), and `--workers` gives each process one ONNX
thread, so no reduction is split differently between layouts."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from janitr.evaluation.thresholds import ThresholdPolicy  # noqa: E402
from janitr.pipeline.score import RowScorer, ScoreConfig, read_scores, score_corpus  # noqa: E402
from janitr.student.export import export_onnx, write_student_bundles  # noqa: E402
from janitr.student.quantize import quantize_onnx  # noqa: E402
from tiny_student import distill_tiny, make_records, parity_texts  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def int8(tmp_path_factory):
    """A tiny distilled student's static int8 bundle, and a corpus of varied lengths."""
    root = tmp_path_factory.mktemp("score-student")
    train, valid, calib = (
        make_records("train", 90),
        make_records("valid", 45),
        make_records("calib", 45),
    )
    distill_tiny(root, train, valid)
    texts = parity_texts()
    export_onnx(student_dir=root / "student", out_path=root / "fp32.onnx", parity_texts=texts)
    quantize_onnx(
        fp32_path=root / "fp32.onnx",
        out_path=root / "int8.onnx",
        tokenizer_path=root / "student",
        parity_texts=texts,
        calibration_texts=[r.norm_text for r in train],
        student_dir=root / "student",
    )
    write_student_bundles(
        student_dir=root / "student",
        models={"student-int8": root / "int8.onnx"},
        out_dir=root / "bundles",
        train=train,
        valid=valid,
        calib=calib,
        thresholds=ThresholdPolicy(tune_on="calib", rule="empirical"),
    )
    corpus = root / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, t in enumerate(texts[:400]))
    )
    return {"bundle": root / "bundles" / "student-int8", "corpus": corpus}


def _score(int8, out, config):
    score_corpus(inputs=[int8["corpus"]], out=out, model=int8["bundle"], config=config)
    return list(read_scores(out))


def test_int8_scores_do_not_depend_on_workers_shards_batches(int8, tmp_path):
    reference = _score(int8, tmp_path / "a", ScoreConfig(workers=1, shard_rows=400))
    assert len(reference) == 400 and all("error" not in r for r in reference)
    layouts = [
        ScoreConfig(workers=2, shard_rows=37, batch_size=5),
        ScoreConfig(workers=2, shard_rows=150, batch_size=64),
        ScoreConfig(workers=1, shard_rows=1000, batch_size=1),
    ]
    for k, config in enumerate(layouts):
        assert _score(int8, tmp_path / f"l{k}", config) == reference, config
    scorer = RowScorer(int8["bundle"])
    lines = int8["corpus"].read_bytes().split(b"\n")
    for i in range(0, 400, 23):
        ((alone, _),) = scorer.score_lines("corpus", [(i + 1, lines[i])])
        assert json.loads(alone) == reference[i]


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs ray (janitr[ray])")
def test_int8_scores_on_ray_equal_the_local_engine(int8, tmp_path):
    import ray

    reference = _score(int8, tmp_path / "local", ScoreConfig(workers=1, shard_rows=400))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = _score(
            int8,
            tmp_path / "ray",
            ScoreConfig(engine="ray", workers=2, shard_rows=90, batch_size=16),
        )
    finally:
        ray.shutdown()
    assert on_ray == reference
