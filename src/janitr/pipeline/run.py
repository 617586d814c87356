"""`janitr run`: the whole chain from data to shipped bundles, resumable and cached.

`run_pipeline` puts three parts together: the run directory (`janitr.pipeline.rundir`:
layout, manifests, run info, prediction files), the generic stage runner
(`janitr.pipeline.runner`: cached, crash-safe stage folders) and the real stages
(`janitr.pipeline.stages`: thin adapters calling the library). The layout:

    RUNDIR/
      run.json            name, creation time, data directory (written at the first start)
      config.toml/.json   the resolved config
      data/               the generated demo data (only when no data directory was given)
      stages/NN-<name>/   one folder per stage: its outputs + manifest.json
      stages/01-validate/data/  train/holdout/valid/calib(/unlabeled).jsonl when the data
                          has no holdout.jsonl: the holdout carved out of train
      bundles/{fasttext,teacher,student-fp32,student-int8}/
      report.html, report.md, RUN_INFO.json

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from janitr.pipeline.config import PipelineConfig, load_config, save_config
from janitr.pipeline.rundir import (
    BUNDLES_DIR,
    STAGES_DIR,
    clean_leftovers,
    collect_metrics,
    prepare_data,
    publish_bundles,
    publish_report,
    run_identity,
    write_run_info,
)
from janitr.pipeline.runner import Progress, Stage, StageOutcome, run_stages
from janitr.pipeline.stages import default_stages, preflight

log = logging.getLogger(__name__)


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
        """Names of the stages that ran in this invocation."""
        return [s.name for s in self.stages if s.status == "ran"]

    @property
    def skipped(self) -> list[str]:
        """Names of the stages reused unchanged."""
        return [s.name for s in self.stages if s.status == "skipped"]


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
    (run_dir / STAGES_DIR).mkdir(parents=True, exist_ok=True)
    for directory in (run_dir, run_dir / STAGES_DIR, run_dir / BUNDLES_DIR):
        removed = clean_leftovers(directory)
        if removed:
            log.info("discarded incomplete outputs from an interrupted run: %s", ", ".join(removed))

    data_dir = prepare_data(run_dir, data_dir, config)
    if stages_is_default:
        preflight(config, data_dir)
    identity = run_identity(run_dir, config, data_dir)
    save_config(config, run_dir)

    progress = Progress(len(stages), quiet=quiet)
    outcomes, finished = run_stages(
        stages,
        run_dir=run_dir,
        data_dir=data_dir,
        config=config,
        quiet=quiet,
        reuse_from=reuse_from,
        progress=progress,
    )
    bundles = publish_bundles(run_dir, finished)
    publish_report(run_dir, finished)
    metrics = collect_metrics(run_dir)
    write_run_info(run_dir)
    progress.finish(run_dir)
    return RunResult(
        run_dir=run_dir, name=identity["name"], stages=outcomes, bundles=bundles, metrics=metrics
    )
