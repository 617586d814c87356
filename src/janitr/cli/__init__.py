"""The `janitr` command line: argument parsing only.

One module per verb group (`data`, `train`, `evaluate`, `ship`, `runs`), each exposing
`register(subparsers)`; `registry.VERB_GROUPS` lists them, in help order, and `build_parser`
walks it. Flags of config classes come from one generator (`flags`). Each verb builds its
config and calls one keyword-only library function; the library raises typed
`JanitrError`s, which `main` turns into a one-line message and exit code 1 (2 for usage
errors), never a traceback. A `ConfigError`'s problems are shown with their flags.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from janitr import __version__
from janitr.cli.flags import flag_name, is_quiet
from janitr.cli.registry import verb_groups
from janitr.errors import ConfigError, DataError, JanitrError

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


def build_parser() -> argparse.ArgumentParser:
    """The `janitr` parser: every verb group of `registry.VERB_GROUPS`, in order."""
    parser = argparse.ArgumentParser(
        prog="janitr", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"janitr {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for group in verb_groups():
        group.register(sub)
    return parser


def config_message(error: ConfigError) -> str:
    """A `ConfigError` as the command line shows it: each problem's field as its flag."""
    if error.config is None:
        return str(error)
    return error.render(lambda name: flag_name(error.config, name))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    rank, processes = _torchrun_rank()
    if processes > 1 and not getattr(args, "distributed", False):
        print(
            f"error: rank {rank}: this verb runs in one process; under torchrun only "
            "`janitr train teacher` and `janitr cache` share out their work (run it without "
            "torchrun)",
            file=sys.stderr,
        )
        return 2
    # Under torchrun, rank 0 logs progress; the other ranks only warnings and errors.
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO if rank == 0 else logging.WARNING,
        format="%(message)s",
        stream=sys.stderr,
    )
    # SIGTERM unwinds like Ctrl-C: `finally` blocks and context managers run, so child
    # processes are stopped and temporary files (fastText's training text) removed.
    previous = _terminate_with_exit()
    saved_env = _silence_libraries() if is_quiet(args) else None
    where = f"rank {rank}: " if processes > 1 else ""  # torchrun: name the failing rank
    try:
        return int(args.func(args) or 0)
    except DataError as exc:
        print(f"error: {where}{exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"error: {where}{config_message(exc)}", file=sys.stderr)
        return 1
    except JanitrError as exc:
        print(f"error: {where}{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if saved_env is not None:
            _restore_env(saved_env)


def _torchrun_rank() -> tuple[int, int]:
    """`(RANK, WORLD_SIZE)` that torchrun set, `(0, 1)` outside torchrun (or when unreadable:
    `teacher.distributed.World.from_env` reports a malformed environment)."""
    import os

    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


#: Environment read by Hugging Face libraries and tqdm when they are imported (and by the
#: processes we spawn): no progress bars, and transformers' load reports ("LOAD REPORT",
#: unexpected keys) and advisories logged only at error level.
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def _silence_libraries() -> dict[str, str | None]:
    """`--quiet`: set QUIET_ENV (and tell transformers directly when it is already
    imported, since it reads the environment once). Returns the previous values."""
    import os

    saved = {key: os.environ.get(key) for key in QUIET_ENV}
    os.environ.update(QUIET_ENV)
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    return saved


def _restore_env(saved: dict[str, str | None]) -> None:
    import os

    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _terminate_with_exit():
    """Make SIGTERM raise SystemExit(143) here; returns the previous handler (None when this
    is not the main thread, where handlers cannot be set)."""

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    try:
        return signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread
        return None


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
