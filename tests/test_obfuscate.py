"""Obfuscation generator: deterministic, label-preserving, really obfuscating; folding."""

from __future__ import annotations

import random
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janitr.data.normalize import NormalizationConfig, normalize_text
from janitr.data.obfuscate import (
    KINDS,
    homoglyph_table,
    obfuscate_records,
    obfuscate_text,
    robustness_report,
    write_obfuscated,
)
from janitr.data.records import Record, read_records
from janitr.errors import ConfigError

TEXT = "Claim your FREE airdrop now at https://evil-site.com/x before it ends"


def _rec(i, text, labels):
    return Record(id=f"r{i}", text=text, labels=tuple(labels), path="<t>", line=i)


def test_each_kind_changes_text_and_is_seeded():
    for kind in KINDS:
        a = obfuscate_text(TEXT, kind, random.Random(3))
        assert a == obfuscate_text(TEXT, kind, random.Random(3))
        assert a != TEXT, kind


def test_kinds_do_what_they_say():
    rng = random.Random(0)
    assert "hxxps://evil-site[.]com" in obfuscate_text(TEXT, "defang", rng)
    assert any(c.isdigit() for c in obfuscate_text("claim airdrop", "leet", rng))
    spaced = obfuscate_text(TEXT, "spaced", rng)
    assert "a i r d r o p" in spaced or "b e f o r e" in spaced
    zw = obfuscate_text(TEXT, "zero_width", rng)
    assert normalize_text(zw) == normalize_text(TEXT)  # the normalization removes them
    fw = obfuscate_text(TEXT, "fullwidth", rng)
    assert normalize_text(fw) == normalize_text(TEXT)  # NFKC folds fullwidth
    hg = obfuscate_text(TEXT, "homoglyph", rng)
    assert normalize_text(hg) != normalize_text(TEXT)
    # Confusables folding undoes the look-alikes.
    assert normalize_text(hg, fold_confusables=True) == normalize_text(TEXT, fold_confusables=True)


def test_homoglyphs_come_from_unicode_data():
    table = homoglyph_table()
    assert "а" in table["a"] and "о" in table["o"]  # Cyrillic a, o
    for glyphs in table.values():
        for g in glyphs:
            assert unicodedata.name(g).startswith(("CYRILLIC", "GREEK"))


def test_obfuscate_records_keeps_labels_and_ids(tmp_path):
    recs = [_rec(0, TEXT, ["scam"]), _rec(1, "just a normal post about cats", ["clean"])]
    rows = obfuscate_records(recs, seed=1, kinds=["leet", "defang"])
    assert {r["id"] for r in rows} == {"r0::obf-leet", "r0::obf-defang", "r1::obf-leet"}
    assert all(r["labels"] == list(next(x for x in recs if x.id == r["source_id"]).labels)
               for r in rows)  # fmt: skip
    assert rows == obfuscate_records(recs, seed=1, kinds=["leet", "defang"])
    with pytest.raises(ConfigError, match="kinds"):
        obfuscate_records(recs, kinds=["rot13"])
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "free airdrop claim", "labels": ["scam"]}\n')
    n = write_obfuscated(data=data, out=tmp_path / "out.jsonl", seed=0, kinds=["leet"])
    out = read_records(tmp_path / "out.jsonl")
    assert n == 1 and out[0].id == "a::obf-leet" and out[0].labels == ("scam",)


class KeywordScorer:
    """Scam if 'airdrop' is in the (normalized) text; topic if 'crypto'."""

    def predict_heads(self, texts):
        import numpy as np

        return np.array([[float("airdrop" in t), float("crypto" in t)] for t in texts])


def test_robustness_report_shows_the_drop():
    recs = [_rec(i, f"claim the airdrop number {i} today", ["scam"]) for i in range(10)]
    recs += [_rec(100 + i, f"nice walk in the park number {i}", ["clean"]) for i in range(10)]
    th = {"scam": 0.5, "topic_crypto": 0.5}
    rep = robustness_report(KeywordScorer(), recs, thresholds=th, kinds=["leet", "zero_width"])
    assert rep["original"]["scam_recall"] == 1.0
    assert rep["kinds"]["zero_width"]["obfuscated"]["scam_recall"] == 1.0
    assert rep["kinds"]["leet"]["obfuscated"]["scam_recall"] < 1.0
    folded = robustness_report(
        KeywordScorer(), recs, thresholds=th, kinds=["homoglyph"],
        normalization=NormalizationConfig(fold_confusables=True),
    )  # fmt: skip
    assert folded["kinds"]["homoglyph"]["obfuscated"]["scam_recall"] == 1.0


@settings(max_examples=300, deadline=None)
@given(st.text(), st.booleans())
def test_folded_normalization_idempotent(text, strip_urls):
    once = normalize_text(text, strip_urls=strip_urls, fold_confusables=True)
    assert normalize_text(once, strip_urls=strip_urls, fold_confusables=True) == once
    # folding an already normalized text equals folding the raw one (serving relies on it)
    plain = normalize_text(text, strip_urls=strip_urls)
    assert normalize_text(plain, strip_urls=strip_urls, fold_confusables=True) == once


def test_folding_is_opt_in():
    assert normalize_text("сlаim") == "сlаim"  # Cyrillic stays without folding
    assert normalize_text("сlаim", fold_confusables=True) == "claim"
    assert NormalizationConfig().to_dict() == {"strip_urls": False}
    cfg = NormalizationConfig(fold_confusables=True)
    assert NormalizationConfig.from_dict(cfg.to_dict()) == cfg
