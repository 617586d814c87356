"""The Ray Data engine of `janitr score` (`janitr[ray]`): the same rows, on a Ray cluster.

    read (JSONL lines / Parquet rows) -> map_batches(_BundleActor) -> the driver writes parts

The read is a small line datasource (`InputLines`, on Ray's `FileBasedDatasource`): Ray's
`read_json` would fail the whole job on one bad line and `read_text` decodes whole files and
splits on Unicode line breaks that JSON strings may hold, so neither answers every line. Each
actor loads the bundle once (one ONNX thread, one CPU) and turns lines into output rows with
`score.RowScorer`, the local engine's code path. The rows stream back to the driver in input
order (`preserve_order`) and are written into the same parts, with the same manifest, as the
local engine: the outputs are identical byte for byte (a test checks it). Ray's `write_json`
is not used: it formats floats through pandas with 10 significant digits.

Against a cluster (`address`), the inputs must be readable by the workers (a shared
filesystem, or a URI pyarrow opens: s3://, gs://). A Ray job is not resumed shard by shard:
a restart scores everything again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from janitr.artifacts import write_lines
from janitr.errors import require
from janitr.pipeline.corpus import PARQUET_SUFFIXES, RowScorer, Shard, parquet_line


def score_with_ray(
    shards: Sequence[Shard],
    *,
    out: Path,
    model: Path,
    content_id: str,
    workers: int,
    batch_size: int,
    address: str | None = None,
    progress: bool = True,
) -> None:
    """Score the rows of `shards` on Ray and write one part per shard into `out`.

    Args:
        shards: the plan (`corpus.plan_shards`); one part is written per shard.
        out: the output folder.
        model: the bundle (already verified by the caller).
        content_id: the bundle's content id; each actor refuses another bundle.
        workers: actors, one CPU each (and the CPUs of a local Ray it starts).
        batch_size: rows per actor call and per scorer call.
        address: a Ray cluster (`ray.init(address=...)`); None starts a local Ray unless
            one is running in this process already.
        progress: show Ray Data's progress bars.

    Raises:
        MissingDependencyError: if ray is not installed.
        DataError: if an input changed since it was planned (a part's row count differs).
    """
    ray = require("ray", extra="ray")
    ray_data = require("ray.data", extra="ray")

    from janitr.errors import DataError, Problem

    started = _start_ray(ray, address=address, workers=workers)
    try:
        paths = list(dict.fromkeys(s.path for s in shards))
        ds = _scored_dataset(
            ray_data,
            paths,
            model=model,
            content_id=content_id,
            workers=workers,
            batch_size=batch_size,
            progress=progress,
        )
        rows = _stream_rows(ds, batch_size)
        for shard in shards:
            written = write_lines(out / shard.part, _take(rows, shard))
            if written != shard.rows:
                raise DataError(
                    [
                        Problem(
                            shard.path,
                            shard.first_line,
                            "<file>",
                            f"{written} rows read, expected {shard.rows}",
                            "score a file that is not being written",
                        )
                    ]
                )
    finally:
        if started:
            ray.shutdown()


def _start_ray(ray, *, address: str | None, workers: int) -> bool:
    """Start (or connect to) Ray unless this process already has; True if it started it.

    Raises:
        ConfigError: if Ray cannot start or the cluster at `address` cannot be reached.
    """
    if ray.is_initialized():
        return False
    init = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        init["num_cpus"] = workers
    try:
        ray.init(address=address, **init)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        from janitr.errors import ConfigError

        raise ConfigError(
            f"--address {address}: cannot start or reach Ray ({exc}); start a cluster "
            "(ray start --head) or leave out --address for a local Ray"
        ) from exc
    return True


def _scored_dataset(
    ray_data,
    paths: list[str],
    *,
    model: Path,
    content_id: str,
    workers: int,
    batch_size: int,
    progress: bool,
):
    """The lazy Ray Dataset of `{"path", "line", "row"}`, in input order."""
    context = ray_data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = progress
    # Reading only splits lines: it reserves no CPU, so that `workers` actors with one
    # CPU each fill a `workers`-CPU Ray (a read waiting for a CPU would deadlock).
    ds = ray_data.read_datasource(_lines_datasource(paths), num_cpus=0)
    return ds.map_batches(
        _BundleActor,
        fn_constructor_kwargs={
            "model": str(model),
            "content_id": content_id,
            "batch_size": batch_size,
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        concurrency=workers,
        num_cpus=1,
    )


def _stream_rows(ds, batch_size: int) -> Iterator[tuple[str, int, str]]:
    """`(path, line, output row)` in input order."""
    for batch in ds.iter_batches(batch_size=batch_size, batch_format="pyarrow"):
        yield from zip(
            batch.column("path").to_pylist(),
            batch.column("line").to_pylist(),
            batch.column("row").to_pylist(),
            strict=True,
        )


def _take(rows: Iterator[tuple[str, int, str]], shard: Shard) -> Iterator[str]:
    """The shard's rows from the stream, checking that they are its lines in order."""
    from janitr.errors import DataError, Problem

    expected = shard.first_line
    for _ in range(shard.rows):
        item = next(rows, None)
        if item is None:
            return
        path, line, row = item
        if line != expected or os.path.abspath(path) != shard.path:
            raise DataError(
                [
                    Problem(
                        shard.path,
                        expected,
                        "<file>",
                        f"ray returned {path}:{line} in its place",
                        "a bug: report it",
                    )
                ]
            )
        expected += 1
        yield row


class _BundleActor:
    """A Ray actor: loads the bundle once, scores batches of `{"path", "line", "raw"}`."""

    def __init__(self, model: str, content_id: str, batch_size: int):
        from janitr.runtime.onnx import THREADS_ENV

        os.environ.setdefault(THREADS_ENV, "1")
        self.scorer = RowScorer(model, content_id=content_id, verify=False)
        self.batch_size = batch_size

    def __call__(self, batch):
        import pyarrow as pa

        paths = batch.column("path").to_pylist()
        lines = batch.column("line").to_pylist()
        raws = batch.column("raw").to_pylist()
        out: list[str] = []
        start = 0
        while start < len(paths):  # a batch can span two files
            end = start
            while end < len(paths) and paths[end] == paths[start]:
                end += 1
            items = zip(lines[start:end], raws[start:end], strict=True)
            out += [
                row
                for row, _ in self.scorer.score_lines(
                    paths[start], items, batch_size=self.batch_size
                )
            ]
            start = end
        return pa.table({"path": paths, "line": lines, "row": out})


def _lines_datasource(paths: list[str]):
    from ray.data.datasource import FileBasedDatasource

    class InputLines(FileBasedDatasource):
        """Every line of JSONL files, undecoded: `{"path", "line", "raw"}` (line end removed;
        the newline that ends a file starts no line). A Parquet row is the JSON line of its
        `id` and `text` (`score.shard_lines` does the same), numbered from 1 in its file."""

        BLOCK_ROWS = 8192

        def _open_input_source(self, filesystem, path: str, **open_args):
            # A Parquet file is read by row group: it needs random access, not a stream.
            if path.endswith(PARQUET_SUFFIXES):
                return filesystem.open_input_file(path)
            return super()._open_input_source(filesystem, path, **open_args)

        def _read_stream(self, f, path: str):
            import pyarrow as pa

            if path.endswith(PARQUET_SUFFIXES):
                yield from self._read_parquet(f, path)
                return
            number = 0
            rest = b""
            block_lines: list[int] = []
            block_raw: list[bytes] = []

            def block():
                table = pa.table(
                    {
                        "path": [path] * len(block_raw),
                        "line": block_lines,
                        "raw": pa.array(block_raw, type=pa.binary()),
                    }
                )
                block_lines.clear()
                block_raw.clear()
                return table

            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                pieces = (rest + chunk).split(b"\n")
                rest = pieces.pop()
                for raw in pieces:
                    number += 1
                    block_lines.append(number)
                    block_raw.append(raw)
                if len(block_raw) >= self.BLOCK_ROWS:
                    yield block()
            if rest:
                number += 1
                block_lines.append(number)
                block_raw.append(rest)
            if block_raw:
                yield block()

        def _read_parquet(self, f, path: str):
            import pyarrow as pa
            import pyarrow.parquet as pq

            table_file = pq.ParquetFile(f)
            columns = [c for c in ("id", "text") if c in table_file.schema_arrow.names]
            number = 0
            for group in range(table_file.num_row_groups):
                rows = table_file.read_row_group(group, columns=columns).to_pylist()
                raws = [parquet_line(row) for row in rows]
                lines = list(range(number + 1, number + len(raws) + 1))
                number += len(raws)
                yield pa.table(
                    {
                        "path": [path] * len(raws),
                        "line": lines,
                        "raw": pa.array(raws, type=pa.binary()),
                    }
                )

    return InputLines(paths)
