"""Unigram tokenizer for the student: training, saving, and fail-fast loading.

The student's vocabulary is trained on the (already normalized) training texts, optionally
plus unlabeled texts, never on evaluation texts. Two guards catch the original pipeline's
worst bug (UPSTREAM.md §12.2: a tokenizer built with only the 5 special tokens turned ~all
text into [UNK] and the model learned nothing): `load_tokenizer` refuses a file whose
vocabulary size differs from the expected one, or that maps more than `max_unk_rate` of the
tokens of a text sample to [UNK].

Training uses SentencePiece (unigram model), not the trainers of HF `tokenizers`: those break
ties in Rust hash order, so two processes trained on the same texts got vocabularies that
differed in ~20 of 8192 tokens, and a pipeline run was not reproducible. SentencePiece with a
fixed thread count writes a byte-identical model in every process. The trained model is then
converted into an HF `tokenizers.Tokenizer` (same pieces, scores and ids), so the saved file
and every runtime stay on `tokenizers`; `sentencepiece` is a training-time dependency only
(the `train` extra).

Files written by `save_tokenizer`:

    tokenizer.json          HF `tokenizers` file (padding and truncation off)
    tokenizer_stats.json    format version, vocab size, UNK rate on a sample, data hash

Normalization (NFKC, lower-case, whitespace collapsed, ...) is `janitr.data.normalize`'s job; the
tokenizer has no normalizer of its own, so every runtime sees exactly the text the caller
normalized. On such text the converted tokenizer gives the same ids as SentencePiece itself,
except where two segmentations score exactly the same and the two libraries break the tie
differently (1 of the 2566 real training texts: `wwww` as `w`+`www` or `www`+`w`).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from janitr.artifacts import hash_strings, read_json, write_json, write_text
from janitr.config import ConfigProblem, option, raise_problems
from janitr.errors import TokenizerError, require

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

FORMAT = "janitr-tokenizer"
FORMAT_VERSION = 1
TOKENIZER_FILE = "tokenizer.json"
STATS_FILE = "tokenizer_stats.json"
#: Special tokens, in id order: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD, UNK, CLS, SEP, MASK = SPECIAL_TOKENS
#: SentencePiece's word-boundary marker (U+2581), shared by the HF pre-tokenizer and decoder.
METASPACE = "\u2581"
#: Threads of the SentencePiece trainer. Fixed, never the machine's core count: the EM step
#: sums per-thread partial results, so another thread count gives other scores (and, on the
#: real data, other pieces), while the same count gives the same model on every machine.
TRAIN_THREADS = 1


@dataclass(frozen=True)
class TokenizerConfig:
    """Settings of `train_tokenizer` and the load-time guards (`janitr train tokenizer`
    flags)."""

    vocab_size: int = option(
        8192,
        help="target vocabulary size, special tokens included; an upper bound: a corpus too "
        "small to support that many pieces gives a smaller vocabulary",
    )
    min_frequency: int = option(
        2,
        help="unused since the unigram trainer (SentencePiece has no minimum count; its EM "
        "prunes rare pieces by likelihood); kept, and still validated, so existing configs "
        "keep working",
    )
    max_unk_rate: float = option(
        0.05, help="refuse a tokenizer that maps more than this share of tokens to [UNK]"
    )
    sample_size: int = option(1000, help="texts used to measure the UNK rate")

    def __post_init__(self) -> None:
        problems = []
        if self.vocab_size <= len(SPECIAL_TOKENS):
            problems.append(
                ConfigProblem(
                    "vocab_size",
                    f"must exceed {len(SPECIAL_TOKENS)} (the special tokens), "
                    f"got {self.vocab_size}",
                )
            )
        if self.min_frequency < 1:
            problems.append(
                ConfigProblem("min_frequency", f"must be >= 1, got {self.min_frequency}")
            )
        if not 0.0 <= self.max_unk_rate <= 1.0:
            problems.append(
                ConfigProblem("max_unk_rate", f"must be in [0, 1], got {self.max_unk_rate}")
            )
        if self.sample_size < 1:
            problems.append(ConfigProblem("sample_size", f"must be >= 1, got {self.sample_size}"))
        raise_problems(self, problems)

    def to_dict(self) -> dict:
        return asdict(self)


def train_tokenizer(texts: Iterable[str], *, config: TokenizerConfig | None = None) -> Tokenizer:
    """Train a unigram tokenizer on normalized texts, reproducibly (see the module docstring).

    Args:
        texts: normalized training texts (plus unlabeled texts if wanted; never eval texts).
        config: vocabulary size.

    Returns:
        A `tokenizers.Tokenizer` with [PAD] [UNK] [CLS] [SEP] [MASK] as ids 0..4, a Metaspace
        pre-tokenizer, a `[CLS] ... [SEP]` post-processor, and no padding or truncation.

    Raises:
        TokenizerError: if there is no non-empty text, or SentencePiece refuses the corpus
            (e.g. more distinct characters than `vocab_size`).
    """
    return tokenizer_from_sentencepiece(train_sentencepiece(texts, config=config))


def train_sentencepiece(texts: Iterable[str], *, config: TokenizerConfig | None = None) -> bytes:
    """Train a SentencePiece unigram model; returns the serialized model (a ModelProto).

    The settings make the model a pure function of the texts and `config.vocab_size`:
    identity normalization (the text is normalized already), every character kept
    (`character_coverage=1.0`, so no training character becomes [UNK]), all sentences used in
    order (no sampling or shuffling), a fixed thread count and seed. `hard_vocab_limit=False`
    lets a small corpus give fewer pieces instead of failing. Empty texts are skipped.
    """
    spm = require("sentencepiece", extra="train")
    config = config or TokenizerConfig()
    texts = [t for t in texts if t]
    if not texts:
        raise TokenizerError("no non-empty text to train the tokenizer on")
    spm.set_random_generator_seed(0)  # only sampling would draw from it; pinned regardless
    buf = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=buf,
            model_type="unigram",
            vocab_size=config.vocab_size,
            hard_vocab_limit=False,
            character_coverage=1.0,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            # What `tokenizer_from_sentencepiece` mirrors: a `▁` before the text and before
            # every word, pieces that never span a space, no byte pieces.
            add_dummy_prefix=True,
            split_by_whitespace=True,
            byte_fallback=False,
            pad_id=0,
            unk_id=1,
            bos_id=-1,
            eos_id=-1,
            pad_piece=PAD,
            unk_piece=UNK,
            control_symbols=[CLS, SEP, MASK],
            input_sentence_size=0,
            shuffle_input_sentence=False,
            # SentencePiece silently drops longer texts (limit in UTF-8 bytes, default 4192).
            max_sentence_length=max(4192, max(len(t.encode()) for t in texts)),
            num_threads=TRAIN_THREADS,
            minloglevel=2,
        )
    except RuntimeError as exc:  # SentencePiece reports every refusal as a RuntimeError
        raise TokenizerError(
            f"SentencePiece could not train on {len(texts)} texts with vocab_size "
            f"{config.vocab_size}: {exc}"
        ) from exc
    return buf.getvalue()


def _sentencepiece_pieces(model_proto: bytes) -> list[tuple[str, float]]:
    """(piece, score) of every piece of a serialized SentencePiece model, in id order."""
    spm = require("sentencepiece", extra="train")
    sp = spm.SentencePieceProcessor(model_proto=model_proto)
    return [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]


def tokenizer_from_sentencepiece(model_proto: bytes) -> Tokenizer:
    """Convert a model from `train_sentencepiece` into an HF `tokenizers.Tokenizer`.

    The unigram model keeps SentencePiece's pieces, scores and ids; the Metaspace
    pre-tokenizer does what SentencePiece does to a normalized text (prefix a `▁`, turn
    spaces into `▁`); pieces never span two words, so encoding word by word finds the same
    best segmentation (up to exact score ties). The special tokens are registered as such
    (never split, skipped when decoding) and keep ids 0..4.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    pieces = _sentencepiece_pieces(model_proto)
    if [p for p, _ in pieces[: len(SPECIAL_TOKENS)]] != list(SPECIAL_TOKENS):
        raise TokenizerError(
            f"the SentencePiece model must start with {' '.join(SPECIAL_TOKENS)}, found "
            f"{' '.join(p for p, _ in pieces[: len(SPECIAL_TOKENS)])}"
        )
    tok = Tokenizer(models.Unigram(pieces, unk_id=SPECIAL_TOKENS.index(UNK), byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement=METASPACE, prepend_scheme="always", split=True
    )
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.add_special_tokens(list(SPECIAL_TOKENS))
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


def train_tokenizer_files(
    *,
    data_dir: str | Path,
    out_dir: str | Path,
    unlabeled: Sequence[str | Path] = (),
    config: TokenizerConfig | None = None,
) -> tuple[Path, dict]:
    """`janitr train tokenizer`: train on DATA_DIR/train.jsonl (+ unlabeled files), save,
    refuse a high UNK rate, and check the saved file loads.

    Args:
        data_dir: directory with train.jsonl (never evaluation data).
        out_dir: where tokenizer.json and tokenizer_stats.json go.
        unlabeled: extra JSONL files (id, text) to train on.
        config: vocabulary size and the UNK-rate guard.

    Returns:
        `(tokenizer.json path, stats)`: `tokenizer_stats` plus the `vocab_size` trained.

    Raises:
        TokenizerError: if more than `config.max_unk_rate` of the sample's tokens are [UNK]
            (the files are written, for inspection), or the saved tokenizer does not load.
        DataError: on bad rows.
    """
    from janitr.data.records import read_records

    config = config or TokenizerConfig()
    rows = read_records(Path(data_dir) / "train.jsonl")
    if unlabeled:
        rows += read_records(*unlabeled, require_labels=False)
    texts = [r.norm_text for r in rows]
    tok = train_tokenizer(texts, config=config)
    stats = tokenizer_stats(tok, texts, config=config)
    path = save_tokenizer(tok, out_dir, stats=stats)
    if stats["sample_unk_rate"] > config.max_unk_rate:
        raise TokenizerError(
            f"{path}: UNK rate {stats['sample_unk_rate']:.1%} exceeds max_unk_rate "
            f"{config.max_unk_rate:.1%}"
        )
    load_tokenizer(path, expected_vocab_size=tok.get_vocab_size())
    return path, {**stats, "vocab_size": tok.get_vocab_size()}


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
