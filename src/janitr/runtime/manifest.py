"""The schema of `bundle.json` (format v1) and the checks a bundle directory must pass.

`bundle.json` is the root of trust of a bundle: it says which files make the model, their
SHA-256, the thresholds that turn scores into decisions and the normalization that turns
posts into model input. So `load_bundle` checks it before it trusts any of it:

- `manifest_problems`: the manifest's shape. Top-level keys are the ones below and no
  others; thresholds are finite numbers in [0, 1] (or `DISABLED_THRESHOLD`, a class that is
  never predicted); normalization options are booleans; every file entry is a safe relative
  path with a 64-hex SHA-256 and a size; `data` names the splits the model was trained and
  tuned on, and `seen_data.json` (the training-overlap guard) is listed.
- `layout_problems`: the directory. Every listed file is a regular file inside the bundle,
  reached through no symlink, and nothing else is there (a file nobody listed is either
  left over or planted; either way the bundle is not what its manifest says).
- `seen_data_problems`: `seen_data.json` holds ids and text keys for every split the
  manifest names under `data`, so emptying it cannot switch the guard off either.

The schema is written as a few typed checks rather than a JSON Schema document: JSON Schema
cannot say "finite" (NaN passes `minimum`), and the path and symlink rules need the file
system anyway. Each problem reads `key.path: expected ..., found ...`; the caller prefixes
the manifest's path and raises once for all of them.

Per-kind content (which model file a fastText bundle reads, the ONNX student's tokenizer)
is checked by the kind's `load_scorer`, which knows what it needs.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath

from janitr.data.labels import CLASSES, SCAM, TOPIC

MANIFEST = "bundle.json"
SEEN_DATA = "seen_data.json"
#: Threshold of a class that is never predicted (above any probability). The same value as
#: `janitr.evaluation.thresholds.DISABLED`, which writes it (a test keeps them equal; the
#: runtime does not import the evaluation layer).
DISABLED_THRESHOLD = 2.0

_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Normalization options a manifest may set; each is a boolean (`NormalizationConfig`).
NORMALIZATION_KEYS = ("strip_urls", "fold_confusables")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _found(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _object(value, key: str, problems: list[str]) -> bool:
    if not isinstance(value, dict):
        problems.append(f"{key}: expected an object, found {type(value).__name__} {_found(value)}")
        return False
    return True


def _check_threshold(value, key: str, problems: list[str]) -> None:
    ok = _is_number(value) and math.isfinite(value)
    ok = ok and (0.0 <= value <= 1.0 or value == DISABLED_THRESHOLD)
    if not ok:
        problems.append(
            f"{key}: expected a finite number in [0, 1] (or {DISABLED_THRESHOLD:g}: class "
            f"disabled), found {_found(value)}"
        )


def _check_thresholds(value, key: str, problems: list[str]) -> None:
    if not _object(value, key, problems):
        return
    for name in sorted(set(value) - {SCAM, TOPIC}):
        problems.append(f"{key}.{name}: unknown key (allowed: {SCAM}, {TOPIC})")
    for name in (SCAM, TOPIC):
        if name not in value:
            problems.append(f"{key}.{name}: missing")
        else:
            _check_threshold(value[name], f"{key}.{name}", problems)


def _check_normalization(value, key: str, problems: list[str]) -> None:
    if not _object(value, key, problems):
        return
    for name, option in value.items():
        if name not in NORMALIZATION_KEYS:
            problems.append(
                f"{key}.{name}: unknown option (allowed: {', '.join(NORMALIZATION_KEYS)})"
            )
        elif not isinstance(option, bool):
            problems.append(f"{key}.{name}: expected true or false, found {_found(option)}")


def path_problem(name) -> str | None:
    """Why `name` is not a safe bundle-relative file name, or None if it is.

    Safe: a non-empty POSIX relative path without `.`/`..` components, empty components,
    backslashes or NUL, and not the manifest itself.
    """
    if not isinstance(name, str) or not name:
        return "expected a non-empty relative path"
    if "\\" in name or "\0" in name:
        return "backslashes and NUL are not allowed in file names"
    if PurePosixPath(name).is_absolute() or re.match(r"[A-Za-z]:", name):
        return "absolute paths are not allowed (files must lie inside the bundle)"
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "'.', '..' and empty components are not allowed (files must lie inside the bundle)"
    if name == MANIFEST:
        return f"{MANIFEST} cannot list itself"
    return None


def _check_files(value, key: str, problems: list[str]) -> None:
    if not _object(value, key, problems):
        return
    if not value:
        problems.append(f"{key}: expected at least one file, found none")
    for name, entry in value.items():
        where = f"{key}[{name!r}]"
        reason = path_problem(name)
        if reason:
            problems.append(f"{where}: {reason}")
        if not _object(entry, where, problems):
            continue
        for field in sorted(set(entry) - {"sha256", "size"}):
            problems.append(f"{where}.{field}: unknown key (allowed: sha256, size)")
        digest = entry.get("sha256")
        if not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
            problems.append(
                f"{where}.sha256: expected 64 lower-case hex digits, found {_found(digest)}"
            )
        size = entry.get("size")
        if not (_is_int(size) and size >= 0):
            problems.append(f"{where}.size: expected an integer >= 0, found {_found(size)}")


def _check_data(value, key: str, problems: list[str]) -> None:
    if not _object(value, key, problems):
        return
    if not value:
        problems.append(f"{key}: expected the splits the model was trained on, found none")
    for split, entry in value.items():
        _object(entry, f"{key}.{split}", problems)


def _check_any_object(value, key: str, problems: list[str]) -> None:
    _object(value, key, problems)


def _check_classes(value, key: str, problems: list[str]) -> None:
    if value != list(CLASSES):
        problems.append(f"{key}: expected {list(CLASSES)}, found {_found(value)}")


#: Top-level keys: key -> (required, check). `tuning` and `model` are free-form
#: descriptions (each kind's loader reads what it needs from `model`).
_TOP_LEVEL: dict[str, tuple[bool, Callable[[object, str, list[str]], None]]] = {
    "format": (True, lambda v, k, p: None),  # checked first, by load_bundle
    "format_version": (True, lambda v, k, p: None),
    "kind": (True, lambda v, k, p: None),  # the known kinds live in bundle.KIND_MODULES
    "classes": (True, _check_classes),
    "thresholds": (True, _check_thresholds),
    "normalization": (True, _check_normalization),
    "files": (True, _check_files),
    "data": (True, _check_data),
    "tuning": (False, _check_any_object),
    "model": (False, _check_any_object),
}


def manifest_problems(manifest, *, kinds: Iterable[str]) -> list[str]:
    """Every way `manifest` (parsed `bundle.json`) breaks the v1 schema; empty if none.

    Args:
        manifest: the parsed JSON.
        kinds: the bundle kinds this version knows.
    """
    problems: list[str] = []
    if not isinstance(manifest, dict):
        return [f"expected a JSON object, found {type(manifest).__name__}"]
    for key in sorted(set(manifest) - set(_TOP_LEVEL)):
        problems.append(f"{key}: unknown key (allowed: {', '.join(_TOP_LEVEL)})")
    for key, (required, check) in _TOP_LEVEL.items():
        if key not in manifest:
            if required:
                problems.append(f"{key}: missing")
            continue
        check(manifest[key], key, problems)
    kinds = list(kinds)
    if "kind" in manifest and manifest["kind"] not in kinds:
        problems.append(
            f"kind: expected one of {', '.join(kinds)}, found {_found(manifest['kind'])}"
        )
    files = manifest.get("files")
    # The training-overlap guard: every bundle records what it was trained and tuned on
    # (`data`) and carries the ids and text keys of those rows, or evaluation would
    # silently score them.
    if isinstance(files, dict) and SEEN_DATA not in files:
        problems.append(
            f"files: {SEEN_DATA} is missing (it lists the rows this model was trained or tuned "
            "on, so that evaluation can refuse them); rebuild the bundle"
        )
    return problems


def layout_problems(root: Path, names: Iterable[str], *, unlisted: bool = True) -> list[str]:
    """How the directory `root` differs from a bundle holding exactly `names` (plus the
    manifest): symlinks, non-regular files, and (with `unlisted`) files nobody listed.
    Empty if none.

    `names` must have passed `path_problem`. Nothing is followed through a symlink.
    """
    problems = []
    names = set(names)
    for name in sorted(names):
        path = root
        for part in name.split("/"):
            path = path / part
            try:
                mode = os.lstat(path).st_mode
            except OSError:  # missing: reported by the checksum pass
                break
            if stat.S_ISLNK(mode):
                problems.append(
                    f"{name}: {path.relative_to(root).as_posix()} is a symlink (a bundle holds "
                    "its own files; copy the file in and rebuild)"
                )
                break
        else:
            if not stat.S_ISREG(mode):
                problems.append(f"{name}: not a regular file")
    if unlisted:
        problems += _unlisted_problems(root, names)
    return problems


def _unlisted_problems(root: Path, names: set[str]) -> list[str]:
    """Files (and symlinked folders) under `root` that are neither listed nor the manifest."""
    extra = []
    for dirpath, dirnames, filenames in os.walk(root):  # never follows symlinked folders
        here = Path(dirpath)
        for entry in filenames + [d for d in dirnames if (here / d).is_symlink()]:
            rel = (here / entry).relative_to(root).as_posix()
            if rel != MANIFEST and rel not in names:
                extra.append(rel)
    if not extra:
        return []
    shown = ", ".join(sorted(extra)[:10]) + (" ..." if len(extra) > 10 else "")
    return [
        f"{len(extra)} file(s) not listed in {MANIFEST}: {shown} (a bundle holds exactly "
        "the files its manifest lists; remove them or rebuild the bundle)"
    ]


def seen_data_problems(seen, data: Mapping) -> list[str]:
    """How `seen` (parsed `seen_data.json`) fails to cover the splits named in `data`."""
    if not isinstance(seen, dict):
        return [f"expected a JSON object, found {type(seen).__name__}"]
    problems = []
    for split, entry in seen.items():
        if not isinstance(entry, dict):
            problems.append(f"{split}: expected an object, found {type(entry).__name__}")
            continue
        for field in ("ids", "text_keys"):
            values = entry.get(field)
            if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                problems.append(f"{split}.{field}: expected a list of strings")
    for split in sorted(set(data) - set(seen)):
        problems.append(
            f"{split}: missing, but bundle.json's data names it (the rows of every split the "
            "model trained or was tuned on must be listed)"
        )
    return problems
