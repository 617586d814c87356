"""fastText baseline: config validation, the list-form predict, train -> bundle -> scorer."""

from __future__ import annotations

import fasttext
import numpy as np
import pytest

from janitr.baselines.fasttext import FastTextConfig, training_line
from janitr.data.normalize import NormalizationConfig
from janitr.data.records import read_records
from janitr.errors import BundleError, ConfigError
from janitr.runtime.bundle import load_bundle
from janitr.runtime.fasttext import (
    _LOOP_ROWS,
    _head_columns,
    head_logits,
    load_scorer,
    predict_heads_with,
    scores_for,
)
from tiny_fasttext import TINY, train_tiny_bundle, write_tiny_splits


def test_config_validation_names_the_field_and_the_cli_the_flag():
    from janitr.cli import config_message

    with pytest.raises(ConfigError, match="epoch: must be a positive integer") as info:
        FastTextConfig(epoch=0, lr=-1)
    assert [p.field for p in info.value.problems] == ["epoch", "lr"]  # all problems at once
    assert config_message(info.value) == (
        "--epoch: must be a positive integer, got 0; --lr: must be > 0, got -1"
    )
    with pytest.raises(ConfigError, match="unknown"):
        FastTextConfig.from_dict({"epochs": 3})


def test_training_line():
    line = training_line(["giveaway", "topic_crypto"], "Claim\u200b YOUR\nAirdrop __label__x",
                         normalization=NormalizationConfig())  # fmt: skip
    assert line == "__label__scam __label__topic_crypto claim your airdrop"
    assert training_line(["topic_news"], "Hi", normalization=NormalizationConfig()) == (
        "__label__clean hi"
    )


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    return train_tiny_bundle(tmp_path_factory.mktemp("ft"))


def test_list_form_predict_under_numpy2(tiny_bundle):
    """Why the scorer uses `predict([...])`: fasttext 0.9.3's single-string form does
    `np.array(probs, copy=False)`, which NumPy 2 refuses (ValueError). The list form
    returns plain lists and works on both NumPy 1 and 2."""
    model = fasttext.load_model(str(tiny_bundle.file("model.ftz")))
    if int(np.__version__.split(".")[0]) >= 2:
        with pytest.raises(ValueError):
            model.predict("claim your free airdrop")
    labels, probs = model.predict(["claim your free airdrop"], k=-1, threshold=0.0)
    assert len(labels) == 1 and len(labels[0]) == 3
    heads = predict_heads_with(model, ["claim your free airdrop", "lunch in the park"])
    assert heads.shape == (2, 2)
    assert ((heads >= 0) & (heads <= 1)).all()


def _heads_by_loop(labels, probs):
    """The plain reading of fastText's output: for every row, every (label, prob) pair."""
    column = {"__label__scam": 0, "__label__topic_crypto": 1}
    out = np.zeros((len(labels), 2))
    for i, (row_labels, row_probs) in enumerate(zip(labels, probs, strict=True)):
        for label, prob in zip(row_labels, row_probs, strict=True):
            if label in column:
                out[i, column[label]] = prob
    return np.clip(out, 0.0, 1.0)


def test_predict_heads_with_matches_the_wrapper(tiny_bundle):
    """The direct `multilinePredict` call and both ways of reading its output (vectorized for
    large batches, a loop for small ones) give exactly what the wrapper's `predict(list)` and
    a plain per-row reading give; newlines are spaces."""
    model = fasttext.load_model(str(tiny_bundle.file("model.ftz")))
    texts = ["claim your free eth airdrop now", "rain again", "btc up\n5%", "x", "\n"] * 7
    assert len(texts) > _LOOP_ROWS
    labels, probs = model.predict([t.replace("\n", " ") for t in texts], k=-1, threshold=0.0)
    expected = _heads_by_loop(labels, probs)
    read = lambda texts: predict_heads_with(model, texts, scores="predict")  # noqa: E731
    np.testing.assert_array_equal(read(texts), expected)
    np.testing.assert_array_equal(read(texts[:3]), expected[:3])
    np.testing.assert_array_equal(_head_columns(labels[:3], probs[:3], 3), expected[:3])
    assert read([]).shape == (0, 2)

    class WrapperOnly:  # no `f.multilinePredict`: falls back to the wrapper
        def predict(self, texts, k, threshold):
            return model.predict(texts, k=k, threshold=threshold)

    expected_wrapper = predict_heads_with(WrapperOnly(), texts, scores="predict")
    np.testing.assert_array_equal(expected_wrapper, expected)


def _fasttext_table_sigmoid(z):
    """fastText 0.9.3's `Loss::sigmoid` (a 512-step table on [-8, 8], clamped outside) and
    the `exp(log(p + 1e-5))` its predict returns: the reference the logits must reproduce."""
    table = 1.0 / (1.0 + np.exp(-(np.arange(513) * 16.0 / 512 - 8.0)))
    index = np.clip(((z + 8.0) * 512 / 16).astype(np.int64), 0, 512)
    p = np.where(z < -8, 0.0, np.where(z > 8, 1.0, table[index]))
    return p + 1e-5


@pytest.fixture(scope="module")
def confident_bundle(tmp_path_factory):
    """A model trained long enough that fastText's predict saturates at 1.0 on scams."""
    config = FastTextConfig(**{**TINY.to_dict(), "epoch": 150, "lr": 0.5})
    return train_tiny_bundle(tmp_path_factory.mktemp("ft-confident"), config)


def test_logits_are_what_predict_rounds(confident_bundle):
    """The exact logits, put through fastText's own table sigmoid, give its `predict` output;
    through a real sigmoid they rank the posts `predict` ties at 1.0 (the reason bundles
    score with logits), and they never reorder posts that `predict` tells apart."""
    model = fasttext.load_model(str(confident_bundle.file("model.ftz")))
    texts = [r.text for r in read_records(confident_bundle.path.parent / "data" / "valid.jsonl")]
    texts += ["", "\n", "x", "line one\nline two"]
    assert scores_for(model) == "logits"
    z = head_logits(model, texts)
    labels = model.get_labels()
    assert z.shape == (len(texts), len(labels))
    old = predict_heads_with(model, texts, scores="predict")
    columns = [labels.index("__label__scam"), labels.index("__label__topic_crypto")]
    np.testing.assert_allclose(
        np.clip(_fasttext_table_sigmoid(z[:, columns]), 0, 1), old, rtol=0, atol=1e-6
    )
    new = predict_heads_with(model, texts)
    np.testing.assert_allclose(new, 1 / (1 + np.exp(-z[:, columns])), rtol=1e-12)
    tied = old[:, 0] == 1.0
    assert tied.sum() >= 10, "the fixture model should saturate fastText's table sigmoid"
    assert len(np.unique(new[tied, 0])) == tied.sum() and (new[tied, 0] < 1).all()
    for j in range(2):  # same order wherever predict's table tells two posts apart
        a, b = np.meshgrid(old[:, j], old[:, j])
        c, d = np.meshgrid(new[:, j], new[:, j])
        assert not ((a > b) & (c < d)).any()


def test_bundles_record_their_scores_and_old_bundles_keep_predict(confident_bundle):
    bundle = load_bundle(confident_bundle.path)
    assert bundle.manifest["model"]["scores"] == "logits"
    scorer = bundle.scorer()
    assert scorer.scores == "logits"
    texts = ["claim your free eth airdrop now", "rain again", "btc up\n5%"]
    np.testing.assert_array_equal(
        scorer.predict_heads(texts), predict_heads_with(scorer.model, texts, scores="logits")
    )
    assert scorer.predict_heads([]).shape == (0, 2)
    del bundle.manifest["model"]["scores"]  # a bundle written before the field existed
    assert load_scorer(bundle).scores == "predict"
    bundle.manifest["model"]["scores"] = "table"
    with pytest.raises(BundleError, match="model.scores"):
        load_scorer(bundle)


@pytest.mark.integration
def test_hierarchical_softmax_models_are_read_through_predict(tmp_path):
    """An `hs` model has no plain output layer: its bundle says `predict` and asking it for
    logits is refused with a message that says what to do."""
    bundle = train_tiny_bundle(tmp_path, FastTextConfig(**{**TINY.to_dict(), "loss": "hs"}))
    assert bundle.manifest["model"]["scores"] == "predict"
    model = fasttext.load_model(str(bundle.file("model.ftz")))
    assert scores_for(model) == "predict"
    with pytest.raises(BundleError, match="scores='predict'"):
        head_logits(model, ["hello"])
    assert bundle.scorer().predict_heads(["hello"]).shape == (1, 2)


def test_head_columns_clamps_and_reads_ragged_rows():
    """Rows listing fewer labels (another k or threshold) are read row by row, large batches
    too; probabilities are clamped to [0, 1] on both paths."""
    labels = [["__label__scam", "__label__clean"], ["__label__topic_crypto"], []]
    probs = [np.array([1.00001, 0.2]), np.array([0.9]), np.array([])]
    expected = [[1.0, 0.0], [0.0, 0.9], [0.0, 0.0]]
    np.testing.assert_allclose(_head_columns(labels, probs, 3), expected)
    many = _LOOP_ROWS + 1
    np.testing.assert_allclose(
        _head_columns(labels * many, probs * many, 3 * many), expected * many
    )
    square = [["__label__clean", "__label__topic_crypto", "__label__scam"]] * many
    square_p = [np.array([0.5, 0.25, 1.00001], dtype=np.float32)] * many
    np.testing.assert_array_equal(_head_columns(square, square_p, many), [[1.0, 0.25]] * many)
    np.testing.assert_array_equal(_head_columns(square[:2], square_p[:2], 2), [[1.0, 0.25]] * 2)


def test_train_bundle_scorer(tiny_bundle):
    bundle = load_bundle(tiny_bundle.path)
    assert bundle.kind == "fasttext"
    assert set(bundle.manifest["files"]) == {"model.ftz", "seen_data.json"}
    info = bundle.manifest["model"]
    assert info["quantization"]["status"] == "quantized"
    assert info["report"]["split"] == "valid"
    assert set(bundle.seen_data()) == {"train", "calib"}
    assert bundle.manifest["data"]["train"]["rows"] == 240
    assert len(bundle.manifest["data"]["calib"]["sha256"]) == 64
    assert bundle.manifest["tuning"]["scam"]["fpr"] <= 0.02
    heads = bundle.scorer().predict_heads(["claim your free eth airdrop now", "rain again"])
    assert heads.shape == (2, 2) and ((heads >= 0) & (heads <= 1)).all()


@pytest.mark.integration
def test_quantization_fallback_is_recorded(tmp_path):
    """A matrix under 256 rows cannot be product-quantized; the bundle says what happened.

    With `qout` the 3-row output matrix is too small, so quantization falls back to the input
    matrix only, and the manifest records the failed attempt.
    """
    data = write_tiny_splits(tmp_path / "data")
    config = FastTextConfig(**{**TINY.to_dict(), "qout": True})
    from janitr.baselines.fasttext import train_fasttext

    bundle = train_fasttext(data_dir=data, out_dir=tmp_path / "b", config=config)
    quant = bundle.manifest["model"]["quantization"]
    assert quant["attempts"], quant
    assert "too small" in quant["attempts"][0]["error"].lower()
    bundle.scorer().predict_heads(["hello"])  # whatever file was kept, it scores


def test_training_adds_one_obfuscated_copy_per_row(tmp_path):
    import dataclasses

    from janitr.baselines.fasttext import fit_fasttext
    from janitr.data.obfuscate import augment_copies

    train = read_records(write_tiny_splits(tmp_path / "data", n_train=60) / "train.jsonl")
    lines = {}
    for name, kinds in (("plain", ()), ("augmented", TINY.augment_kinds)):
        work = tmp_path / name
        work.mkdir()
        fitted = fit_fasttext(train, dataclasses.replace(TINY, augment_kinds=kinds), work_dir=work)
        assert fitted.normalization.fold_confusables  # the default normalization folds
        lines[name] = (work / "train.txt").read_text(encoding="utf-8").splitlines()
    copies = augment_copies(train, kinds=TINY.augment_kinds, seed=TINY.seed)
    assert TINY.augment_kinds == ("leet", "spaced", "tags") and len(copies) > len(train) // 2
    assert lines["augmented"][: len(train)] == lines["plain"]
    assert len(lines["augmented"]) == len(train) + len(copies)
    with pytest.raises(ConfigError, match="augment_kinds: unknown rot13"):
        FastTextConfig(augment_kinds=["rot13"])
