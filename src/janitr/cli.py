"""The `janitr` command line: argument parsing only.

Each verb parses its flags and calls one keyword-only library function; the library raises
typed `JanitrError`s, which `main` turns into a one-line message and exit code 1 (2 for usage
errors), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from janitr.errors import DataError, JanitrError

DESCRIPTION = """\
Janitr: flag crypto scams and crypto-topic posts, locally.

Typical workflow:
  janitr validate data/*.jsonl               check every row, report all problems at once
  janitr split --data all.jsonl --out splits leakage-proof stratified splits
  janitr leakage splits/                     overlap by id, text and near-duplicate text
  janitr benchmark freeze splits --name b1   freeze id lists + hashes; `verify` later
  janitr train fasttext --data splits --out bundles/fasttext
  janitr evaluate --model bundles/fasttext --data splits/holdout.jsonl
  janitr classify --model bundles/fasttext "claim your free airdrop"
  janitr run --out runs/demo                 the whole pipeline, resumable (demo data if no --data)
"""


def _add_common_data_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


# --- validate -----------------------------------------------------------------------------


def _add_validate(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="check JSONL datasets row by row",
        description="Check every row of one or more labeled JSONL files: UTF-8, JSON, a string "
        "id unique across all files, text non-empty after normalization, labels a non-empty "
        "list of taxonomy labels. Reports every problem as file:line: field: what (how to fix) "
        "and exits 1 if there is any; otherwise prints row and label counts.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="JSONL files to check")
    p.add_argument("--unlabeled", action="store_true", help="rows need no labels (corpus files)")
    p.add_argument("--json", metavar="OUT", help="also write the report as JSON")
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args) -> int:
    from janitr.validate import format_report, validate_files

    report = validate_files(args.paths, require_labels=not args.unlabeled)
    print(format_report(report))
    if args.json:
        from janitr.artifacts import write_json

        write_json(args.json, report.to_dict())
    return 0 if report.ok else 1


# --- (further verbs are registered below, one block each) ---------------------------------

VERB_REGISTRARS = [_add_validate]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="janitr", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for register in VERB_REGISTRARS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    try:
        return int(args.func(args) or 0)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except JanitrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
