"""Bundle round trip and every kind of damage -> BundleError with a clear message."""

from __future__ import annotations

import json

import pytest

from janitr.data.normalize import NormalizationConfig
from janitr.errors import BundleError
from janitr.runtime.bundle import MANIFEST, load_bundle, write_bundle


@pytest.fixture
def bundle(tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(b"0123456789" * 10)
    return write_bundle(
        tmp_path / "b", kind="fasttext", files={"model.ftz": src},
        thresholds={"scam": 0.9, "topic_crypto": 0.5}, tuning={"data": "calib"},
        normalization=NormalizationConfig(strip_urls=True), data={"train": {"rows": 3}},
        seen={"train": {"ids": ["a"], "text_keys": []}}, model={"file": "model.ftz"},
    )  # fmt: skip


def test_round_trip(bundle):
    loaded = load_bundle(bundle.path)
    assert loaded.thresholds == {"scam": 0.9, "topic_crypto": 0.5}
    assert loaded.normalization.strip_urls is True
    assert loaded.seen_data()["train"]["ids"] == ["a"]
    assert loaded.content_id == bundle.content_id


def test_truncated_file(bundle):
    path = bundle.path / "model.ftz"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(BundleError, match="truncated"):
        load_bundle(bundle.path)


def test_altered_byte(bundle):
    path = bundle.path / "model.ftz"
    data = bytearray(path.read_bytes())
    data[3] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="SHA-256"):
        load_bundle(bundle.path)


def test_wrong_format_version(bundle):
    manifest = bundle.path / MANIFEST
    obj = json.loads(manifest.read_text())
    obj["format_version"] = 99
    manifest.write_text(json.dumps(obj))
    with pytest.raises(BundleError, match="v99"):
        load_bundle(bundle.path)


def test_missing_manifest(bundle):
    (bundle.path / MANIFEST).unlink()
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(bundle.path)


def test_missing_file(bundle):
    (bundle.path / "model.ftz").unlink()
    with pytest.raises(BundleError, match="missing"):
        load_bundle(bundle.path)
