"""WordPiece training and the fail-fast guards (vocabulary size, UNK rate)."""

from __future__ import annotations

import json

import pytest

from janitr.errors import ConfigError, TokenizerError
from janitr.tokenizer import (
    SPECIAL_TOKENS,
    STATS_FILE,
    TokenizerConfig,
    load_tokenizer,
    save_tokenizer,
    tokenizer_stats,
    train_tokenizer,
    unk_rate,
)

WORDS = [
    "claim",
    "free",
    "airdrop",
    "now",
    "send",
    "eth",
    "wallet",
    "connect",
    "bitcoin",
    "price",
    "chart",
    "market",
    "lovely",
    "weather",
    "today",
    "coffee",
    "morning",
    "team",
    "meeting",
    "garden",
    "football",
    "music",
]


def corpus(n: int = 300) -> list[str]:
    return [
        " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(6 + i % 5)) + f" #{i % 40}"
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    texts = corpus()
    config = TokenizerConfig(vocab_size=120, min_frequency=1)
    tok = train_tokenizer(texts, config=config)
    out = tmp_path_factory.mktemp("tok")
    save_tokenizer(tok, out, stats=tokenizer_stats(tok, texts, config=config))
    return tok, out, texts


def test_special_tokens_first_and_post_processor(trained):
    tok, _, _ = trained
    assert [tok.token_to_id(s) for s in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    enc = tok.encode("claim free airdrop")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert "[UNK]" not in enc.tokens


def test_save_load_round_trip(trained):
    tok, out, texts = trained
    stats = json.loads((out / STATS_FILE).read_text())
    assert stats["format_version"] == 1 and stats["vocab_size"] == tok.get_vocab_size()
    assert stats["sample_unk_rate"] < 0.05
    loaded = load_tokenizer(out, expected_vocab_size=tok.get_vocab_size(), sample_texts=texts)
    assert loaded.encode(texts[3]).ids == tok.encode(texts[3]).ids
    assert loaded.padding is None and loaded.truncation is None


def test_wrong_vocab_size_fails_fast(trained):
    tok, out, _ = trained
    with pytest.raises(TokenizerError, match="expects 8192"):
        load_tokenizer(out, expected_vocab_size=8192)


def test_five_token_vocabulary_is_refused(tmp_path, trained):
    """The original's bug: a vocabulary of only the 5 specials turns ~all text into [UNK]."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    _, _, texts = trained
    broken = Tokenizer(
        models.WordPiece(vocab={s: i for i, s in enumerate(SPECIAL_TOKENS)}, unk_token="[UNK]")
    )
    broken.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    assert unk_rate(broken, texts) == pytest.approx(1.0)
    save_tokenizer(broken, tmp_path)
    with pytest.raises(TokenizerError, match="5 tokens, the model expects 8192"):
        load_tokenizer(tmp_path, expected_vocab_size=8192, sample_texts=texts)
    # Even when the caller expects 5 tokens, the UNK guard catches it.
    with pytest.raises(TokenizerError, match=r"100\.0% of the tokens"):
        load_tokenizer(tmp_path, expected_vocab_size=5, sample_texts=texts)


def test_missing_file_and_bad_config(tmp_path):
    with pytest.raises(TokenizerError, match="no tokenizer file"):
        load_tokenizer(tmp_path)
    with pytest.raises(ConfigError, match="--vocab-size"):
        TokenizerConfig(vocab_size=5)
    with pytest.raises(ConfigError, match="--max-unk-rate"):
        TokenizerConfig(max_unk_rate=2.0)
