"""normalize: pinned examples (mirrored by every runtime) and idempotence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janitr.normalize import has_url, normalize_text


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
