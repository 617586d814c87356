"""fastText baseline: config validation, the list-form predict, train -> bundle -> scorer."""

from __future__ import annotations

import fasttext
import numpy as np
import pytest

from janitr.bundle import load_bundle
from janitr.errors import ConfigError
from janitr.fasttext_baseline import (
    _LOOP_ROWS,
    FastTextConfig,
    _head_columns,
    predict_heads_with,
    training_line,
)
from tiny_fasttext import TINY, train_tiny_bundle, write_tiny_splits


def test_config_validation_names_the_flag():
    with pytest.raises(ConfigError, match="--epoch") as info:
        FastTextConfig(epoch=0, scam_target_fpr=3.0)
    assert "--scam-target-fpr" in str(info.value)  # all problems at once
    with pytest.raises(ConfigError, match="--tune-on"):
        FastTextConfig(tune_on="test")
    with pytest.raises(ConfigError, match="unknown"):
        FastTextConfig.from_dict({"epochs": 3})


def test_training_line():
    line = training_line(["giveaway", "topic_crypto"], "Claim\u200b YOUR\nAirdrop __label__x",
                         strip_urls=False)  # fmt: skip
    assert line == "__label__scam __label__topic_crypto claim your airdrop"
    assert training_line(["topic_news"], "Hi", strip_urls=False) == "__label__clean hi"


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
    np.testing.assert_array_equal(predict_heads_with(model, texts), expected)
    np.testing.assert_array_equal(predict_heads_with(model, texts[:3]), expected[:3])
    np.testing.assert_array_equal(_head_columns(labels[:3], probs[:3], 3), expected[:3])
    assert predict_heads_with(model, []).shape == (0, 2)

    class WrapperOnly:  # no `f.multilinePredict`: falls back to the wrapper
        def predict(self, texts, k, threshold):
            return model.predict(texts, k=k, threshold=threshold)

    np.testing.assert_array_equal(predict_heads_with(WrapperOnly(), texts), expected)


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
    from janitr.fasttext_baseline import train_fasttext

    bundle = train_fasttext(data_dir=data, out_dir=tmp_path / "b", config=config)
    quant = bundle.manifest["model"]["quantization"]
    assert quant["attempts"], quant
    assert "too small" in quant["attempts"][0]["error"].lower()
    bundle.scorer().predict_heads(["hello"])  # whatever file was kept, it scores
