"""The tampered-manifest matrix: every way issue #12 broke `bundle.json` is refused, with a
message that names the manifest and the key, and no file outside the bundle is ever read."""

from __future__ import annotations

import json
import math
import os

import pytest

from janitr.artifacts import file_entry
from janitr.cli import main
from janitr.data.normalize import NormalizationConfig
from janitr.errors import BundleError
from janitr.runtime.bundle import MANIFEST, SEEN_DATA, load_bundle, write_bundle
from janitr.runtime.manifest import DISABLED_THRESHOLD


@pytest.fixture
def bundle(tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(b"0123456789" * 10)
    return write_bundle(
        tmp_path / "b", kind="fasttext", files={"model.ftz": src},
        thresholds={"scam": 0.9, "topic_crypto": 0.5}, tuning={"data": "calib"},
        normalization=NormalizationConfig(strip_urls=True),
        data={"train": {"rows": 1}, "calib": {"rows": 1}},
        seen={"train": {"ids": ["a"], "text_keys": []}, "calib": {"ids": ["b"], "text_keys": []}},
        model={"file": "model.ftz"},
    )  # fmt: skip


def _edit(bundle, change) -> None:
    path = bundle.path / MANIFEST
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))  # NaN is written as the bare token NaN, as JSON allows


def _refused(bundle, *fragments: str) -> str:
    with pytest.raises(BundleError) as info:
        load_bundle(bundle.path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(manifest):
        node = manifest
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (_set("thresholds", "scam", -5), ["thresholds.scam", "in [0, 1]", "-5"]),
        (_set("thresholds", "scam", math.nan), ["thresholds.scam", "nan"]),
        (_set("thresholds", "scam", math.inf), ["thresholds.scam", "inf"]),
        (_set("thresholds", "topic_crypto", 1.5), ["thresholds.topic_crypto", "1.5"]),
        (_set("thresholds", "scam", "abc"), ["thresholds.scam", "'abc'"]),
        (_set("thresholds", "scam", True), ["thresholds.scam", "True"]),
        (lambda m: m["thresholds"].pop("scam"), ["thresholds.scam: missing"]),
        (_set("thresholds", "spam", 0.5), ["thresholds.spam: unknown key"]),
        (
            _set("normalization", "strip_urls", "yes please"),
            ["normalization.strip_urls", "true or false", "'yes please'"],
        ),
        (_set("normalization", "lowercase", False), ["normalization.lowercase: unknown option"]),
        (_set("extra", 1), ["extra: unknown key"]),
        (_set("classes", ["clean", "scam", "topic_crypto"]), ["classes: expected"]),
        (_set("kind", "pickle"), ["kind: expected one of", "'pickle'"]),
        (lambda m: m.pop("normalization"), ["normalization: missing"]),
        (_set("data", {}), ["data: expected the splits"]),
        (_set("files", "model.ftz", "size", -1), ["size: expected an integer >= 0"]),
        (_set("files", "model.ftz", "sha256", "xyz"), ["sha256: expected 64 lower-case hex"]),
        (_set("files", "model.ftz", "mode", 0o777), ["'model.ftz'].mode: unknown key"]),
        (lambda m: m["files"].pop(SEEN_DATA), [f"{SEEN_DATA} is missing", "rebuild"]),
    ],
)
def test_bad_manifest_value_is_refused(bundle, change, fragments):
    _edit(bundle, change)
    message = _refused(bundle, str(bundle.path / MANIFEST), "invalid bundle manifest", *fragments)
    assert "\n" not in message


def test_all_problems_are_reported_at_once(bundle):
    _edit(bundle, _set("thresholds", {"scam": -5, "topic_crypto": "abc"}))
    _refused(bundle, "thresholds.scam", "thresholds.topic_crypto")


def test_disabled_threshold_is_allowed_and_matches_tuning():
    from janitr.evaluation.thresholds import DISABLED

    assert DISABLED_THRESHOLD == DISABLED


def test_disabled_class_threshold_loads(bundle):
    _edit(bundle, _set("thresholds", "topic_crypto", DISABLED_THRESHOLD))
    assert load_bundle(bundle.path).thresholds["topic_crypto"] == DISABLED_THRESHOLD


def test_write_bundle_refuses_nan_threshold_and_writes_nothing(tmp_path):
    src = tmp_path / "m.bin"
    src.write_bytes(b"x")
    with pytest.raises(BundleError, match="thresholds.scam"):
        write_bundle(
            tmp_path / "b", kind="fasttext", files={"model.ftz": src},
            thresholds={"scam": math.nan, "topic_crypto": 0.5}, tuning={},
            normalization=NormalizationConfig(), data={"train": {}}, seen={"train": {}},
        )  # fmt: skip
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "name", ["../../../../etc/hostname", "/etc/hostname", "a/../../x", "./model.ftz", "a\\b"]
)
def test_file_outside_the_bundle_is_refused_before_hashing(bundle, name, monkeypatch):
    import janitr.runtime.bundle as bundle_module

    _edit(bundle, _set("files", name, {"sha256": "0" * 64, "size": 1}))
    hashed = []
    monkeypatch.setattr(bundle_module, "sha256_file", lambda p: hashed.append(p) or "0" * 64)
    _refused(bundle, "files[", "not allowed")
    assert hashed == []


def test_symlinked_file_is_refused(bundle, tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"planted model")
    model = bundle.path / "model.ftz"
    model.unlink()
    os.symlink(outside, model)
    # Even with the manifest's hash fixed to the target's, a symlink is refused.
    _edit(bundle, _set("files", "model.ftz", file_entry(outside)))
    _refused(bundle, "model.ftz", "is a symlink")


def test_symlinked_folder_is_refused(tmp_path):
    src = tmp_path / "seed"
    src.mkdir()
    (src / "w.bin").write_bytes(b"w")
    bundle = write_bundle(
        tmp_path / "b", kind="teacher", files={"seed_1": src}, thresholds={"scam": 0.5,
        "topic_crypto": 0.5}, tuning={}, normalization=NormalizationConfig(),
        data={"train": {}}, seen={"train": {"ids": [], "text_keys": []}},
    )  # fmt: skip
    os.rename(bundle.path / "seed_1", tmp_path / "moved")
    os.symlink(tmp_path / "moved", bundle.path / "seed_1")
    _refused(bundle, "seed_1/w.bin", "seed_1 is a symlink")


def test_extra_file_is_refused(bundle):
    (bundle.path / "payload.so").write_bytes(b"\x7fELF")
    _refused(bundle, "1 file(s) not listed", "payload.so")
    # Workers that load a bundle their parent verified skip this (and the hashes).
    assert load_bundle(bundle.path, verify=False).kind == "fasttext"


def test_emptied_seen_data_is_refused_when_used(bundle):
    seen = bundle.path / SEEN_DATA
    seen.write_text(json.dumps({"train": {"ids": ["a"], "text_keys": []}}))
    _edit(bundle, _set("files", SEEN_DATA, file_entry(seen)))  # hash fixed: loads
    loaded = load_bundle(bundle.path)
    with pytest.raises(BundleError, match=r"calib: missing, but bundle.json's data names it"):
        loaded.seen_data()


def test_content_id_pins_the_bundle(bundle, tmp_path):
    cid = bundle.content_id
    assert len(cid) == 64
    assert load_bundle(bundle.path, content_id=cid).content_id == cid
    assert load_bundle(bundle.path, content_id=cid[:12].upper()).content_id == cid
    with pytest.raises(BundleError, match="12 to 64 hex digits"):
        load_bundle(bundle.path, content_id=cid[:8])
    # Any change of a file (and so of its manifest entry) changes the id.
    model = bundle.path / "model.ftz"
    model.write_bytes(b"9" + model.read_bytes()[1:])
    _edit(bundle, _set("files", "model.ftz", file_entry(model)))
    changed = load_bundle(bundle.path)
    assert changed.content_id != cid
    with pytest.raises(BundleError, match="not the pinned bundle"):
        load_bundle(bundle.path, content_id=cid)


def test_content_id_is_the_same_for_a_rebuilt_bundle(bundle, tmp_path):
    src = tmp_path / "weights.bin"
    again = write_bundle(
        tmp_path / "again", kind="fasttext", files={"model.ftz": src},
        thresholds={"scam": 0.9, "topic_crypto": 0.5}, tuning={"data": "calib"},
        normalization=NormalizationConfig(strip_urls=True),
        data={"train": {"rows": 1}, "calib": {"rows": 1}},
        seen={"train": {"ids": ["a"], "text_keys": []}, "calib": {"ids": ["b"], "text_keys": []}},
        model={"file": "model.ftz"},
    )  # fmt: skip
    assert again.content_id == bundle.content_id


def test_cli_refuses_tampered_manifest_in_one_line(bundle, capsys):
    _edit(bundle, _set("thresholds", "scam", -5))
    assert main(["classify", "--model", str(bundle.path), "hello"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "thresholds.scam" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_cli_bundle_id_pin(bundle, tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "z", "text": "hi", "labels": ["clean"]}\n')
    argv = ["evaluate", "--model", str(bundle.path), "--data", str(data), "--bundle-id", "ab" * 8]
    assert main(argv) == 1
    assert "not the pinned bundle" in capsys.readouterr().err


def test_teacher_seed_dir_outside_the_bundle_is_refused(tmp_path):
    """A teacher's seed folders come from `model.seed_dirs`: each must be listed."""
    from janitr.teacher.model import load_scorer

    src = tmp_path / "seed"
    src.mkdir()
    (src / "model.safetensors").write_bytes(b"w")
    bundle = write_bundle(
        tmp_path / "b", kind="teacher", files={"seed_1": src}, thresholds={"scam": 0.5,
        "topic_crypto": 0.5}, tuning={}, normalization=NormalizationConfig(),
        data={"train": {}}, seen={"train": {"ids": [], "text_keys": []}},
        model={"seed_dirs": ["seed_1", "../../elsewhere"]},
    )  # fmt: skip
    with pytest.raises(BundleError, match=r"no file '../../elsewhere/model.safetensors'"):
        load_scorer(bundle)
