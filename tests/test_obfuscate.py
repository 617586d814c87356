"""Obfuscation generator: deterministic, label-preserving, really obfuscating; folding."""

from __future__ import annotations

import random
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janitr.data.normalize import URL_RE, NormalizationConfig, normalize_text
from janitr.data.obfuscate import (
    BENIGN_KINDS,
    DEFAULT_AUGMENT_KINDS,
    EVASION_KINDS,
    KINDS,
    augment_copies,
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
    assert normalize_text(hg, fold_confusables=False) != normalize_text(TEXT)
    # Confusables folding (the default) undoes the look-alikes.
    assert normalize_text(hg) == normalize_text(TEXT)
    assert normalize_text(hg, fold_confusables=True) == normalize_text(TEXT, fold_confusables=True)


ORIGINAL_KINDS = ("leet", "homoglyph", "zero_width", "fullwidth", "spaced", "defang", "mixed")
TEXTS = (
    TEXT,
    "gm frens, the new wallet drop is live www.example.io claim today!!",
    "Just a walk in the park with my dog",
)


def test_original_kinds_keep_their_outputs():
    # Widening the generator must not change the copies earlier measurements were made on
    # (digest of the outputs before the new kinds were added; `mixed` draws only the six).
    import hashlib
    import json

    out = [obfuscate_text(t, k, random.Random(s)) for t in TEXTS for k in ORIGINAL_KINDS
           for s in range(3)]  # fmt: skip
    digest = hashlib.sha256(json.dumps(out).encode()).hexdigest()
    assert digest == "dfe3bc454b8b0d6ae990665ba426028736bd2aa01bda2160465504bc4c3fbce6"
    assert set(KINDS) == {*EVASION_KINDS, *BENIGN_KINDS, "mixed"} >= set(ORIGINAL_KINDS)


def _strip_marks(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _collapse_runs(text: str) -> str:
    import re

    return re.sub(r"(.)\1+", r"\1", text)


@pytest.mark.parametrize("seed", range(5))
def test_new_evasion_kinds_hide_words_a_reader_still_reads(seed):
    def obf(kind, text=TEXT):
        out = obfuscate_text(text, kind, random.Random(seed))
        assert out == obfuscate_text(text, kind, random.Random(seed)) and out != text, kind
        return out

    # mathematical letters: NFKC (the normalization) maps them back
    math = obf("math")
    assert not math.isascii() and normalize_text(math) == normalize_text(TEXT)
    # combining strokes/accents over letters (the folded normalization drops them); the link
    # is untouched
    dia = obf("diacritics")
    assert normalize_text(dia, fold_confusables=False) != normalize_text(TEXT)
    assert normalize_text(dia) == normalize_text(TEXT) and _strip_marks(dia) == TEXT
    assert URL_RE.findall(dia) == URL_RE.findall(TEXT)
    # separators / symbols between the letters of the longest words, links untouched
    for kind, junk in (("punct", ".-_*|/"), ("symbols", "🔥🚀💰✅★•❤️💎\ufe0f")):
        out = obf(kind)
        assert URL_RE.findall(out) == URL_RE.findall(TEXT)
        body = URL_RE.sub("", out)
        assert "".join(c for c in body if c not in junk) == "".join(
            c for c in URL_RE.sub("", TEXT) if c not in junk
        )
    # one letter repeated 3-6 times in some words
    rep = obf("repeat")
    assert _collapse_runs(rep) == _collapse_runs(TEXT) and len(rep) > len(TEXT)
    # links swapped for shortener links; the words are kept
    short = obf("shortener")
    assert URL_RE.sub("", short) == URL_RE.sub("", TEXT)
    shorteners = ("https://bit.ly/", "https://t.co/", "https://tinyurl.com/", "https://is.gd/")
    assert URL_RE.findall(short)[0].startswith(shorteners)
    assert obfuscate_text("no link here", "shortener", random.Random(seed)) == "no link here"


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("text", TEXTS)
def test_benign_kinds_keep_words_and_links(text, seed):
    for kind in BENIGN_KINDS:
        out = obfuscate_text(text, kind, random.Random(seed))
        assert out == obfuscate_text(text, kind, random.Random(seed)) and out != text, kind
        assert URL_RE.findall(out) == URL_RE.findall(text), kind  # links kept exactly
        tokens = out.split()
        if kind in ("caps", "line_breaks"):
            # same words: capitals and line breaks vanish in the normalization
            assert normalize_text(out) == normalize_text(text), kind
            assert out.lower() == text.lower() or kind == "line_breaks"
        else:  # emoji/tags only add tokens: the original tokens are a subsequence
            it = iter(tokens)
            assert all(tok in it for tok in text.split()), kind
            assert len(tokens) > len(text.split())


def test_new_kinds_keep_labels():
    recs = [_rec(0, TEXT, ["scam"]), _rec(1, TEXTS[1], ["topic_crypto"])]
    new = [k for k in KINDS if k not in ORIGINAL_KINDS]
    rows = obfuscate_records(recs, seed=4, kinds=new)
    assert {r["obfuscation"] for r in rows} == set(new)
    labels = {r.id: list(r.labels) for r in recs}
    assert all(r["labels"] == labels[r["source_id"]] for r in rows)
    assert rows == obfuscate_records(recs, seed=4, kinds=new)
    assert rows != obfuscate_records(recs, seed=5, kinds=new)


def test_augment_copies_one_per_row_of_the_given_kinds():
    recs = [_rec(i, f"{t} number {i}", ["scam"]) for i, t in enumerate(TEXTS * 10)]
    copies = augment_copies(recs, seed=2)
    assert copies == augment_copies(recs, seed=2) != augment_copies(recs, seed=3)
    assert len({i for i, _ in copies}) == len(copies) <= len(recs)
    assert len(copies) > len(recs) // 2
    assert all(text != recs[i].text for i, text in copies)
    # every copy is what one of the default kinds makes of its row (with that row's rng)
    only_tags = augment_copies(recs, kinds=["tags"], seed=2)
    assert len(only_tags) == len(recs) and all(t.startswith(recs[i].text) for i, t in only_tags)
    assert set(DEFAULT_AUGMENT_KINDS) <= set(KINDS)
    with pytest.raises(ConfigError, match="mixed"):
        augment_copies(recs, kinds=["leet", "mixed"])


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


def test_folding_is_the_default_and_recorded():
    assert normalize_text("сlаim", fold_confusables=False) == "сlаim"  # Cyrillic stays
    assert normalize_text("сlаim") == "claim" == NormalizationConfig().apply("сlаim")
    # combining marks go with folding: struck-through and accented letters
    assert normalize_text("F\u0336R\u0336E\u0336E\u0336 cr\u00e9dit") == "free credit"
    assert normalize_text("fr\u00e9e", fold_confusables=False) == "fr\u00e9e"
    assert NormalizationConfig().to_dict() == {"strip_urls": False, "fold_confusables": True}
    for cfg in (NormalizationConfig(), NormalizationConfig(fold_confusables=False)):
        assert NormalizationConfig.from_dict(cfg.to_dict()) == cfg
    # a bundle manifest from before folding was the default has no key: it is served unfolded
    assert NormalizationConfig.from_dict({"strip_urls": False}).fold_confusables is False
