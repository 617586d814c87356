"""The one text normalization, shared by training and every runtime.

Unicode NFKC, zero-width characters removed (U+200B..U+200D, U+2060, U+FEFF), lower-case,
whitespace collapsed, trimmed; optionally URLs replaced by a space. Any other runtime (the
browser extension) must mirror this bit for bit; `tests/test_normalize.py` pins examples.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_ZERO_WIDTH_RE = re.compile(f"[{ZERO_WIDTH}]")
_WHITESPACE_RE = re.compile(r"\s+")
URL_RE = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)


@dataclass(frozen=True)
class NormalizationConfig:
    """Settings of the normalization; saved in every bundle so serving matches training.

    Attributes:
        strip_urls: replace URLs (http(s)://..., www....) by a space before collapsing.
    """

    strip_urls: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> NormalizationConfig:
        return cls(strip_urls=bool(data.get("strip_urls", False)))


def normalize_text(text: str, *, strip_urls: bool = False) -> str:
    """Normalize one post. Idempotent: normalize_text(normalize_text(x)) == normalize_text(x).

    >>> normalize_text("  Claim\\u200b YOUR   Airdrop\\n")
    'claim your airdrop'
    """
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH_RE.sub("", text)
    if strip_urls:
        text = URL_RE.sub(" ", text)
    text = text.lower()
    # Lower-casing can produce characters that NFKC maps further (rare, e.g. some
    # compatibility letters); normalizing again keeps the function idempotent.
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH_RE.sub("", text)
    return _WHITESPACE_RE.sub(" ", text).strip()


def has_url(raw_text: str) -> bool:
    """Whether the raw (unnormalized) text contains a URL."""
    return URL_RE.search(raw_text) is not None
