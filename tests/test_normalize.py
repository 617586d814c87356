"""normalize: pinned examples (mirrored by every runtime), idempotence, and the fast paths
(ASCII shortcut, str.split whitespace collapse) against the literal reference steps."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janitr.data.normalize import (
    URL_RE,
    ZERO_WIDTH,
    _normalize_ascii,
    _normalize_full,
    has_url,
    normalize_text,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Claim\u200b YOUR   Airdrop\n", "claim your airdrop"),
        ("ＦＲＥＥ　ＢＴＣ", "free btc"),  # NFKC folds full-width letters and spaces
        ("a\u200c\u200d\u2060\ufeffb", "ab"),
        ("Tab\tand\r\nnewline", "tab and newline"),
        ("ﬁnance", "finance"),  # ligature
        ("", ""),
    ],
)
def test_pinned_examples(raw, expected):
    assert normalize_text(raw) == expected


def test_strip_urls():
    text = "Claim at https://evil.xyz/a?b=1 or www.scam.io now"
    assert normalize_text(text, strip_urls=True) == "claim at or now"
    assert has_url(text) and not has_url("no link here")


@settings(max_examples=400, deadline=None)
@given(st.text(), st.booleans())
def test_idempotent(text, strip_urls):
    once = normalize_text(text, strip_urls=strip_urls)
    assert normalize_text(once, strip_urls=strip_urls) == once


# --- fast paths == the reference steps ---------------------------------------------------------

_REF_ZERO_WIDTH = re.compile(f"[{ZERO_WIDTH}]")
_REF_WHITESPACE = re.compile(r"\s+")


def reference(text: str, *, strip_urls: bool = False) -> str:
    """The normalization as specified, step by step (the implementation before the fast paths):
    NFKC, zero-width removed, URLs, lower, NFKC, zero-width removed, `\\s+` -> " ", strip."""
    text = _REF_ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text))
    if strip_urls:
        text = URL_RE.sub(" ", text)
    text = _REF_ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text.lower()))
    return _REF_WHITESPACE.sub(" ", text).strip()


def test_regex_whitespace_is_str_isspace():
    """The whitespace collapse relies on `\\s` (re) and str.split()/isspace() agreeing on
    every code point."""
    chars = (chr(i) for i in range(sys.maxunicode + 1))
    regex = {c for c in chars if re.match(r"\s", c)}
    assert regex == {chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()}
    assert {"\x1c", "\x85", "\xa0", "\u2028", "\u3000"} <= regex  # not only " \t\n\r\f\v"


def test_ascii_is_nfkc_stable():
    """The ASCII shortcut skips NFKC: every ASCII character is NFKC-stable, and no
    composition pairs two ASCII characters (checked on all pairs)."""
    ascii_chars = [chr(i) for i in range(128)]
    assert all(
        unicodedata.normalize("NFKC", a + b) == a + b for a in ascii_chars for b in ascii_chars
    )


def test_ascii_path_on_every_ascii_pair():
    ascii_chars = [chr(i) for i in range(128)]
    for a in ascii_chars:
        for b in ascii_chars:
            text = f"{a}X{b} {b}\t{a}"
            assert _normalize_ascii(text, strip_urls=False) == reference(text)


_PIECES = [
    " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000",
    "\u200b", "\ufeff", "a", "Z", "0", "é", "É", "İ", "ß", "ﬁ", "Ａ", "ǅ", "ᾼ", "\u0301", "K",
    "https://", "HTTP://x.y", "www.", "WWW.Scam.io/", ".", "/", "?", "$", "€", "🚀", "а",
]  # fmt: skip
_pieces = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(), st.text(st.characters(max_codepoint=127)), _pieces), st.booleans())
def test_fast_paths_match_reference(text, strip_urls):
    expected = reference(text, strip_urls=strip_urls)
    assert normalize_text(text, strip_urls=strip_urls, fold_confusables=False) == expected
    assert _normalize_full(text, strip_urls=strip_urls) == expected
    if text.isascii():
        assert _normalize_ascii(text, strip_urls=strip_urls) == expected
        # folding skips ASCII: nothing in it is folded (the table maps non-ASCII only)
        assert normalize_text(text, strip_urls=strip_urls) == expected
