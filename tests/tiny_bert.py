"""A tiny randomly initialized BERT saved to disk, for tests that need an encoder offline."""

from __future__ import annotations

from pathlib import Path

SCAM = "claim your free airdrop now connect wallet send eth double giveaway dm me"
TOPIC = "bitcoin price chart market eth halving defi on chain analysis"
CLEAN = "lovely weather today coffee morning garden football music with friends"


def synthetic_rows(n: int, offset: int = 0) -> list[dict]:
    """Labeled rows cycling scam (+topic) / topic / clean, ids r<offset+i>."""
    rows = []
    for i in range(n):
        kind = (i + offset) % 3
        words = (SCAM, TOPIC, CLEAN)[kind].split()
        text = " ".join(words[(i * 5 + k) % len(words)] for k in range(5 + i % 4))
        labels = [["scam", "topic_crypto"], ["topic_crypto"], ["clean"]][kind]
        rows.append({"id": f"r{offset + i}", "text": f"{text} {i}", "labels": labels})
    return rows


def make_tiny_bert(out: Path) -> Path:
    """Save a 2-layer, hidden-32 BertModel + a small tokenizer to `out`; returns `out`."""
    import transformers

    from janitr.student.tokenizer import TokenizerConfig, train_tokenizer

    texts = [r["text"] for r in synthetic_rows(300)]
    tok = train_tokenizer(texts, config=TokenizerConfig(vocab_size=200, min_frequency=1))
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(out)
    config = transformers.BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,  # room for the default max_length (96)
    )
    transformers.BertModel(config).save_pretrained(out)
    return out
