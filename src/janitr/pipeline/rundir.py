"""The run directory: its layout, stage manifests, run info and prediction files.

    RUNDIR/
      run.json            name, creation time, data directory (written at the first start)
      config.toml/.json   the resolved config
      data/               the generated demo data (only when no data directory was given)
      stages/NN-<name>/   one folder per stage: its outputs + manifest.json (written last)
      bundles/<name>/     the final bundles (copies of the thresholds stage's)
      report.html, report.md, RUN_INFO.json

Everything here reads or writes files of a run directory and nothing else: the runner
(`janitr.pipeline.runner`) decides what runs, the stages (`janitr.pipeline.stages`) make the
outputs, and the registry (`janitr.pipeline.runs`) lists and compares finished runs.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from janitr.artifacts import (
    atomic_dir,
    file_entry,
    read_json,
    sha256_file,
    write_bytes,
    write_json,
    write_lines,
)
from janitr.errors import PipelineError
from janitr.pipeline.config import PipelineConfig

log = logging.getLogger(__name__)

STAGE_FORMAT = "janitr-stage"
STAGE_FORMAT_VERSION = 1
RUN_FORMAT = "janitr-run"
RUN_FORMAT_VERSION = 1
RUN_FILE = "run.json"
MANIFEST = "manifest.json"
STAGES_DIR = "stages"
BUNDLES_DIR = "bundles"
#: Folder of a stage's outputs that replaces the data directory for later stages.
DATA_DIR = "data"
#: Final bundle names, in report order.
BUNDLE_NAMES: tuple[str, ...] = ("fasttext", "teacher", "student-fp32", "student-int8")
RUN_INFO = "RUN_INFO.json"
RUN_INFO_FORMAT = "janitr-run-info"
RUN_INFO_VERSION = 1
#: Files of each bundle's folder in the evaluate stage.
EVAL_FILE = "eval.json"
PREDICTIONS_FILE = "predictions.jsonl"

ADJECTIVES = (
    "agile", "amber", "apex", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp",
    "daring", "eager", "fierce", "gentle", "glossy", "golden", "happy", "humble", "jolly",
    "keen", "lively", "lucid", "mellow", "nimble", "noble", "plucky", "quiet", "rapid",
    "serene", "sharp", "silver", "steady", "swift", "tidy", "vivid", "witty",
)  # fmt: skip

NOUNS = (
    "albatross", "badger", "beaver", "bison", "cheetah", "condor", "crane", "dolphin",
    "falcon", "ferret", "gazelle", "heron", "ibis", "jaguar", "koala", "lemur", "lynx",
    "marten", "narwhal", "ocelot", "otter", "owl", "panda", "pelican", "puffin", "quokka",
    "raven", "robin", "salmon", "sparrow", "stork", "tapir", "toucan", "walrus", "wombat",
    "zebra",
)  # fmt: skip


# --- stage folders and manifests ------------------------------------------------------


def stage_dir_name(index: int, name: str) -> str:
    """A stage's folder name: `stage_dir_name(3, "tokenizer")` -> "03-tokenizer"."""
    return f"{index:02d}-{name}"


def list_outputs(directory: Path) -> dict[str, dict]:
    """`{relative path: {"sha256", "size"}}` of every file under a directory but the manifest."""
    out = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if rel != MANIFEST:
            out[rel] = file_entry(path)
    return out


def read_manifest(stage_dir: Path) -> dict | None:
    """The manifest of a finished stage folder, or None if absent or unreadable."""
    path = stage_dir / MANIFEST
    try:
        manifest = read_json(path)
    except (OSError, ValueError):
        return None
    if (
        manifest.get("format") != STAGE_FORMAT
        or manifest.get("format_version") != STAGE_FORMAT_VERSION
        or manifest.get("status") != "complete"
    ):
        return None
    return manifest


def verify_outputs(stage_dir: Path, manifest: Mapping) -> list[str]:
    """Problems with a stage folder's outputs versus its manifest (empty if all verify)."""
    problems = []
    listed = manifest.get("outputs", {})
    for rel, entry in listed.items():
        path = stage_dir / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif path.stat().st_size != entry["size"]:
            problems.append(f"{rel} has {path.stat().st_size} bytes, expected {entry['size']}")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{rel} fails its SHA-256 check")
    extra = [rel for rel in list_outputs(stage_dir) if rel not in listed]
    problems += [f"{rel} is not in the manifest" for rel in extra]
    return problems


def now() -> str:
    """The current UTC time as `YYYY-MM-DDTHH:MM:SSZ` (manifest and run.json stamps)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean_leftovers(directory: Path) -> list[str]:
    """Remove temporary folders/files (`.name.*.tmp`, `.name.old`) left by a crash."""
    removed = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        if entry.name.startswith(".") and (
            entry.name.endswith(".tmp") or entry.name.endswith(".old")
        ):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


def discard_unfinished(stages_root: Path) -> None:
    """Delete stage folders without a complete manifest (never trusted)."""
    for entry in stages_root.iterdir():
        if entry.is_dir() and not entry.name.startswith(".") and read_manifest(entry) is None:
            log.info("discarding incomplete stage folder %s", entry.name)
            shutil.rmtree(entry)


def reusable(target: Path, key: str) -> dict | None:
    """The manifest of `target` if it is complete, has this key, and its outputs verify."""
    if not target.is_dir():
        return None
    manifest = read_manifest(target)
    if manifest is None or manifest.get("key") != key:
        return None
    problems = verify_outputs(target, manifest)
    if problems:
        log.warning("stage %s will run again: %s", target.name, "; ".join(problems[:3]))
        return None
    return manifest


def reuse_other(other_run: Path, target: Path, stage_name: str, key: str) -> dict | None:
    """Hard-link (or copy) a matching finished stage folder of another run into `target`."""
    candidates = sorted((other_run / STAGES_DIR).glob(f"*-{stage_name}"))
    for candidate in candidates:
        manifest = reusable(candidate, key)
        if manifest is None:
            continue
        with atomic_dir(target, overwrite=True) as tmp:
            shutil.rmtree(tmp)
            shutil.copytree(candidate, tmp, copy_function=link_or_copy)
        log.info("reused stage %s from %s", stage_name, other_run)
        return reusable(target, key)
    return None


def link_or_copy(src: str, dst: str) -> None:
    """Hard-link `src` to `dst`, or copy it where links are impossible (other file system)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# --- the run's data, identity and published files ----------------------------------------


def prepare_data(run_dir: Path, data_dir: Path | None, config: PipelineConfig) -> Path:
    """The data directory to use; writes the demo dataset into RUNDIR/data if none is given."""
    if data_dir is not None:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            what = "is a file, not a directory" if data_dir.exists() else "does not exist"
            raise PipelineError(
                f"data directory {data_dir} {what} (pass --data DIR "
                "with train.jsonl, valid.jsonl and calib.jsonl, or omit it to "
                "run on the demo data)"
            )
        return data_dir.resolve()
    target = run_dir / "data"
    spec = {"rows": config.data.demo_rows, "seed": config.run.seed}
    marker = target / "DEMO.json"
    if marker.is_file():
        try:
            if read_json(marker).get("spec") == spec:
                return target.resolve()
        except ValueError:
            pass
    from janitr.data.demo import write_demo_dataset

    with atomic_dir(target, overwrite=True) as tmp:
        write_demo_dataset(tmp, rows=spec["rows"], seed=spec["seed"])
        write_json(
            tmp / "DEMO.json", {"format": "janitr-demo-data", "format_version": 1, "spec": spec}
        )
    return target.resolve()


def make_run_name(*, seed: int | None = None, date: str | None = None) -> str:
    """A readable run name `YYYY-MM-DD-<adjective>-<noun>`.

    Args:
        seed: draw the words from this seed (reproducible); None draws them at random.
        date: `YYYY-MM-DD` (default: today, UTC).

    >>> make_run_name(seed=1, date="2026-02-15")
    '2026-02-15-bright-owl'
    """
    date = date or datetime.now(UTC).strftime("%Y-%m-%d")
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    return f"{date}-{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"


def run_identity(run_dir: Path, config: PipelineConfig, data_dir: Path) -> dict:
    """Read or create `run.json` (the run's name is fixed at its first start)."""
    path = run_dir / RUN_FILE
    if path.is_file():
        info = read_json(path)
        changed = {"data_dir": str(data_dir)}
        if config.run.name:
            changed["name"] = config.run.name
        if any(info.get(k) != v for k, v in changed.items()):
            info.update(changed)
            write_json(path, info)
        return info
    name = config.run.name or make_run_name(
        seed=config.run.seed if config.run.name_from_seed else None
    )
    info = {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "name": name,
        "created_at": now(),
        "data_dir": str(data_dir),
    }
    write_json(path, info)
    return info


def publish_bundles(run_dir: Path, finished: Mapping[str, Path]) -> dict[str, Path]:
    """Copy the final bundles (the thresholds stage's, and the refit stage's `*-refit`) to
    RUNDIR/bundles/<name>."""
    published: dict[str, Path] = {}
    sources = [
        source
        for stage in ("thresholds", "refit")
        if stage in finished
        for source in sorted((finished[stage] / "bundles").glob("*"))
    ]
    for source in sources:
        if not (source / "bundle.json").is_file():
            continue
        target = run_dir / BUNDLES_DIR / source.name
        if (target / "bundle.json").is_file() and (
            sha256_file(target / "bundle.json") == sha256_file(source / "bundle.json")
        ):
            published[source.name] = target
            continue
        with atomic_dir(target, overwrite=True) as tmp:
            shutil.rmtree(tmp)
            shutil.copytree(source, tmp, copy_function=link_or_copy)
        published[source.name] = target
    return published


def publish_report(run_dir: Path, finished: Mapping[str, Path]) -> None:
    """Copy the report stage's files to RUNDIR/report.{html,md}."""
    if "report" not in finished:
        return
    for source in sorted(finished["report"].glob("report.*")):
        target = run_dir / source.name
        if not target.is_file() or sha256_file(target) != sha256_file(source):
            write_bytes(target, source.read_bytes())


# --- evaluations and run info ---------------------------------------------------------------


def write_evaluation(out_dir: Path, report: Mapping, rows: Sequence[Mapping]) -> None:
    """Write a bundle's evaluation: `eval.json` (the report) and `predictions.jsonl` (one
    row per scored post, with its text, for the report's error tables and `runs compare`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / EVAL_FILE, report)
    write_lines(out_dir / PREDICTIONS_FILE, (json.dumps(r, ensure_ascii=False) for r in rows))


def git_commit(path: Path | None = None) -> dict | None:
    """`{"commit", "dirty"}` of the git checkout holding the code, or None outside git."""
    cwd = path or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def stage_dirs(run_dir: Path) -> list[Path]:
    """The run's stage folders (`stages/NN-<name>`), in order."""
    return sorted(p for p in (run_dir / "stages").glob("[0-9][0-9]-*") if p.is_dir())


def stage_manifests(run_dir: str | Path) -> list[dict]:
    """The manifests of the run's finished stages, in order."""
    out = []
    for stage_dir in stage_dirs(Path(run_dir)):
        manifest = read_manifest(stage_dir)
        if manifest is not None:
            out.append(manifest)
    return out


def evaluation_dir(run_dir: str | Path) -> Path | None:
    """The run's evaluate stage folder, or None if the run has not evaluated yet."""
    found = [p for p in stage_dirs(Path(run_dir)) if p.name.endswith("-evaluate")]
    return found[-1] if found else None


def collect_metrics(run_dir: str | Path) -> dict[str, dict]:
    """`{bundle: {"metrics", "ci95", "thresholds", "data", "rows"}}` from the evaluate stage."""
    eval_dir = evaluation_dir(run_dir)
    out: dict[str, dict] = {}
    if eval_dir is None:
        return out
    order = ("fasttext", "teacher", "student-fp32", "student-int8")
    paths = sorted(
        eval_dir.glob(f"*/{EVAL_FILE}"),
        key=lambda p: (order.index(p.parent.name) if p.parent.name in order else 9, p.parent.name),
    )
    for path in paths:
        report = read_json(path)
        out[path.parent.name] = {
            "metrics": report.get("metrics", {}),
            "ci95": report.get("ci95", {}),
            "thresholds": report.get("thresholds", {}),
            "data": report.get("data", {}),
            "rows": report.get("rows"),
        }
    return out


def _data_hashes(manifests: Sequence[dict]) -> dict:
    data: dict[str, dict] = {}
    for manifest in manifests:
        for key, entry in manifest.get("inputs", {}).items():
            if key.startswith("data:") and entry:
                data[key.removeprefix("data:")] = entry
    return data


def write_run_info(run_dir: str | Path) -> dict:
    """Write (or refresh) `RUN_INFO.json` for a run directory and return it."""
    run_dir = Path(run_dir)
    identity = read_json(run_dir / RUN_FILE) if (run_dir / RUN_FILE).is_file() else {}
    manifests = stage_manifests(run_dir)
    files = []
    shipped = [run_dir / n for n in ("config.toml", "config.json", "report.html", "report.md")]
    for path in shipped + sorted((run_dir / "bundles").rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            files.append({"path": path.relative_to(run_dir).as_posix(), **file_entry(path)})
    config = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    info = {
        "format": RUN_INFO_FORMAT,
        "format_version": RUN_INFO_VERSION,
        "name": identity.get("name", run_dir.name),
        "created_at": identity.get("created_at"),
        "updated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data_dir": identity.get("data_dir"),
        "git": git_commit(),
        "config": {k: v for k, v in config.items() if k not in ("format", "format_version")},
        "data": _data_hashes(manifests),
        "stages": [
            {
                "index": m["index"],
                "name": m["stage"],
                "seconds": m["seconds"],
                "finished_at": m["finished_at"],
            }
            for m in manifests
        ],
        "total_stage_seconds": round(sum(m["seconds"] for m in manifests), 3),
        "metrics": collect_metrics(run_dir),
        # bundles refit on every labeled row (no held-out figure; their out-of-fold one)
        "refit": next((m["summary"] for m in manifests if m["stage"] == "refit"), {}),
        "files": files,
        "file_count": len(files),
        "total_bytes": sum(f["size"] for f in files),
    }
    write_json(run_dir / RUN_INFO, info)
    return info
