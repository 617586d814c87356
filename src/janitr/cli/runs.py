"""`janitr` verbs of whole pipeline runs: run, runs, sweep, report.

Each verb parses its flags, builds its config and calls one library function.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from janitr.cli.flags import (
    add_quiet_flag,
)


def register(sub) -> None:
    """Add this group's verbs to the `janitr` subparsers."""
    _add_run(sub)
    _add_runs(sub)
    _add_sweep(sub)
    _add_report(sub)


RUN_EXAMPLES = """\
examples:
  janitr run --out runs/demo                 demo data, tiny models (minutes; = configs/fast.toml)
  janitr run --data ../shared/data/janitr --out runs/r1      (= --config configs/default.toml)
  janitr run --data DATA --out runs/r2 --config configs/default.toml \\
      --set distill.temperature=2 --set teacher.seeds=13,42,7
  janitr run --out runs/demo --config configs/fast.toml --quiet   (CI: no progress output)

Without --config: with --data, the built-in defaults (the same as configs/default.toml); without
--data, the demo data with the fast settings (the same as configs/fast.toml). Without a
holdout.jsonl, the first stage carves a holdout out of train.jsonl (data.holdout_fraction).

Rerunning the same command resumes: stages whose inputs and config are unchanged and whose
outputs verify are skipped; an interrupted stage (even after kill -9) runs again.
"""


def _add_run(sub) -> None:
    from janitr.evaluation.thresholds import DEFAULT_POLICY

    thresholds = (
        "\nThresholds: the thresholds stage tunes every final bundle with [thresholds] "
        f"(default: {DEFAULT_POLICY.describe()}; the same default as `janitr train`; "
        "configs/fast.toml uses the empirical rule).\n"
    )
    p = sub.add_parser(
        "run",
        help="the whole pipeline: data -> validated, trained, exported, evaluated bundles",
        description="Run (or resume) every stage: validate, leakage, tokenizer, fasttext, "
        "[pretrain], teacher (+calibration), cache, distill, export, quantize, thresholds, "
        "evaluate, report. Each stage writes RUNDIR/stages/NN-<name>/ with a manifest; final "
        "bundles go to RUNDIR/bundles/{fasttext,teacher,student-fp32,student-int8}, the "
        "report to RUNDIR/report.html and RUNDIR/report.md.",
        epilog=RUN_EXAMPLES + thresholds,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help="directory with train/valid/calib.jsonl (+ holdout, unlabeled); "
        "default: write the demo dataset into RUNDIR/data",
    )
    p.add_argument(
        "--out",
        metavar="RUNDIR",
        type=Path,
        required=True,
        help="run directory (an existing run is resumed)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="pipeline config TOML (configs/default.toml, configs/fast.toml); "
        "default: the defaults with --data, the fast demo settings without",
    )
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override one config key, e.g. --set distill.temperature=2 (repeatable)",
    )
    add_quiet_flag(p)
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    from janitr.pipeline.config import load_config
    from janitr.pipeline.run import run_pipeline
    from janitr.pipeline.runs import format_run, load_run_info

    # No --config: real data gets the defaults (= configs/default.toml); the demo data gets
    # the fast settings (= configs/fast.toml), so `janitr run --out DIR` finishes in minutes.
    preset = "fast" if args.config is None and args.data is None else None
    config = load_config(args.config, overrides=args.overrides, preset=preset)
    if preset:
        logging.getLogger(__name__).info(
            "no --data and no --config: demo data with the fast settings (configs/fast.toml)"
        )
    result = run_pipeline(data_dir=args.data, out_dir=args.out, config=config, quiet=args.quiet)
    if not args.quiet:
        print(format_run(load_run_info(result.run_dir)))
    else:
        print(f"{result.name}: {result.run_dir}")
    return 0


def _add_runs(sub) -> None:
    p = sub.add_parser(
        "runs",
        help="list, show and compare pipeline runs",
        description="The run registry. `compare` refuses runs evaluated on different data and "
        "reports metric deltas with paired-bootstrap 95% intervals and an exact McNemar test.",
        epilog="examples:\n  janitr runs list runs/\n  janitr runs show runs/demo\n"
        "  janitr runs compare runs/a runs/b --bundle student-int8",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    runs_sub = p.add_subparsers(dest="runs_verb", metavar="ACTION", required=True)
    lst = runs_sub.add_parser("list", help="every run under a directory, newest first")
    lst.add_argument("root", nargs="?", default="runs", type=Path, help="default: runs/")
    lst.add_argument("--bundle", default="student-int8", help="bundle whose metrics are shown")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=_cmd_runs_list)
    show = runs_sub.add_parser("show", help="one run: data, stage timings, metrics, files")
    show.add_argument("run", type=Path, help="run directory")
    show.add_argument("--json", action="store_true", help="print RUN_INFO.json")
    show.set_defaults(func=_cmd_runs_show)
    cmp_ = runs_sub.add_parser(
        "compare",
        help="one bundle of two runs (or two crossval results) on the same rows",
        description="Paired comparison on the same rows: metric deltas with paired-bootstrap "
        "95% intervals and an exact McNemar test on per-row scam decisions. A and B are run "
        "directories, or `janitr crossval --json` files (their out-of-fold decisions).",
        epilog="examples:\n  janitr runs compare runs/a runs/b --bundle student-int8\n"
        "  janitr crossval --data DATA --model fasttext --json cv_a.json\n"
        "  janitr crossval --data DATA --model fasttext --fasttext-lr 0.1 --json cv_b.json\n"
        "  janitr runs compare cv_a.json cv_b.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmp_.add_argument("a", type=Path, help="reference run directory or crossval JSON")
    cmp_.add_argument("b", type=Path, help="candidate, the same kind (deltas are b - a)")
    cmp_.add_argument(
        "--bundle",
        default="student-int8",
        help="fasttext, teacher, student-fp32 or student-int8 (default)",
    )
    cmp_.add_argument("--json", action="store_true", help="print JSON")
    cmp_.set_defaults(func=_cmd_runs_compare)


def _cmd_runs_list(args) -> int:
    from janitr.pipeline.runs import format_runs, list_runs

    rows = list_runs(args.root)
    print(json.dumps(rows, indent=2) if args.json else format_runs(rows, bundle=args.bundle))
    return 0


def _cmd_runs_show(args) -> int:
    from janitr.pipeline.runs import format_run, show_run

    info = show_run(args.run)
    print(json.dumps(info, indent=2) if args.json else format_run(info))
    return 0


def _cmd_runs_compare(args) -> int:
    from janitr.pipeline.runs import compare_runs, format_comparison

    result = compare_runs(args.a, args.b, bundle=args.bundle)
    print(json.dumps(result, indent=2) if args.json else format_comparison(result))
    return 0


def _add_sweep(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a grid of config variants of a base run, reusing unchanged stages",
        description="Each combination of the --grid values becomes a new run directory "
        "(named after the base run and the values); stages whose inputs and config match the "
        "base run are hard-linked from it, so the teacher is trained once.\n\n"
        "Selection never uses the holdout. Variants are ranked on the data's valid.jsonl (the "
        "selection rows), scored by each variant's --bundle at its own thresholds: scam recall "
        "at scam FPR <= thresholds.scam_target_fpr (ties: scam F1), with 95% bootstrap CIs and "
        "each variant's paired recall difference against the chosen one (same rows, same "
        "resamples). Valid, not cross-fitted train rows: it is the split every variant already "
        "selects epochs (and possibly thresholds) on, so its figures are optimistic for all "
        "variants alike, and scoring it costs no retraining. The run's holdout figure is shown "
        "once, for the chosen variant; a warning is printed when valid holds fewer than 100 "
        "scams. The table is printed and saved as SWEEP.md and SWEEP.json.",
        epilog="example:\n  janitr sweep --base runs/demo --grid distill.temperature=2,3,4 "
        "--grid distill.alpha=0.5,0.7 --out runs/sweep1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--base", type=Path, required=True, metavar="RUN", help="base run directory")
    p.add_argument(
        "--grid",
        action="append",
        required=True,
        metavar="KEY=V1,V2",
        help="config key and its values (repeatable; the grid is the product)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="ROOT",
        help="where variant runs go (default: beside the base run)",
    )
    p.add_argument(
        "--bundle",
        default="student-int8",
        help="bundle whose predictions on valid.jsonl rank the variants",
    )
    add_quiet_flag(p)
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args) -> int:
    from janitr.pipeline.sweep import format_sweep, parse_grid, run_sweep

    result = run_sweep(
        base_run=args.base,
        grid=parse_grid(args.grid),
        out_root=args.out,
        bundle=args.bundle,
        quiet=args.quiet,
    )
    print(format_sweep(result))
    if result.selection.get("warning"):
        print(f"warning: {result.selection['warning']}", file=sys.stderr)
    print(f"saved: {', '.join(str(f) for f in result.files)}")
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="(re-)render a run's HTML and Markdown report",
        description="Render RUN/report.html (self-contained, figures embedded) and "
        "RUN/report.md from the run's evaluations and manifests; nothing is re-scored.",
        epilog="example:\n  janitr report runs/demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--out", type=Path, metavar="DIR", help="write elsewhere (default: RUN)")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args) -> int:
    from janitr.pipeline.report import render_report

    for path in render_report(args.run, out_dir=args.out):
        print(path)
    return 0
