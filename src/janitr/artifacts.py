"""Content hashes and crash-safe writes for every file the project produces.

Writes go to a temporary sibling and are renamed into place, so after a crash (even
`kill -9`) a reader finds either the old complete file or the new complete file, never half
of one. Directories are built under a temporary name and renamed the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

_CHUNK = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj) -> str:
    """Sorted-key compact JSON: equal objects give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_object(obj) -> str:
    """SHA-256 of the canonical JSON of an object."""
    return sha256_bytes(canonical_json(obj).encode("utf-8"))


def hash_strings(items: Iterable[str]) -> str:
    """Order-sensitive SHA-256 of a sequence of strings (newline-joined)."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_output_file(path: str | Path) -> Path:
    """Refuse an output file path that can never be written: a directory, or a path below
    a file. Callers check their output paths before the work, so a typo costs no time.

    Raises:
        ConfigError: naming the path and what to give instead.
    """
    from janitr.errors import ConfigError

    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"output {path} is a directory; give a file path (e.g. {path / 'out.jsonl'})"
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"output {path}: {parent} is a file, not a directory")
            break
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it over `path`.

    On an exception the temporary file is removed and `path` is left untouched.

    Raises:
        ConfigError: if `path` is a directory or lies below a file (`check_output_file`).
    """
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the final file the usual permissions instead.
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> None:
    """Atomically write a UTF-8 text file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Atomically write a binary file."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj, *, indent: int = 2) -> None:
    """Atomically write pretty JSON (sorted keys, trailing newline)."""
    write_text(path, json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False) + "\n")


def write_lines(path: str | Path, lines: Iterable[str]) -> int:
    """Atomically write lines (each given without its newline); returns the count."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")
            count += 1
    return count


def read_json(path: str | Path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@contextlib.contextmanager
def atomic_dir(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary name, then rename it to `path`.

    If `path` exists it is replaced only when `overwrite` is true (the old one is removed
    after the new one is complete). On an exception nothing at `path` changes.

    Raises:
        FileExistsError: if `path` exists and `overwrite` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700 directories
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def file_entry(path: str | Path) -> dict:
    """`{"sha256", "size"}` of a file, as stored in manifests."""
    path = Path(path)
    return {"sha256": sha256_file(path), "size": path.stat().st_size}
