"""`janitr score`: score a corpus with a bundle (parsing only; `pipeline.score` works)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    """Add the `score` verb to the `janitr` subparsers."""
    from janitr.pipeline.score import ENGINES, ScoreConfig

    d = ScoreConfig()
    p = subparsers.add_parser(
        "score",
        help="score a corpus (JSONL files or a folder; millions of rows), resumably",
        description="Score every row of JSONL files (or folders of them; Parquet with pyarrow) "
        "with a bundle into an output folder of parts: one row per input row, in order, "
        '{"id", "class", "p_scam", "p_topic", "bundle"} (bundle: the first 12 hex digits of '
        'its content id), or {"line", "id", "error"} for a row that cannot be scored (blank, '
        "bad JSON, no id, empty text); the exit code is then 1. manifest.json is written "
        "last: a folder without it is an unfinished job. Run the same command again to "
        "resume a killed job (finished parts are kept); the parts concatenated in name order "
        "are the output (cat OUT/part-*.jsonl)."
        "\n\nexamples:\n"
        "  janitr score --model bundles/fasttext --out scores posts.jsonl\n"
        "  janitr score --model bundles/student-int8 --out scores corpus/ --workers 2\n"
        "  janitr score --model bundles/fasttext --out scores corpus/ --engine ray "
        "--address auto",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="JSONL file(s) or folder(s)")
    p.add_argument("--model", required=True, metavar="BUNDLE_DIR", help="bundle directory")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default=d.engine,
        help="local: worker processes on this machine; ray: Ray Data (pip install "
        f"'janitr[ray]') (default: {d.engine})",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes (local) or Ray actors, one CPU each (default: one per core)",
    )
    p.add_argument(
        "--shard-rows",
        type=int,
        default=d.shard_rows,
        metavar="N",
        help=f"input rows per output part; a restart redoes at most one part per worker "
        f"(default: {d.shard_rows})",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        metavar="N",
        help=f"texts per scorer call (default: {d.batch_size})",
    )
    p.add_argument(
        "--address", metavar="ADDR", help="Ray cluster address for --engine ray (e.g. auto)"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an --out folder holding another job"
    )
    p.add_argument(
        "--bundle-id",
        metavar="ID",
        help="refuse the bundle unless its content id is ID (at least 12 hex digits): pins "
        "the exact bundle",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run `janitr score` from parsed arguments; returns the exit code."""
    from janitr.pipeline.score import ScoreConfig, score_corpus

    config = ScoreConfig(
        engine=args.engine,
        workers=args.workers,
        shard_rows=args.shard_rows,
        batch_size=args.batch_size,
        address=args.address,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    result = score_corpus(
        inputs=args.inputs, out=args.out, model=args.model, config=config,
        content_id=args.bundle_id,
    )  # fmt: skip
    reused = (
        f", {result.reused} of {result.shards} parts from an earlier run" if result.reused else ""
    )
    print(
        f"scored {result.rows} rows into {result.out} in {result.seconds:.1f}s "
        f"(bundle {result.content_id[:12]}{reused})",
        file=sys.stderr,
    )
    if not result.errors:
        return 0
    shown = "; ".join(result.problems[:3]) + ("; ..." if result.errors > 3 else "")
    print(
        f"error: {result.errors} of {result.rows} row(s) could not be scored (rows with "
        f'"error" in {result.out}): {shown}',
        file=sys.stderr,
    )
    return 1
