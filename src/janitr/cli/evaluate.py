"""`janitr` verbs that measure models: evaluate, errors, crossval.

Each verb parses its flags, builds its config and calls one library function.
"""

from __future__ import annotations

import argparse

from janitr.cli.flags import (
    add_bundle_id_flag,
    add_config_flags,
    add_threshold_flags,
    build_config,
    threshold_policy,
)


def register(sub) -> None:
    """Add this group's verbs to the `janitr` subparsers."""
    _add_evaluate(sub)
    _add_errors(sub)
    _add_crossval(sub)


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="metrics of a bundle on a labeled JSONL file, with 95%% CIs",
        description="Score a model bundle on a labeled JSONL file and print per-class "
        "precision, recall, F1, FPR, FNR, macro F1, exact match, scam PR-AUC, bootstrap 95% "
        "confidence intervals, calibration and subgroups. Rows the bundle trained or was "
        "tuned on (same id or same normalized text) are refused unless --allow-overlap."
        "\n\nexamples:\n"
        "  janitr evaluate --model bundles/fasttext --data data/valid.jsonl\n"
        "  janitr evaluate --model bundles/fasttext --data holdout.jsonl --json report.json "
        "--predictions preds.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, metavar="BUNDLE_DIR", help="bundle directory")
    p.add_argument("--data", required=True, metavar="FILE", help="labeled JSONL file")
    p.add_argument("--json", metavar="OUT", help="also write the full report as JSON")
    p.add_argument(
        "--predictions",
        metavar="OUT",
        help="write per-row predictions (id, gold, pred, p_scam, p_topic) as JSONL",
    )
    p.add_argument(
        "--allow-overlap",
        action="store_true",
        help="score rows the model trained or was tuned on (numbers will be optimistic)",
    )
    p.add_argument(
        "--exclude-overlap",
        action="store_true",
        help="drop rows the model trained or was tuned on, score the rest",
    )
    p.add_argument(
        "--n-boot",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples for the CIs (default: 1000; 0 = none)",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    add_bundle_id_flag(p)
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    from janitr.artifacts import check_output_file, write_json
    from janitr.evaluation.evaluate import evaluate_bundle, format_evaluation, write_predictions

    for out in (args.json, args.predictions):
        if out:
            check_output_file(out)
    report = evaluate_bundle(
        model=args.model, data=args.data, allow_overlap=args.allow_overlap,
        exclude_overlap=args.exclude_overlap, n_boot=args.n_boot, seed=args.seed,
        with_predictions=bool(args.predictions), content_id=args.bundle_id,
    )  # fmt: skip
    if args.predictions:
        write_predictions(args.predictions, report)
        report.pop("predictions")
    print(format_evaluation(report))
    if args.json:
        write_json(args.json, report)
    return 0


def _add_errors(sub) -> None:
    p = sub.add_parser(
        "errors",
        help="worst false positives and false negatives of a run, predictions file or bundle",
        description="List the scam false positives with the highest p_scam and the scam false "
        "negatives with the lowest p_scam (then topic_crypto errors), with scores, text and "
        "raw labels. SOURCE is a predictions JSONL (from `janitr evaluate --predictions`, "
        "`janitr crossval --predictions` or a run's evaluations), or a run directory (every "
        "predictions.jsonl under it). Or give --model BUNDLE --data FILE to score a file now."
        "\n\nexamples:\n"
        "  janitr errors runs/r1\n"
        "  janitr errors oof.jsonl --data data/train.jsonl data/valid.jsonl data/calib.jsonl\n"
        "  janitr errors --model bundles/linear --data data/valid.jsonl --top 20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source", nargs="?", metavar="RUN_OR_PREDICTIONS", help="run directory or predictions JSONL"
    )
    p.add_argument("--model", metavar="BUNDLE_DIR", help="score --data with this bundle")
    p.add_argument(
        "--data",
        nargs="*",
        default=[],
        metavar="JSONL",
        help="labeled file(s) for texts and raw labels (required with --model)",
    )
    p.add_argument("--top", type=int, default=15, metavar="N", help="rows per list (default 15)")
    p.add_argument(
        "--allow-overlap",
        action="store_true",
        help="with --model: score rows the bundle was trained or tuned on",
    )
    p.add_argument(
        "--exclude-overlap",
        action="store_true",
        help="with --model: drop rows the bundle was trained or tuned on, list the rest",
    )
    p.add_argument("--json", metavar="OUT", help="also write the lists as JSON")
    p.set_defaults(func=_cmd_errors)


def _cmd_errors(args) -> int:
    from janitr.evaluation.error_analysis import error_analysis, format_errors

    if args.json:
        from janitr.artifacts import check_output_file

        check_output_file(args.json)

    result = error_analysis(
        source=args.source,
        model=args.model,
        data=args.data,
        top=args.top,
        allow_overlap=args.allow_overlap,
        exclude_overlap=args.exclude_overlap,
    )
    print(format_errors(result))
    if args.json:
        from janitr.artifacts import write_json

        write_json(args.json, result)
    return 0


def _add_crossval(sub) -> None:
    from janitr.pipeline.crossval import CrossvalConfig

    p = sub.add_parser(
        "crossval",
        help="K-fold cross-fitting over all labeled rows, nested thresholds, robustness",
        description="Pool DATA/{train,valid,calib}.jsonl, split into --folds folds (stratified "
        "by label set, near-duplicates kept together), train the model family on K-1 folds and "
        "score the last, for every fold: an out-of-fold score for every row. Each fold is "
        "decided with thresholds tuned on the other folds' OOF scores (empirical and "
        "guaranteed rules), and measured once with bootstrap 95% CIs; scam FPR is shown on "
        "clean and topic_crypto negatives separately; fold models are also scored on "
        "obfuscated copies of their held-out rows."
        "\n\nexamples:\n"
        "  janitr crossval --data data/ --model linear\n"
        "  janitr crossval --data data/ --model ensemble --json cv.json --predictions oof.jsonl\n"
        "  janitr crossval --data data/ --model linear --fold-confusables --augment\n"
        "  janitr errors oof.jsonl --data data/train.jsonl data/valid.jsonl data/calib.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, metavar="DIR", help="directory with the splits")
    add_config_flags(p, CrossvalConfig)
    add_threshold_flags(p, skip=("tune_on",))  # every row is tuned on out of fold
    p.add_argument("--json", metavar="OUT", help="write the full result as JSON")
    p.add_argument("--predictions", metavar="OUT", help="write per-row OOF predictions JSONL")
    p.set_defaults(func=_cmd_crossval)


def _cmd_crossval(args) -> int:
    from janitr.pipeline.crossval import (
        CrossvalConfig,
        format_crossval,
        run_crossval,
        write_oof_predictions,
    )

    config = build_config(CrossvalConfig, args, thresholds=threshold_policy(args))
    result = run_crossval(data_dir=args.data, config=config)
    print(format_crossval(result))
    if args.predictions:
        write_oof_predictions(args.predictions, result)
    if args.json:
        from janitr.artifacts import write_json

        write_json(args.json, result)
    return 0
