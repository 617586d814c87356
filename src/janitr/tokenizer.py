"""WordPiece tokenizer for the student: training, saving, and fail-fast loading.

The student's vocabulary is trained on the (already normalized) training texts, optionally
plus unlabeled texts, never on evaluation texts. Two guards catch the original pipeline's
worst bug (UPSTREAM.md §12.2: a tokenizer built with only the 5 special tokens turned ~all
text into [UNK] and the model learned nothing): `load_tokenizer` refuses a file whose
vocabulary size differs from the expected one, or that maps more than `max_unk_rate` of the
tokens of a text sample to [UNK].

Files written by `save_tokenizer`:

    tokenizer.json          HF `tokenizers` file (padding and truncation off)
    tokenizer_stats.json    format version, vocab size, UNK rate on a sample, data hash

Normalization (NFKC, lower-case, ...) is `janitr.normalize`'s job; the tokenizer has no
normalizer of its own, so every runtime sees exactly the text the caller normalized.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from janitr.artifacts import hash_strings, read_json, write_json, write_text
from janitr.errors import ConfigError, TokenizerError

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

FORMAT = "janitr-tokenizer"
FORMAT_VERSION = 1
TOKENIZER_FILE = "tokenizer.json"
STATS_FILE = "tokenizer_stats.json"
#: Special tokens, in id order: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD, UNK, CLS, SEP, MASK = SPECIAL_TOKENS


@dataclass(frozen=True)
class TokenizerConfig:
    """Settings of `train_tokenizer` and the load-time guards (`janitr train tokenizer` flags).

    Attributes:
        vocab_size: target vocabulary size, special tokens included.
        min_frequency: a merge/word must occur this often to enter the vocabulary.
        max_unk_rate: refuse a tokenizer that maps more than this share of tokens to [UNK].
        sample_size: texts used to measure the UNK rate.
    """

    vocab_size: int = 8192
    min_frequency: int = 2
    max_unk_rate: float = 0.05
    sample_size: int = 1000

    def __post_init__(self) -> None:
        problems = []
        if self.vocab_size <= len(SPECIAL_TOKENS):
            problems.append(
                f"--vocab-size must exceed {len(SPECIAL_TOKENS)} (the special "
                f"tokens), got {self.vocab_size}"
            )
        if self.min_frequency < 1:
            problems.append(f"--min-frequency must be >= 1, got {self.min_frequency}")
        if not 0.0 <= self.max_unk_rate <= 1.0:
            problems.append(f"--max-unk-rate must be in [0, 1], got {self.max_unk_rate}")
        if self.sample_size < 1:
            problems.append(f"--sample-size must be >= 1, got {self.sample_size}")
        if problems:
            raise ConfigError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)


def train_tokenizer(texts: Iterable[str], *, config: TokenizerConfig | None = None) -> Tokenizer:
    """Train a BERT-style WordPiece tokenizer on normalized texts.

    Args:
        texts: normalized training texts (plus unlabeled texts if wanted; never eval texts).
        config: vocabulary size and minimum frequency.

    Returns:
        A `tokenizers.Tokenizer` with [PAD] [UNK] [CLS] [SEP] [MASK] as ids 0..4, the BERT
        pre-tokenizer, a `[CLS] ... [SEP]` post-processor, and no padding or truncation.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    config = config or TokenizerConfig()
    tok = Tokenizer(models.WordPiece(unk_token=UNK, max_input_chars_per_word=100))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    tok.train_from_iterator((t for t in texts if t), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS}:0 $A:0 {SEP}:0",
        pair=f"{CLS}:0 $A:0 {SEP}:0 $B:1 {SEP}:1",
        special_tokens=[(CLS, tok.token_to_id(CLS)), (SEP, tok.token_to_id(SEP))],
    )
    tok.no_padding()
    tok.no_truncation()
    return tok


def unk_rate(tok: Tokenizer, texts: Iterable[str]) -> float:
    """Share of non-special tokens that are [UNK] over the given texts (0.0 if none)."""
    special_ids = {tok.token_to_id(s) for s in SPECIAL_TOKENS} - {None}
    unk_id = tok.token_to_id(UNK)
    total = unknown = 0
    texts = [t for t in texts if t]
    if not texts:
        return 0.0
    for enc in tok.encode_batch(texts):
        for i in enc.ids:
            if i == unk_id:
                unknown += 1
                total += 1
            elif i not in special_ids:
                total += 1
    return unknown / total if total else 0.0


def save_tokenizer(tok: Tokenizer, out_dir: str | Path, *, stats: dict | None = None) -> Path:
    """Write `tokenizer.json` and `tokenizer_stats.json` into `out_dir`; returns the json path.

    Args:
        tok: the tokenizer (padding and truncation are switched off in the saved file).
        out_dir: directory to write into (created).
        stats: extra entries for the stats file, e.g. `sample_unk_rate`, `data_sha256`,
            `train_rows` (see `tokenizer_stats`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.no_padding()
    tok.no_truncation()
    path = out_dir / TOKENIZER_FILE
    write_text(path, tok.to_str())
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "special_tokens": list(SPECIAL_TOKENS),
    }
    payload.update(stats or {})
    write_json(out_dir / STATS_FILE, payload)
    return path


def tokenizer_stats(tok: Tokenizer, texts: Sequence[str], *, config: TokenizerConfig) -> dict:
    """Stats saved next to a trained tokenizer: UNK rate on a sample and the data hash."""
    sample = list(itertools.islice(texts, config.sample_size))
    return {
        "config": config.to_dict(),
        "train_rows": len(texts),
        "data_sha256": hash_strings(texts),
        "sample_size": len(sample),
        "sample_unk_rate": unk_rate(tok, sample),
    }


def load_tokenizer(
    path: str | Path,
    *,
    expected_vocab_size: int | None = 8192,
    max_unk_rate: float = 0.05,
    sample_texts: Iterable[str] | None = None,
    sample_size: int = 1000,
) -> Tokenizer:
    """Load a tokenizer and fail fast if it cannot be the one the model was trained with.

    Args:
        path: a `tokenizer.json` file or the directory holding it.
        expected_vocab_size: the vocabulary size the model expects (None: do not check).
        max_unk_rate: highest acceptable share of [UNK] among non-special tokens of the sample.
        sample_texts: normalized texts to measure the UNK rate on (first `sample_size`);
            None skips the UNK check.
        sample_size: how many sample texts to use.

    Raises:
        TokenizerError: if the file is missing or unreadable, the vocabulary size differs,
            the special tokens are not [PAD] [UNK] [CLS] [SEP] [MASK] = 0..4, or the UNK rate
            on the sample exceeds `max_unk_rate`.
    """
    from tokenizers import Tokenizer

    path = Path(path)
    file = path / TOKENIZER_FILE if path.is_dir() else path
    if not file.is_file():
        raise TokenizerError(f"{file}: no tokenizer file; train one with `janitr train tokenizer`")
    stats_file = file.parent / STATS_FILE
    if stats_file.is_file():
        stats = read_json(stats_file)
        if stats.get("format") != FORMAT or stats.get("format_version") != FORMAT_VERSION:
            raise TokenizerError(
                f"{stats_file}: expected {FORMAT} v{FORMAT_VERSION}, found "
                f"{stats.get('format')!r} v{stats.get('format_version')!r}; "
                "retrain the tokenizer with this version of janitr"
            )
    try:
        tok = Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise TokenizerError(f"{file}: unreadable tokenizer ({exc}); retrain it") from exc
    size = tok.get_vocab_size(with_added_tokens=True)
    problems = []
    if expected_vocab_size is not None and size != expected_vocab_size:
        problems.append(f"vocabulary has {size} tokens, the model expects {expected_vocab_size}")
    wrong = [
        f"{s}={tok.token_to_id(s)}" for i, s in enumerate(SPECIAL_TOKENS) if tok.token_to_id(s) != i
    ]
    if wrong:
        problems.append(
            f"special tokens must be {' '.join(SPECIAL_TOKENS)} with ids 0..4, "
            f"found {', '.join(wrong)}"
        )
    if sample_texts is not None:
        sample = list(itertools.islice((t for t in sample_texts if t), sample_size))
        rate = unk_rate(tok, sample)
        if rate > max_unk_rate:
            problems.append(
                f"{rate:.1%} of the tokens of {len(sample)} sample texts are [UNK] "
                f"(limit {max_unk_rate:.1%}); the vocabulary does not fit this text"
            )
    if problems:
        raise TokenizerError(
            f"{file}: "
            + "; ".join(problems)
            + " (use the tokenizer.json saved with the model, or retrain it "
            "with `janitr train tokenizer`)"
        )
    tok.no_padding()
    tok.no_truncation()
    return tok
