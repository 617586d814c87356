"""`janitr score`: score a corpus with a bundle (parsing only; `pipeline.score` works)."""

from __future__ import annotations

import argparse
import sys

from janitr.cli.flags import add_bundle_id_flag, add_config_flags, build_config


def register(subparsers) -> None:
    """Add the `score` verb to the `janitr` subparsers."""
    from janitr.pipeline.score import ScoreConfig

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
    add_config_flags(p, ScoreConfig)
    add_bundle_id_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Run `janitr score` from parsed arguments; returns the exit code."""
    from janitr.pipeline.score import ScoreConfig, score_corpus

    config = build_config(ScoreConfig, args)
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
