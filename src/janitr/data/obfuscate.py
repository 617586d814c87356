"""Obfuscated copies of posts, and how well a model resists them.

Scammers dodge keyword filters by rewriting text so that people still read it: `cl4im`,
Cyrillic or Greek look-alike letters, zero-width characters, fullwidth letters,
`s p a c e d` words, defanged links (`hxxps://site[.]com`), mathematical letters (`𝐟𝐫𝐞𝐞`),
combining marks (`f̶r̶e̶e̶`), separators or symbols inside words (`f.r.e.e`, `f🔥r🔥e🔥e`),
repeated letters, link shorteners (EVASION_KINDS). Ordinary posts carry noise too: emoji
runs, appended hashtags/mentions/cashtags, capitals, line breaks (BENIGN_KINDS: they keep
every word's letters and every link); on negatives, these measure false alarms that noise
alone causes. `obfuscate_text` applies one such
kind to a text with a seeded random generator (same seed, same output);
`obfuscate_records` makes one new row per (record, kind) with the id suffixed and the labels
kept; `robustness_report` scores originals and copies with a model and reports, per kind,
scam recall on obfuscated scams and scam FPR on obfuscated clean and topic_crypto posts next
to the same numbers on the originals.

Look-alike letters come from the Unicode confusables data (`confusable_homoglyphs`), not a
hand list. This module only rewrites text and counts; models and thresholds come from callers.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from janitr.data.labels import CLASSES, CLEAN, SCAM, TOPIC, collapse, decide
from janitr.data.normalize import URL_RE, ZERO_WIDTH, NormalizationConfig
from janitr.data.records import Record
from janitr.errors import ConfigError, ConfigProblem

#: Evasion tricks that hide words from a filter while people still read them.
EVASION_KINDS: tuple[str, ...] = (
    "leet", "homoglyph", "zero_width", "fullwidth", "spaced", "defang",
    "math", "diacritics", "punct", "symbols", "repeat", "shortener",
)  # fmt: skip
#: Noise that ordinary posts carry too (emoji runs, appended tags, capitals, line breaks):
#: these never touch a word's letters or a link, so a scam call they cause is a false one.
BENIGN_KINDS: tuple[str, ...] = ("emoji", "tags", "caps", "line_breaks")
#: Every obfuscation kind, in report order (`mixed` applies two or three of the first six).
KINDS: tuple[str, ...] = (*EVASION_KINDS, *BENIGN_KINDS, "mixed")
#: Kinds of the training copies `janitr run` adds by default (`augment_copies`, one copy per
#: row). The folded normalization already undoes homoglyph, zero_width, fullwidth, math,
#: diacritics, caps and line_breaks; of the rest, `spaced` copies teach the model to read
#: punct and symbols too, and `tags` copies keep appended hashtags from raising the FPR.
#: Drawing from all nine left each kind too few rows (leet recall 0.46 vs 0.55 with these
#: three, linear cross-fitting: docs/LEVERS.md, "Robustness ships").
DEFAULT_AUGMENT_KINDS: tuple[str, ...] = ("leet", "spaced", "tags")
#: Fraction of eligible characters (or words) a kind rewrites.
RATE = 0.5
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "l": "1", "b": "8", "g": "9"}
_URL_RE = re.compile(r"\b(https?)://([^\s/]+)", re.IGNORECASE)
_DOMAIN_RE = re.compile(r"\b([a-z0-9-]+)\.(com|io|xyz|org|net|app|finance|co|me|gg|link)\b", re.I)
_WORD_RE = re.compile(r"[A-Za-z]{4,}")
#: Links as the normalization sees them, plus bare domains: kinds that rewrite words skip them.
_LINK_RE = re.compile(URL_RE.pattern + "|" + _DOMAIN_RE.pattern, re.IGNORECASE)
#: Mathematical Alphanumeric Symbols styles without holes (bold, bold italic, sans-serif,
#: sans-serif bold, monospace): code point of `A` in each style; `a` is 26 further.
_MATH_STYLES = (0x1D400, 0x1D468, 0x1D5A0, 0x1D5D4, 0x1D670)
#: Combining marks drawn over letters: strokes (`f̶r̶e̶e̶`) and accents (`frée`).
_STROKES = "\u0336\u0335\u0338"
_ACCENTS = "\u0301\u0300\u0308\u0303\u0302\u0331"
_SEPARATORS = (".", "-", "_", "*", "|", "/")
_SYMBOLS = ("🔥", "🚀", "💰", "✅", "★", "•", "❤️", "💎")
_SHORTENERS = ("https://bit.ly/", "https://t.co/", "https://tinyurl.com/", "https://is.gd/")
_EMOJI = ("🚀", "🔥", "💯", "😂", "🙏", "✅", "👀", "❤️", "😍", "👇", "✨", "🎉", "💪", "🤣")
_TAGS = (
    "#gm", "#news", "#tech", "#art", "#music", "#photography", "#travel", "#sports",
    "#web3", "#crypto", "#bitcoin", "$BTC", "$ETH", "$SOL", "@jack", "@nasa", "@espn",
)  # fmt: skip
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@functools.lru_cache(maxsize=1)
def homoglyph_table() -> dict[str, tuple[str, ...]]:
    """ASCII letter -> Cyrillic/Greek characters listed as confusable with it (Unicode data).

    Only look-alikes that survive the project's normalization without folding unchanged
    (NFKC + lower-case leave them as they are) are kept, so an obfuscated copy stays
    obfuscated for a model that does not fold (folding maps every one of them back).

    Raises:
        MissingDependencyError: if confusable_homoglyphs is not installed.
    """
    from importlib import resources

    from janitr.data.normalize import normalize_text
    from janitr.errors import require

    require("confusable_homoglyphs", extra=None)
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    out: dict[str, tuple[str, ...]] = {}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        glyphs = sorted(
            e["c"]
            for e in data.get(letter, [])
            if len(e["c"]) == 1
            and e["n"].startswith(("CYRILLIC SMALL", "GREEK SMALL"))
            and normalize_text(e["c"], fold_confusables=False) == e["c"]
        )
        if glyphs:
            out[letter] = tuple(glyphs)
    return out


def _fullwidth(ch: str) -> str:
    return chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ("\u3000" if ch == " " else ch)


def _leet(text: str, rng: random.Random) -> str:
    idx = [i for i, c in enumerate(text) if c.lower() in _LEET]
    chosen = {i for i in idx if rng.random() < RATE} or set(rng.sample(idx, min(1, len(idx))))
    return "".join(_LEET[c.lower()] if i in chosen else c for i, c in enumerate(text))


def _homoglyph(text: str, rng: random.Random) -> str:
    table = homoglyph_table()
    idx = [i for i, c in enumerate(text) if c.lower() in table]
    chosen = {i for i in idx if rng.random() < RATE} or set(rng.sample(idx, min(1, len(idx))))
    return "".join(rng.choice(table[c.lower()]) if i in chosen else c for i, c in enumerate(text))


def _zero_width(text: str, rng: random.Random) -> str:
    out = []
    for i, c in enumerate(text):
        out.append(c)
        if c.isalnum() and i + 1 < len(text) and text[i + 1].isalnum() and rng.random() < RATE:
            out.append(rng.choice(ZERO_WIDTH))
    return "".join(out)


def _fullwidth_text(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    return " ".join("".join(_fullwidth(c) for c in w) if rng.random() < RATE else w for w in words)


def _spaced(text: str, rng: random.Random) -> str:
    words = list(_WORD_RE.finditer(text))
    if not words:
        return text
    # The longest words carry the most signal ("airdrop", "giveaway"): space 1-3 of them.
    ranked = sorted(words, key=lambda m: (-len(m.group()), m.start()))
    chosen = sorted(ranked[: rng.randint(1, 3)], key=lambda m: m.start(), reverse=True)
    for m in chosen:
        text = text[: m.start()] + " ".join(m.group()) + text[m.end() :]
    return text


def _defang(text: str, rng: random.Random) -> str:
    text = _URL_RE.sub(lambda m: m.group(1).replace("tt", "xx") + "://" + m.group(2), text)
    return _DOMAIN_RE.sub(lambda m: f"{m.group(1)}[.]{m.group(2)}", text)


def _plain_words(text: str) -> list[re.Match]:
    """`_WORD_RE` matches (ASCII words of 4+ letters) outside links."""
    links = [m.span() for m in _LINK_RE.finditer(text)]
    return [m for m in _WORD_RE.finditer(text) if not any(a <= m.start() < b for a, b in links)]


def _rewrite_words(text: str, rng: random.Random, rewrite, *, longest: bool) -> str:
    """Apply `rewrite(word, rng)` to the 1-3 longest words outside links (`longest`), or to
    each such word with probability RATE (at least one)."""
    words = _plain_words(text)
    if not words:
        return text
    if longest:
        ranked = sorted(words, key=lambda m: (-len(m.group()), m.start()))
        chosen = ranked[: rng.randint(1, 3)]
    else:
        chosen = [m for m in words if rng.random() < RATE] or [rng.choice(words)]
    for m in sorted(chosen, key=lambda m: m.start(), reverse=True):
        text = text[: m.start()] + rewrite(m.group(), rng) + text[m.end() :]
    return text


def _math_word(word: str, rng: random.Random) -> str:
    base = rng.choice(_MATH_STYLES)
    return "".join(chr(base + (ord(c) - 65 if c.isupper() else 26 + ord(c) - 97)) for c in word)


def _diacritics_word(word: str, rng: random.Random) -> str:
    if rng.random() < 0.5:  # struck through: a stroke over every letter
        stroke = rng.choice(_STROKES)
        return "".join(c + stroke for c in word)
    return "".join(c + rng.choice(_ACCENTS) if rng.random() < RATE else c for c in word)


def _punct_word(word: str, rng: random.Random) -> str:
    return rng.choice(_SEPARATORS).join(word)


def _symbols_word(word: str, rng: random.Random) -> str:
    return rng.choice(_SYMBOLS).join(word)


def _repeat_word(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    return word[:i] + word[i] * rng.randint(3, 6) + word[i + 1 :]


def _shortener(text: str, rng: random.Random) -> str:
    def short(_m: re.Match) -> str:
        return rng.choice(_SHORTENERS) + "".join(rng.choice(_ALNUM) for _ in range(7))

    return _LINK_RE.sub(short, text)


def _emoji(text: str, rng: random.Random) -> str:
    # Emoji runs between tokens (never inside one, so words and links are kept), and often
    # one at the end: `gm 🔥🔥 frens 🚀`.
    tokens = text.split(" ")
    out = []
    for tok in tokens:
        out.append(tok)
        if rng.random() < RATE / 2:
            out.append(rng.choice(_EMOJI) * rng.randint(1, 3))
    if rng.random() < 0.5 or len(out) == len(tokens):
        out.append("".join(rng.choice(_EMOJI) for _ in range(rng.randint(1, 4))))
    return " ".join(out)


def _tags(text: str, rng: random.Random) -> str:
    tags = rng.sample(_TAGS, rng.randint(1, 4))
    return text + rng.choice((" ", "\n\n")) + " ".join(tags)


def _caps(text: str, rng: random.Random) -> str:
    # The whole post in capitals, or in sTuDlY caps; links keep their case.
    studly = rng.random() < 0.5

    def up(m: re.Match) -> str:
        w = m.group()
        if not studly:
            return w.upper()
        return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(w))

    links = [m.span() for m in _LINK_RE.finditer(text)]
    pieces, last = [], 0
    for a, b in links:
        pieces += [re.sub(r"[^\W\d_]+", up, text[last:a]), text[a:b]]
        last = b
    pieces.append(re.sub(r"[^\W\d_]+", up, text[last:]))
    return "".join(pieces)


def _line_breaks(text: str, rng: random.Random) -> str:
    # Some of the spaces between tokens become line breaks (at least one; a text of one
    # token gets a trailing one): only whitespace changes.
    parts = text.split(" ")
    gaps = [i for i in range(1, len(parts)) if rng.random() < RATE / 2]
    if not gaps and len(parts) > 1:
        gaps = [rng.randrange(1, len(parts))]
    out = [parts[0]]
    for i in range(1, len(parts)):
        out.append(rng.choice(("\n", "\n\n", " \n")) if i in gaps else " ")
        out.append(parts[i])
    return "".join(out) + ("" if gaps else "\n")


_APPLY = {
    "leet": _leet,
    "homoglyph": _homoglyph,
    "zero_width": _zero_width,
    "fullwidth": _fullwidth_text,
    "spaced": _spaced,
    "defang": _defang,
    "math": lambda t, rng: _rewrite_words(t, rng, _math_word, longest=False),
    "diacritics": lambda t, rng: _rewrite_words(t, rng, _diacritics_word, longest=False),
    "punct": lambda t, rng: _rewrite_words(t, rng, _punct_word, longest=True),
    "symbols": lambda t, rng: _rewrite_words(t, rng, _symbols_word, longest=True),
    "repeat": lambda t, rng: _rewrite_words(t, rng, _repeat_word, longest=False),
    "shortener": _shortener,
    "emoji": _emoji,
    "tags": _tags,
    "caps": _caps,
    "line_breaks": _line_breaks,
}
#: The kinds `mixed` draws from (the original six: `mixed` copies stay as they were).
_MIXABLE = ("leet", "homoglyph", "zero_width", "fullwidth", "defang")


def augment_kinds_problem(
    kinds: Sequence[str], *, allow_empty: bool = True
) -> ConfigProblem | None:
    """The problem with an `augment_kinds` config value, or None if every kind is known.

    Training copies take one kind each, so `mixed` is not one of them.
    """
    unknown = [k for k in kinds if k not in KINDS or k == "mixed"]
    if not unknown and (kinds or allow_empty):
        return None
    empty = "" if allow_empty else " or empty"
    return ConfigProblem(
        "augment_kinds", f"unknown{empty} {','.join(unknown)}; known: {','.join(KINDS[:-1])}"
    )


def _check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ConfigError(
            f"--kinds: unknown or empty {unknown or kinds}; known: {', '.join(KINDS)}"
        )
    return kinds


def obfuscate_text(text: str, kind: str, rng: random.Random) -> str:
    """Rewrite one text with one obfuscation kind (may return it unchanged, e.g. defang
    on a text without links).

    Raises:
        ConfigError: on an unknown kind.
    """
    _check_kinds([kind])
    if kind == "mixed":
        parts = rng.sample(list(_MIXABLE), rng.randint(2, 3))
        # spacing first (it needs plain ASCII words), zero-width last (it splits everything)
        if rng.random() < 0.5:
            text = _spaced(text, rng)
        for k in sorted(parts, key=lambda k: k == "zero_width"):
            text = _APPLY[k](text, rng)
        return text
    return _APPLY[kind](text, rng)


def _row_seed(seed: int, row_id: str, kind: str) -> int:
    # Per-row seeds: a row's copy does not change when other rows are added or removed.
    import hashlib

    digest = hashlib.blake2b(f"{seed}\0{row_id}\0{kind}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def obfuscate_records(
    records: Sequence[Record],
    *,
    seed: int = 0,
    kinds: Iterable[str] = KINDS,
    keep_unchanged: bool = False,
) -> list[dict]:
    """One obfuscated copy per (record, kind), as new JSONL rows.

    Args:
        records: labeled (or unlabeled) rows.
        seed: seed of the rewrites (same seed, same rows).
        kinds: obfuscation kinds to apply (see KINDS).
        keep_unchanged: also emit copies the kind did not change (e.g. defang without links).

    Returns:
        rows `{"id": "<id>::obf-<kind>", "text", "labels", "obfuscation": kind,
        "source_id": original id}` in record order, kinds in the given order.

    Raises:
        ConfigError: on an unknown kind.
    """
    kinds = _check_kinds(kinds)
    rows = []
    for r in records:
        for kind in kinds:
            text = obfuscate_text(r.text, kind, random.Random(_row_seed(seed, r.id, kind)))
            if text == r.text and not keep_unchanged:
                continue
            row = {"id": f"{r.id}::obf-{kind}", "text": text}
            if r.labels:
                row["labels"] = list(r.labels)
            row["obfuscation"] = kind
            row["source_id"] = r.id
            rows.append(row)
    return rows


def augment_copies(
    records: Sequence[Record], *, kinds: Iterable[str] = DEFAULT_AUGMENT_KINDS, seed: int = 0
) -> list[tuple[int, str]]:
    """One obfuscated copy per record, of a kind drawn per record (seeded by its id), for
    training: `(index of the source record, copy text)`; records the drawn kind leaves
    unchanged (no link to defang, ...) get none. One copy per row keeps training cost at 2x
    whatever the number of kinds.

    Raises:
        ConfigError: on an unknown kind, or `mixed` (a test-time combination).
    """
    kinds = _check_kinds(kinds)
    if "mixed" in kinds:
        raise ConfigError("augment kinds: `mixed` is for robustness reports, not training")
    out = []
    for i, r in enumerate(records):
        rng = random.Random(_row_seed(seed, r.id, "augment"))
        text = obfuscate_text(r.text, kinds[rng.randrange(len(kinds))], rng)
        if text != r.text:
            out.append((i, text))
    return out


def write_obfuscated(
    *, data: str | Path, out: str | Path, seed: int = 0, kinds: Iterable[str] = KINDS
) -> int:
    """`janitr obfuscate`: read a JSONL file, write its obfuscated copies; returns the count.

    Raises:
        DataError: on bad rows in the input.
        ConfigError: on an unknown kind.
    """
    from janitr.artifacts import write_lines
    from janitr.data.records import dump_row, read_records

    records = read_records(data, require_labels=False)
    rows = obfuscate_records(records, seed=seed, kinds=kinds)
    return write_lines(out, (dump_row(r) for r in rows))


def scam_rates(gold: np.ndarray, pred: np.ndarray) -> dict:
    """Scam recall and scam FPR per negative class of predictions (class indices into
    `CLASSES`): `{"rows", "scams", "scam_recall", "<class>_rows", "scam_fpr_<class>"}`."""
    scam = CLASSES.index(SCAM)
    out: dict = {"rows": int(gold.size)}
    is_scam = gold == scam
    out["scams"] = int(is_scam.sum())
    out["scam_recall"] = float((pred[is_scam] == scam).mean()) if is_scam.any() else 0.0
    for name in (CLEAN, TOPIC):
        rows = gold == CLASSES.index(name)
        out[f"{name}_rows"] = int(rows.sum())
        out[f"scam_fpr_{name}"] = float((pred[rows] == scam).mean()) if rows.any() else 0.0
    return out


def robustness_report(
    scorer,
    records: Sequence[Record],
    *,
    thresholds: Mapping[str, float] | None = None,
    normalization: NormalizationConfig | None = None,
    seed: int = 0,
    kinds: Iterable[str] = KINDS,
) -> dict:
    """Scam recall and scam FPR on obfuscated copies vs on the originals, per kind.

    Args:
        scorer: a `Bundle` (its thresholds and normalization are used) or any object with
            `predict_heads(normalized_texts) -> (N, 2)`.
        records: labeled rows (the originals).
        thresholds: `{"scam", "topic_crypto"}`; required unless `scorer` is a bundle.
        normalization: normalization settings; default: the bundle's, else the default.
        seed: obfuscation seed.
        kinds: obfuscation kinds.

    Returns:
        `{"seed", "thresholds", "original": {...}, "kinds": {kind: {"obfuscated": {...},
        "original": {...}}}}`, where each `{...}` holds rows, scam_recall, scam_fpr_clean,
        scam_fpr_topic_crypto; a kind's `original` is measured on the same source rows as
        its copies (a kind leaves some rows unchanged, e.g. defang without links).

    Raises:
        ConfigError: if thresholds are missing or a kind is unknown.
    """
    if hasattr(scorer, "scorer") and hasattr(scorer, "thresholds"):  # a loaded bundle
        thresholds = thresholds or scorer.thresholds
        normalization = normalization or scorer.normalization
        scorer = scorer.scorer()
    if thresholds is None:
        raise ConfigError("robustness_report needs thresholds (or a bundle)")
    norm = normalization or NormalizationConfig()
    kinds = _check_kinds(kinds)

    def predict(texts: Sequence[str]) -> np.ndarray:
        heads = scorer.predict_heads([norm.apply(t) for t in texts])
        return decide(heads[:, 0], heads[:, 1], t_scam=thresholds[SCAM],
                      t_topic=thresholds[TOPIC])  # fmt: skip

    gold = np.array([CLASSES.index(collapse(r.labels)) for r in records], dtype=np.int64)
    pred = predict([r.text for r in records])
    position = {r.id: i for i, r in enumerate(records)}
    report = {
        "seed": seed,
        "thresholds": {SCAM: float(thresholds[SCAM]), TOPIC: float(thresholds[TOPIC])},
        "original": scam_rates(gold, pred),
        "kinds": {},
    }
    rows = obfuscate_records(records, seed=seed, kinds=kinds)
    for kind in kinds:
        copies = [row for row in rows if row["obfuscation"] == kind]
        src = np.array([position[row["source_id"]] for row in copies], dtype=np.int64)
        obf_pred = predict([row["text"] for row in copies]) if copies else np.zeros(0, int)
        report["kinds"][kind] = {
            "obfuscated": scam_rates(gold[src], obf_pred),
            "original": scam_rates(gold[src], pred[src]),
        }
    return report


def format_robustness(report: dict) -> str:
    """A table: per kind, scam recall and scam FPR (clean / topic) original -> obfuscated."""
    lines = [
        f"{'kind':<12}{'rows':>6}{'scam recall':>20}{'FPR clean':>20}{'FPR topic':>20}",
    ]

    def cell(a: float, b: float) -> str:
        return f"{a:.3f} -> {b:.3f}"

    o = report["original"]
    lines.append(f"{'(original)':<12}{o['rows']:>6}{o['scam_recall']:>20.3f}"
                 f"{o['scam_fpr_clean']:>20.3f}{o['scam_fpr_topic_crypto']:>20.3f}")  # fmt: skip
    for kind, v in report["kinds"].items():
        a, b = v["original"], v["obfuscated"]
        lines.append(
            f"{kind:<12}{b['rows']:>6}{cell(a['scam_recall'], b['scam_recall']):>20}"
            f"{cell(a['scam_fpr_clean'], b['scam_fpr_clean']):>20}"
            f"{cell(a['scam_fpr_topic_crypto'], b['scam_fpr_topic_crypto']):>20}"
        )
    return "\n".join(lines)
