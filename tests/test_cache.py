"""Teacher cache: round trip, provenance refusals, alignment."""

from __future__ import annotations

import numpy as np
import pytest

from janitr.data.records import Record
from janitr.errors import ProvenanceError
from janitr.teacher.cache import (
    TeacherCache,
    default_layer_indices,
    label_map_hash,
    read_cache,
    split_hash,
    write_cache,
)


def make_cache(n=5, layers=(1, 3, 4, 6), h=8, seed=0):
    rng = np.random.default_rng(seed)
    return TeacherCache(
        ids=[f"r{i}" for i in range(n)],
        scam_logits=rng.normal(size=(n, 2)).astype(np.float32),
        topic_logits=rng.normal(size=n).astype(np.float32),
        hidden=rng.normal(size=(n, len(layers), h)).astype(np.float16),
        layer_indices=list(layers),
    )


SIDE = {
    "teacher_id": "teacher-abc",
    "calibration": {"scam": 1.5, "topic": 1.2},
    "seeds": [13, 42, 7],
    "split_hash": "h-train",
}


def test_round_trip(tmp_path):
    cache = make_cache()
    path = write_cache(tmp_path, split="train", cache=cache, sidecar=SIDE)
    assert path.name == "train.safetensors" and (tmp_path / "train.meta.json").is_file()
    back = read_cache(
        tmp_path, expect={"split": "train", "split_hash": "h-train", "teacher_id": "teacher-abc"}
    )
    assert back.ids == cache.ids and back.layer_indices == [1, 3, 4, 6]
    assert back.hidden.dtype == np.float16 and back.hidden.shape == (5, 4, 8)
    np.testing.assert_allclose(back.scam_logits, cache.scam_logits, atol=2e-3)
    np.testing.assert_allclose(back.topic_logits, cache.topic_logits, atol=2e-3)
    assert back.sidecar["label_map_hash"] == label_map_hash()
    assert back.sidecar["rows"] == 5 and back.sidecar["seeds"] == [13, 42, 7]
    sub = back.select(["r3", "r1"])
    np.testing.assert_array_equal(sub.hidden, back.hidden[[3, 1]])
    with pytest.raises(ProvenanceError, match="not in the teacher cache"):
        back.select(["zzz"])


def test_read_refuses_every_mismatch(tmp_path):
    write_cache(tmp_path / "c.safetensors", split="train", cache=make_cache(), sidecar=SIDE)
    with pytest.raises(ProvenanceError) as info:
        read_cache(
            tmp_path / "c.safetensors",
            expect={"split": "valid", "split_hash": "other", "teacher_id": "teacher-x"},
        )
    msg = str(info.value)
    assert "split:" in msg and "split_hash" in msg and "teacher_id" in msg


def test_write_refuses_incompatible_overwrite(tmp_path):
    write_cache(tmp_path, split="train", cache=make_cache(), sidecar=SIDE)
    # Same inputs: rebuilding is fine.
    write_cache(tmp_path, split="train", cache=make_cache(seed=1), sidecar=SIDE)
    with pytest.raises(ProvenanceError, match="split_hash"):
        write_cache(
            tmp_path, split="train", cache=make_cache(), sidecar={**SIDE, "split_hash": "h-other"}
        )
    with pytest.raises(ProvenanceError, match="layer_indices"):
        write_cache(tmp_path, split="train", cache=make_cache(layers=(1, 2)), sidecar=SIDE)
    write_cache(
        tmp_path, split="train", cache=make_cache(), sidecar={**SIDE, "seeds": [1]}, overwrite=True
    )


def test_tampered_tensors_are_refused(tmp_path):
    path = write_cache(tmp_path, split="train", cache=make_cache(), sidecar=SIDE)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ProvenanceError, match="SHA-256"):
        read_cache(tmp_path, expect={"split": "train"})


def test_inconsistent_shapes_rejected():
    with pytest.raises(ProvenanceError, match="hidden has shape"):
        TeacherCache(
            ids=["a"],
            scam_logits=np.zeros((1, 2)),
            topic_logits=np.zeros(1),
            hidden=np.zeros((1, 3, 4)),
            layer_indices=[1, 2],
        )


def test_split_hash_sees_text_and_label_changes():
    a = [Record(id="1", text="Hello  World", labels=("clean",), path="x", line=1)]
    b = [Record(id="1", text="hello world", labels=("clean",), path="y", line=9)]
    c = [Record(id="1", text="hello world", labels=("scam",), path="x", line=1)]
    assert split_hash(a) == split_hash(b)  # normalized text, not file position
    assert split_hash(a) != split_hash(c)


def test_default_layers():
    assert default_layer_indices(24) == [1, 9, 16, 24]
    assert default_layer_indices(6) == [1, 3, 4, 6]
    assert default_layer_indices(2) == [1, 2]


def test_mix_logits_blends_log_odds():
    from janitr.teacher.cache import mix_logits

    cache = make_cache(n=4)
    heads = np.array([[0.9, 0.2], [0.1, 0.5], [0.5, 0.99], [0.3, 0.01]])
    same = mix_logits(cache, heads, 0.0)
    np.testing.assert_allclose(same.scam_logits, cache.scam_logits, rtol=1e-6)
    np.testing.assert_allclose(same.topic_logits, cache.topic_logits, rtol=1e-6)
    other = mix_logits(cache, heads, 1.0)
    np.testing.assert_allclose(other.p_scam(), heads[:, 0], rtol=1e-5)
    np.testing.assert_allclose(other.p_topic(), heads[:, 1], rtol=1e-5)
    half = mix_logits(cache, heads, 0.5)
    teacher = cache.scam_logits[:, 1] - cache.scam_logits[:, 0]
    linear = np.log(heads[:, 0] / (1 - heads[:, 0]))
    got = half.scam_logits[:, 1] - half.scam_logits[:, 0]
    np.testing.assert_allclose(got, 0.5 * teacher + 0.5 * linear, rtol=1e-5)
    assert half.hidden is cache.hidden
    with pytest.raises(ValueError, match="shape"):
        mix_logits(cache, heads[:2], 0.5)


def test_bit_equal_tensors_give_identical_files(tmp_path):
    """safetensors orders its metadata keys at random (a Rust HashMap); written through
    `write_cache`, the same tensors give the same bytes every time (issue #12 item 6)."""
    import json

    from janitr.artifacts import sha256_file

    pytest.importorskip("safetensors")  # the `train` extra
    cache = make_cache(n=7)
    files = [write_cache(tmp_path / f"c{i}", split="train", cache=cache, sidecar=SIDE)
             for i in range(8)]  # fmt: skip
    assert len({sha256_file(f) for f in files}) == 1
    data = files[0].read_bytes()
    size = int.from_bytes(data[:8], "little")
    assert size % 8 == 0
    header = json.loads(data[8 : 8 + size])
    assert list(header["__metadata__"]) == sorted(header["__metadata__"])
    back = read_cache(tmp_path / "c3", expect={"split": "train"})
    assert back.ids == cache.ids and np.array_equal(back.hidden, cache.hidden)
