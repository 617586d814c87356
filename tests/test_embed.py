"""The embed family on a tiny randomly initialized BERT (no download): frozen mean-pooled
embeddings + two logistic regressions, the embedding cache, bundles, crossval membership."""

from __future__ import annotations

import numpy as np
import pytest

from janitr.data.records import Record
from janitr.errors import ConfigError, MissingDependencyError
from janitr.evaluation.thresholds import ThresholdPolicy
from tiny_bert import make_tiny_bert, synthetic_rows

pytest.importorskip("torch")
pytest.importorskip("transformers")


def records(n: int, offset: int = 0) -> list[Record]:
    return [
        Record(id=r["id"], text=r["text"], labels=tuple(r["labels"]), path="<test>", line=i + 1)
        for i, r in enumerate(synthetic_rows(n, offset=offset))
    ]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(make_tiny_bert(tmp_path_factory.mktemp("tiny_bert")))


@pytest.fixture(scope="module")
def fitted(tiny):
    from janitr.baselines.embed import EmbedConfig, fit_embed

    return fit_embed(records(90), EmbedConfig(encoder=tiny, c=10.0, progress=False))


def test_embeddings_are_masked_mean_pools_of_the_encoder(tiny):
    """Reference: the unit mean of the last hidden states over real tokens, one text at a time;
    batching (and its padding) changes nothing."""
    import torch
    import transformers

    from janitr.baselines.embed import SentenceEncoder

    texts = ["claim free eth now", "lovely weather today coffee morning garden football", "x"]
    got = SentenceEncoder(encoder=tiny, batch_size=2, progress=False).embed(texts)
    tok = transformers.AutoTokenizer.from_pretrained(tiny)
    model = transformers.AutoModel.from_pretrained(tiny).eval()
    for text, vector in zip(texts, got, strict=True):
        with torch.no_grad():
            hidden = model(**tok([text], return_tensors="pt")).last_hidden_state[0]
        mean = hidden.mean(0).numpy()
        np.testing.assert_allclose(vector, mean / np.linalg.norm(mean), atol=1e-5)
    assert got.dtype == np.float32 and np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)


def test_fit_score_and_tune(fitted):
    from janitr.baselines.embed import tune_embed
    from janitr.evaluation.metrics import average_precision

    rows = records(60, offset=500)
    norm = fitted.config.normalization
    heads = fitted.predict_heads([norm.apply(r.text) for r in rows])
    assert heads.shape == (60, 2) and ((heads > 0) & (heads < 1)).all()
    is_scam = np.array(["scam" in r.labels for r in rows])
    # unseen rows of the three synthetic kinds: the scam head ranks scams first
    assert average_precision(is_scam, heads[:, 0]) > 0.9
    tuned = tune_embed(fitted, rows, ThresholdPolicy(rule="empirical"))
    assert set(tuned["thresholds"]) == {"scam", "topic_crypto"}
    assert fitted.predict_heads([]).shape == (0, 2)


def test_each_text_is_embedded_once_and_the_disk_cache_is_reused(tiny, tmp_path, monkeypatch):
    from janitr.baselines.embed import SentenceEncoder

    texts = [r.text for r in records(20)]
    encoder = SentenceEncoder(encoder=tiny, cache_dir=str(tmp_path), progress=False)
    computed = []
    original = SentenceEncoder._compute

    def counting(self, todo, keys):
        computed.extend(todo)
        return original(self, todo, keys)

    monkeypatch.setattr(SentenceEncoder, "_compute", counting)
    first = encoder.embed(texts + texts[:5])  # a repeated text is computed once
    assert sorted(computed) == sorted(texts)
    again = encoder.embed(texts[::-1])
    assert len(computed) == len(texts)  # nothing new
    np.testing.assert_array_equal(again, first[:20][::-1])
    (cache,) = tmp_path.iterdir()

    def refuse(self, todo, keys):
        raise AssertionError(f"recomputed {len(todo)} cached texts")

    monkeypatch.setattr(SentenceEncoder, "_compute", refuse)
    fresh = SentenceEncoder(encoder=tiny, cache_dir=str(tmp_path), progress=False)
    np.testing.assert_array_equal(fresh.embed(texts), first[:20])
    # another max_length is another encoder identity: its own cache file
    other = SentenceEncoder(encoder=tiny, max_length=16, cache_dir=str(tmp_path), progress=False)
    assert other.fingerprint != fresh.fingerprint
    monkeypatch.setattr(SentenceEncoder, "_compute", original)
    other.embed(texts[:2])
    assert len(list(tmp_path.iterdir())) == 2 and cache.exists()


def test_a_missing_encoder_directory_is_a_clear_error(tmp_path):
    from janitr.baselines.embed import EmbedConfig, fit_embed

    missing = tmp_path / "no-such-encoder"
    with pytest.raises(ConfigError, match="no such directory.*local encoder directory"):
        fit_embed(records(30), EmbedConfig(encoder=str(missing), progress=False))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="has no config.json"):
        fit_embed(records(30), EmbedConfig(encoder=str(empty), progress=False))
    with pytest.raises(ConfigError) as info:
        EmbedConfig(c=0, max_length=4, class_weight="x")
    (empty / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="could not be loaded.*save_pretrained|could not be"):
        fit_embed(records(30), EmbedConfig(encoder=str(empty), progress=False))
    assert {p.field for p in info.value.problems} == {"c", "max_length", "class_weight"}


def test_bundle_round_trip_and_the_torch_free_runtime_refuses_it(fitted, tmp_path, monkeypatch):
    from janitr.baselines.embed import tune_embed, write_embed_bundle
    from janitr.runtime.bundle import load_bundle

    tune_rows = records(30, offset=900)
    policy = ThresholdPolicy(rule="empirical")
    tuned = tune_embed(fitted, tune_rows, policy)
    bundle = write_embed_bundle(fitted, tuned, out_dir=tmp_path / "embed", train=records(90),
                                tune_rows=tune_rows, thresholds=policy)  # fmt: skip
    assert bundle.kind == "embed" and "encoder/model.safetensors" in bundle.manifest["files"]
    texts = [fitted.config.normalization.apply(r.text) for r in records(12, offset=300)]
    loaded = load_bundle(tmp_path / "embed").scorer()
    np.testing.assert_allclose(loaded.predict_heads(texts), fitted.predict_heads(texts), atol=1e-9)
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # as without janitr[train]
    with pytest.raises(MissingDependencyError, match=r"janitr\[train\]"):
        load_bundle(tmp_path / "embed").scorer()


def test_embed_is_a_crossval_family_and_an_ensemble_member(tiny):
    from janitr.pipeline.crossval import CrossvalConfig, crossval

    rows = records(120)
    common = dict(folds=3, seed=0, n_boot=20, robustness=False, embed_encoder=tiny, embed_c=10.0)
    alone = crossval(records=rows, config=CrossvalConfig(model="embed", **common))
    p = np.asarray(alone["predictions"]["p_scam"])
    assert p.shape == (120,) and ((p > 0) & (p < 1)).all()
    stacked = crossval(
        records=rows,
        config=CrossvalConfig(model="ensemble", members=("embed", "linear"), combine="stack",
                              **common),
    )  # fmt: skip
    assert set(stacked["stack_weights"]["scam"]) == {"embed", "linear"}


def test_crossval_passes_the_teacher_max_length(monkeypatch):
    """`--teacher-max-length` reaches the teacher member's TeacherConfig (the lever-4 runs use
    128 tokens instead of the teacher's default 96)."""
    import janitr.teacher.model
    from janitr.pipeline.crossval import MEMBER_BUILDERS, CrossvalConfig

    seen = {}

    class Stop(Exception):
        pass

    def capture(**kwargs):
        seen["config"] = kwargs["config"]
        raise Stop

    monkeypatch.setattr(janitr.teacher.model, "fit_teacher", capture)
    member = MEMBER_BUILDERS["teacher"](CrossvalConfig(model="teacher", teacher_max_length=128))
    with pytest.raises(Stop):
        member(records(40), ["a text"])
    assert seen["config"].max_length == 128
    with pytest.raises(ConfigError, match="max_length"):
        MEMBER_BUILDERS["teacher"](CrossvalConfig(model="teacher", teacher_max_length=4))
