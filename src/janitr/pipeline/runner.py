"""The stage runner: runs a list of stages into a run directory, skipping finished ones.

Generic: it knows nothing about fastText, teachers or students (the real stages are in
`janitr.pipeline.stages`; tests drive it with cheap fake stages). A stage is a plain function
that writes its outputs into a fresh directory. The runner builds that directory under a
temporary name and renames it into place only once the stage has finished and its
`manifest.json` (written last) lists every output with its size and SHA-256, the content
hashes of its inputs (data files and upstream stages' outputs), its config section(s) and
timings. So after a crash or `kill -9` at any moment a stage folder is either complete or
absent; leftover temporary folders are deleted on the next start.

On a rerun a stage is skipped when its manifest exists, its input hashes and config are the
same, and every output still verifies; otherwise it runs again, and so does everything
downstream whose inputs changed. Input identity is content-based (never paths), which also
lets `janitr sweep` reuse a base run's stages (`reuse_from`).
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from janitr.artifacts import atomic_dir, hash_object, sha256_file, write_json
from janitr.errors import ConfigError, JanitrError, PipelineError
from janitr.pipeline.config import PipelineConfig, as_keys
from janitr.pipeline.rundir import (
    DATA_DIR,
    MANIFEST,
    STAGE_FORMAT,
    STAGE_FORMAT_VERSION,
    STAGES_DIR,
    discard_unfinished,
    list_outputs,
    now,
    read_manifest,
    reusable,
    reuse_other,
    stage_dir_name,
)

log = logging.getLogger(__name__)


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
        """Announce a stage that starts running, with the elapsed time and the ETA.

        `remaining_estimate`: seconds of this and the later stages by their last run here,
        or None when one of them has not run here yet (no ETA then)."""
        elapsed = time.perf_counter() - self.started
        eta = ""
        if remaining_estimate is not None:
            eta = f", ETA {_fmt_seconds(remaining_estimate)} by the last run"
        self._line(
            f"[{index:2d}/{self.total}] {name:<12} running   (elapsed {_fmt_seconds(elapsed)}{eta})"
        )

    def done(self, index: int, name: str, status: str, seconds: float) -> None:
        """Report a stage's outcome: ran (with its time), skipped or disabled."""
        if status == "ran":
            self._line(f"[{index:2d}/{self.total}] {name:<12} done in {_fmt_seconds(seconds)}")
        elif status == "skipped":
            self._line(f"[{index:2d}/{self.total}] {name:<12} unchanged, skipped")
        else:
            self._line(f"[{index:2d}/{self.total}] {name:<12} disabled")

    def finish(self, run_dir: Path) -> None:
        """The last line: total time and the run directory."""
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


def _provided_data(stage: Stage, target: Path, current: Path) -> Path:
    """The data folder later stages read: `target/data` if this stage provides one."""
    provided = target / DATA_DIR
    if stage.provides_data and (provided / "train.jsonl").is_file():
        return provided.resolve()
    return current


def run_stages(
    stages: Sequence[Stage],
    *,
    run_dir: Path,
    data_dir: Path,
    config: PipelineConfig,
    quiet: bool = False,
    reuse_from: Path | None = None,
    progress: Progress | None = None,
) -> tuple[list[StageOutcome], dict[str, Path]]:
    """Run (or skip) each stage in order into `run_dir/stages/NN-<name>`.

    Args:
        stages: the stage list, in order.
        run_dir: the run directory (its `stages/` folder is created).
        data_dir: where the stages read their splits (until a stage provides a `data/`).
        config: the resolved config (stage identities hash their sections of it).
        quiet: no progress lines; passed on to the stages.
        reuse_from: another run directory whose matching finished stages are hard-linked.
        progress: the progress printer (default: one on stderr for these stages).

    Returns:
        (one `StageOutcome` per stage, `{stage name: finished folder}`).

    Raises:
        JanitrError: from a stage, as raised; any other exception becomes a PipelineError.
            Stages finished before it are kept, and a rerun resumes after them.
    """
    stages_root = run_dir / STAGES_DIR
    stages_root.mkdir(parents=True, exist_ok=True)
    discard_unfinished(stages_root)
    hashes = _FileHashes()
    progress = progress or Progress(len(stages), quiet=quiet)
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
        target = stages_root / stage_dir_name(index, stage.name)
        if not enabled[i]:
            if target.exists():
                shutil.rmtree(target)
            outcomes.append(StageOutcome(index, stage.name, "disabled", 0.0, None))
            progress.done(index, stage.name, "disabled", 0.0)
            continue
        inputs = _stage_inputs(stage, stage_data, config, digests, hashes)
        sections = {name: config.section_dict(name) for name in stage.sections}
        key = _stage_key(stage, inputs, sections)
        manifest = reusable(target, key)
        if manifest is None and reuse_from is not None:
            manifest = reuse_other(Path(reuse_from), target, stage.name, key)
        if manifest is not None:
            outcome = StageOutcome(
                index, stage.name, "skipped", manifest["seconds"], target,
                manifest.get("summary", {}),
            )  # fmt: skip
            progress.done(index, stage.name, "skipped", 0.0)
        else:
            eta = None if None in estimates[i:] else sum(estimates[i:])
            progress.start(index, stage.name, remaining_estimate=eta)
            upstream = {name: finished[name] for name in stage.deps if name in finished}
            manifest = _run_one(
                stage, index, key, target, inputs, sections, run_dir=run_dir,
                data_dir=stage_data, config=config, upstream=upstream, quiet=quiet,
            )  # fmt: skip
            outcome = StageOutcome(
                index, stage.name, "ran", manifest["seconds"], target, manifest["summary"]
            )
            progress.done(index, stage.name, "ran", manifest["seconds"])
        finished[stage.name] = target
        digests[stage.name] = manifest["outputs_sha256"]
        outcomes.append(outcome)
        stage_data = _provided_data(stage, target, stage_data)
    return outcomes, finished


def _stage_key(stage: Stage, inputs: dict, sections: dict) -> str:
    """The stage's identity hash: name, input hashes, config sections (and its version
    from 2 on, so that version-1 stages keep their keys)."""
    stage_identity = {"stage": stage.name, "inputs": inputs, "config": sections}
    if stage.version > 1:
        stage_identity["version"] = stage.version
    return hash_object(stage_identity)


def _run_one(
    stage: Stage,
    index: int,
    key: str,
    target: Path,
    inputs: dict,
    sections: dict,
    *,
    run_dir: Path,
    data_dir: Path,
    config: PipelineConfig,
    upstream: dict[str, Path],
    quiet: bool,
) -> dict:
    """Run one stage into a temporary folder, write its manifest last, rename it into place."""
    started_at = now()
    started = time.perf_counter()
    with atomic_dir(target, overwrite=True) as tmp:
        ctx = StageContext(
            name=stage.name, run_dir=run_dir, data_dir=data_dir, config=config, out=tmp,
            upstream=upstream, quiet=quiet,
        )  # fmt: skip
        try:
            summary = dict(stage.run(ctx) or {})
        except ConfigError as exc:
            # A stage config's problems name its bare fields; a run shows them as the keys
            # of the section that config is.
            keyed = as_keys(exc)
            if keyed is exc:
                raise
            raise keyed from exc
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
            "finished_at": now(),
            "seconds": round(seconds, 3),
            "summary": summary,
        }
        write_json(tmp / MANIFEST, manifest)  # last: its presence means "complete"
    return manifest
