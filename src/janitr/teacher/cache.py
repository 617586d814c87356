"""Provenance-checked cache of calibrated teacher logits and hidden states for distillation.

One split (train or valid; never holdout) is cached as two files:

    <dir>/<split>.safetensors   scam_logits (N, 2), topic_logits (N,), hidden (N, L, H), all
                                float16, calibrated (logits already divided by the head's
                                temperature); row ids in the safetensors metadata
    <dir>/<split>.meta.json     sidecar: format version, teacher id, calibration
                                (temperatures), seeds, label map hash, split name, split
                                content hash, layer indices, rows, SHA-256 of the tensors file

`hidden[:, j]` is the CLS vector of teacher layer `layer_indices[j]` (1-based:
hidden_states[0], the embeddings, is never cached), averaged over the ensemble's seeds. The
student maps its own layers onto these L layers (any depth; never assume equal counts).

`read_cache` refuses a cache whose sidecar does not match what the caller expects (another
split, teacher, calibration or label map), listing every mismatch at once; `write_cache`
refuses to replace an existing cache made from different inputs. Only safetensors is read:
no pickle is ever loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from janitr.artifacts import atomic_path, hash_object, read_json, sha256_file, write_json
from janitr.data.labels import CLASSES, SCAM_RAW_LABELS, TOPIC_RAW_LABELS
from janitr.data.records import split_hash
from janitr.errors import ProvenanceError, require
from janitr.teacher import distributed
from janitr.teacher.distributed import World

FORMAT = "janitr-teacher-cache"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
META_SUFFIX = ".meta.json"
#: Sidecar keys that identify what made a cache; any difference means a different cache.
SINGLE = World()  # one process: no torchrun
IDENTITY_KEYS: tuple[str, ...] = (
    "teacher_id", "calibration", "seeds", "label_map_hash", "split", "split_hash",
    "layer_indices",
)  # fmt: skip


@dataclass
class TeacherCache:
    """The cached teacher outputs of one split, row-aligned with `ids`.

    Attributes:
        ids: row ids, in cache order.
        scam_logits: float array (N, 2), calibrated logits of the scam head [not scam, scam].
        topic_logits: float array (N,), calibrated logit of the topic head.
        hidden: float16 array (N, L, H): CLS vectors of the L teacher layers `layer_indices`.
        layer_indices: 1-based teacher layer of each of the L hidden slots.
        sidecar: provenance (filled by `write_cache` / `read_cache`).
    """

    ids: list[str]
    scam_logits: np.ndarray
    topic_logits: np.ndarray
    hidden: np.ndarray
    layer_indices: list[int]
    sidecar: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        problems = []
        if np.shape(self.scam_logits) != (n, 2):
            problems.append(
                f"scam_logits has shape {np.shape(self.scam_logits)}, expected ({n}, 2)"
            )
        if np.shape(self.topic_logits) != (n,):
            problems.append(
                f"topic_logits has shape {np.shape(self.topic_logits)}, expected ({n},)"
            )
        if np.ndim(self.hidden) != 3 or np.shape(self.hidden)[:2] != (n, len(self.layer_indices)):
            problems.append(
                f"hidden has shape {np.shape(self.hidden)}, expected "
                f"({n}, {len(self.layer_indices)}, H)"
            )
        if len(set(self.ids)) != n:
            problems.append("ids are not unique")
        if problems:
            raise ProvenanceError("inconsistent teacher cache: " + "; ".join(problems))

    @property
    def rows(self) -> int:
        return len(self.ids)

    @property
    def num_layers(self) -> int:
        return len(self.layer_indices)

    @property
    def hidden_size(self) -> int:
        return int(self.hidden.shape[2])

    def p_scam(self) -> np.ndarray:
        """Calibrated p(scam), (N,)."""
        z = self.scam_logits.astype(np.float64)
        return 1.0 / (1.0 + np.exp(z[:, 0] - z[:, 1]))

    def p_topic(self) -> np.ndarray:
        """Calibrated p(topic), (N,)."""
        return 1.0 / (1.0 + np.exp(-self.topic_logits.astype(np.float64)))

    def select(self, ids: Sequence[str]) -> TeacherCache:
        """The rows of `ids`, in that order.

        Raises:
            ProvenanceError: if some ids are not in the cache (the cache was built from
                other data).
        """
        index = {i: k for k, i in enumerate(self.ids)}
        missing = [i for i in ids if i not in index]
        if missing:
            raise ProvenanceError(
                f"{len(missing)} of {len(ids)} ids are not in the teacher cache "
                f"(first: {missing[:3]}); rebuild the cache for this split"
            )
        rows = np.array([index[i] for i in ids], dtype=np.int64)
        return TeacherCache(
            ids=list(ids),
            scam_logits=self.scam_logits[rows],
            topic_logits=self.topic_logits[rows],
            hidden=self.hidden[rows],
            layer_indices=list(self.layer_indices),
            sidecar=dict(self.sidecar),
        )


def label_map_hash() -> str:
    """Hash of the label semantics: class order and the raw labels behind each head."""
    return hash_object(
        {
            "classes": list(CLASSES),
            "scam_raw_labels": sorted(SCAM_RAW_LABELS),
            "topic_raw_labels": sorted(TOPIC_RAW_LABELS),
        }
    )


def cache_files(path: str | Path, split: str | None = None) -> tuple[Path, Path]:
    """`(tensors_file, sidecar_file)` for a cache path.

    `path` is either a `.safetensors` file (the sidecar is `<stem>.meta.json` beside it) or a
    directory, existing or not, holding `<split>.safetensors` (then `split` is required).
    """
    path = Path(path)
    if path.suffix == SUFFIX:
        tensors = path
    else:
        if not split:
            raise ProvenanceError(f"{path} is a cache directory: name the split to read or write")
        tensors = path / f"{split}{SUFFIX}"
    return tensors, tensors.with_name(tensors.name[: -len(SUFFIX)] + META_SUFFIX)


def _identity(sidecar: Mapping) -> dict:
    return {k: sidecar.get(k) for k in IDENTITY_KEYS}


def _mismatches(found: Mapping, expect: Mapping) -> list[str]:
    out = []
    for key, want in expect.items():
        have = found.get(key)
        if _jsonable(have) != _jsonable(want):
            out.append(f"{key}: cache has {_short(have)}, expected {_short(want)}")
    return out


def _jsonable(value):
    return json.loads(json.dumps(value, sort_keys=True, default=list))


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, default=list)
    return text if len(text) <= 80 else text[:77] + "..."


def write_cache(
    path: str | Path,
    *,
    split: str,
    cache: TeacherCache,
    sidecar: Mapping,
    overwrite: bool = False,
) -> Path:
    """Write one split's cache (tensors + sidecar) atomically; returns the tensors file.

    Args:
        path: a directory (writes `<split>.safetensors` in it), or a `.safetensors` file.
        split: split name ("train", "valid").
        cache: the arrays (hidden and logits are stored as float16).
        sidecar: provenance; should hold `teacher_id`, `calibration` (temperatures), `seeds`,
            `split_hash` (`split_hash(records)`) and may hold anything else. `label_map_hash`
            defaults to `label_map_hash()`.
        overwrite: replace an existing cache even if it was made from different inputs.

    Raises:
        ProvenanceError: if a cache made from different inputs (teacher, calibration, seeds,
            label map, split, split hash, layers) already exists there and `overwrite` is
            false, or if the sidecar lacks `teacher_id` or `split_hash`.
    """
    save = require("safetensors.numpy", extra="train").save

    tensors_file, meta_file = cache_files(path, split)
    missing = [k for k in ("teacher_id", "split_hash") if k not in sidecar]
    if missing:
        raise ProvenanceError(
            f"cache sidecar for {split!r} lacks {missing}; pass the teacher "
            "id and split_hash(records) of the data being cached"
        )
    meta = dict(sidecar)
    meta.setdefault("label_map_hash", label_map_hash())
    meta.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        split=split,
        rows=cache.rows,
        layer_indices=[int(i) for i in cache.layer_indices],
        hidden_size=cache.hidden_size,
    )
    if meta_file.exists() and not overwrite:
        old = read_json(meta_file)
        diffs = _mismatches(_identity(old), _identity(meta))
        if diffs:
            raise ProvenanceError(
                f"{meta_file}: refusing to overwrite a cache made from different inputs: "
                + "; ".join(diffs)
                + " (write to another path, or delete the old cache)"
            )
    tensors = {
        "scam_logits": np.ascontiguousarray(cache.scam_logits, dtype=np.float16),
        "topic_logits": np.ascontiguousarray(cache.topic_logits, dtype=np.float16),
        "hidden": np.ascontiguousarray(cache.hidden, dtype=np.float16),
    }
    data = save(tensors, metadata={"format": FORMAT, "ids": json.dumps(cache.ids)})
    header, body = _canonical_header(data)
    with atomic_path(tensors_file) as tmp, open(tmp, "wb") as handle:
        handle.write(header)
        handle.write(body)
    meta["tensors_sha256"] = sha256_file(tensors_file)
    write_json(meta_file, meta)
    cache.sidecar = meta
    return tensors_file


def _canonical_header(data: bytes) -> tuple[bytes, memoryview]:
    """Split safetensors bytes into a deterministic header and the tensor data.

    safetensors (0.8) keeps the header's `__metadata__` in a Rust HashMap, so its keys come
    out in a different order from call to call: bit-equal tensors gave files with different
    SHA-256, and a rerun of `janitr cache` made every later stage run again. The header
    (8-byte little-endian length, then JSON padded with spaces to a multiple of 8) is
    rewritten with the metadata keys sorted; tensor entries keep their order, and their
    offsets count from the end of the header, so the data is untouched (and not copied).
    """
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text, memoryview(data)[8 + size :]


def read_cache(
    path: str | Path, *, expect: Mapping | None = None, split: str | None = None
) -> TeacherCache:
    """Read one split's cache, refusing it unless its provenance matches `expect`.

    Args:
        path: as in `write_cache` (a directory needs `split`, or `expect["split"]`).
        expect: sidecar values the caller requires, e.g. `{"split": "train", "split_hash":
            split_hash(records), "teacher_id": ..., "label_map_hash": label_map_hash()}`.
            `label_map_hash` is always checked against this code's label map.
        split: split name when `path` is a directory.

    Raises:
        ProvenanceError: if the files are missing, of another format version, altered after
            writing, or any expected value differs (every mismatch is listed).
    """
    safe_open = require("safetensors", extra="train").safe_open

    expect = dict(expect or {})
    expect.setdefault("label_map_hash", label_map_hash())
    tensors_file, meta_file = cache_files(path, split or expect.get("split"))
    for file in (tensors_file, meta_file):
        if not file.is_file():
            raise ProvenanceError(
                f"{file}: teacher cache file missing; build it with `janitr cache`"
            )
    meta = read_json(meta_file)
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ProvenanceError(
            f"{meta_file}: expected {FORMAT} v{FORMAT_VERSION}, found "
            f"{meta.get('format')!r} v{meta.get('format_version')!r}; "
            "rebuild the cache"
        )
    diffs = _mismatches(meta, expect)
    if meta.get("tensors_sha256") != sha256_file(tensors_file):
        diffs.append("tensors file fails its SHA-256 check (altered after writing)")
    if diffs:
        raise ProvenanceError(
            f"{meta_file}: teacher cache does not match this run: "
            + "; ".join(diffs)
            + " (rebuild it with `janitr cache`)"
        )
    with safe_open(str(tensors_file), framework="numpy") as handle:
        ids = json.loads(handle.metadata()["ids"])
        arrays = {k: handle.get_tensor(k) for k in ("scam_logits", "topic_logits", "hidden")}
    return TeacherCache(
        ids=ids,
        scam_logits=arrays["scam_logits"].astype(np.float32),
        topic_logits=arrays["topic_logits"].astype(np.float32),
        hidden=arrays["hidden"],
        layer_indices=list(meta["layer_indices"]),
        sidecar=meta,
    )


def mix_logits(cache: TeacherCache, heads: np.ndarray, weight: float) -> TeacherCache:
    """The cache with its logits moved towards another model's probabilities.

    Logits are averaged: `(1 - weight) * teacher + weight * logit(p)` per head (for the
    2-way scam head, on the scam logit, which leaves the softmax a weighted mean of the two
    models' log-odds). Hidden states stay the teacher's.

    Args:
        cache: teacher outputs of one split.
        heads: `(N, 2)` probabilities `[p_scam, p_topic]` of the other model, row-aligned.
        weight: share of the other model, in [0, 1].
    """
    heads = np.clip(np.asarray(heads, dtype=np.float64), 1e-6, 1 - 1e-6)
    if heads.shape != (cache.rows, 2):
        raise ValueError(f"heads: expected shape ({cache.rows}, 2), got {heads.shape}")
    log_odds = np.log(heads) - np.log1p(-heads)
    scam = (1.0 - weight) * np.asarray(cache.scam_logits, dtype=np.float64)
    scam[:, 1] += weight * log_odds[:, 0]
    topic = (1.0 - weight) * np.asarray(cache.topic_logits, dtype=np.float64)
    topic += weight * log_odds[:, 1]
    return TeacherCache(
        ids=list(cache.ids),
        scam_logits=scam.astype(np.float32),
        topic_logits=topic.astype(np.float32),
        hidden=cache.hidden,
        layer_indices=list(cache.layer_indices),
    )


def default_layer_indices(num_layers: int, count: int = 4) -> list[int]:
    """`count` 1-based layers spread over an encoder of `num_layers` (last layer included).

    >>> default_layer_indices(24)
    [1, 9, 16, 24]
    >>> default_layer_indices(2)
    [1, 2]
    """
    count = min(count, num_layers)
    return sorted({int(round(x)) for x in np.linspace(1, num_layers, count)})


def _score(scorer, texts: list[str], *, layers: list[int], batch_size: int, progress: bool,
           world: World, tensors_file: Path) -> dict | None:  # fmt: skip
    """Calibrated logits and hidden states of `texts` (under torchrun, of this rank's span,
    merged on rank 0 by `_merge_shards`; None on the other ranks)."""
    if world.active:  # on CPU, this machine's ranks share its cores (the scorer took all)
        distributed.device(world)
    start, stop = world.span(len(texts))
    arrays = scorer.calibrated(
        scorer.forward_all(
            texts[start:stop], layers=layers, batch_size=batch_size,
            progress=progress and world.is_main,
        )
    )  # fmt: skip
    if not world.active:
        return arrays
    return _merge_shards(arrays, tensors_file=tensors_file, world=world)


def _merge_shards(arrays: dict, *, tensors_file: Path, world: World) -> dict | None:
    """Every rank's arrays, concatenated in rank (so row) order, on rank 0; None elsewhere.

    Each rank writes its shard (float32, as computed) beside the cache as
    `.<split>.shard-<r>-of-<n>.safetensors`; after a barrier rank 0 reads and removes them.

    Raises:
        ProvenanceError: if a shard is missing on rank 0 (several machines whose cache
            directory is not on a shared filesystem).
    """
    safetensors = require("safetensors.numpy", extra="train")

    def shard(rank: int) -> Path:
        return tensors_file.with_name(
            f".{tensors_file.name[: -len(SUFFIX)]}.shard-{rank}-of-{world.size}{SUFFIX}"
        )

    data = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    with atomic_path(shard(world.rank)) as tmp:
        tmp.write_bytes(safetensors.save(data))
    distributed.barrier(world)
    if not world.is_main:
        return None
    missing = [str(shard(r)) for r in range(world.size) if not shard(r).is_file()]
    if missing:
        raise ProvenanceError(
            f"cache shards missing: {missing}; on several machines the cache directory "
            "must be on a filesystem every machine shares"
        )
    parts = [safetensors.load_file(str(shard(r))) for r in range(world.size)]
    for r in range(world.size):
        shard(r).unlink()
    return {k: np.concatenate([part[k] for part in parts]) for k in arrays}


def build_cache(
    *,
    teacher: str | Path,
    records: Sequence,
    split: str,
    out: str | Path,
    layers: Sequence[int] | None = None,
    batch_size: int = 64,
    overwrite: bool = False,
    progress: bool = True,
    mix: tuple[np.ndarray, float, str] | None = None,
    world: World = SINGLE,
) -> Path | None:
    """Run the calibrated teacher ensemble over a split and write its cache.

    Under torchrun (`world` of several processes, inside `distributed.process_group`) each
    rank scores its contiguous share of the rows (`World.span`) and writes it as a shard
    beside the cache; rank 0 merges the shards in row order and writes the cache and its
    sidecar exactly as one process does, the other ranks return None.

    Args:
        teacher: the teacher bundle directory (kind "teacher").
        records: the split's records (train, valid or unlabeled; never calib or holdout).
        split: split name stored in the sidecar.
        out: cache directory (or file path, see `write_cache`).
        layers: 1-based teacher layers whose CLS vectors are cached (default: 4 spread
            over the depth, `default_layer_indices`).
        batch_size: inference batch size.
        overwrite: replace an existing cache made from different inputs.
        progress: show a progress bar.
        mix: `(heads, weight, name)`: blend another model's `(N, 2)` probabilities into
            the logits (`mix_logits`); the sidecar records `{"mixed_with": name, ...}`.
        world: this process's rank under torchrun (default: one process).

    Returns:
        The cache's tensors file (None on ranks other than 0).

    Raises:
        ProvenanceError: on an incompatible existing cache, or if the split is named
            "holdout"/"calib" (the teacher must never produce targets from tuning data).
        BundleError: if `teacher` is not a teacher bundle.
    """
    from janitr.errors import BundleError
    from janitr.runtime.bundle import load_bundle

    if split in {"holdout", "test", "calib"}:
        raise ProvenanceError(
            f"refusing to cache teacher outputs for split {split!r}: only "
            "training data (train, valid) may feed distillation"
        )
    bundle = load_bundle(teacher)
    if bundle.kind != "teacher":
        raise BundleError(f"{teacher}: a {bundle.kind!r} bundle, expected a teacher bundle")
    scorer = bundle.scorer()
    strip = bundle.normalization.strip_urls
    texts = [bundle.normalization.apply(r.text) for r in records]  # as the teacher is served
    layers = list(layers) if layers else default_layer_indices(scorer.num_layers)
    out_arrays = _score(scorer, texts, layers=layers, batch_size=batch_size, progress=progress,
                        world=world, tensors_file=cache_files(out, split)[0])  # fmt: skip
    if out_arrays is None:  # not rank 0: its shard is handed over
        return None
    cache = TeacherCache(
        ids=[r.id for r in records],
        scam_logits=out_arrays["scam_logits"],
        topic_logits=out_arrays["topic_logits"],
        hidden=out_arrays["hidden"].astype(np.float16),
        layer_indices=layers,
    )
    sidecar = {
        "teacher_id": bundle.manifest["model"].get("teacher_id", bundle.content_id[:16]),
        "teacher_bundle_sha256": bundle.content_id,
        "calibration": bundle.manifest["model"].get("calibration", {}),
        "seeds": bundle.manifest["model"].get("seeds", []),
        "split_hash": split_hash(records, strip_urls=strip),
        "hidden_source": "CLS of each layer, averaged over seeds",
    }
    if mix is not None:
        heads, weight, name = mix
        cache = mix_logits(cache, heads, weight)
        sidecar["mix"] = {"mixed_with": name, "weight": weight}
    return write_cache(out, split=split, cache=cache, sidecar=sidecar, overwrite=overwrite)
