"""Unigram training (reproducible, HF == SentencePiece) and the fail-fast guards."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

pytest.importorskip("sentencepiece")

from janitr.errors import ConfigError, TokenizerError
from janitr.student.tokenizer import (
    SPECIAL_TOKENS,
    STATS_FILE,
    TOKENIZER_FILE,
    TokenizerConfig,
    load_tokenizer,
    save_tokenizer,
    tokenizer_from_sentencepiece,
    tokenizer_stats,
    train_sentencepiece,
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


def corpus(n: int = 300, seed: int = 0) -> list[str]:
    """Random word sequences, some ending in `!` or a hashtag number. Words must end texts
    now and then: SentencePiece seeds its pieces with substrings followed by varying text,
    and a word always followed by a space never becomes a piece."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        + rng.choice(["", "!", f" #{i % 40}"])
        for i in range(n)
    ]


VOCAB = 60


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    texts = corpus()
    config = TokenizerConfig(vocab_size=VOCAB, min_frequency=1)
    tok = train_tokenizer(texts, config=config)
    out = tmp_path_factory.mktemp("tok")
    save_tokenizer(tok, out, stats=tokenizer_stats(tok, texts, config=config))
    return tok, out, texts


def test_special_tokens_first_and_post_processor(trained):
    tok, _, _ = trained
    assert [tok.token_to_id(s) for s in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tok.get_vocab_size() == VOCAB
    enc = tok.encode("claim free airdrop")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert "[UNK]" not in enc.tokens
    assert tok.decode(enc.ids) == "claim free airdrop"
    # A special token in the text stays one token (it is registered as special).
    assert tok.encode("claim [MASK] now").tokens.count("[MASK]") == 1


def test_hf_ids_equal_sentencepiece_ids(trained):
    """The converted tokenizer segments every training text exactly like SentencePiece."""
    import sentencepiece as spm

    _, _, texts = trained
    proto = train_sentencepiece(texts, config=TokenizerConfig(vocab_size=VOCAB))
    sp = spm.SentencePieceProcessor(model_proto=proto)
    tok = tokenizer_from_sentencepiece(proto)
    hf_ids = [enc.ids[1:-1] for enc in tok.encode_batch(texts)]  # without [CLS] ... [SEP]
    assert hf_ids == sp.encode(texts)
    assert all(1 not in ids for ids in hf_ids)  # character_coverage=1.0: no [UNK]


TRAIN_IN_SUBPROCESS = """
import json, sys
from janitr.student.tokenizer import TokenizerConfig, save_tokenizer, train_tokenizer
texts = json.loads(open(sys.argv[1], encoding="utf-8").read())
tok = train_tokenizer(texts, config=TokenizerConfig(vocab_size=int(sys.argv[3])))
save_tokenizer(tok, sys.argv[2])
"""


def test_training_is_byte_identical_across_processes(tmp_path):
    """What the pipeline needs: a fresh process trains the very same tokenizer.json (the
    `tokenizers` trainers broke ties in per-process hash order and failed this)."""
    corpus_file = tmp_path / "corpus.json"
    corpus_file.write_text(json.dumps(corpus(seed=1)), encoding="utf-8")
    outputs = []
    for run, hash_seed in enumerate(("1", "2")):
        out = tmp_path / f"run{run}"
        subprocess.run(
            [sys.executable, "-c", TRAIN_IN_SUBPROCESS, str(corpus_file), str(out), str(VOCAB)],
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            timeout=120,
        )
        outputs.append((out / TOKENIZER_FILE).read_bytes())
    assert outputs[0] == outputs[1]


def test_vocab_size_is_an_upper_bound_for_small_corpora():
    """A corpus too small for the requested size gives fewer pieces instead of failing."""
    tok = train_tokenizer(corpus(), config=TokenizerConfig(vocab_size=500))
    assert 20 < tok.get_vocab_size() < 500


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
    with pytest.raises(ConfigError, match="vocab_size: must exceed 5"):
        TokenizerConfig(vocab_size=5)
    with pytest.raises(ConfigError, match="max_unk_rate: must be in"):
        TokenizerConfig(max_unk_rate=2.0)
    with pytest.raises(TokenizerError, match="no non-empty text"):
        train_tokenizer(["", ""])
    with pytest.raises(TokenizerError, match="SentencePiece could not train"):
        train_tokenizer(corpus(), config=TokenizerConfig(vocab_size=10))  # < alphabet size


def test_train_tokenizer_files_trains_on_train_plus_unlabeled(tmp_path):
    from janitr.student.tokenizer import train_tokenizer_files

    words = ["claim", "your", "free", "airdrop", "wallet", "token", "today", "moon"]
    rng = random.Random(0)
    texts = [" ".join(rng.choice(words) for _ in range(6)) for _ in range(40)]
    rows = [{"id": f"t{i}", "text": t, "labels": ["clean"]} for i, t in enumerate(texts)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    extra = tmp_path / "unlabeled.jsonl"
    extra.write_text(json.dumps({"id": "u0", "text": "zebra quokka"}) + "\n")
    path, stats = train_tokenizer_files(
        data_dir=tmp_path, out_dir=tmp_path / "tok", unlabeled=[extra],
        config=TokenizerConfig(vocab_size=60, min_frequency=1),
    )  # fmt: skip
    assert path == tmp_path / "tok" / "tokenizer.json" and path.is_file()
    assert stats["train_rows"] == 41 and stats["vocab_size"] <= 60
    saved = json.loads((tmp_path / "tok" / "tokenizer_stats.json").read_text())
    assert saved["train_rows"] == 41
