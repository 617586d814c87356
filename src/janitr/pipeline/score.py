"""`janitr score`: score a corpus (millions of posts) with a bundle, resumably.

A job reads JSONL files (or a folder of them; Parquet files too when pyarrow is installed)
and writes one output row per input row, in input order, into an output folder:

    OUT/
      job.json          format, bundle content id, every input's SHA-256 and row count, the
                        shard plan; a restart must match it (or pass overwrite=True)
      part-00000.jsonl  the rows of shard 0, written atomically (present = complete)
      part-00001.jsonl  ...
      manifest.json     written last: rows, error rows, SHA-256 of every part. Without it the
                        folder is an unfinished job, never a complete-looking output.

Concatenating the parts in name order gives the output: row k answers input row k (a blank
line or bad JSON line is a row too), `{"id", "class", "p_scam", "p_topic", "bundle"}` where
`bundle` is the first 12 hex digits of the bundle's content id (`Bundle.content_id`, the
lineage id `--bundle-id` accepts), or `{"line", "id"?, "error"}` for a row that cannot be
scored, with the words `janitr validate` uses. Ids are not checked for duplicates (that
would cost memory per row); `janitr validate` does that.

Each input file is cut into shards of `shard_rows` lines (byte ranges found in one streaming
pass that also hashes the file). The local engine scores shards in worker processes, one per
core (fastText holds the GIL while predicting, so threads would take turns), each loading the
bundle once with one ONNX thread; memory stays constant in the corpus size (a worker holds
one batch; parts stream to disk). A killed job restarts where it stopped: finished parts are
kept, stray temporary files removed, the rest scored. The Ray engine
(`janitr.pipeline.score_ray`) scores the same rows on a Ray cluster and writes the same parts.

Scores do not depend on the batch, the shard or the engine: fastText scores each post on its
own, fp32 ONNX students to ~1e-7 and static int8 students bit for bit (`runtime.onnx`); a
dynamically quantized student is scored one post per session run by its scorer.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from janitr.artifacts import read_json, write_json, write_lines
from janitr.config import choice_problems, option, positive_ints, raise_problems
from janitr.errors import ConfigError, ConfigProblem, DataError, Problem
from janitr.pipeline.corpus import RowScorer, Shard, input_files, plan_shards, shard_lines

FORMAT = "janitr-scores"
FORMAT_VERSION = 1
JOB_FILE = "job.json"
MANIFEST_FILE = "manifest.json"
#: Problems kept for the summary (the output rows hold all of them).
MAX_PROBLEMS = 20
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class ScoreConfig:
    """Settings of a scoring job (each field is a flag of `janitr score`)."""

    engine: str = option(
        "local",
        choices=ENGINES,
        help="local: worker processes on this machine; ray: Ray Data, locally or on a cluster "
        "at --address (pip install 'janitr[ray]')",
    )
    workers: int | None = option(
        None,
        metavar="N",
        help="processes (local) or Ray actors, one CPU each (default: one per core)",
    )
    shard_rows: int = option(
        20_000,
        metavar="N",
        help="input rows per output part; a restart redoes at most one part per worker, and "
        "must use the same value",
    )
    batch_size: int = option(1024, metavar="N", help="texts per scorer call")
    address: str | None = option(
        None, metavar="ADDR", help="Ray cluster address for --engine ray (e.g. auto)"
    )
    overwrite: bool = option(False, help="replace an --out folder that holds another job")
    progress: bool = option(True, flag="--quiet", help="no progress bar")

    def __post_init__(self) -> None:
        problems = choice_problems(self, ("engine",))
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            problems.append(
                ConfigProblem("workers", f"must be a positive integer, got {self.workers!r}")
            )
        problems += positive_ints(self, ("shard_rows", "batch_size"))
        if self.address is not None and self.engine != "ray":
            problems.append(ConfigProblem("address", "is for --engine ray", see=("engine",)))
        raise_problems(self, problems)

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass
class ScoreResult:
    """What a scoring job did.

    Attributes:
        out: the output folder.
        rows: output rows (= input rows).
        errors: rows that could not be scored (each answered by an `error` row).
        problems: the first MAX_PROBLEMS of them as `file:line: field: message`.
        shards: parts in the output; `reused`: parts a previous (killed) run had finished.
        seconds: wall time of this call.
        content_id: the bundle's content id.
    """

    out: Path
    rows: int
    errors: int
    problems: list[str] = field(default_factory=list)
    shards: int = 0
    reused: int = 0
    seconds: float = 0.0
    content_id: str = ""


def score_shard(scorer: RowScorer, shard: Shard, out_dir: Path, *, batch_size: int) -> dict:
    """Score one shard into its part file (atomically). Returns `{"index", "rows", "errors",
    "problems"}`."""
    problems: list[str] = []
    errors = 0

    def lines() -> Iterator[str]:
        nonlocal errors
        for line, problem in scorer.score_lines(
            shard.path, shard_lines(shard), batch_size=batch_size
        ):
            if problem is not None:
                errors += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append(problem)
            yield line

    rows = write_lines(out_dir / shard.part, lines())
    if rows != shard.rows:  # the input changed under us
        (out_dir / shard.part).unlink()
        raise DataError(
            [
                Problem(
                    shard.path,
                    shard.first_line,
                    "<file>",
                    f"changed while scored ({rows} rows, expected {shard.rows})",
                    "score a file that is not being written",
                )
            ]
        )
    return {"index": shard.index, "rows": rows, "errors": errors, "problems": problems}


# --- the job ---------------------------------------------------------------------------------


def score_corpus(
    *,
    inputs: Sequence[str | Path],
    out: str | Path,
    model: str | Path,
    config: ScoreConfig = ScoreConfig(),
    content_id: str | None = None,
) -> ScoreResult:
    """Score every row of `inputs` with the bundle `model` into the folder `out`.

    Restarting a killed job with the same arguments keeps its finished parts and scores the
    rest; a finished job is not redone. See the module docstring for the layout.

    Args:
        inputs: JSONL files (Parquet with pyarrow) or folders of them.
        out: the output folder.
        model: the bundle directory.
        config: engine, workers, shard size, batch size, progress.
        content_id: refuse the bundle unless its content id is (starts with) this.

    Returns:
        What was written (`ScoreResult`); rows that could not be scored are in `errors`.

    Raises:
        DataError: if an input is missing, empty or unreadable.
        BundleError: if the bundle is missing, damaged or not `content_id`.
        ConfigError: if `out` is a file, or holds another job and `overwrite` is off.
        MissingDependencyError: for the ray engine without ray installed.
    """
    from janitr.runtime.bundle import load_bundle

    began = time.perf_counter()
    if config.engine == "ray":
        from janitr.errors import require

        require("ray", extra="ray")  # before anything is written
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the output parts")
    bundle = load_bundle(model, content_id=content_id)
    files = input_files(inputs)
    shards, described = plan_shards(files, config.shard_rows)
    job = _job_description(bundle.content_id, shards, described, config.shard_rows)
    manifest = _prepare_out(out, job, overwrite=config.overwrite)
    reused = len(shards)
    if manifest is None:  # not finished yet
        reused = _run_engine(
            shards, out=out, model=bundle.path, config=config, content_id=bundle.content_id
        )
        manifest = _write_manifest(out, shards, job)
    return ScoreResult(
        out=out,
        rows=manifest["rows"],
        errors=manifest["errors"],
        problems=manifest["problems"],
        shards=len(shards),
        reused=reused,
        seconds=time.perf_counter() - began,
        content_id=bundle.content_id,
    )


def _job_description(content_id: str, shards: list[Shard], inputs: list[dict], shard_rows: int):
    """job.json: what a restart must match to reuse the parts."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "bundle": {"content_id": content_id},  # not its path: a moved bundle resumes
        "inputs": inputs,
        "shard_rows": shard_rows,
        "shards": [[s.index, s.path, s.kind, s.start, s.end, s.first_line, s.rows] for s in shards],
    }


def _run_engine(
    shards: list[Shard], *, out: Path, model: Path, config: ScoreConfig, content_id: str
) -> int:
    """Write every part that is missing; returns how many parts were reused."""
    if config.engine == "local":
        return _score_local(shards, out=out, model=model, config=config, content_id=content_id)
    from janitr.pipeline.score_ray import score_with_ray

    for stale in out.glob("part-*.jsonl"):
        stale.unlink()  # the ray engine writes every part again
    score_with_ray(
        shards,
        out=out,
        model=model,
        content_id=content_id,
        workers=config.worker_count,
        batch_size=config.batch_size,
        address=config.address,
        progress=config.progress,
    )
    return 0


def _prepare_out(out: Path, job: dict, *, overwrite: bool) -> dict | None:
    """Make `out` hold this job. Returns its manifest when the job is already complete."""
    job_path = out / JOB_FILE
    if job_path.exists():
        try:
            old = read_json(job_path)
        except (OSError, ValueError):
            old = None
        if old != job:
            if not overwrite:
                what = _job_difference(old, job)
                raise ConfigError(
                    f"--out {out} holds another scoring job ({what}); give a new --out, or "
                    "pass --overwrite to replace it"
                )
            _clear(out)
        elif (out / MANIFEST_FILE).exists():
            return read_json(out / MANIFEST_FILE)
    elif out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"--out {out} is a folder that holds other files; give a new or empty folder, "
                "or pass --overwrite to clear it"
            )
        _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp"):  # what a killed run was writing
        stale.unlink()
    (out / MANIFEST_FILE).unlink(missing_ok=True)
    write_json(job_path, job)
    return None


def _job_difference(old: dict | None, new: dict) -> str:
    if not isinstance(old, dict):
        return f"its {JOB_FILE} is unreadable"
    for key, what in (
        ("format_version", "another format version"),
        ("bundle", "another bundle"),
        ("inputs", "other inputs or contents"),
        ("shard_rows", f"shard_rows {old.get('shard_rows')}"),
    ):
        if old.get(key) != new.get(key):
            return what
    return "another shard plan"


def _clear(out: Path) -> None:
    import shutil

    for item in out.iterdir():
        if item.is_dir():
            shutil.rmtree(item)
        else:
            item.unlink()


def _part_rows(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _score_local(
    shards: list[Shard], *, out: Path, model: Path, config: ScoreConfig, content_id: str
) -> int:
    """Score the shards that have no complete part yet; returns how many were reused."""
    from tqdm import tqdm

    todo = []
    reused_rows = 0
    for shard in shards:
        part = out / shard.part
        if part.exists() and _part_rows(part) == shard.rows:
            reused_rows += shard.rows
        else:
            part.unlink(missing_ok=True)
            todo.append(shard)
    total = sum(s.rows for s in shards)
    workers = min(config.worker_count, max(len(todo), 1))
    bar = tqdm(
        total=total,
        initial=reused_rows,
        unit="post",
        unit_scale=True,
        smoothing=0.1,
        disable=not config.progress,
        file=sys.stderr,
        desc="score",
    )
    with bar:
        if workers == 1:
            scorer = RowScorer(model, content_id=content_id, verify=False)
            for shard in todo:
                bar.update(score_shard(scorer, shard, out, batch_size=config.batch_size)["rows"])
        else:
            _run_pool(
                todo,
                workers=workers,
                model=model,
                content_id=content_id,
                batch_size=config.batch_size,
                out=out,
                bar=bar,
            )
    return len(shards) - len(todo)


def _run_pool(todo, *, workers, model, content_id, batch_size, out, bar) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(str(model), content_id),
    )
    try:
        pending = {pool.submit(_worker_shard, s, str(out), batch_size) for s in todo}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for job in finished:
                bar.update(job.result()["rows"])  # re-raises a worker's error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_worker: RowScorer | None = None


def _init_worker(model: str, content_id: str) -> None:
    global _worker
    from janitr.runtime.onnx import THREADS_ENV

    # One process per core: each ONNX session gets one intra-op thread.
    os.environ.setdefault(THREADS_ENV, "1")
    _worker = RowScorer(model, content_id=content_id, verify=False)


def _worker_shard(shard: Shard, out: str, batch_size: int) -> dict:
    return score_shard(_worker, shard, Path(out), batch_size=batch_size)


def _write_manifest(out: Path, shards: list[Shard], job: dict) -> dict:
    """Check every part (rows as planned), count error rows, hash; write manifest.json last."""
    parts = []
    rows = errors = 0
    problems: list[str] = []
    for shard in shards:
        path = out / shard.part
        digest = hashlib.sha256()
        n = bad = 0
        with open(path, "rb") as handle:
            for line in handle:
                digest.update(line)
                n += 1
                # Only error rows have the key "error" (a quote inside a string is escaped).
                if b'"error":' in line:
                    bad += 1
                    if len(problems) < MAX_PROBLEMS:
                        row = json.loads(line)
                        problems.append(f"{shard.path}:{row['line']}: {row['error']}")
        if n != shard.rows:
            raise ConfigError(f"{path}: {n} rows, expected {shard.rows}; run the job again")
        parts.append({"file": shard.part, "rows": n, "errors": bad, "sha256": digest.hexdigest()})
        rows += n
        errors += bad
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "content_id": job["bundle"]["content_id"],
        "rows": rows,
        "errors": errors,
        "problems": problems,
        "parts": parts,
        "job_sha256": hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest(),
    }
    write_json(out / MANIFEST_FILE, manifest)
    return manifest


def read_scores(out: str | Path) -> Iterator[dict]:
    """Every output row of a finished job, in input order.

    Raises:
        ConfigError: if `out` holds no finished job (no manifest.json).
    """
    out = Path(out)
    if not (out / MANIFEST_FILE).exists():
        raise ConfigError(
            f"{out} holds no finished scoring job (no {MANIFEST_FILE}); "
            "run janitr score (again) to finish it"
        )
    for part in read_json(out / MANIFEST_FILE)["parts"]:
        with open(out / part["file"], encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)
