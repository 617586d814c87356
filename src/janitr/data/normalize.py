"""The one text normalization, shared by training and every runtime.

Unicode NFKC, zero-width characters removed (U+200B..U+200D, U+2060, U+FEFF), lower-case,
whitespace collapsed, trimmed; optionally URLs replaced by a space. Any other runtime (the
browser extension) must mirror this bit for bit; `tests/test_normalize.py` pins examples.

With `fold_confusables` (on by default since issue #15 lever 7: measured to cost nothing on
clean posts and to undo look-alike evasion, docs/LEVERS.md) characters that Unicode lists as
confusable with a Latin letter or digit (Cyrillic `а`, Greek `ο`, ...) are mapped to that
ASCII character, so `сlаim` and `claim` become the same token, and combining diacritical
marks are removed (`f̶r̶e̶e̶`, `frée` -> `free`). The table comes from the Unicode
confusables data shipped by the `confusable_homoglyphs` package (no hand list); it is built
once, on first use. Folding rewrites non-Latin scripts too (Russian text becomes Latin
look-alike soup), which is why it is a setting recorded in every bundle: a bundle without it
(trained before it was the default) is served without it.

`text_problem` says why a text cannot be classified (nothing visible left after
normalization, or a lone surrogate); data files, `janitr validate` and the runtime all ask it,
so a text refused in one place is refused everywhere with the same words.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import asdict, dataclass

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_ZERO_WIDTH_RE = re.compile(f"[{ZERO_WIDTH}]")
URL_RE = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)


@dataclass(frozen=True)
class NormalizationConfig:
    """Settings of the normalization; saved in every bundle so serving matches training.

    Attributes:
        strip_urls: replace URLs (http(s)://..., www....) by a space before collapsing.
        fold_confusables: map Unicode confusables of Latin letters/digits to ASCII and
            remove combining diacritical marks (default on).
    """

    strip_urls: bool = False
    fold_confusables: bool = True

    def to_dict(self) -> dict:
        # `fold_confusables` is written only when on: a manifest without it (every bundle
        # from before folding was the default) reads back as off, see `from_dict`.
        out = asdict(self)
        if not self.fold_confusables:
            out.pop("fold_confusables")
        return out

    @classmethod
    def from_dict(cls, data: dict) -> NormalizationConfig:
        # A missing key means off: bundles written before folding was the default.
        return cls(
            strip_urls=bool(data.get("strip_urls", False)),
            fold_confusables=bool(data.get("fold_confusables", False)),
        )

    def apply(self, text: str) -> str:
        """`normalize_text` with these settings."""
        return normalize_text(
            text, strip_urls=self.strip_urls, fold_confusables=self.fold_confusables
        )


_ASCII_TARGETS = "abcdefghijklmnopqrstuvwxyz0123456789"


@functools.lru_cache(maxsize=1)
def confusables_table() -> dict[int, str]:
    """`str.translate` table: non-ASCII character -> the ASCII letter/digit it imitates.

    Built from the Unicode confusables data of `confusable_homoglyphs`: a character is
    folded when one of its listed homoglyphs is an ASCII lower-case letter or digit (lower
    case wins over upper case, letters over digits, then alphabetical order, so the table is
    deterministic). Normalization lower-cases before folding, so the lower-case form of a
    folded capital gets the capital's target too (Cyrillic `В` looks like `B`, so `в` folds
    to `b`): folding never depends on the case a post was written in.

    Raises:
        MissingDependencyError: if confusable_homoglyphs is not installed.
    """
    import json
    from importlib import resources

    from janitr.errors import require

    require("confusable_homoglyphs", extra=None)
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    table: dict[int, str] = {}
    for char, entries in data.items():
        if len(char) != 1 or char.isascii():
            continue
        targets = {e["c"].lower() for e in entries if len(e["c"]) == 1 and e["c"].isascii()}
        targets &= set(_ASCII_TARGETS)
        if not targets:
            continue
        # letters before digits, then alphabetical: 'о' -> 'o' rather than '0'
        table[ord(char)] = sorted(targets, key=lambda c: (c.isdigit(), c))[0]
    for code, target in list(table.items()):
        lower = chr(code).lower()
        if len(lower) == 1 and not lower.isascii():
            table.setdefault(ord(lower), target)
    return table


#: Blocks of combining diacritical marks (generic, extended, supplement, for symbols, half
#: marks): the marks that sit on Latin, Greek and Cyrillic letters (`f̶r̶e̶e̶`, `frée`).
#: Script-specific marks (Devanagari vowel signs, Hebrew points, ...) are outside them.
COMBINING_MARKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF),
                   (0xFE20, 0xFE2F))  # fmt: skip
_MARKS_RE = re.compile("[" + "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in COMBINING_MARKS) + "]")


def strip_marks(text: str) -> str:
    """Canonical decomposition (NFD), then every character of `COMBINING_MARKS` removed:
    `é` -> `e`, `f̶` -> `f`. The caller normalizes again (NFKC recomposes what is left)."""
    return _MARKS_RE.sub("", unicodedata.normalize("NFD", text))


def normalize_text(text: str, *, strip_urls: bool = False, fold_confusables: bool = True) -> str:
    """Normalize one post. Idempotent: normalize_text(normalize_text(x)) == normalize_text(x).

    With `fold_confusables`, confusable characters are then mapped to ASCII, combining
    diacritical marks removed (`strip_marks`) and the result normalized again, until nothing
    changes (the fixed point keeps the function idempotent, and folding an already
    normalized text gives the same result as folding the raw text).

    >>> normalize_text("  Claim\\u200b YOUR   Airdrop\\n")
    'claim your airdrop'
    """
    text = _normalize(text, strip_urls=strip_urls)
    # ASCII is never folded (the table maps only non-ASCII characters; NFD of ASCII has no
    # marks): the common case skips the loop.
    if fold_confusables and not text.isascii():
        table = confusables_table()
        for _ in range(8):  # converges in one or two rounds in practice
            candidate = strip_marks(text.translate(table))
            if candidate == text:  # `text` is normalized: normalizing it again changes nothing
                break
            folded = _normalize(candidate, strip_urls=strip_urls)
            if folded == text:
                break
            text = folded
    return text


def _normalize(text: str, *, strip_urls: bool) -> str:
    # About 3 posts in 4 are plain ASCII; they take the fast path, which gives the same output.
    if text.isascii():
        return _normalize_ascii(text, strip_urls=strip_urls)
    return _normalize_full(text, strip_urls=strip_urls)


def _normalize_ascii(text: str, *, strip_urls: bool) -> str:
    """`_normalize_full` for ASCII text, ~5x faster: NFKC leaves ASCII unchanged, ASCII holds
    no zero-width character, and lower() keeps ASCII ASCII, so only the URLs, lower() and
    the whitespace collapse remain (`tests/test_normalize.py` compares both paths)."""
    if strip_urls:
        text = URL_RE.sub(" ", text)
    return " ".join(text.lower().split())


def _normalize_full(text: str, *, strip_urls: bool) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH_RE.sub("", text)
    if strip_urls:
        text = URL_RE.sub(" ", text)
    text = text.lower()
    # Lower-casing can produce characters that NFKC maps further (rare, e.g. some
    # compatibility letters); normalizing again keeps the function idempotent.
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH_RE.sub("", text)
    # Collapse whitespace runs to one space and trim. str.split() splits on exactly the
    # characters that the regex `\s` matches (str.isspace), ~3x faster than re.sub + strip.
    return " ".join(text.split())


#: A surrogate code point: never part of valid text in a Python str (pairs are decoded).
SURROGATE_RE = re.compile("[\ud800-\udfff]")


def text_problem(normalized: str) -> str | None:
    """Why a normalized text cannot be classified, or None when it can.

    A text can be classified when something visible is left: a letter, mark, digit,
    punctuation or symbol. Texts of only control, format or invisible characters (NUL,
    U+200E, U+00AD, ...) are empty to a reader and are refused like empty ones; the
    normalization keeps such characters inside real text (bundles and the browser port
    depend on its exact output), so the check is made here. A lone surrogate (what a post
    cut in the middle of an emoji looks like: `"gm \\ud83d"`) is not valid Unicode: it cannot
    be written as UTF-8, and a model never saw one in training, so it is refused too (the
    same policy as invalid UTF-8 in a data file). NFKC, lower-casing and the zero-width
    removal keep surrogates, so checking the normalized text finds them.

    Args:
        normalized: the output of `normalize_text` (any settings).

    Returns:
        a short reason ("empty after normalization", ...), or None.
    """
    if not normalized:
        return "empty after normalization"
    # Most posts start with a visible ASCII character (normalized text has no leading
    # space): an O(1) answer for them, so the runtime's hot path barely pays for the check.
    visible_first = " " < normalized[0] < "\x7f"
    if normalized.isascii():
        if visible_first or any(" " < c < "\x7f" for c in normalized):
            return None
        return f"only control characters ({_codepoints(normalized)})"
    lone = SURROGATE_RE.search(normalized)
    if lone:
        return (
            f"lone surrogate U+{ord(lone.group()):04X} at character {lone.start()} (not "
            "valid Unicode: a character cut in half, e.g. an emoji cut mid-way)"
        )
    if visible_first or any(unicodedata.category(c)[0] not in "CZ" for c in normalized):
        return None
    return f"only invisible or control characters ({_codepoints(normalized)})"


def _codepoints(text: str, limit: int = 4) -> str:
    """`U+200E, U+00AD` for the first distinct characters of a text."""
    seen = list(dict.fromkeys(c for c in text if c != " "))
    shown = ", ".join(f"U+{ord(c):04X}" for c in seen[:limit])
    return shown + (", ..." if len(seen) > limit else "")


def has_url(raw_text: str) -> bool:
    """Whether the raw (unnormalized) text contains a URL."""
    return URL_RE.search(raw_text) is not None
