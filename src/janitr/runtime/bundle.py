"""Model bundles (format v1): a directory that fully describes one deployable model.

    BUNDLE_DIR/
      bundle.json      format, kind, classes, thresholds and how they were tuned,
                       normalization settings, data provenance, SHA-256 and size of every file
      seen_data.json   ids and normalized-text hashes of every row the model trained or was
                       tuned on (evaluation refuses to score those rows)
      <model files>    e.g. model.ftz, model.onnx + tokenizer.json, seed_*/model.safetensors

`bundle.json` is checked against its schema at load (`janitr.runtime.manifest`): allowed keys
and types, thresholds finite and in [0, 1], every file inside the folder (no `..`, absolute
paths or symlinks), no file that the manifest does not list, `seen_data.json` present and
covering every split the model trained or was tuned on. A bundle's *content id*
(`Bundle.content_id`) is the SHA-256 of its canonical manifest, which holds every file's
SHA-256: one string that names exactly these bytes, shown by `classify --json` and
`evaluate`, and accepted by `load_bundle(..., content_id=...)` to pin a bundle.

Every kind of model (fastText, teacher ensemble, ONNX student) is a bundle, and every bundle
is scored through one interface: a *scorer* maps normalized texts to head probabilities
`(N, 2) = [p_scam, p_topic]`. The kind names the module that builds the scorer; that module
is imported only when such a bundle is loaded, so loading a fastText or ONNX bundle never
imports torch.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from janitr.artifacts import atomic_dir, file_entry, hash_object, read_json, sha256_file, write_json
from janitr.data.labels import CLASSES
from janitr.data.normalize import NormalizationConfig
from janitr.errors import BundleError
from janitr.runtime.manifest import (
    MANIFEST,
    SEEN_DATA,
    layout_problems,
    manifest_problems,
    seen_data_problems,
)

FORMAT = "janitr-bundle"
FORMAT_VERSION = 1
#: Shortest prefix of a content id accepted to pin a bundle (48 bits: no accidental match).
MIN_ID_PREFIX = 12

#: Bundle kind -> module that defines `load_scorer(bundle) -> Scorer`.
KIND_MODULES: dict[str, str] = {
    "fasttext": "janitr.runtime.fasttext",
    "onnx": "janitr.runtime.onnx",
    "teacher": "janitr.teacher.model",
    "student-torch": "janitr.student.model",
    "linear": "janitr.baselines.linear",
    "embed": "janitr.baselines.embed",
}


class Scorer(Protocol):
    """Maps normalized texts to head probabilities."""

    def predict_heads(self, texts: Sequence[str]) -> np.ndarray:
        """Return float array (N, 2): column 0 = p(scam), column 1 = p(topic_crypto)."""
        ...


def text_key(text: str, normalization: NormalizationConfig | None = None) -> str:
    """Short hash of a normalized text, used to recognise rows a model has seen."""
    norm = (normalization or NormalizationConfig()).apply(text)
    return hash_object(norm)[:20]


def seen_entry(ids: Iterable[str], texts: Iterable[str]) -> dict:
    """The `seen_data.json` entry for one split: sorted ids and normalized-text keys."""
    return {"ids": sorted(set(ids)), "text_keys": sorted({text_key(t) for t in texts})}


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified bundle directory."""

    path: Path
    manifest: dict

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def thresholds(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.manifest["thresholds"].items()}

    @property
    def normalization(self) -> NormalizationConfig:
        return NormalizationConfig.from_dict(self.manifest.get("normalization", {}))

    @property
    def content_id(self) -> str:
        """The bundle's identity: SHA-256 (hex) of its canonical manifest, which holds the
        SHA-256 and size of every file, so equal ids mean equal bundles byte for byte."""
        return hash_object(self.manifest)

    def file(self, name: str) -> Path:
        """Path of a file listed in the manifest.

        Raises:
            BundleError: if the manifest does not list it.
        """
        if name not in self.manifest["files"]:
            raise BundleError(
                f"{self.path}: bundle has no file {name!r} "
                f"(it has: {', '.join(sorted(self.manifest['files']))})"
            )
        return self.path / name

    def seen_data(self) -> dict:
        """`{split_name: {"ids": [...], "text_keys": [...]}}` for train and tuning data.

        Raises:
            BundleError: if `seen_data.json` is unreadable or misses a split of `data`.
        """
        path = self.file(SEEN_DATA)
        try:
            seen = read_json(path)
        except (OSError, ValueError) as exc:
            raise BundleError(f"{path}: unreadable ({exc}); rebuild the bundle") from exc
        problems = seen_data_problems(seen, self.manifest["data"])
        if problems:
            raise BundleError(f"{path}: " + "; ".join(problems) + "; rebuild the bundle")
        return seen

    def scorer(self) -> Scorer:
        """Build this bundle's scorer (imports the kind's backend only now)."""
        module = importlib.import_module(KIND_MODULES[self.kind])
        return module.load_scorer(self)


def write_bundle(
    out_dir: str | Path,
    *,
    kind: str,
    files: Mapping[str, str | Path],
    thresholds: Mapping[str, float],
    tuning: Mapping,
    normalization: NormalizationConfig,
    data: Mapping[str, Mapping],
    seen: Mapping[str, Mapping],
    model: Mapping | None = None,
    overwrite: bool = True,
) -> Bundle:
    """Write a bundle atomically and return it loaded.

    Args:
        out_dir: the bundle directory to create.
        kind: one of KIND_MODULES.
        files: bundle-relative name -> source file (copied) or directory (copied whole;
            every file inside is listed).
        thresholds: `{"scam": t, "topic_crypto": t}`.
        tuning: how the thresholds were chosen (data, target FPR, rule, per-class stats).
        normalization: the normalization the model was trained with.
        data: provenance of train and tuning data (`{"train": {"rows", "sha256"}, ...}`).
        seen: `seen_entry(...)` per split the model trained or was tuned on.
        model: free-form description (architecture, parameters, training config).
        overwrite: replace an existing bundle directory.

    Raises:
        BundleError: on an unknown kind, missing thresholds, or a manifest that would not
            pass its own schema (e.g. a NaN threshold); nothing is written then.
    """
    if kind not in KIND_MODULES:
        raise BundleError(f"unknown bundle kind {kind!r} (known: {', '.join(KIND_MODULES)})")
    missing = {"scam", "topic_crypto"} - set(thresholds)
    if missing:
        raise BundleError(f"thresholds for {sorted(missing)} are missing")
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        for name, source in files.items():
            source = Path(source)
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copyfile(source, target)
        write_json(tmp / SEEN_DATA, {k: dict(v) for k, v in seen.items()})
        listed = {}
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            listed[path.relative_to(tmp).as_posix()] = file_entry(path)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": kind,
            "classes": list(CLASSES),
            "thresholds": {k: float(v) for k, v in thresholds.items()},
            "tuning": dict(tuning),
            "normalization": normalization.to_dict(),
            "data": {k: dict(v) for k, v in data.items()},
            "model": dict(model or {}),
            "files": listed,
        }
        problems = manifest_problems(manifest, kinds=KIND_MODULES)
        if problems:
            raise BundleError(
                f"{out_dir}: refusing to write an invalid bundle: " + "; ".join(problems)
            )
        write_json(tmp / MANIFEST, manifest)
    return load_bundle(out_dir)


def load_bundle(path: str | Path, *, verify: bool = True, content_id: str | None = None) -> Bundle:
    """Load a bundle, checking its manifest's schema and layout and (by default) every
    file's checksum.

    Args:
        path: the bundle directory.
        verify: hash every file and refuse files the manifest does not list (skipped by
            worker processes that load a bundle their parent verified).
        content_id: refuse the bundle unless its `content_id` is this (or starts with it:
            at least MIN_ID_PREFIX hex digits), to pin exactly the bundle a run expects.

    Raises:
        BundleError: if the directory or manifest is missing, the format is unknown, the
            manifest breaks its schema (every problem listed), a file lies outside the
            bundle, is a symlink, missing, truncated or altered, an unlisted file is there,
            or the content id differs from `content_id`.
    """
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(
            f"{path}: not a model bundle (no {MANIFEST}); "
            "pass the directory written by `janitr train` or `janitr run`"
        )
    try:
        manifest = read_json(manifest_path)
    except ValueError as exc:
        raise BundleError(
            f"{manifest_path}: unreadable JSON ({exc}); the bundle is damaged, rebuild it"
        ) from exc
    if not isinstance(manifest, dict) or (
        manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION
    ):
        found = manifest if isinstance(manifest, dict) else {}
        raise BundleError(
            f"{manifest_path}: expected format {FORMAT} v{FORMAT_VERSION}, found "
            f"{found.get('format')!r} v{found.get('format_version')!r}; rebuild the bundle "
            "with this version of janitr"
        )
    problems = manifest_problems(manifest, kinds=KIND_MODULES)
    if problems:
        raise BundleError(f"{manifest_path}: invalid bundle manifest: " + "; ".join(problems))
    # Unlisted files are an integrity matter: looked for with the hashes (`verify`).
    problems = layout_problems(path, manifest["files"], unlisted=verify)
    if problems:
        raise BundleError(f"{path}: bundle does not match its manifest: " + "; ".join(problems))
    if verify:
        for name, entry in manifest["files"].items():
            file = path / name
            if not file.is_file():
                raise BundleError(f"{path}: file {name} is missing; the bundle is incomplete")
            size = file.stat().st_size
            if size != entry["size"]:
                raise BundleError(
                    f"{path}: file {name} is {size} bytes, the manifest says "
                    f"{entry['size']} (truncated or replaced); rebuild the bundle"
                )
            if sha256_file(file) != entry["sha256"]:
                raise BundleError(
                    f"{path}: file {name} fails its SHA-256 check (altered "
                    "after the bundle was written); rebuild the bundle"
                )
    bundle = Bundle(path=path, manifest=manifest)
    if content_id is not None:
        check_content_id(bundle, content_id)
    return bundle


def check_content_id(bundle: Bundle, expected: str) -> None:
    """Refuse `bundle` unless its content id is `expected` (or starts with it).

    Raises:
        BundleError: if `expected` is not at least MIN_ID_PREFIX hex digits, or differs.
    """
    want = expected.strip().lower()
    if not (MIN_ID_PREFIX <= len(want) <= 64 and all(c in "0123456789abcdef" for c in want)):
        raise BundleError(
            f"bundle id {expected!r}: expected {MIN_ID_PREFIX} to 64 hex digits (the content "
            "id that `janitr classify --json` and `janitr evaluate` print)"
        )
    if not bundle.content_id.startswith(want):
        raise BundleError(
            f"{bundle.path}: content id is {bundle.content_id[:16]}..., expected {want[:16]}...: "
            "this is not the pinned bundle (rebuilt or replaced); pin the new id or restore it"
        )
