"""`janitr run`: the whole chain from data to shipped bundles, resumable and cached.

    RUNDIR/
      run.json            name, creation time, data directory (written at the first start)
      config.toml/.json   the resolved config
      data/               the generated demo data (only when no data directory was given)
      stages/NN-<name>/   one folder per stage: its outputs + manifest.json
      stages/01-validate/data/  train/holdout/valid/calib(/unlabeled).jsonl when the data
                          has no holdout.jsonl: the holdout carved out of train
      bundles/{fasttext,teacher,student-fp32,student-int8}/
      report.html, report.md, RUN_INFO.json

Honest evaluation: valid selects epochs and fits temperatures, calib tunes thresholds, so
neither can measure the final models. Data without a `holdout.jsonl` gets one in the first
stage: `carve_holdout` splits `data.holdout_fraction` of train off with the group-aware
stratified splitter (near-duplicate groups stay whole; rows overlapping valid/calib stay in
train; anything the leakage check still flags is dropped and counted), and every later stage
reads the carved `data/` folder: it trains on the reduced train and evaluates on the holdout.

A stage is a plain function that writes its outputs into a fresh directory. The runner
builds that directory under a temporary name and renames it into place only once the stage
has finished and its `manifest.json` (written last) lists every output with its size and
SHA-256, the content hashes of its inputs (data files and upstream stages' outputs), its
config section(s) and timings. So after a crash or `kill -9` at any moment a stage folder is
either complete or absent; leftover temporary folders are deleted on the next start.

On a rerun a stage is skipped when its manifest exists, its input hashes and config are the
same, and every output still verifies; otherwise it runs again, and so does everything
downstream whose inputs changed. Input identity is content-based (never paths), which also
lets `janitr sweep` reuse a base run's stages.

Determinism: every stage is seeded from the config. fastText trains with one thread and a
fixed seed; the torch stages run on CPU with fixed seeds and give the same weights for the
same inputs; the student's vocabulary is trained by SentencePiece with one thread, which gives
byte-identical tokenizers in every process (`tokenizers`' own trainers break frequency ties in
hash order and do not). Nothing run-specific (timings, absolute paths, progress settings)
goes into a bundle. Resuming a run never retrains a finished stage, and a stage that reruns
makes the same files, so a resumed run ends with the same bundles as an uninterrupted one
(tests/test_pipeline.py; the real-data kill -9 check is in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from janitr.artifacts import (
    atomic_dir,
    file_entry,
    hash_object,
    read_json,
    sha256_file,
    write_json,
    write_lines,
)
from janitr.errors import ConfigError, JanitrError, PipelineError
from janitr.pipeline.config import (
    PipelineConfig,
    ThresholdsConfig,
    flags_to_keys,
    load_config,
    save_config,
)

log = logging.getLogger(__name__)

STAGE_FORMAT = "janitr-stage"
STAGE_FORMAT_VERSION = 1
RUN_FORMAT = "janitr-run"
RUN_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STAGES_DIR = "stages"
BUNDLES_DIR = "bundles"
#: Folder of a stage's outputs that replaces the data directory for later stages.
DATA_DIR = "data"
#: Final bundle names, in report order.
BUNDLE_NAMES: tuple[str, ...] = ("fasttext", "teacher", "student-fp32", "student-int8")


# --- stage definition ----------------------------------------------------------------------


@dataclass
class StageContext:
    """What a running stage sees.

    Attributes:
        name: the stage name.
        run_dir: the run directory.
        data_dir: the data directory (demo data is `run_dir/data`).
        config: the resolved pipeline config.
        out: the (temporary) directory the stage writes its outputs into.
        upstream: stage name -> finished directory, for every earlier enabled stage.
        quiet: no progress bars.
    """

    name: str
    run_dir: Path
    data_dir: Path
    config: PipelineConfig
    out: Path
    upstream: dict[str, Path]
    quiet: bool = False

    def stage(self, name: str) -> Path:
        """Directory of a finished upstream stage.

        Raises:
            PipelineError: if that stage did not run (disabled or not declared upstream).
        """
        if name not in self.upstream:
            raise PipelineError(
                f"stage {self.name!r} needs the outputs of stage {name!r}, "
                "which is disabled or not among its dependencies"
            )
        return self.upstream[name]

    def data_file(self, split: str) -> Path:
        """Path of a split's file, e.g. `data_file("train")` -> DATA/train.jsonl."""
        return self.data_dir / f"{split}.jsonl"


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    Attributes:
        name: folder and display name.
        run: `run(ctx) -> summary dict | None`; writes into `ctx.out`.
        deps: upstream stages whose outputs it reads (their output hashes are its inputs).
        sections: config sections that affect its outputs (hashed into its identity).
        data: splits (keys of `[data]`) it reads; missing optional files are skipped.
        enabled: predicate on the config (a disabled stage has no folder).
        provides_data: when its finished folder holds `data/train.jsonl`, every later
            stage reads its splits from that `data/` folder instead of the data directory
            (the validate stage writes one when it carves a holdout out of train).
        version: bumped when the stage's code makes different files from the same inputs,
            so run folders made by the old code are rebuilt instead of reused. Version 1
            adds nothing to the stage key (older run folders keep their keys).
    """

    name: str
    run: Callable[[StageContext], Mapping[str, Any] | None]
    deps: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    enabled: Callable[[PipelineConfig], bool] = lambda config: True
    provides_data: bool = False
    version: int = 1


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage in this invocation."""

    index: int
    name: str
    status: str  # "ran" | "skipped" | "disabled"
    seconds: float
    path: Path | None
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """The result of `run_pipeline`."""

    run_dir: Path
    name: str
    stages: list[StageOutcome]
    bundles: dict[str, Path]
    metrics: dict[str, dict]

    @property
    def ran(self) -> list[str]:
        return [s.name for s in self.stages if s.status == "ran"]

    @property
    def skipped(self) -> list[str]:
        return [s.name for s in self.stages if s.status == "skipped"]


# --- hashing and verification ----------------------------------------------------------------


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


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean_leftovers(directory: Path) -> list[str]:
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


# --- progress ---------------------------------------------------------------------------------


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Stage-by-stage lines on stderr: what runs, elapsed time, and an ETA for the rest.

    The ETA is the sum of the times the remaining stages took when they last ran in this
    run folder (their manifests keep the seconds), and it is shown only when every one of
    them has such a time: fixed guesses per stage were off by 20x either way (46 minutes
    announced for a 4-minute demo), since stage times depend on data, config and machine.
    """

    def __init__(self, total: int, *, quiet: bool = False, stream: TextIO | None = None):
        self.total = total
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()

    def _line(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def start(self, index: int, name: str, *, remaining_estimate: float | None) -> None:
        """`remaining_estimate`: seconds of this and the later stages by their last run
        here, or None when one of them has not run here yet (no ETA then)."""
        elapsed = time.perf_counter() - self.started
        eta = ""
        if remaining_estimate is not None:
            eta = f", ETA {_fmt_seconds(remaining_estimate)} by the last run"
        self._line(
            f"[{index:2d}/{self.total}] {name:<12} running   (elapsed {_fmt_seconds(elapsed)}{eta})"
        )

    def done(self, index: int, name: str, status: str, seconds: float) -> None:
        if status == "ran":
            self._line(f"[{index:2d}/{self.total}] {name:<12} done in {_fmt_seconds(seconds)}")
        elif status == "skipped":
            self._line(f"[{index:2d}/{self.total}] {name:<12} unchanged, skipped")
        else:
            self._line(f"[{index:2d}/{self.total}] {name:<12} disabled")

    def finish(self, run_dir: Path) -> None:
        self._line(f"run complete in {_fmt_seconds(time.perf_counter() - self.started)}: {run_dir}")


# --- the runner -------------------------------------------------------------------------------


class _FileHashes:
    """SHA-256 of data files, memoized per (path, size, mtime) within one invocation."""

    def __init__(self) -> None:
        self._cache: dict[tuple, str] = {}

    def __call__(self, path: Path) -> dict:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._cache:
            self._cache[key] = sha256_file(path)
        return {"sha256": self._cache[key], "size": stat.st_size}


def stage_dir_name(index: int, name: str) -> str:
    return f"{index:02d}-{name}"


def _prepare_data(run_dir: Path, data_dir: Path | None, config: PipelineConfig) -> Path:
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


def _run_identity(run_dir: Path, config: PipelineConfig, data_dir: Path) -> dict:
    """Read or create `run.json` (the run's name is fixed at its first start)."""
    from janitr.pipeline.runs import make_run_name

    path = run_dir / "run.json"
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
        "created_at": _now(),
        "data_dir": str(data_dir),
    }
    write_json(path, info)
    return info


def run_pipeline(
    *,
    data_dir: Path | None,
    out_dir: Path,
    config: PipelineConfig | None = None,
    quiet: bool = False,
    stages: Sequence[Stage] | None = None,
    reuse_from: Path | None = None,
) -> RunResult:
    """Run (or resume) the pipeline into a run directory.

    Args:
        data_dir: directory with train/valid/calib(/holdout/unlabeled).jsonl; None writes the
            demo dataset into `out_dir/data` and runs on it.
        out_dir: the run directory (created; an existing run is resumed).
        config: the resolved config (default: `load_config()` defaults).
        quiet: no progress lines or bars (CI).
        stages: the stage list (default: `default_stages()`; tests pass cheap fakes).
        reuse_from: another run directory whose finished stages may be reused when their
            inputs and config match (used by `janitr sweep`; files are hard-linked).

    Returns:
        RunResult with per-stage outcomes, final bundle paths and evaluation metrics.

    Raises:
        JanitrError: from any stage (data problems, leakage, config, provenance); the stages
            finished before the error are kept and a rerun resumes after them.
    """
    config = config or load_config()
    stages_is_default = stages is None
    stages = list(default_stages() if stages is None else stages)
    run_dir = Path(out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stages_root = run_dir / STAGES_DIR
    stages_root.mkdir(exist_ok=True)
    for directory in (run_dir, stages_root, run_dir / BUNDLES_DIR):
        removed = _clean_leftovers(directory)
        if removed:
            log.info("discarded incomplete outputs from an interrupted run: %s", ", ".join(removed))
    _discard_unfinished(stages_root)

    data_dir = _prepare_data(run_dir, data_dir, config)
    if stages_is_default:
        preflight(config, data_dir)
    identity = _run_identity(run_dir, config, data_dir)
    save_config(config, run_dir)

    hashes = _FileHashes()
    progress = Progress(len(stages), quiet=quiet)
    outcomes: list[StageOutcome] = []
    finished: dict[str, Path] = {}
    digests: dict[str, str] = {}
    enabled = [s.enabled(config) for s in stages]
    estimates = [
        _estimate(stages_root, i + 1, s) if on else 0.0
        for i, (s, on) in enumerate(zip(stages, enabled, strict=True))
    ]

    stage_data = data_dir  # switches to a stage's data/ folder once it provides one
    for i, stage in enumerate(stages):
        index = i + 1
        if not enabled[i]:
            stale = stages_root / stage_dir_name(index, stage.name)
            if stale.exists():
                shutil.rmtree(stale)
            outcomes.append(StageOutcome(index, stage.name, "disabled", 0.0, None))
            progress.done(index, stage.name, "disabled", 0.0)
            continue
        inputs = _stage_inputs(stage, stage_data, config, digests, hashes)
        sections = {name: config.section_dict(name) for name in stage.sections}
        stage_identity = {"stage": stage.name, "inputs": inputs, "config": sections}
        if stage.version > 1:
            stage_identity["version"] = stage.version
        key = hash_object(stage_identity)
        target = stages_root / stage_dir_name(index, stage.name)

        manifest = _reusable(target, key)
        if manifest is None and reuse_from is not None:
            manifest = _reuse_other(Path(reuse_from), target, stage, key)
        if manifest is not None:
            finished[stage.name] = target
            digests[stage.name] = manifest["outputs_sha256"]
            outcomes.append(
                StageOutcome(
                    index,
                    stage.name,
                    "skipped",
                    manifest["seconds"],
                    target,
                    manifest.get("summary", {}),
                )
            )
            progress.done(index, stage.name, "skipped", 0.0)
            stage_data = _provided_data(stage, target, stage_data)
            continue

        remaining = estimates[i:]
        progress.start(
            index,
            stage.name,
            remaining_estimate=None if None in remaining else sum(remaining),
        )
        started_at = _now()
        started = time.perf_counter()
        upstream = {name: finished[name] for name in stage.deps if name in finished}
        with atomic_dir(target, overwrite=True) as tmp:
            ctx = StageContext(
                name=stage.name,
                run_dir=run_dir,
                data_dir=stage_data,
                config=config,
                out=tmp,
                upstream=upstream,
                quiet=quiet,
            )
            try:
                summary = dict(stage.run(ctx) or {})
            except ConfigError as exc:
                # Stage modules name their settings as CLI flags; a run sets config keys.
                raise ConfigError(flags_to_keys(str(exc), stage.sections)) from exc
            except JanitrError:
                raise
            except Exception as exc:
                raise PipelineError(
                    f"stage {stage.name} failed: {type(exc).__name__}: {exc} "
                    f"(finished stages are kept; rerun to resume)"
                ) from exc
            seconds = time.perf_counter() - started
            outputs = list_outputs(tmp)
            manifest = {
                "format": STAGE_FORMAT,
                "format_version": STAGE_FORMAT_VERSION,
                "stage": stage.name,
                "index": index,
                "status": "complete",
                "key": key,
                "inputs": inputs,
                "config": sections,
                "outputs": outputs,
                "outputs_sha256": hash_object(outputs),
                "started_at": started_at,
                "finished_at": _now(),
                "seconds": round(seconds, 3),
                "summary": summary,
            }
            write_json(tmp / MANIFEST, manifest)  # last: its presence means "complete"
        finished[stage.name] = target
        digests[stage.name] = manifest["outputs_sha256"]
        outcomes.append(StageOutcome(index, stage.name, "ran", seconds, target, summary))
        progress.done(index, stage.name, "ran", seconds)
        stage_data = _provided_data(stage, target, stage_data)

    bundles = _publish_bundles(run_dir, finished)
    from janitr.pipeline.runs import collect_metrics, write_run_info

    _publish_report(run_dir, finished)
    metrics = collect_metrics(run_dir)
    write_run_info(run_dir)
    progress.finish(run_dir)
    return RunResult(
        run_dir=run_dir, name=identity["name"], stages=outcomes, bundles=bundles, metrics=metrics
    )


def _provided_data(stage: Stage, target: Path, current: Path) -> Path:
    """The data folder later stages read: `target/data` if this stage provides one."""
    provided = target / DATA_DIR
    if stage.provides_data and (provided / "train.jsonl").is_file():
        return provided.resolve()
    return current


def _publish_report(run_dir: Path, finished: Mapping[str, Path]) -> None:
    """Copy the report stage's files to RUNDIR/report.{html,md}."""
    from janitr.artifacts import write_bytes

    if "report" not in finished:
        return
    for source in sorted(finished["report"].glob("report.*")):
        target = run_dir / source.name
        if not target.is_file() or sha256_file(target) != sha256_file(source):
            write_bytes(target, source.read_bytes())


def preflight(config: PipelineConfig, data_dir: Path) -> None:
    """Refuse, before anything trains, a run whose evaluation would be refused at the end.

    Raises:
        ConfigError: if the evaluation split is one the models select or tune on (valid,
            calib) and `evaluate.allow_overlap` is false, or the named split is missing.
    """
    _preflight_teacher(config, data_dir)
    split = config.evaluate.split
    carved = will_carve_holdout(config, data_dir)
    if split == "auto":
        split = "holdout" if carved or (data_dir / "holdout.jsonl").is_file() else "valid"
    if split == "holdout" and carved:
        return
    if not (data_dir / f"{split}.jsonl").is_file():
        raise ConfigError(f"evaluate.split: {split}.jsonl does not exist in {data_dir}")
    if split in ("valid", "calib") and not config.evaluate.allow_overlap:
        raise ConfigError(
            f"evaluate.split: the run would evaluate on {split}.jsonl"
            + (
                " (there is no holdout.jsonl and data.holdout_fraction = 0)"
                if config.evaluate.split == "auto"
                else ""
            )
            + ", but the teacher and student choose their best epoch on valid and every model "
            "tunes its thresholds on calib, so the evaluation would be refused after training. "
            "Set data.holdout_fraction (e.g. 0.2: a holdout is carved out of train.jsonl), add "
            "a holdout.jsonl (`janitr split` writes one), or set evaluate.allow_overlap = true "
            "(the report then flags the numbers as optimistic)"
        )


def _preflight_teacher(config: PipelineConfig, data_dir: Path) -> None:
    """The teacher settings that depend on the data or the encoder, checked now rather than
    at the teacher and cache stages (minutes later), each problem naming its config key.

    The seed guard: the lines of train.jsonl bound the rows the teacher will train on (a
    carved holdout only removes rows), so a guard that fires on that bound fires at the
    teacher stage too. The encoder's positions and depth: read from its config.json when it
    is a local directory (the default encoder is; a hub id is checked at its stage).
    """
    from janitr.teacher.model import check_seed_guard

    train = data_dir / "train.jsonl"
    if train.is_file():  # else the validate stage reports the missing file with its path
        with open(train, "rb") as handle:
            lines = sum(1 for line in handle if line.strip())
        check_seed_guard(config.teacher, lines, keys=("teacher.seeds", "teacher.force"))
    spec = Path(config.teacher.resolved_model()) / "config.json"
    if not spec.is_file():
        return
    encoder = read_json(spec)
    problems = []
    positions = encoder.get("max_position_embeddings")
    if isinstance(positions, int) and config.teacher.max_length > positions:
        problems.append(
            f"teacher.max_length: {config.teacher.max_length} is longer than the {positions} "
            f"positions of the encoder {spec.parent}; use {positions} or less"
        )
    depth = encoder.get("num_hidden_layers")
    layers = config.cache.layers or ()
    bad = [i for i in layers if isinstance(depth, int) and not 1 <= i <= depth]
    if bad:
        problems.append(f"cache.layers: {bad} outside the encoder's layers 1..{depth}")
    if problems:
        raise ConfigError("; ".join(problems))


def will_carve_holdout(config: PipelineConfig, data_dir: Path) -> bool:
    """True when the validate stage carves a holdout out of train.jsonl (none is given)."""
    return config.data.holdout_fraction > 0 and not (data_dir / "holdout.jsonl").is_file()


def _discard_unfinished(stages_root: Path) -> None:
    """Delete stage folders without a complete manifest (never trusted)."""
    for entry in stages_root.iterdir():
        if entry.is_dir() and not entry.name.startswith(".") and read_manifest(entry) is None:
            log.info("discarding incomplete stage folder %s", entry.name)
            shutil.rmtree(entry)


def _estimate(stages_root: Path, index: int, stage: Stage) -> float | None:
    """Seconds the stage took when it last ran in this run folder; None if it never did."""
    manifest = read_manifest(stages_root / stage_dir_name(index, stage.name))
    return float(manifest["seconds"]) if manifest else None


def _stage_inputs(
    stage: Stage,
    data_dir: Path,
    config: PipelineConfig,
    digests: Mapping[str, str],
    hashes: _FileHashes,
) -> dict:
    inputs: dict[str, Any] = {}
    for split in stage.data:
        path = data_dir / f"{split}.jsonl"
        inputs[f"data:{split}"] = hashes(path) if path.is_file() else None
    for name in stage.deps:
        if name in digests:
            inputs[f"stage:{name}"] = digests[name]
    return inputs


def _reusable(target: Path, key: str) -> dict | None:
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


def _reuse_other(other_run: Path, target: Path, stage: Stage, key: str) -> dict | None:
    """Hard-link (or copy) a matching finished stage folder of another run into `target`."""
    candidates = sorted((other_run / STAGES_DIR).glob(f"*-{stage.name}"))
    for candidate in candidates:
        manifest = _reusable(candidate, key)
        if manifest is None:
            continue
        with atomic_dir(target, overwrite=True) as tmp:
            shutil.rmtree(tmp)
            shutil.copytree(candidate, tmp, copy_function=_link_or_copy)
        log.info("reused stage %s from %s", stage.name, other_run)
        return _reusable(target, key)
    return None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _publish_bundles(run_dir: Path, finished: Mapping[str, Path]) -> dict[str, Path]:
    """Copy the final bundles (the thresholds stage's) to RUNDIR/bundles/<name>."""
    source_stage = finished.get("thresholds")
    published: dict[str, Path] = {}
    if source_stage is None:
        return published
    for source in sorted((source_stage / "bundles").glob("*")):
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
            shutil.copytree(source, tmp, copy_function=_link_or_copy)
        published[source.name] = target
    return published


# --- the real stages ---------------------------------------------------------------------------
#
# Each is `setup` (read inputs), `run` (call the stage module's library function), `save`
# (write into ctx.out) and returns a small summary for the manifest and the report.
# Heavy modules are imported inside the functions.


def _relative(obj: Any, data_dir: Path) -> Any:
    """Replace absolute data paths in a report by file names (outputs must not depend on
    where the data lives, so that runs on copies of the same data share stage outputs)."""
    prefix = str(data_dir) + os.sep
    if isinstance(obj, str):
        return obj.replace(prefix, "")
    if isinstance(obj, list):
        return [_relative(v, data_dir) for v in obj]
    if isinstance(obj, dict):
        return {_relative(k, data_dir): _relative(v, data_dir) for k, v in obj.items()}
    return obj


def _labeled_splits(ctx: StageContext, names: Sequence[str]) -> list[Path]:
    return [
        ctx.data_file(n)
        for n in names
        if n in ("train", "valid", "calib") or ctx.data_file(n).is_file()
    ]


def _normalized(path: Path, *, labeled: bool = True) -> list[str]:
    """Normalized texts of a split; rows of an unlabeled file that have problems are skipped
    (the validate stage reported them)."""
    from janitr.data.records import Record, read_records, scan

    if labeled:
        return [r.norm_text for r in read_records(path, require_labels=True)]
    return [r.norm_text for r in scan([path], require_labels=False) if isinstance(r, Record)]


def stage_validate(ctx: StageContext) -> dict:
    """Check every row of every split; all problems at once. Then, when the data has no
    `holdout.jsonl`, carve one out of train into `data/` (see `carve_holdout`)."""
    from janitr.data.validate import validate_files
    from janitr.errors import DataError

    report = validate_files(
        _labeled_splits(ctx, ("train", "valid", "calib", "holdout")), require_labels=True
    )
    problems = list(report.problems)
    payload = {"labeled": _relative(report.to_dict(), ctx.data_dir)}
    skipped = 0
    if ctx.data_file("unlabeled").is_file():
        # The unlabeled corpus only feeds the tokenizer (and MLM pretraining): its bad rows
        # are skipped with a warning instead of stopping the run.
        unlabeled = validate_files([ctx.data_file("unlabeled")], require_labels=False)
        skipped = len(unlabeled.problems)
        payload["unlabeled"] = _relative(unlabeled.to_dict(), ctx.data_dir)
        if skipped:
            log.warning(
                "unlabeled.jsonl: %d bad row(s) will be skipped (first: %s)",
                skipped,
                unlabeled.problems[0],
            )
    write_json(ctx.out / "validate.json", payload)
    if problems:
        raise DataError(
            problems,
            summary=f"{len(problems)} problem(s) in the data in {ctx.data_dir}; fix them and rerun",
        )
    summary = {
        "rows": report.rows,
        "rows_per_file": _relative(report.rows_per_file, ctx.data_dir),
        "class_counts": report.to_dict()["class_counts"],
        "unlabeled_rows_skipped": skipped,
    }
    if will_carve_holdout(ctx.config, ctx.data_dir):
        carve = carve_holdout(
            ctx.data_dir,
            ctx.out / DATA_DIR,
            fraction=ctx.config.data.holdout_fraction,
            seed=ctx.config.data.holdout_seed,
            threshold=ctx.config.leakage.threshold,
        )
        write_json(ctx.out / "holdout_split.json", carve)
        summary["holdout"] = {k: v for k, v in carve.items() if k != "dropped_ids"}
        log.info(
            "no holdout.jsonl: carved %d holdout rows out of train.jsonl (%d left to train on; "
            "%d dropped as duplicates of valid/calib)",
            carve["rows"]["holdout"],
            carve["rows"]["train"],
            carve["dropped"],
        )
    else:
        summary["holdout"] = {
            "source": "holdout.jsonl" if ctx.data_file("holdout").is_file() else None
        }
    return summary


def carve_holdout(
    data_dir: Path,
    out: Path,
    *,
    fraction: float,
    seed: int,
    threshold: float,
    max_rounds: int = 5,
) -> dict:
    """Carve a holdout out of `train.jsonl` into `out/` (train, holdout, copies of the rest).

    The carve is the project's group-aware stratified splitter (`janitr.data.splits`): rows that
    are equal or near-duplicate texts form one group and land on the same side; groups are
    stratified by their label set; the seed makes it reproducible. Two guards keep the
    holdout honest against valid/calib, which select epochs and tune thresholds:

    1. train rows that share an id, a text or a near-duplicate text with valid or calib (and
       their whole duplicate group) are pinned to train before the split;
    2. afterwards `janitr.data.leakage.check_leakage` runs on exactly the files the leakage stage
       will check, and any holdout row still overlapping another split is dropped (counted,
       ids kept in the returned report).

    Returns:
        JSON-ready report: fraction, seed, threshold, rows per split, pinned and dropped rows,
        duplicate groups, class counts and largest label-prevalence delta per side.

    Raises:
        PipelineError: if the train file is too small to carve from, or the holdout cannot be
            made clean.
    """
    import numpy as np

    from janitr.data.labels import CLASSES
    from janitr.data.leakage import check_leakage
    from janitr.data.neardup import NearDupConfig, duplicate_groups
    from janitr.data.splits import (
        _assign,
        _max_deltas,
        _prevalences,
        _read_plan_inputs,
        _write_splits,
    )

    train = data_dir / "train.jsonl"
    others = [data_dir / f"{n}.jsonl" for n in ("valid", "calib")]
    others = [p for p in others if p.is_file()]
    ids, labels, texts, per_file = _read_plan_inputs([train])
    n = len(ids)
    group = np.asarray(
        duplicate_groups(texts, config=NearDupConfig(threshold=threshold)), dtype=np.int64
    )
    del texts

    # 1. pin train rows overlapping valid/calib (and their duplicate groups) to train
    flagged: set[str] = set()
    if others:
        pre = check_leakage([train, *others], threshold=threshold, max_examples=10**9)
        for pair in pre.pairs:
            for ex in pair.examples:
                if pair.a == "train":
                    flagged.add(ex["a_id"])
                if pair.b == "train":
                    flagged.add(ex["b_id"])
    row_of = {row_id: i for i, row_id in enumerate(ids)}
    pinned_groups = {int(group[row_of[i]]) for i in flagged if i in row_of}
    pinned = np.isin(group, np.asarray(sorted(pinned_groups), dtype=np.int64))
    free = np.flatnonzero(~pinned)
    want = int(round(fraction * n))
    if want < 1 or len(free) <= want + 1:
        raise PipelineError(
            f"train.jsonl has {n} rows ({int(pinned.sum())} pinned to train as duplicates of "
            f"valid/calib): too few to carve a {fraction:.0%} holdout; add a holdout.jsonl "
            "or set data.holdout_fraction = 0 and evaluate.allow_overlap = true"
        )
    share = min(want / len(free), 0.9)
    split = np.zeros(n, dtype=np.int8)
    sub = _assign(
        [labels[i] for i in free.tolist()],
        group[free],
        {"train": 1.0 - share, "holdout": share},
        seed,
    )
    split[free] = sub
    names = ["train", "holdout"]
    out.mkdir(parents=True, exist_ok=True)
    _write_splits([train], per_file, ids, split, names, out)
    for name in ("valid", "calib", "unlabeled"):
        source = data_dir / f"{name}.jsonl"
        if source.is_file():
            shutil.copyfile(source, out / f"{name}.jsonl")

    # 2. verify with the leakage stage's own check; drop what still overlaps
    dropped: list[str] = []
    for _ in range(max_rounds):
        check = check_leakage(
            [out / "train.jsonl", *[out / p.name for p in others], out / "holdout.jsonl"],
            threshold=threshold,
            max_examples=10**9,
        )
        bad: set[str] = set()
        for pair in check.pairs:
            for ex in pair.examples:
                if pair.a == "holdout":
                    bad.add(ex["a_id"])
                if pair.b == "holdout":
                    bad.add(ex["b_id"])
        if not bad:
            break
        dropped += sorted(bad)
        _drop_rows(out / "holdout.jsonl", bad)
    else:
        raise PipelineError(
            f"could not carve a holdout free of overlap in {max_rounds} rounds "
            f"({len(dropped)} rows dropped); add a holdout.jsonl instead"
        )
    keep = np.ones(n, dtype=bool)
    for row_id in dropped:
        keep[row_of[row_id]] = False
    kept_labels = [labels[i] for i in np.flatnonzero(keep).tolist()]
    rows, classes, label_prev, _, support = _prevalences(kept_labels, split[keep], names)
    deltas = _max_deltas(label_prev, support["labels"], names)
    _, sizes = np.unique(group, return_counts=True)
    return {
        "source": "train.jsonl",
        "fraction": fraction,
        "seed": seed,
        "near_dup_threshold": threshold,
        "rows": {"train_before": n, "train": rows["train"], "holdout": rows["holdout"]},
        "pinned_to_train": int(pinned.sum()),
        "dropped": len(dropped),
        "dropped_ids": dropped,
        "groups": {"groups": int(sizes.shape[0]), "multi_row": int((sizes > 1).sum())},
        "classes": {k: {c: classes[k].get(c, 0) for c in CLASSES} for k in names},
        "max_label_delta": {k: round(v[0], 6) for k, v in deltas.items()},
    }


def _drop_rows(path: Path, ids: set[str]) -> None:
    """Rewrite a JSONL file without the rows whose id is in `ids` (atomic)."""
    import json

    from janitr.artifacts import write_bytes
    from janitr.data.records import iter_lines

    kept = [raw for _, raw in iter_lines(path) if json.loads(raw).get("id") not in ids]
    write_bytes(path, b"".join(line + b"\n" for line in kept))


def stage_leakage(ctx: StageContext) -> dict:
    """Overlap between the splits by id, normalized text and near-duplicate text."""
    from janitr.data.leakage import check_leakage
    from janitr.errors import LeakageError

    cfg = ctx.config.leakage
    report = check_leakage(
        _labeled_splits(ctx, ("train", "valid", "calib", "holdout")), threshold=cfg.threshold
    )
    payload = _relative(report.to_dict(), ctx.data_dir)
    write_json(ctx.out / "leakage.json", payload)
    pairs = [
        p for p in payload.get("pairs", []) if p.get("ids") or p.get("texts") or p.get("near_dups")
    ]

    def describe(items: list[dict]) -> str:
        return "; ".join(
            f"{p['a']}/{p['b']}: {p['ids']} ids, {p['texts']} texts, "
            f"{p['near_dups']} near-duplicates"
            for p in items
        )

    detail = describe(pairs)
    holdout = [p for p in pairs if "holdout" in (p["a"], p["b"])]
    fatal = pairs if cfg.fail_any else (holdout if cfg.fail else [])
    if fatal:
        raise LeakageError(
            f"the splits overlap ({describe(fatal)}); fix the splits (`janitr split`), or set "
            "leakage.fail = false / leakage.fail_any = false to record it and go on"
        )
    if pairs:
        log.warning("the splits overlap (%s); recorded in the report", detail)
    return {"ok": bool(report.ok), "overlaps": detail}


def stage_tokenizer(ctx: StageContext) -> dict:
    """Student vocabulary (SentencePiece unigram) on the normalized training (+ unlabeled) texts."""
    from janitr.student.tokenizer import save_tokenizer, tokenizer_stats, train_tokenizer

    cfg = ctx.config.tokenizer
    texts = _normalized(ctx.data_file("train"))
    if ctx.config.data.tokenizer_unlabeled and ctx.data_file("unlabeled").is_file():
        texts += _normalized(ctx.data_file("unlabeled"), labeled=False)
    tok = train_tokenizer(texts, config=cfg)
    stats = tokenizer_stats(tok, texts, config=cfg)
    save_tokenizer(tok, ctx.out, stats=stats)
    size = tok.get_vocab_size(with_added_tokens=True)
    if size != cfg.vocab_size:
        log.warning(
            "the tokenizer has %d tokens, not %d (the training text is small); the student uses %d",
            size,
            cfg.vocab_size,
            size,
        )
    return {"vocab_size": size, "sample_unk_rate": stats["sample_unk_rate"], "texts": len(texts)}


def stage_fasttext(ctx: StageContext) -> dict:
    """fastText baseline, quantized to .ftz (thresholds re-tuned in the thresholds stage)."""
    from janitr.baselines.fasttext import train_fasttext

    bundle = train_fasttext(
        data_dir=ctx.data_dir, out_dir=ctx.out / "bundle", config=ctx.config.fasttext
    )
    return {
        "thresholds": bundle.thresholds,
        "size_bytes": bundle.manifest["model"].get("size_bytes"),
    }


def stage_pretrain(ctx: StageContext) -> dict:
    """Optional domain-adaptive MLM pretraining of the teacher encoder on unlabeled text."""
    try:
        from janitr.teacher import pretrain
    except ImportError as exc:
        raise PipelineError(
            "pretrain.enabled = true, but janitr.teacher.pretrain is not available "
            "in this version; set pretrain.enabled = false"
        ) from exc
    result = pretrain.pretrain_mlm(
        data_dir=ctx.data_dir,
        out_dir=ctx.out / "encoder",
        config=ctx.config.pretrain,
        model_name_or_path=ctx.config.teacher.model_name_or_path,
    )
    return {"encoder": Path(result).name}


def stage_teacher(ctx: StageContext) -> dict:
    """Multi-seed teacher, calibrated per head (temperature scaling on valid)."""
    import dataclasses

    from janitr.teacher.model import train_teacher

    cfg = dataclasses.replace(ctx.config.teacher, progress=not ctx.quiet)
    if "pretrain" in ctx.upstream:
        cfg = dataclasses.replace(cfg, model_name_or_path=str(ctx.stage("pretrain") / "encoder"))
    bundle = train_teacher(
        data_dir=ctx.data_dir, out_dir=ctx.out / "bundle", config=cfg, work_dir=ctx.out / "work"
    )
    model = bundle.manifest["model"]
    return {
        "teacher_id": model.get("teacher_id"),
        "seeds": model.get("seeds"),
        "calibration": model.get("calibration"),
        "thresholds": bundle.thresholds,
    }


def stage_cache(ctx: StageContext) -> dict:
    """Teacher targets (calibrated logits, blended with a linear model) and hidden states."""
    from janitr.data.records import dump_row, read_records
    from janitr.teacher.cache import build_cache

    cfg = ctx.config.cache
    teacher = ctx.stage("teacher") / "bundle"
    splits = {split: read_records(ctx.data_file(split)) for split in ("train", "valid")}
    if cfg.unlabeled and ctx.data_file("unlabeled").is_file():
        splits["unlabeled"] = distillation_corpus(
            ctx.data_file("unlabeled"),
            train=ctx.data_file("train"),
            evals=[ctx.data_file(s) for s in ("valid", "calib", "holdout")],
            threshold=ctx.config.leakage.threshold,
        )
        write_lines(ctx.out / UNLABELED_FILE, (dump_row(r.raw) for r in splits["unlabeled"]))
    mixes = {}
    if cfg.linear_weight > 0:
        from janitr.baselines.linear import LinearConfig
        from janitr.pipeline.crossval import cross_fitted_linear_heads

        heads = cross_fitted_linear_heads(
            splits["train"],
            {k: v for k, v in splits.items() if k != "train"},
            config=LinearConfig(fold_confusables=True),
        )
        name = "linear (out-of-fold on train)"
        mixes = {k: (h, cfg.linear_weight, name) for k, h in heads.items()}
    for split, records in splits.items():
        build_cache(
            teacher=teacher,
            records=records,
            split=split,
            out=ctx.out,
            layers=cfg.layers,
            batch_size=cfg.batch_size,
            progress=not ctx.quiet,
            mix=mixes.get(split),
        )
    return {"rows": {k: len(v) for k, v in splits.items()}, "linear_weight": cfg.linear_weight}


#: The unlabeled rows the cache stage kept for distillation (JSONL, in the cache folder).
UNLABELED_FILE = "unlabeled.jsonl"


def distillation_corpus(
    unlabeled: Path, *, train: Path, evals: Sequence[Path], threshold: float
) -> list[Any]:
    """Unlabeled rows fit to distill on: unique ids and texts, none equal to a train text,
    and none equal to or a near duplicate (Jaccard >= `threshold`) of a text of `evals`
    (valid, calib, holdout: files that do not exist are skipped). Rows of `unlabeled` with
    problems are skipped (the validate stage reported them)."""
    from janitr.data.neardup import NearDupConfig, near_duplicate_pairs
    from janitr.data.records import Record, read_records, scan

    eval_texts = sorted({r.norm_text for p in evals if p.is_file() for r in read_records(p)})
    seen_texts = {r.norm_text for r in read_records(train)} | set(eval_texts)
    kept: list[Record] = []
    seen_ids: set[str] = set()
    for row in scan([unlabeled], require_labels=False):
        if not isinstance(row, Record) or row.id in seen_ids or row.norm_text in seen_texts:
            continue
        seen_ids.add(row.id)
        seen_texts.add(row.norm_text)
        kept.append(row)
    pairs = near_duplicate_pairs(
        [r.norm_text for r in kept] + eval_texts,
        config=NearDupConfig(threshold=threshold),
        group=[0] * len(kept) + [1] * len(eval_texts),
    )
    near = {i for pair in pairs for i in pair[:2] if i < len(kept)}
    if near:
        log.info("distillation corpus: dropped %d near-duplicates of eval rows", len(near))
    return [r for i, r in enumerate(kept) if i not in near]


def stage_distill(ctx: StageContext) -> dict:
    """Distill the student from the cache (any depth maps onto the cached teacher layers)."""
    import dataclasses

    from janitr.student.distill import distill_student
    from janitr.student.tokenizer import load_tokenizer

    tok_dir = ctx.stage("tokenizer")
    vocab = load_tokenizer(tok_dir, expected_vocab_size=None).get_vocab_size(with_added_tokens=True)
    student = ctx.config.student
    if vocab != student.vocab_size:
        student = dataclasses.replace(student, vocab_size=vocab)
    cfg = dataclasses.replace(ctx.config.distill, progress=not ctx.quiet)
    cache = ctx.stage("cache")
    unlabeled = cache / UNLABELED_FILE
    result = distill_student(
        train=ctx.data_file("train"),
        valid=ctx.data_file("valid"),
        cache_train=cache,
        cache_valid=cache,
        extra=unlabeled if unlabeled.is_file() else None,
        cache_extra=cache,
        tokenizer_path=tok_dir / "tokenizer.json",
        out_dir=ctx.out / "student",
        student_config=student,
        config=cfg,
    )
    return {
        "best_epoch": result.best_epoch,
        "best_metric": result.best_metric,
        "select_metric": result.select_metric,
        "parameters": result.parameters,
    }


def _parity_texts(ctx: StageContext) -> list[str]:
    texts = _normalized(ctx.data_file("train")) + _normalized(ctx.data_file("valid"))
    if ctx.data_file("unlabeled").is_file():
        texts += _normalized(ctx.data_file("unlabeled"), labeled=False)
    return texts


def stage_export(ctx: StageContext) -> dict:
    """ONNX export of the student, gated by torch/ONNX parity."""
    from janitr.student.export import export_onnx

    cfg = ctx.config.export
    report = export_onnx(
        student_dir=ctx.stage("distill") / "student",
        out_path=ctx.out / "model.fp32.onnx",
        parity_texts=_parity_texts(ctx),
        opset=cfg.opset,
        report_path=ctx.out / "parity_fp32.json",
        min_rows=cfg.parity_rows,
        max_mean_delta=cfg.max_mean_delta,
        min_agreement=cfg.min_agreement,
    )
    return {"parity": report.summary(), "size_bytes": (ctx.out / "model.fp32.onnx").stat().st_size}


def stage_quantize(ctx: StageContext) -> dict:
    """Int8 quantization, gated by fp32/int8 (and torch/int8) parity."""
    from janitr.student.quantize import quantize_onnx

    cfg = ctx.config.quantize
    student = ctx.stage("distill") / "student"
    report = quantize_onnx(
        fp32_path=ctx.stage("export") / "model.fp32.onnx",
        out_path=ctx.out / "model.int8.onnx",
        tokenizer_path=student / "tokenizer.json",
        parity_texts=_parity_texts(ctx),
        mode=cfg.mode,
        calibration_texts=_normalized(ctx.data_file("train")) if cfg.mode == "static" else None,
        student_dir=student,
        weights=cfg.weights,
        per_channel=cfg.per_channel,
        report_path=ctx.out / "parity_int8.json",
        min_rows=cfg.parity_rows,
        max_mean_delta=cfg.max_mean_delta,
        min_agreement=cfg.min_agreement,
    )
    return {"parity": report.summary(), "size_bytes": (ctx.out / "model.int8.onnx").stat().st_size}


def retune_bundle(
    source: Path,
    out_dir: Path,
    *,
    tuning: Sequence[Any],
    tuning_name: str,
    config: ThresholdsConfig,
) -> Any:
    """Copy a bundle with thresholds tuned on the `tuning` records with this very model.

    Args:
        source: the bundle to copy.
        out_dir: where the copy goes.
        tuning: labeled records (the splits named by `tuning_name`, e.g. valid+calib).
        tuning_name: how the tuning data is recorded in the bundle (`tuning.data`, seen data).
        config: the run's `ThresholdsConfig` (targets, rule, confidence).

    Returns:
        The written Bundle; the tuning rows are added to its seen data.
    """
    from janitr.evaluation.evaluate import score_records
    from janitr.evaluation.thresholds import tune_bundle_thresholds
    from janitr.runtime.bundle import MANIFEST, SEEN_DATA, load_bundle, seen_entry, write_bundle
    from janitr.teacher.cache import split_hash

    bundle = load_bundle(source)
    tuned = tune_bundle_thresholds(
        [r.gold for r in tuning],
        score_records(bundle, tuning),
        scam_target_fpr=config.scam_target_fpr,
        topic_target_fpr=config.topic_fpr_ceiling,
        rule=config.rule,
        confidence=config.confidence,
    )
    for name in tuned["tuning"]["disabled"]:
        log.warning(
            "%s: no %s threshold meets the target on %s; the class is disabled",
            source.name,
            name,
            tuning_name,
        )
    manifest = bundle.manifest
    files = {name: source / name for name in manifest["files"] if name not in (MANIFEST, SEEN_DATA)}
    seen = bundle.seen_data()
    seen[tuning_name] = seen_entry([r.id for r in tuning], [r.text for r in tuning])
    data = dict(manifest.get("data", {}))
    data.setdefault(
        tuning_name,
        {"rows": len(tuning), "sha256": split_hash(tuning), "role": "threshold tuning"},
    )
    return write_bundle(
        out_dir,
        kind=bundle.kind,
        files=files,
        thresholds=tuned["thresholds"],
        tuning={**tuned["tuning"], "data": tuning_name},
        normalization=bundle.normalization,
        data=data,
        seen=seen,
        model=manifest.get("model", {}),
    )


def stage_thresholds(ctx: StageContext) -> dict:
    """Final bundles, every one tuned on the same rows (`thresholds.tune_on`) and targets."""
    from janitr.data.records import read_records
    from janitr.student.export import write_student_bundles

    cfg = ctx.config.thresholds
    out = ctx.out / "bundles"
    tuning = read_records(*(ctx.data_file(split) for split in cfg.tune_splits))
    summary = {}
    for name, stage in (("fasttext", "fasttext"), ("teacher", "teacher")):
        if stage in ctx.upstream:
            bundle = retune_bundle(
                ctx.stage(stage) / "bundle",
                out / name,
                tuning=tuning,
                tuning_name=cfg.tune_on,
                config=cfg,
            )
            summary[name] = bundle.thresholds
    if "quantize" in ctx.upstream:
        student = ctx.stage("distill") / "student"
        bundles = write_student_bundles(
            student_dir=student,
            models={
                "student-fp32": ctx.stage("export") / "model.fp32.onnx",
                "student-int8": ctx.stage("quantize") / "model.int8.onnx",
            },
            out_dir=out,
            train=ctx.data_file("train"),
            valid=ctx.data_file("valid"),
            calib=tuning,
            tuning_name=cfg.tune_on,
            parity_reports={
                "student-fp32": ctx.stage("export") / "parity_fp32.json",
                "student-int8": ctx.stage("quantize") / "parity_int8.json",
            },
            scam_target_fpr=cfg.scam_target_fpr,
            topic_target_fpr=cfg.topic_fpr_ceiling,
            rule=cfg.rule,
            confidence=cfg.confidence,
        )
        summary.update({name: b.thresholds for name, b in bundles.items()})
    return {"thresholds": summary, "tuned_on": cfg.tune_on, "rows": len(tuning)}


def resolve_eval_split(ctx: StageContext) -> str:
    split = ctx.config.evaluate.split
    if split == "auto":
        split = "holdout" if ctx.data_file("holdout").is_file() else "valid"
    if not ctx.data_file(split).is_file():
        raise PipelineError(
            f"evaluate.split = {split!r}, but {ctx.data_file(split)} does not exist"
        )
    return split


def evaluate_into(
    bundle_dir: Path,
    data: Path,
    out_dir: Path,
    *,
    split: str,
    allow_overlap: bool,
    n_boot: int,
    seed: int,
) -> dict:
    """Evaluate one bundle; write `eval.json` and `predictions.jsonl` (with texts) to out_dir."""
    import json

    from janitr.artifacts import write_lines
    from janitr.data.labels import targets
    from janitr.data.normalize import has_url
    from janitr.data.records import read_records
    from janitr.evaluation.evaluate import evaluate_bundle
    from janitr.pipeline.runs import EVAL_FILE, PREDICTIONS_FILE

    report = evaluate_bundle(
        model=bundle_dir,
        data=data,
        allow_overlap=allow_overlap,
        n_boot=n_boot,
        seed=seed,
        with_predictions=True,
    )
    preds = report.pop("predictions")
    # Paths would make outputs depend on where the run lives; names are enough.
    report["data"] = {**report["data"], "path": data.name, "split": split}
    report["model"] = {**report["model"], "path": bundle_dir.name}
    records = {r.id: r for r in read_records(data)}
    rows = []
    for i, row_id in enumerate(preds["ids"]):
        rec = records[row_id]
        rows.append(
            json.dumps(
                {
                    "id": row_id,
                    "gold": preds["gold"][i],
                    "pred": preds["pred"][i],
                    "p_scam": preds["p_scam"][i],
                    "p_topic": preds["p_topic"][i],
                    "is_topic": targets(rec.labels).is_topic,
                    "has_url": has_url(rec.text),
                    "text": rec.text,
                },
                ensure_ascii=False,
            )
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / EVAL_FILE, report)
    write_lines(out_dir / PREDICTIONS_FILE, rows)
    return report


def stage_evaluate(ctx: StageContext) -> dict:
    """Every final bundle on the evaluation split, one metric code path, per-row predictions."""
    cfg = ctx.config.evaluate
    split = resolve_eval_split(ctx)
    data = ctx.data_file(split)
    if cfg.allow_overlap:
        log.warning(
            "evaluate.allow_overlap = true: rows the models saw are scored too; "
            "these numbers are not an honest estimate"
        )
    summary = {"split": split}
    for bundle_dir in sorted((ctx.stage("thresholds") / "bundles").iterdir()):
        if not (bundle_dir / "bundle.json").is_file():
            continue
        report = evaluate_into(
            bundle_dir,
            data,
            ctx.out / bundle_dir.name,
            split=split,
            allow_overlap=cfg.allow_overlap,
            n_boot=cfg.bootstrap,
            seed=cfg.seed,
        )
        m = report["metrics"]
        summary[bundle_dir.name] = {
            "scam_recall": m["scam"]["recall"],
            "scam_fpr": m["scam"]["fpr"],
            "macro_f1": m["macro_f1"],
        }
    return summary


def stage_report(ctx: StageContext) -> dict:
    """HTML + Markdown report of the run (re-render any time with `janitr report RUN`)."""
    from janitr.pipeline.report import render_report

    paths = render_report(ctx.run_dir, out_dir=ctx.out)
    return {"files": sorted(p.name for p in paths)}


_DATA = ("train", "valid", "calib", "holdout", "unlabeled")

STAGES: tuple[Stage, ...] = (
    Stage(
        "validate",
        stage_validate,
        sections=("data", "leakage"),
        data=_DATA,
        provides_data=True,
    ),
    Stage(
        "leakage",
        stage_leakage,
        deps=("validate",),
        sections=("leakage",),
        data=("train", "valid", "calib", "holdout"),
    ),
    Stage(
        "tokenizer",
        stage_tokenizer,
        deps=("validate",),
        sections=("tokenizer", "data"),
        data=("train", "unlabeled"),
        version=2,  # 2: SentencePiece (deterministic) instead of the WordPiece trainer
    ),
    Stage(
        "fasttext",
        stage_fasttext,
        deps=("leakage",),
        sections=("fasttext",),
        data=("train", "valid", "calib"),
        version=2,  # 2: heads from the exact logits, not fastText's saturating table sigmoid
    ),
    Stage(
        "pretrain",
        stage_pretrain,
        deps=("leakage",),
        sections=("pretrain", "teacher"),
        data=_DATA,
        enabled=lambda c: c.pretrain.enabled,
    ),
    Stage(
        "teacher",
        stage_teacher,
        deps=("leakage", "pretrain"),
        sections=("teacher",),
        data=("train", "valid", "calib"),
    ),
    Stage(
        "cache",
        stage_cache,
        deps=("teacher",),
        sections=("cache", "leakage"),
        data=("train", "valid", "calib", "holdout", "unlabeled"),
    ),
    Stage(
        "distill",
        stage_distill,
        deps=("tokenizer", "cache"),
        sections=("distill", "student"),
        data=("train", "valid"),
    ),
    Stage(
        "export",
        stage_export,
        deps=("distill",),
        sections=("export",),
        data=("train", "valid", "unlabeled"),
        version=2,  # 2: the last layer computes only the [CLS] row (same outputs, faster)
    ),
    Stage(
        "quantize",
        stage_quantize,
        deps=("distill", "export"),
        sections=("quantize",),
        data=("train", "valid", "unlabeled"),
        version=2,  # 2: weights in [-64, 64] or u8 (no int16 saturation), metadata in the file
    ),
    Stage(
        "thresholds",
        stage_thresholds,
        deps=("fasttext", "teacher", "distill", "export", "quantize"),
        sections=("thresholds",),
        data=("train", "valid", "calib"),
    ),
    Stage(
        "evaluate",
        stage_evaluate,
        deps=("thresholds",),
        sections=("evaluate",),
        data=("valid", "calib", "holdout"),
    ),
    Stage(
        "report",
        stage_report,
        deps=("evaluate", "thresholds"),
        sections=("report",),
        enabled=lambda c: c.report.enabled,
    ),
)


def default_stages() -> list[Stage]:
    """The real stage list, in order."""
    return list(STAGES)
