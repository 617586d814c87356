"""Web bundles: what the browser extension loads, and the fixtures that prove it scores alike.

    janitr export web --model runs/r1/bundles/student-int8 --out web/

writes

    DIR/model.onnx        the student, byte for byte
    DIR/tokenizer.json    its tokenizer, byte for byte
    DIR/janitr-web.json   format, id and lineage, classes, thresholds and decision rule, the
                          normalization (settings plus the Unicode data the JavaScript port
                          needs), input/output names, max_length, SHA-256 and size of each file

and nothing private: the training ids and text hashes (`seen_data.json`) and the data hashes
of `bundle.json` stay behind. The extension's `classifier.js` checks every file against the
manifest before it scores anything.

Normalization, bit for bit: `extension/src/normalize.js` ports `janitr.data.normalize`, and
two facts the browser cannot know travel as data. (1) The Unicode version of this Python's
`unicodedata`: browsers ship newer Unicode data, and a character this Python does not know
is left alone by NFKC and `str.lower` here, so the port treats every code point outside the
recorded `assigned` ranges the same way; and the sets of Python's final-sigma rule (they
changed between Unicode versions). (2) The confusables table, when the bundle folds
confusables. A bundle with a normalization setting the port does not implement is refused.

Parity fixtures (`write_probes`, `write_sweep`) are written by Python and checked by
`node --test` in `extension/test/`: raw text, normalized text, token ids and both
probabilities at batch size 1 for every probe text, and the normalized form of every
assigned code point in a few contexts.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from janitr.artifacts import atomic_dir, file_entry, write_json, write_text
from janitr.data.labels import CLASSES, SCAM, TOPIC, decide
from janitr.data.normalize import (
    COMBINING_MARKS,
    ZERO_WIDTH,
    NormalizationConfig,
    confusables_table,
)
from janitr.errors import BundleError, DataError, Problem
from janitr.runtime.bundle import Bundle, load_bundle
from janitr.runtime.onnx import (
    CONFIG_FILE,
    INPUT_NAMES,
    MODEL_FILE,
    OUTPUT_NAMES,
    TOKENIZER_FILE,
    encode_batch,
    load_scorer,
    read_config,
)

WEB_FORMAT = "janitr-web"
WEB_FORMAT_VERSION = 1
WEB_MANIFEST = "janitr-web.json"
PROBES_FORMAT = "janitr-probes"
SWEEP_FORMAT = "janitr-normalize-sweep"
#: The normalization settings `normalize.js` implements; a bundle with any other is refused.
PORTED_SETTINGS = frozenset({"strip_urls", "fold_confusables"})
#: The decision rule `classifier.js` applies (the rule of `janitr.data.labels.decide`).
DECISION_RULE = (
    "scam if p_scam >= thresholds.scam, else topic_crypto if p_topic >= "
    "thresholds.topic_crypto, else clean"
)
#: Data splits whose rows become probes (train is left out: the model has seen it).
PROBE_SPLITS = ("valid", "calib", "unlabeled")


def resolve_student_bundle(path: str | Path) -> Path:
    """The bundle directory for `--model`: a bundle, or a run directory (its int8 student).

    Raises:
        BundleError: if neither a bundle nor a run with `bundles/student-int8` is there.
    """
    path = Path(path)
    if (path / "bundle.json").is_file():
        return path
    candidate = path / "bundles" / "student-int8"
    if (candidate / "bundle.json").is_file():
        return candidate
    raise BundleError(
        f"{path}: not a model bundle (no bundle.json) nor a run directory with "
        "bundles/student-int8; pass e.g. runs/r1/bundles/student-int8 (or student-fp32)"
    )


def _load_student(path: str | Path) -> Bundle:
    bundle = load_bundle(resolve_student_bundle(path))
    if bundle.kind != "onnx":
        raise BundleError(
            f"{bundle.path}: a {bundle.kind!r} bundle; the extension runs ONNX students only "
            "(pass runs/NAME/bundles/student-int8 or student-fp32)"
        )
    return bundle


@functools.lru_cache(maxsize=1)
def assigned_ranges() -> tuple[tuple[int, int], ...]:
    """Inclusive code point ranges that this Python's `unicodedata` assigns (category not
    Cn): the characters its NFKC and `str.lower` know. Surrogates count as assigned."""
    codes = (c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) != "Cn")
    return tuple((a, b) for a, b in _ranges(codes))


def _ranges(codes: Iterable[int]) -> list[list[int]]:
    """Sorted code points as inclusive `[lo, hi]` ranges."""
    out: list[list[int]] = []
    for code in codes:
        if out and out[-1][1] == code - 1:
            out[-1][1] = code
        else:
            out.append([code, code])
    return out


@functools.lru_cache(maxsize=1)
def sigma_context() -> dict[str, list[list[int]]]:
    """The two character sets of Python's final-sigma rule, as this Python applies it.

    `str.lower` maps Σ to ς when, skipping case-ignorable characters, a cased character
    precedes it and none follows. The sets changed between Unicode versions (U+0295 is cased
    in 14.0, not in 16.0), so they travel as data. They are read off `str.lower` itself:
    with `c` before Σ, ς means `c` is cased and not case-ignorable; with `Ac` before Σ, ς
    then means `c` is case-ignorable (Python skips those both ways, so whether a
    case-ignorable character is also cased never matters).
    """
    cased, ignorable = [], []
    for lo, hi in assigned_ranges():
        for code in range(lo, hi + 1):
            c = chr(code)
            if (c + "Σ").lower()[-1] == "ς":
                cased.append(code)
            elif ("A" + c + "Σ").lower()[-1] == "ς":
                ignorable.append(code)
    return {"cased": _ranges(cased), "case_ignorable": _ranges(ignorable)}


def web_normalization(settings: dict) -> dict:
    """The manifest's `normalization` entry: the settings plus the data `normalize.js` needs.

    Raises:
        BundleError: if a setting has no JavaScript port.
    """
    unknown = sorted(set(settings) - PORTED_SETTINGS)
    if unknown:
        raise BundleError(
            f"normalization setting(s) {unknown} have no JavaScript port in "
            "extension/src/normalize.js; the extension cannot reproduce this bundle's "
            "normalization (port them first, or train with the supported settings: "
            f"{sorted(PORTED_SETTINGS)})"
        )
    config = NormalizationConfig.from_dict(settings)
    out = {
        "strip_urls": config.strip_urls,
        "fold_confusables": config.fold_confusables,
        "zero_width": [ord(c) for c in ZERO_WIDTH],
        "unicode_version": unicodedata.unidata_version,
        "assigned": [list(r) for r in assigned_ranges()],
        "sigma": sigma_context(),
    }
    if config.fold_confusables:
        out["confusables"] = {str(code): target for code, target in confusables_table().items()}
        out["combining_marks"] = [list(r) for r in COMBINING_MARKS]
    return out


def _check_tokenizer(path: Path) -> dict:
    """The parts of tokenizer.json that tokenize.js relies on; refuses what it cannot run."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BundleError(f"{path}: unreadable tokenizer ({exc})") from exc
    post = data.get("post_processor") or {}
    if post.get("type") != "TemplateProcessing":
        raise BundleError(
            f"{path}: post_processor {post.get('type')!r}; tokenize.js builds [CLS] ... [SEP] "
            "from a TemplateProcessing post-processor only (re-train the tokenizer with janitr)"
        )
    return data


def export_web(model: str | Path, out_dir: str | Path, *, overwrite: bool = True) -> dict:
    """Write the web bundle of an ONNX student bundle; returns its manifest.

    Args:
        model: a student bundle (`runs/R/bundles/student-int8` or `student-fp32`), or a run
            directory (its int8 student).
        out_dir: the directory to write (replaced atomically).
        overwrite: replace an existing `out_dir`.

    Raises:
        BundleError: if the bundle is not an ONNX student, fails its checksums, or uses a
            normalization or tokenizer the JavaScript side cannot reproduce.
    """
    bundle = _load_student(model)
    config = read_config(bundle.file(CONFIG_FILE))
    _check_tokenizer(bundle.file(TOKENIZER_FILE))
    load_scorer(bundle, threads=1)  # the model loads and has the inputs/outputs written below
    normalization = web_normalization(bundle.manifest.get("normalization", {}))
    described = bundle.manifest.get("model", {})
    variant = described.get("variant") or bundle.path.name
    lineage = {
        "bundle_sha256": bundle.content_id,
        "variant": variant,
        "teacher_id": described.get("distill", {}).get("teacher", {}).get("teacher_id"),
        "parameters": described.get("parameters"),
    }
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        files = {}
        for name in (MODEL_FILE, TOKENIZER_FILE):
            shutil.copyfile(bundle.file(name), tmp / name)
            files[name] = file_entry(tmp / name)
            if files[name] != bundle.manifest["files"][name]:  # copied while being replaced
                raise BundleError(f"{bundle.path}: {name} changed while it was exported; retry")
        manifest = {
            "format": WEB_FORMAT,
            "format_version": WEB_FORMAT_VERSION,
            "id": f"{variant}-{bundle.content_id[:12]}",
            "lineage": lineage,
            "classes": list(CLASSES),
            "thresholds": {k: float(v) for k, v in bundle.thresholds.items()},
            "decision": DECISION_RULE,
            "normalization": normalization,
            "model": {
                "file": MODEL_FILE,
                "inputs": list(INPUT_NAMES),
                "input_type": "int64",
                "outputs": list(OUTPUT_NAMES),
                "max_length": int(config["max_length"]),
                "pad_token_id": int(config.get("pad_token_id", 0)),
            },
            "tokenizer": {"file": TOKENIZER_FILE},
            "files": files,
        }
        write_json(tmp / WEB_MANIFEST, manifest)
    return manifest


# --- parity fixtures ---------------------------------------------------------------------------

#: Edge cases every probe file carries besides the data rows.
EDGE_CASES: tuple[str, ...] = (
    "",
    "   \t\n ",
    "\u200b\u200c\u200d\u2060\ufeff",
    "🚀🚀🚀",
    "🔥💰🎁 👩‍👩‍👧 🏳️‍🌈",
    "💎🙌",
    "مرحبا بكم في عالم العملات الرقمية، احصل على مكافأتك الآن https://t.co/abc",
    "שלום, קבלו ביטקוין חינם עכשיו!",
    "Claim ‏your‎ free ‮airdrop‬ now",
    "fr\u200bee air\u200cdr\u200dop, con\u2060nect wal\ufefflet",
    "ＦＲＥＥ　ＢＴＣ ｇｉｖｅａｗａｙ ① ﬁnance ㍿",
    "сlаim уоur frее аirdrор",  # Cyrillic look-alikes
    "ΣΟΦΟΣ ΟΔΟΣ Σ. ΑΣ",
    "İSTANBUL ǅungla ẞtraße",
    "e\u0301 a\u0308 n\u0303 \u1100\u1161\u11a8",
    "\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u202f\u205f\u3000 spaced",
    "HTTPS://Evil.example/Claim?x=1 and www.Scam.io/x or http://a",
    "[CLS] [SEP] [PAD] [MASK] [UNK] ▁ ▁▁",
    "\x00\x07 control \x7f chars",
    # characters this Python's Unicode may not assign (Unicode 15-17), that browsers know
    "\U0001fae8 \U0001cc00 \U0001ccd6\U0001ccd7 \ua7cbΣ \U00010d50x \u0c5c",
    "BUY $ETH 🚀 NOW!!! 100x guaranteed",
    "a" * 10_000,
    ("Claim your FREE airdrop now, connect wallet at https://evil.example ! " * 150)[:10_000],
    "€" * 10_000,
)


def probe_texts(data_dir: str | Path, splits: Sequence[str] = PROBE_SPLITS) -> list[str]:
    """Distinct raw texts of `DATA_DIR/<split>.jsonl` (in file order), then EDGE_CASES.

    Raises:
        DataError: if none of the split files exists.
    """
    from janitr.data.records import Record, scan

    data_dir = Path(data_dir)
    paths = [data_dir / f"{name}.jsonl" for name in splits]
    if not any(p.is_file() for p in paths):
        raise DataError(
            [Problem(str(data_dir), 0, "<dir>", f"none of {', '.join(p.name for p in paths)} "
                     "exists", "pass the directory of the shared data or a run's data folder")]
        )  # fmt: skip
    seen: dict[str, None] = {}
    for path in paths:
        if path.is_file():
            for item in scan([path], require_labels=False):
                if isinstance(item, Record):
                    seen.setdefault(item.text, None)
    for text in EDGE_CASES:
        seen.setdefault(text, None)
    return list(seen)


def probes(bundle: Bundle, texts: Iterable[str]) -> list[dict]:
    """What the Python runtime does with each raw text, scored at batch size 1.

    Each probe: `raw`, `normalized`, `ids` (with [CLS]/[SEP], truncated), `p_scam`,
    `p_topic`, `label` (the bundle's thresholds); a text empty after normalization has
    `ids`, the probabilities and `label` set to None, as the extension reports it.
    """
    scorer = load_scorer(bundle, threads=1)
    normalization = bundle.normalization
    t = bundle.thresholds
    out = []
    for raw in texts:
        norm = normalization.apply(raw)
        probe = {"raw": raw, "normalized": norm, "ids": None, "p_scam": None, "p_topic": None,
                 "label": None}  # fmt: skip
        if norm:
            ids, mask = encode_batch(scorer.tokenizer, [norm], max_length=scorer.max_length)
            p_scam, p_topic = scorer.run(ids, mask)
            (label,) = decide(p_scam, p_topic, t_scam=t[SCAM], t_topic=t[TOPIC])
            probe.update(ids=ids[0].tolist(), p_scam=float(p_scam[0]), p_topic=float(p_topic[0]),
                         label=CLASSES[int(label)])  # fmt: skip
        out.append(probe)
    return out


def write_probes(model: str | Path, data_dir: str | Path, out: str | Path) -> dict:
    """Write the probe file of a student bundle (JSON; see `probes`); returns a summary.

    Raises:
        BundleError: if the bundle is not an ONNX student.
        DataError: if the data directory has no probe split.
    """
    bundle = _load_student(model)
    rows = probes(bundle, probe_texts(data_dir))
    variant = bundle.manifest.get("model", {}).get("variant") or bundle.path.name
    doc = {
        "format": PROBES_FORMAT,
        "format_version": 1,
        "web_id": f"{variant}-{bundle.content_id[:12]}",
        "batch_size": 1,
        "probes": rows,
    }
    # ASCII escapes keep every probe text (control characters included) one JSON line each.
    write_text(out, json.dumps(doc, ensure_ascii=True) + "\n")
    return {
        "probes": len(rows),
        "empty": sum(r["label"] is None for r in rows),
        "labels": {c: sum(r["label"] == c for r in rows) for c in CLASSES},
    }


#: Contexts of the code point sweep: `{c}` is replaced by each assigned code point. They
#: exercise NFKC, lower (with the final-sigma rule on both sides), the whitespace set and
#: the URL pattern's `\S`.
SWEEP_CONTEXTS: dict[str, tuple[str, ...]] = {
    "plain": ("{c}", "a{c}b", "xΣ{c}", "x{c}Σ"),
    "strip_urls": ("http://a{c}b c", "{c}ttps://a b"),
    "fold_confusables": ("{c}", "x{c}Σ"),
}


def sweep(contexts: dict[str, tuple[str, ...]] = SWEEP_CONTEXTS) -> dict:
    """The normalized form of every assigned code point in each context, per setting.

    Returns `{"codepoints": [...], "cases": [{"normalization": <web entry>, "context":
    str, "outputs": [...]}, ...]}`, outputs aligned with `codepoints`.
    """
    codepoints = [c for a, b in assigned_ranges() for c in range(a, b + 1)]
    chars = [chr(c) for c in codepoints]
    cases = []
    for name, patterns in contexts.items():
        settings = {} if name == "plain" else {name: True}
        config = NormalizationConfig.from_dict(settings)
        entry = web_normalization(config.to_dict())
        for pattern in patterns:
            before, after = pattern.split("{c}")
            outputs = [config.apply(before + ch + after) for ch in chars]
            cases.append({"normalization": entry, "context": pattern, "outputs": outputs})
    return {"format": SWEEP_FORMAT, "unicode_version": unicodedata.unidata_version,
            "codepoints": codepoints, "cases": cases}  # fmt: skip


def write_sweep(out: str | Path) -> dict:
    """Write `sweep()` as JSON (ASCII escapes: lone surrogates included); returns a summary."""
    doc = sweep()
    write_text(out, json.dumps(doc, ensure_ascii=True) + "\n")
    return {
        "codepoints": len(doc["codepoints"]),
        "cases": len(doc["cases"]),
        "unicode_version": doc["unicode_version"],
    }


#: Texts of the committed normalize.js fixture besides the short EDGE_CASES: the final-sigma
#: rule around characters whose case properties changed after Unicode 14, characters that
#: newer Unicode versions assign (left alone by Python 3.11's unicodedata), confusables.
NORMALIZE_CASES: tuple[str, ...] = (
    "  Claim\u200b YOUR   Airdrop\n",
    "Claim at https://evil.xyz/a?b=1 or www.scam.io now",
    "xΣʕ", "ʕΣ", "xΣˤ", "AΣ\u0345", "\u0345Σ", "AΣ'", "A'Σ", "AΣ\u00ad.", "ΣΣΣ", "Σ",
    "\U0001ccd6Σ", "aΣ\U0001ccd6", "\ua7cbΣ", "x\U00010d50Σ", "\U0001ccd6\u0301 A\U0001ccd7",
    "e\U0001fae8\u0301", "httpſ://x y", "HTTP://X.Y\u3000z", "www.\u0085x", "http://a\x1cb",
    "ѕсаm Ꭺirdrop 𝐟𝐫𝐞𝐞", "ⅰⅱ ① ＣＬＡＩＭ",
    "C\u0338l\u0338a\u0338i\u0338m\u0338 F\u0336R\u0336E\u0336E\u0336 fre\u0301e",
    "Ünïcödé ά \u00a8x \u1e00 \u0958 नमस्ते \u20d7v \ufe20x",
)  # fmt: skip


def normalize_cases() -> dict:
    """The committed fixture of `extension/test/normalize.test.mjs`: NORMALIZE_CASES and the
    short EDGE_CASES, normalized with each combination of settings. The Unicode data and the
    confusables table are stored once (`normalization` = the fold-confusables entry); each
    case lists its settings and outputs."""
    inputs = list(dict.fromkeys([*NORMALIZE_CASES, *(t for t in EDGE_CASES if len(t) < 200)]))
    cases = []
    for strip_urls in (False, True):
        for fold in (False, True):
            config = NormalizationConfig(strip_urls=strip_urls, fold_confusables=fold)
            cases.append({
                "settings": {"strip_urls": strip_urls, "fold_confusables": fold},
                "outputs": [config.apply(t) for t in inputs],
            })  # fmt: skip
    normalization = web_normalization({"fold_confusables": True})
    return {"normalization": normalization, "inputs": inputs, "cases": cases}


def write_normalize_cases(out: str | Path) -> None:
    """Write `normalize_cases()` (compact JSON, ASCII escapes)."""
    write_text(out, json.dumps(normalize_cases(), ensure_ascii=True) + "\n")
