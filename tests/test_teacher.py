"""Teacher on a tiny randomly initialized BERT: guards, 1-step training, bundle, cache.

No download: the fixture trains a small vocabulary on synthetic text, builds a 2-layer,
hidden-32 BertModel and saves both with `save_pretrained`; the teacher loads it by path.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from janitr.errors import ConfigError, ProvenanceError
from janitr.teacher.model import TeacherConfig, check_seed_guard, recall_at_fpr
from tiny_bert import make_tiny_bert, synthetic_rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    write_jsonl(d / "train.jsonl", synthetic_rows(48))
    write_jsonl(d / "valid.jsonl", synthetic_rows(24, offset=1000))
    write_jsonl(d / "calib.jsonl", synthetic_rows(24, offset=2000))
    return d


@pytest.fixture(scope="module")
def bundle(tiny_model, data_dir, tmp_path_factory):
    from janitr.teacher.model import train_teacher

    config = TeacherConfig(
        model_name_or_path=str(tiny_model),
        seeds=(13, 42, 7),
        epochs=1,
        max_steps=1,
        batch_size=8,
        max_length=32,
        progress=False,
        threads=1,
    )
    return train_teacher(
        data_dir=data_dir, out_dir=tmp_path_factory.mktemp("b") / "teacher", config=config
    )


def test_seed_guard():
    with pytest.raises(ConfigError, match="seeds: 1 seed"):
        check_seed_guard(TeacherConfig(seeds=(1,)), 2566)
    check_seed_guard(TeacherConfig(seeds=(1,), force=True), 2566)
    check_seed_guard(TeacherConfig(seeds=(1,)), 6000)
    check_seed_guard(TeacherConfig(), 10)


def test_config_names_fields_and_the_cli_shows_flags():
    from janitr.cli import config_message

    with pytest.raises(ConfigError) as info:
        TeacherConfig(lr=0, pooling="max", seeds=(1, 1), model_name_or_path="x")
    assert {p.field for p in info.value.problems} == {"lr", "pooling", "seeds"}
    msg = config_message(info.value)
    assert "--lr: must be > 0" in msg and "--pooling" in msg and "--seeds" in msg


def test_recall_at_fpr_matches_brute_force():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = rng.normal(size=300) + y
    best = 0.0
    for t in np.r_[np.unique(s), np.inf]:
        pred = s >= t
        if (pred & ~y).sum() <= 0.02 * (~y).sum():
            best = max(best, (pred & y).sum() / y.sum())
    assert recall_at_fpr(y, s, target_fpr=0.02) == pytest.approx(best)


def test_train_refuses_one_seed_on_small_data(tiny_model, data_dir, tmp_path):
    from janitr.teacher.model import train_teacher

    with pytest.raises(ConfigError, match=r"\(see force\)"):
        train_teacher(
            data_dir=data_dir,
            out_dir=tmp_path / "t",
            config=TeacherConfig(model_name_or_path=str(tiny_model), seeds=(1,)),
        )


def test_train_refuses_a_max_length_beyond_the_encoder_positions(tiny_model, data_dir, tmp_path):
    from janitr.teacher.model import train_teacher

    config = TeacherConfig(model_name_or_path=str(tiny_model), seeds=(1,), force=True,
                           max_length=200, progress=False)  # fmt: skip
    with pytest.raises(ConfigError, match="longer than the 128 positions"):
        train_teacher(data_dir=data_dir, out_dir=tmp_path / "t", config=config)
    assert not (tmp_path / "t").exists()


@pytest.mark.integration
def test_teacher_bundle_scores_through_scorer(bundle, data_dir):
    from janitr.evaluation.evaluate import evaluate_bundle
    from janitr.runtime.bundle import load_bundle

    loaded = load_bundle(bundle.path)
    assert loaded.kind == "teacher" and loaded.manifest["model"]["seeds"] == [13, 42, 7]
    for seed in (13, 42, 7):
        assert f"seed_{seed}/model.safetensors" in loaded.manifest["files"]
    assert "reliability.png" in loaded.manifest["files"]
    temps = loaded.manifest["model"]["calibration"]["temperatures"]
    assert set(temps) == {"scam", "topic"} and all(0.05 <= t <= 20 for t in temps.values())
    probs = loaded.scorer().predict_heads(["claim your free airdrop", "lovely weather"])
    assert probs.shape == (2, 2) and np.all((probs >= 0) & (probs <= 1))
    # Same predictions after a reload (weights restored, not re-initialized).
    again = (
        load_bundle(bundle.path)
        .scorer()
        .predict_heads(["claim your free airdrop", "lovely weather"])
    )
    np.testing.assert_allclose(probs, again, atol=1e-6)
    fresh = [
        {**r, "text": f"{r['text']} unseen{k}"} for k, r in enumerate(synthetic_rows(12, 5000))
    ]
    write_jsonl(data_dir / "eval.jsonl", fresh)
    report = evaluate_bundle(model=bundle.path, data=data_dir / "eval.jsonl", n_boot=0)
    assert report["rows"] == 12 if "rows" in report else report


@pytest.mark.integration
def test_cache_round_trip_and_refusals(bundle, data_dir, tmp_path):
    from janitr.data.records import read_records
    from janitr.teacher.cache import build_cache, label_map_hash, read_cache, split_hash

    train = read_records(data_dir / "train.jsonl")
    path = build_cache(
        teacher=bundle.path, records=train, split="train", out=tmp_path, progress=False
    )
    teacher_id = bundle.manifest["model"]["teacher_id"]
    cache = read_cache(
        path,
        expect={
            "split": "train",
            "split_hash": split_hash(train),
            "teacher_id": teacher_id,
            "label_map_hash": label_map_hash(),
        },
    )
    assert cache.ids == [r.id for r in train]
    assert cache.layer_indices == [1, 2] and cache.hidden.shape == (48, 2, 32)
    # Cached logits are the calibrated ensemble: they reproduce the scorer's probabilities.
    probs = bundle.scorer().predict_heads([bundle.normalization.apply(r.text) for r in train])
    np.testing.assert_allclose(cache.p_scam(), probs[:, 0], atol=5e-3)
    np.testing.assert_allclose(cache.p_topic(), probs[:, 1], atol=5e-3)
    valid = read_records(data_dir / "valid.jsonl")
    with pytest.raises(ProvenanceError, match="split_hash"):
        read_cache(path, expect={"split_hash": split_hash(valid)})
    with pytest.raises(ProvenanceError, match="refusing to overwrite"):
        build_cache(teacher=bundle.path, records=valid, split="train", out=tmp_path, progress=False)
    with pytest.raises(ProvenanceError, match="holdout"):
        build_cache(teacher=bundle.path, records=valid, split="holdout", out=tmp_path)
