"""The `janitr` command line: argument parsing only.

Each verb parses its flags and calls one keyword-only library function; the library raises
typed `JanitrError`s, which `main` turns into a one-line message and exit code 1 (2 for usage
errors), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from janitr import __version__
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


def _add_bundle_id_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bundle-id",
        metavar="ID",
        help="refuse the bundle unless its content id is ID (at least 12 hex digits of the id "
        "that classify --json and evaluate print): pins the exact bundle",
    )


# --- validate -----------------------------------------------------------------------------


def _add_validate(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="check JSONL datasets row by row",
        description="Check every row of one or more labeled JSONL files: UTF-8, JSON, a string "
        "id unique across all files, text with something visible after normalization and no "
        "lone surrogate, labels a non-empty list of taxonomy labels; an empty file is a "
        "problem too. Reports every problem as file:line: field: what (how to fix) "
        "and exits 1 if there is any; otherwise prints row and label counts.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="JSONL files to check")
    p.add_argument("--unlabeled", action="store_true", help="rows need no labels (corpus files)")
    p.add_argument("--json", metavar="OUT", help="also write the report as JSON")
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args) -> int:
    from janitr.artifacts import check_output_file
    from janitr.data.validate import format_report, validate_files

    if args.json:
        check_output_file(args.json)
    report = validate_files(args.paths, require_labels=not args.unlabeled)
    print(format_report(report))
    if args.json:
        from janitr.artifacts import write_json

        write_json(args.json, report.to_dict())
    return 0 if report.ok else 1


# --- split --------------------------------------------------------------------------------


def _add_split(sub) -> None:
    p = sub.add_parser(
        "split",
        help="group-aware stratified train/valid/calib/holdout splits",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pool labeled JSONL files and split them by seed. Rows with equal or "
        "near-duplicate normalized text (shingle Jaccard >= --near-dup-threshold) always land "
        "in the same split; splits are stratified by label set and raw-label prevalence. "
        "Writes <split>.jsonl per split (rows copied as read, input order) and "
        "split_report.json with per-label and label-pair prevalence deltas. Same input and "
        "seed give byte-identical files.\n\nexamples:\n"
        "  janitr split --data train.jsonl valid.jsonl calib.jsonl --out splits\n"
        "  janitr split --data all.jsonl --out splits --seed 7 "
        "--ratios train=0.7,valid=0.1,holdout=0.2 --strict",
    )
    p.add_argument("--data", nargs="+", required=True, metavar="JSONL", help="labeled input files")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument(
        "--ratios",
        default="train=0.6,valid=0.1,calib=0.05,holdout=0.25",
        help="NAME=FRACTION,... each > 0, summing to 1 (default %(default)s)",
    )
    p.add_argument(
        "--near-dup-threshold",
        type=float,
        default=0.8,
        metavar="J",
        help="Jaccard threshold that keeps near-duplicates together (default 0.8)",
    )
    p.add_argument(
        "--max-label-delta",
        type=float,
        default=0.03,
        help="bound on per-label prevalence delta (default 0.03)",
    )
    p.add_argument(
        "--max-pair-delta",
        type=float,
        default=0.05,
        help="bound on per-label-pair prevalence delta (default 0.05)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 1, nothing written) if a delta exceeds its bound",
    )
    p.set_defaults(func=_cmd_split)


def _cmd_split(args) -> int:
    from janitr.data.splits import parse_ratios, split_dataset

    report = split_dataset(
        data=args.data, out_dir=args.out, seed=args.seed, ratios=parse_ratios(args.ratios),
        near_dup_threshold=args.near_dup_threshold, max_label_delta=args.max_label_delta,
        max_pair_delta=args.max_pair_delta, strict=args.strict,
    )  # fmt: skip
    print(report.summary())
    print(
        f"wrote {', '.join(f'{k}.jsonl' for k in report.ratios)} and split_report.json "
        f"to {args.out}"
    )
    return 0


# --- leakage ------------------------------------------------------------------------------


def _add_leakage(sub) -> None:
    p = sub.add_parser(
        "leakage",
        help="overlap between splits: id, normalized text, near-duplicate",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compare every pair of splits (a split is a JSONL file; a directory "
        "means its *.jsonl files, named by file stem) by shared ids, identical normalized "
        "texts and near-duplicate texts (MinHash/LSH, verified by exact shingle Jaccard). "
        "Prints a table and example pairs; exits 1 on any overlap unless --warn-only.\n\n"
        "examples:\n"
        "  janitr leakage splits/\n"
        "  janitr leakage train.jsonl valid.jsonl calib.jsonl --json leakage.json\n"
        "  janitr leakage new_splits/ --previous old_splits/   # old train inside new holdout?",
    )
    p.add_argument("inputs", nargs="+", metavar="PATH", help="split files or directories")
    p.add_argument("--previous", metavar="DIR", help="older split set to compare against")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.8,
        help="near-duplicate Jaccard threshold on 5-char shingles (default 0.8)",
    )
    p.add_argument("--examples", type=int, default=5, help="example pairs per split pair")
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="OUT",
        help="write the report as JSON to OUT (stdout if OUT is omitted)",
    )
    p.add_argument("--warn-only", action="store_true", help="exit 0 even if splits overlap")
    p.set_defaults(func=_cmd_leakage)


def _cmd_leakage(args) -> int:
    from janitr.data.leakage import check_leakage

    report = check_leakage(
        args.inputs, threshold=args.threshold, previous=args.previous, max_examples=args.examples
    )
    if args.json == "-":
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.format_table())
        if args.json:
            from janitr.artifacts import write_json

            write_json(args.json, report.to_dict())
    return 0 if report.ok or args.warn_only else 1


# --- benchmark ----------------------------------------------------------------------------


def _add_benchmark(sub) -> None:
    p = sub.add_parser(
        "benchmark",
        help="freeze a split set as a benchmark, or verify a frozen one",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Freeze: write <split>.ids.txt and MANIFEST.json (rows, label support, "
        "SHA-256 of every split file and id list, command, seed) for a split directory. "
        "Verify: recompute everything and fail, listing every mismatch, if one byte changed."
        "\n\nexamples:\n"
        "  janitr benchmark freeze splits --name b1          # -> benchmarks/frozen/b1\n"
        "  janitr benchmark freeze splits --name b1 --out /data/bench/b1\n"
        "  janitr benchmark verify b1\n",
    )
    bsub = p.add_subparsers(dest="benchmark_verb", metavar="ACTION", required=True)
    f = bsub.add_parser(
        "freeze",
        help="freeze a split directory",
        description="Freeze the *.jsonl splits of DIR as benchmark NAME.",
    )
    f.add_argument("split_dir", metavar="DIR", help="split directory (from `janitr split`)")
    f.add_argument("--name", required=True, help="benchmark name")
    f.add_argument(
        "--out", metavar="DIR", help="benchmark directory (default benchmarks/frozen/NAME)"
    )
    f.add_argument("--force", action="store_true", help="replace an existing benchmark")
    f.set_defaults(func=_cmd_benchmark_freeze)
    v = bsub.add_parser(
        "verify",
        help="verify a frozen benchmark",
        description="Recompute hashes, ids and label support of a frozen "
        "benchmark (a directory, or a NAME under benchmarks/frozen/).",
    )
    v.add_argument("benchmark", metavar="NAME_OR_DIR", help="benchmark name or directory")
    v.set_defaults(func=_cmd_benchmark_verify)


def _cmd_benchmark_freeze(args) -> int:
    from janitr.data.benchmark import freeze_benchmark

    path = freeze_benchmark(args.split_dir, name=args.name, out=args.out, overwrite=args.force)
    print(f"froze {args.split_dir} as {args.name!r} in {path}")
    return 0


def _cmd_benchmark_verify(args) -> int:
    from janitr.data.benchmark import verify_benchmark

    manifest = verify_benchmark(args.benchmark)
    rows = ", ".join(f"{k}={v['rows']}" for k, v in manifest["splits"].items())
    print(f"OK: benchmark {manifest['name']!r} matches its manifest ({rows})")
    return 0


# --- demo-data ----------------------------------------------------------------------------


def _add_demo_data(sub) -> None:
    p = sub.add_parser(
        "demo-data",
        help="write a small synthetic labeled dataset",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write the project's own synthetic posts (template-made crypto scams, "
        "crypto talk and clean posts, with taxonomy labels and a few near-duplicates) as "
        "train/valid/calib/unlabeled.jsonl. For demos and tests, not for quality claims."
        "\n\nexample:\n  janitr demo-data --out data/demo --rows 600 --seed 0",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--rows", type=int, default=600, help="labeled rows (default 600)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_cmd_demo_data)


def _cmd_demo_data(args) -> int:
    from janitr.data.demo import write_demo_dataset

    out = write_demo_dataset(args.out, rows=args.rows, seed=args.seed)
    print(f"wrote train/valid/calib/unlabeled.jsonl ({args.rows} labeled rows) to {out}")
    return 0


# --- labels -------------------------------------------------------------------------------


def _add_labels(sub) -> None:
    p = sub.add_parser(
        "labels",
        help="print the label taxonomy and the 3-class collapse rule",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print every taxonomy label by group, the legacy aliases, and how raw "
        "labels collapse to the training classes (scam > topic_crypto > clean)."
        "\n\nexample:\n  janitr labels",
    )
    p.set_defaults(func=_cmd_labels)


def _cmd_labels(args) -> int:
    from janitr.data.labels import SCAM_RAW_LABELS, TOPIC_RAW_LABELS
    from janitr.data.taxonomy import load_taxonomy

    tax = load_taxonomy()
    for group, labels in tax["groups"].items():
        print(f"{group} ({len(labels)}):")
        print("  " + ", ".join(labels))
    aliases = tax.get("legacy_aliases", {})
    if aliases:
        print("legacy aliases: " + ", ".join(f"{k} -> {v}" for k, v in aliases.items()))
    print("\ncollapse to training classes (first rule that matches):")
    print("  1. scam          if any of: " + ", ".join(sorted(SCAM_RAW_LABELS)))
    print("  2. topic_crypto  if any of: " + ", ".join(sorted(TOPIC_RAW_LABELS)))
    print("  3. clean         otherwise")
    return 0


# --- (further verbs are registered below, one block each) ---------------------------------

VERB_REGISTRARS = [
    _add_validate,
    _add_split,
    _add_leakage,
    _add_benchmark,
    _add_demo_data,
    _add_labels,
]


# --- train (a group: `janitr train <model>`; other models register in TRAIN_REGISTRARS) ------


def _field_help(cls) -> dict[str, str]:
    """Per-field help from a config dataclass's Google-style `Attributes:` docstring."""
    import inspect
    import re

    doc = inspect.getdoc(cls) or ""
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    out: dict[str, str] = {}
    name = None
    for line in section.splitlines():
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            name = match.group(1)
            out[name] = match.group(2).strip()
        elif name and line.startswith("        "):
            out[name] += " " + line.strip()
        elif line.strip() and not line.startswith(" "):
            break
    return {k: re.sub(r"\s*\(`--[\w-]+`\)\.?$", "", v).rstrip(".") for k, v in out.items()}


def _add_config_flags(parser: argparse.ArgumentParser, cls, *, skip: tuple[str, ...] = ()) -> None:
    """One `--flag` per field of a config dataclass (default: keep the config's default).

    Flags left out of the command line are absent from the namespace, so the dataclass's own
    defaults apply; `_config_overrides` collects the given ones.
    """
    import dataclasses

    helps = _field_help(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        help_text = f"{helps.get(f.name, f.name)} (default: {default})"
        kwargs = {"dest": f"cfg_{f.name}", "default": argparse.SUPPRESS, "help": help_text}
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif isinstance(default, int):
            parser.add_argument(flag, type=int, metavar="N", **kwargs)
        elif isinstance(default, float) or "float" in str(f.type):
            parser.add_argument(flag, type=float, metavar="X", **kwargs)
        else:
            parser.add_argument(flag, metavar="VALUE", **kwargs)


def _config_overrides(args) -> dict:
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}


#: Flag of each `ThresholdPolicy` field (`rule` reads `--threshold-rule` beside the others).
THRESHOLD_FLAGS = {
    "scam_target_fpr": "--scam-target-fpr",
    "topic_target_fpr": "--topic-target-fpr",
    "tune_on": "--tune-on",
    "rule": "--threshold-rule",
    "confidence": "--confidence",
}


def _optional_fraction(text: str) -> float | None:
    if text.strip().lower() in ("none", ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or none, got {text!r}") from None


def _add_threshold_flags(parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()) -> None:
    """The threshold-policy flags, one per `ThresholdPolicy` field; their defaults are
    `DEFAULT_POLICY`'s, the same as `janitr run`'s `[thresholds]`."""
    from janitr.evaluation.thresholds import DEFAULT_POLICY as D
    from janitr.evaluation.thresholds import RULES, TUNE_CHOICES

    group = parser.add_argument_group(
        "threshold tuning",
        f"default: {D.describe()}; the same policy as `janitr run` ([thresholds])",
    )
    specs = {
        "scam_target_fpr": {
            "type": float,
            "metavar": "X",
            "help": f"scam FPR ceiling (default: {D.scam_target_fpr:g})",
        },
        "topic_target_fpr": {
            "type": _optional_fraction,
            "metavar": "X",
            "help": "topic FPR ceiling; none: no ceiling, the topic threshold maximizes topic "
            "F1 (default: none)",
        },
        "tune_on": {
            "choices": TUNE_CHOICES,
            "help": f"split(s) the thresholds are tuned on (default: {D.tune_on})",
        },
        "rule": {
            "choices": RULES,
            "help": "scam rule: empirical (FPR on the tuning rows <= target) or guaranteed "
            f"(Clopper-Pearson bound on the FPR <= target; default: {D.rule})",
        },
        "confidence": {
            "type": float,
            "metavar": "X",
            "help": f"confidence of the guaranteed rule (default: {D.confidence:g})",
        },
    }
    for name, flag in THRESHOLD_FLAGS.items():
        if name not in skip:
            group.add_argument(flag, dest=f"th_{name}", default=argparse.SUPPRESS, **specs[name])


def _threshold_policy(args):
    """The `ThresholdPolicy` of the threshold flags given (the rest: defaults).

    Raises:
        ConfigError: naming each bad flag.
    """
    from janitr.errors import ConfigError
    from janitr.evaluation.thresholds import ThresholdPolicy, threshold_problems

    values = {k[3:]: v for k, v in vars(args).items() if k.startswith("th_")}
    problems = threshold_problems(values)
    if problems:
        raise ConfigError("; ".join(f"{THRESHOLD_FLAGS[k]}: {m}" for k, m in problems))
    return ThresholdPolicy(**values)


def _add_train_fasttext(train_sub) -> None:
    from janitr.baselines.fasttext import FastTextConfig

    p = train_sub.add_parser(
        "fasttext",
        help="fastText baseline: train, quantize to .ftz, tune thresholds, write a bundle",
        description="Train the fastText baseline on DATA/train.jsonl (one-vs-all loss: a scam "
        "head and an independent topic head), quantize it to a ~135 KB .ftz, tune the scam "
        "threshold for maximum recall at scam FPR <= --scam-target-fpr on the tuning split(s) "
        "(with the quantized model), tune the topic threshold for F1, and write a bundle. "
        "If DATA/valid.jsonl exists and is not used for tuning (--tune-on calib), a metrics "
        "table on it is printed."
        "\n\nexamples:\n"
        "  janitr train fasttext --data data/ --out bundles/fasttext\n"
        "  janitr train fasttext --data data/ --out bundles/ft --tune-on calib --epoch 25\n"
        "  janitr evaluate --model bundles/fasttext --data data/holdout.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="directory with train.jsonl, calib.jsonl (and valid.jsonl)",
    )
    p.add_argument("--out", required=True, metavar="BUNDLE_DIR", help="bundle directory to write")
    _add_config_flags(p, FastTextConfig)
    _add_threshold_flags(p)
    p.set_defaults(func=_cmd_train_fasttext)


def _cmd_train_fasttext(args) -> int:
    from janitr.baselines.fasttext import FastTextConfig, train_fasttext
    from janitr.evaluation.evaluate import format_bundle_report

    config = FastTextConfig.from_dict(_config_overrides(args))
    bundle = train_fasttext(
        data_dir=args.data, out_dir=args.out, config=config, thresholds=_threshold_policy(args)
    )
    print(format_bundle_report(bundle))
    return 0


#: Functions `(train_subparsers) -> None` that add a `janitr train <model>` sub-verb.
TRAIN_REGISTRARS = [_add_train_fasttext]


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model and write a bundle (janitr train MODEL --help)",
        description="Train one model and write a self-describing bundle (model files, tuned "
        "thresholds, normalization, data provenance and the ids of every row it saw)."
        "\n\nexamples:\n  janitr train fasttext --data data/ --out bundles/fasttext",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train_sub = p.add_subparsers(dest="train_model", metavar="MODEL")
    for register in TRAIN_REGISTRARS:
        register(train_sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


# --- evaluate -----------------------------------------------------------------------------


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
    _add_bundle_id_flag(p)
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


# --- classify -----------------------------------------------------------------------------


def _add_classify(sub) -> None:
    p = sub.add_parser(
        "classify",
        help="classify posts with a bundle (text, --stdin, or --input FILE.jsonl)",
        description="Classify posts with a model bundle: scam, topic_crypto or clean, with "
        "per-class scores. Give one text, one post per line on stdin, or a JSONL file of "
        '{"id", "text"} rows (written back with predictions). Every input (argument, stdin '
        "line, file line) gets exactly one answer, in order; one that cannot be classified "
        "(empty, only invisible characters, not valid UTF-8, a lone surrogate, a bad JSON "
        'row) is answered with an "error" saying why, and the exit code is then 1.'
        "\n\nexamples:\n"
        '  janitr classify --model bundles/fasttext "claim your free airdrop now"\n'
        "  cat posts.txt | janitr classify --model bundles/fasttext --stdin --json\n"
        "  janitr classify --model bundles/fasttext --input posts.jsonl --output preds.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, metavar="BUNDLE_DIR", help="bundle directory")
    p.add_argument("text", nargs="*", help="post text(s) to classify")
    p.add_argument("--stdin", action="store_true", help="read one post per line from stdin")
    p.add_argument("--input", metavar="FILE", help="JSONL file with id and text per row")
    p.add_argument("--output", metavar="FILE", help="JSONL output for --input")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per post (with the bundle's content_id)",
    )
    _add_bundle_id_flag(p)
    _add_common_data_flags(p)
    p.set_defaults(func=_cmd_classify)


def _print_prediction(text: str, pred, *, as_json: bool, content_id: str) -> None:
    if as_json:
        if isinstance(pred, Exception):
            # ASCII escapes: the text of a refused line may hold a lone surrogate.
            print(json.dumps({"text": text, "error": str(pred), "content_id": content_id}))
        else:
            row = {"text": text, **pred.to_dict(), "content_id": content_id}
            print(json.dumps(row, ensure_ascii=False))
    elif isinstance(pred, Exception):
        print(f"{'error':<13} {pred}")
    else:
        probs = "  ".join(f"{k}={v:.3f}" for k, v in pred.probabilities.items())
        print(f"{pred.label:<13} {probs}  {text[:60]!r}")


def _argv_text(i: int, text: str) -> str | Exception:
    """An argument as text, or the error for one that was not valid UTF-8 (Python hands such
    bytes over as lone surrogates U+DC80..U+DCFF)."""
    from janitr.errors import TextError

    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text  # a real lone surrogate: the classifier says what is wrong with it
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return TextError(f"text {i} is not valid UTF-8 (byte {exc.start}); pass UTF-8 text")
    return text


def _stdin_texts() -> list[str | Exception]:
    """One text per line of stdin (blank lines included: one answer per line); a line that
    is not UTF-8 becomes its error."""
    from janitr.errors import TextError

    out: list[str | Exception] = []
    for i, raw in enumerate(sys.stdin.buffer):
        raw = raw.rstrip(b"\r\n")
        if i == 0 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            out.append(
                TextError(f"text {i} is not valid UTF-8 (byte {exc.start}); pass UTF-8 text")
            )
    return out


def _cmd_classify(args) -> int:
    from janitr.artifacts import check_output_file
    from janitr.errors import ConfigError, TextError
    from janitr.runtime.classifier import Classifier, classify_jsonl

    sources = sum([bool(args.text), args.stdin, bool(args.input)])
    if sources != 1:
        raise ConfigError("give exactly one of: TEXT arguments, --stdin, or --input FILE.jsonl")
    if args.input and not args.output:
        raise ConfigError("--input needs --output FILE.jsonl")
    if args.output and not args.input:
        raise ConfigError("--output is for --input FILE.jsonl; TEXT and --stdin print")
    if args.output:
        check_output_file(args.output)
    clf = Classifier.load(args.model, content_id=args.bundle_id)
    if args.input:
        rows, errors = classify_jsonl(
            clf, input=args.input, output=args.output, progress=not args.quiet
        )
        print(f"wrote {rows} rows to {args.output} (bundle {clf.content_id[:12]})", file=sys.stderr)
        return _report_unclassified(errors, rows, marked=f'rows with "error" in {args.output}')
    # Text i is argument i + 1 or line i + 1 of stdin; messages count from 0 like the library.
    items = [_argv_text(i, t) for i, t in enumerate(args.text)] if args.text else _stdin_texts()
    answers = clf.predict_each([t if isinstance(t, str) else "" for t in items])
    errors = []
    for item, answer in zip(items, answers, strict=True):
        pred = item if isinstance(item, Exception) else answer
        text = item if isinstance(item, str) else ""
        _print_prediction(text, pred, as_json=args.json, content_id=clf.content_id)
        if isinstance(pred, TextError):
            errors.append(str(pred))
    return _report_unclassified(errors, len(items), marked='lines marked "error"')


def _report_unclassified(errors: list[str], total: int, *, marked: str) -> int:
    """Exit 1, naming the first few, when some inputs could not be classified."""
    if not errors:
        return 0
    shown = "; ".join(errors[:3]) + ("; ..." if len(errors) > 3 else "")
    print(
        f"error: {len(errors)} of {total} input(s) could not be classified ({marked}): {shown}",
        file=sys.stderr,
    )
    return 1


VERB_REGISTRARS += [_add_train, _add_evaluate, _add_classify]


# --- distill / export / quantize (the tiny student) ---------------------------------------


def _student_normalization(args):
    from janitr.data.normalize import NormalizationConfig

    return NormalizationConfig(strip_urls=bool(getattr(args, "strip_urls", False)))


def _add_distill(sub) -> None:
    from janitr.student.distill import DistillConfig
    from janitr.student.model import StudentConfig

    p = sub.add_parser(
        "distill",
        help="distill the tiny student from a teacher cache",
        description="Train the tiny transformer student from DATA/train.jsonl with the cached, "
        "calibrated teacher outputs (the teacher is never run): hard-label loss + "
        "temperature-scaled soft-label loss + hidden-state matching through learned "
        "projections (any student depth: student layers are mapped onto the cached teacher "
        "layers). A cache whose sidecar does not match the data is refused. The best epoch by "
        "--select-metric on DATA/valid.jsonl is written to OUT (model.safetensors, "
        "student_config.json, tokenizer.json, distill_report.json). Same --seed, same weights."
        "\n\nexamples:\n"
        "  janitr distill --data data/ --cache runs/r1/cache --tokenizer runs/r1/tokenizer "
        "--out runs/r1/student\n"
        "  janitr distill --data data/ --cache cache/ --tokenizer tok/ --out s6 --layers 6 "
        "--hidden 256 --heads 4 --ffn 1024 --epochs 5 --temperature 2\n"
        "  janitr export --student runs/r1/student --data data/ --out runs/r1/onnx/model.onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data", required=True, metavar="DIR", help="directory with train.jsonl and valid.jsonl"
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="teacher cache directory holding "
        "train.safetensors and valid.safetensors (from `janitr cache`)",
    )
    p.add_argument("--cache-train", metavar="PATH", help="train cache (overrides --cache)")
    p.add_argument("--cache-valid", metavar="PATH", help="valid cache (overrides --cache)")
    p.add_argument(
        "--tokenizer",
        required=True,
        metavar="PATH",
        help="tokenizer.json (or its directory) from `janitr train tokenizer`",
    )
    p.add_argument("--out", required=True, metavar="STUDENT_DIR", help="student directory")
    p.add_argument(
        "--strip-urls",
        action="store_true",
        help="normalize with URLs stripped (must match the teacher cache)",
    )
    _add_config_flags(p, StudentConfig, skip=("pad_token_id",))
    _add_config_flags(p, DistillConfig, skip=("threads", "max_steps", "progress"))
    p.add_argument(
        "--threads",
        dest="cfg_threads",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="torch CPU threads (default: torch's)",
    )
    p.add_argument(
        "--max-steps",
        dest="cfg_max_steps",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="stop after N optimizer steps (smoke runs)",
    )
    _add_common_data_flags(p)
    p.set_defaults(func=_cmd_distill)


def _cmd_distill(args) -> int:
    import dataclasses

    from janitr.errors import ConfigError
    from janitr.student.distill import DistillConfig, distill_student
    from janitr.student.model import StudentConfig

    overrides = _config_overrides(args)
    student_keys = {f.name for f in dataclasses.fields(StudentConfig)}
    student = StudentConfig(**{k: v for k, v in overrides.items() if k in student_keys})
    config = DistillConfig(
        progress=not args.quiet, **{k: v for k, v in overrides.items() if k not in student_keys}
    )
    cache_dir = Path(args.cache) if args.cache else None
    cache_train = args.cache_train or (cache_dir / "train.safetensors" if cache_dir else None)
    cache_valid = args.cache_valid or (cache_dir / "valid.safetensors" if cache_dir else None)
    if not cache_train or not cache_valid:
        raise ConfigError("give --cache DIR, or both --cache-train and --cache-valid")
    data = Path(args.data)
    result = distill_student(
        train=data / "train.jsonl", valid=data / "valid.jsonl", cache_train=cache_train,
        cache_valid=cache_valid, tokenizer_path=args.tokenizer, out_dir=args.out,
        student_config=student, config=config, normalization=_student_normalization(args),
    )  # fmt: skip
    print(
        f"student ({result.parameters:,} parameters) -> {result.student_dir}: best epoch "
        f"{result.best_epoch}, valid {result.select_metric} {result.best_metric:.4f}"
    )
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a student to ONNX, gated by torch parity",
        description="Export a distilled student to ONNX (inputs input_ids and attention_mask, "
        "int64, dynamic batch and sequence; outputs p_scam and p_topic probabilities) and "
        "compare it with torch on >= --parity-rows normalized texts from DATA (train, valid, "
        "calib, unlabeled). The model is written only if mean |delta p| <= 0.01 per head and "
        "decision agreement >= 99%; the report goes to parity_fp32.json beside --out."
        "\n\nexamples:\n"
        "  janitr export --student runs/r1/student --data data/ --out runs/r1/onnx/model.onnx\n"
        "  janitr quantize --fp32 runs/r1/onnx/model.onnx --student runs/r1/student --data data/ "
        "--out runs/r1/onnx/model.int8.onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Not `required=True`: `janitr export web|probes|sweep` need none of these flags, so the
    # ONNX export checks them itself (_cmd_export).
    p.add_argument(
        "--student",
        metavar="STUDENT_DIR",
        help="directory written by `janitr distill` (required)",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="directory whose *.jsonl texts are used for the parity check (required)",
    )
    p.add_argument("--out", metavar="FILE.onnx", help="ONNX file to write (required)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    p.add_argument(
        "--parity-rows",
        type=int,
        default=1000,
        metavar="N",
        help="texts compared (default and minimum: 1000)",
    )
    p.add_argument("--strip-urls", action="store_true", help="normalize with URLs stripped")
    p.set_defaults(func=_cmd_export, export_parser=p)
    _add_export_web(p.add_subparsers(dest="export_target", metavar="TARGET"))


def _parity_texts(args) -> list[str]:
    from janitr.errors import ConfigError
    from janitr.student.export import texts_from_data

    if args.parity_rows < 1000:
        raise ConfigError(f"--parity-rows must be >= 1000, got {args.parity_rows}")
    texts = texts_from_data(args.data, strip_urls=args.strip_urls)
    return texts[: max(args.parity_rows, 1000)] if len(texts) >= args.parity_rows else texts


def _cmd_export(args) -> int:
    from janitr.student.export import export_onnx

    missing = [f"--{k}" for k in ("student", "data", "out") if getattr(args, k) is None]
    if missing:
        args.export_parser.error(
            f"the following arguments are required: {', '.join(missing)} "
            "(or use `janitr export web|probes|sweep`)"
        )

    report = export_onnx(
        student_dir=args.student,
        out_path=args.out,
        parity_texts=_parity_texts(args),
        opset=args.opset,
        min_rows=args.parity_rows,
    )
    print(report.summary())
    print(f"wrote {args.out} ({report.extra['model_bytes'] / 1e6:.2f} MB)")
    return 0


def _add_export_web(export_sub) -> None:
    w = export_sub.add_parser(
        "web",
        help="the browser extension's web bundle of a student",
        description="Write DIR/model.onnx, DIR/tokenizer.json and DIR/janitr-web.json (format, "
        "id and lineage, classes, thresholds, normalization with the Unicode data the "
        "JavaScript port needs, input/output names, max_length, SHA-256 of each file) from an "
        "ONNX student bundle. Training ids and data hashes stay out. A normalization the "
        "extension cannot reproduce is refused."
        "\n\nexamples:\n"
        "  janitr export web --model runs/r1/bundles/student-int8 --out runs/r1/web\n"
        "  janitr export web --model runs/r1 --out runs/r1/web      (the run's int8 student)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    w.add_argument(
        "--model",
        required=True,
        metavar="BUNDLE",
        help="student bundle (student-int8 or student-fp32), or a run directory (int8)",
    )
    w.add_argument("--out", required=True, metavar="DIR", help="web bundle directory to write")
    w.set_defaults(func=_cmd_export_web)

    pr = export_sub.add_parser(
        "probes",
        help="parity fixture: what the Python runtime does with each text",
        description="Write a JSON probe file for the extension's parity tests: for each "
        "distinct raw text of DATA/{valid,calib,unlabeled}.jsonl plus built-in edge cases "
        "(empty, emoji-only, RTL, zero-width, 10k characters, ...), its normalized text, token "
        "ids, p_scam and p_topic at batch size 1, and the label.\n\nexample:\n"
        "  janitr export probes --model runs/r1/bundles/student-int8 --data data/ "
        "--out runs/r1/web/probes.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pr.add_argument("--model", required=True, metavar="BUNDLE", help="student bundle or run dir")
    pr.add_argument("--data", required=True, metavar="DIR", help="directory with the *.jsonl data")
    pr.add_argument("--out", required=True, metavar="FILE.json", help="probe file to write")
    pr.set_defaults(func=_cmd_export_probes)

    sw = export_sub.add_parser(
        "sweep",
        help="parity fixture: every assigned code point, normalized",
        description="Write the normalized form of every code point this Python's unicodedata "
        "assigns, in a few contexts and for each normalization setting, for the extension's "
        "normalize.js test (tens of MB: write it under runs/).\n\nexample:\n"
        "  janitr export sweep --out runs/web/sweep.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sw.add_argument("--out", required=True, metavar="FILE.json", help="sweep file to write")
    sw.set_defaults(func=_cmd_export_sweep)


def _cmd_export_web(args) -> int:
    from janitr.runtime.web import WEB_MANIFEST, export_web

    manifest = export_web(args.model, args.out)
    sizes = {name: entry["size"] for name, entry in manifest["files"].items()}
    t = manifest["thresholds"]
    print(
        f"wrote {args.out}/{WEB_MANIFEST} ({manifest['id']}): "
        + ", ".join(f"{n} {b / 1e6:.2f} MB" for n, b in sizes.items())
        + f"; thresholds scam {t['scam']:.3f} topic {t['topic_crypto']:.3f}"
    )
    return 0


def _cmd_export_probes(args) -> int:
    from janitr.runtime.web import write_probes

    summary = write_probes(args.model, args.data, args.out)
    labels = ", ".join(f"{k} {v}" for k, v in summary["labels"].items())
    print(f"wrote {args.out}: {summary['probes']} probes ({labels}; {summary['empty']} empty)")
    return 0


def _cmd_export_sweep(args) -> int:
    from janitr.runtime.web import write_sweep

    summary = write_sweep(args.out)
    print(
        f"wrote {args.out}: {summary['codepoints']} code points x {summary['cases']} cases "
        f"(Unicode {summary['unicode_version']})"
    )
    return 0


def _add_quantize(sub) -> None:
    p = sub.add_parser(
        "quantize",
        help="int8-quantize an exported student, gated by parity; optionally write bundles",
        description="Quantize the fp32 ONNX student to int8 (static QDQ by default: activation "
        "ranges calibrated on DATA/train.jsonl texts, so a post gets the same score alone or in "
        "any batch; --mode dynamic measures them per run, and such a model is served one post "
        "at a time; weights uint8, or int7 in [-64, 64], never saturate int16 arithmetic on "
        "CPUs without VNNI) and "
        "compare it with the fp32 model and the torch student on >= 1000 texts. The int8 file "
        "is written only if parity holds; the report (with both sizes) goes to "
        "parity_int8.json beside --out. With --bundles DIR, also writes DIR/student-fp32 and "
        "DIR/student-int8 (kind onnx), each with thresholds tuned on --tune-on with "
        "that exact model, for `janitr evaluate` and `janitr classify`."
        "\n\nexamples:\n"
        "  janitr quantize --fp32 runs/r1/onnx/model.onnx --student runs/r1/student --data data/ "
        "--out runs/r1/onnx/model.int8.onnx --bundles runs/r1/bundles\n"
        "  janitr evaluate --model runs/r1/bundles/student-int8 --data holdout.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--fp32", required=True, metavar="FILE.onnx", help="model from `janitr export`")
    p.add_argument(
        "--student",
        required=True,
        metavar="STUDENT_DIR",
        help="student directory (tokenizer, config, torch weights for parity)",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="directory with the *.jsonl data")
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="int8 ONNX file to write")
    p.add_argument(
        "--mode",
        choices=("static", "dynamic"),
        default="static",
        help="static QDQ calibrated on train texts (default; batch-invariant scores) or "
        "dynamic (per-run activation ranges; served one post at a time)",
    )
    p.add_argument(
        "--weights",
        choices=("uint8", "int7"),
        default="uint8",
        help="uint8: u8 weights (default); int7: int8 weights in [-64, 64] (faster on x86, "
        "less precise)",
    )
    p.add_argument("--per-channel", action="store_true", help="per-channel weight scales")
    p.add_argument(
        "--parity-rows",
        type=int,
        default=1000,
        metavar="N",
        help="texts compared (default and minimum: 1000)",
    )
    p.add_argument("--bundles", metavar="DIR", help="also write student-fp32/student-int8 bundles")
    p.add_argument("--strip-urls", action="store_true", help="normalize with URLs stripped")
    _add_threshold_flags(p)
    p.set_defaults(func=_cmd_quantize)


def _cmd_quantize(args) -> int:
    from janitr.student.export import texts_from_data, write_student_bundles
    from janitr.student.quantize import quantize_onnx

    calibration = (
        texts_from_data(args.data, names=("train",), strip_urls=args.strip_urls)
        if args.mode == "static"
        else None
    )
    report = quantize_onnx(
        fp32_path=args.fp32,
        out_path=args.out,
        tokenizer_path=args.student,
        parity_texts=_parity_texts(args),
        mode=args.mode,
        weights=args.weights,
        calibration_texts=calibration,
        student_dir=args.student,
        per_channel=args.per_channel,
        min_rows=args.parity_rows,
    )
    sizes = report.extra["sizes"]
    print(report.summary())
    print(
        f"wrote {args.out}: {sizes['int8_bytes'] / 1e6:.2f} MB "
        f"(fp32 {sizes['fp32_bytes'] / 1e6:.2f} MB)"
    )
    if args.bundles:
        from janitr.data.records import read_records

        data = Path(args.data)
        fp32, int8 = Path(args.fp32), Path(args.out)
        policy = _threshold_policy(args)
        bundles = write_student_bundles(
            student_dir=args.student,
            models={"student-fp32": fp32, "student-int8": int8},
            out_dir=args.bundles,
            train=data / "train.jsonl",
            valid=data / "valid.jsonl",
            calib=read_records(*(data / f"{s}.jsonl" for s in policy.tune_splits)),
            parity_reports={
                "student-fp32": fp32.parent / "parity_fp32.json",
                "student-int8": int8.parent / "parity_int8.json",
            },
            normalization=_student_normalization(args),
            thresholds=policy,
        )
        for bundle in bundles.values():
            t = bundle.thresholds
            print(
                f"bundle {bundle.path}: thresholds scam {t['scam']:.3f} "
                f"topic {t['topic_crypto']:.3f} (tuned on {policy.tune_on})"
            )
    return 0


VERB_REGISTRARS += [_add_distill, _add_export, _add_quantize]


# --- tokenizer / teacher / pretrain / cache (the teacher side of distillation) ------------


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _add_train_tokenizer(train_sub) -> None:
    from janitr.student.tokenizer import TokenizerConfig

    p = train_sub.add_parser(
        "tokenizer",
        help="student vocabulary (train texts, optionally + unlabeled)",
        description="Train the student's tokenizer (a SentencePiece unigram vocabulary, trained "
        "deterministically and saved as a Hugging Face tokenizer.json; "
        "[PAD] [UNK] [CLS] [SEP] [MASK] = ids 0..4) on "
        "the normalized texts of DATA/train.jsonl (plus --unlabeled files), never on evaluation "
        "data; write OUT/tokenizer.json and OUT/tokenizer_stats.json (vocab size, UNK rate on a "
        "sample, data hash). Fails if the UNK rate exceeds --max-unk-rate."
        "\n\nexamples:\n"
        "  janitr train tokenizer --data data/ --out runs/tok\n"
        "  janitr train tokenizer --data data/ --unlabeled data/unlabeled.jsonl --out runs/tok",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, metavar="DIR", help="directory with train.jsonl")
    p.add_argument(
        "--unlabeled",
        nargs="*",
        default=[],
        metavar="JSONL",
        help="extra unlabeled JSONL files (id, text) to train on",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    _add_config_flags(p, TokenizerConfig)
    p.set_defaults(func=_cmd_train_tokenizer)


def _cmd_train_tokenizer(args) -> int:
    from janitr.data.records import read_records
    from janitr.errors import TokenizerError
    from janitr.student.tokenizer import (
        TokenizerConfig,
        load_tokenizer,
        save_tokenizer,
        tokenizer_stats,
        train_tokenizer,
    )

    config = TokenizerConfig(**_config_overrides(args))
    rows = read_records(Path(args.data) / "train.jsonl")
    if args.unlabeled:
        rows += read_records(*args.unlabeled, require_labels=False)
    texts = [r.norm_text for r in rows]
    tok = train_tokenizer(texts, config=config)
    stats = tokenizer_stats(tok, texts, config=config)
    path = save_tokenizer(tok, args.out, stats=stats)
    if stats["sample_unk_rate"] > config.max_unk_rate:
        raise TokenizerError(
            f"{path}: UNK rate {stats['sample_unk_rate']:.1%} exceeds "
            f"--max-unk-rate {config.max_unk_rate:.1%}"
        )
    load_tokenizer(path, expected_vocab_size=tok.get_vocab_size())
    print(
        f"wrote {path}: {tok.get_vocab_size()} tokens from {len(texts)} texts, "
        f"UNK rate {stats['sample_unk_rate']:.2%} on {stats['sample_size']} texts"
    )
    return 0


def _add_train_teacher(train_sub) -> None:
    from janitr.teacher.model import TeacherConfig

    p = train_sub.add_parser(
        "teacher",
        help="multi-seed encoder teacher: fine-tune, calibrate, tune thresholds, bundle",
        description="Fine-tune a pretrained encoder (default: the installed all-MiniLM-L6-v2; "
        "--model takes any Hugging Face hub id or local directory) with a scam head and a "
        "topic head, once per seed, on DATA/train.jsonl; pick each seed's best epoch on "
        "DATA/valid.jsonl; average the seeds into an ensemble; fit one temperature per head "
        "on valid; tune thresholds on --tune-on at scam FPR <= --scam-target-fpr; "
        "write a bundle of kind 'teacher' (with calibration.json and reliability.png). "
        "Fewer than 3 seeds on <= 5000 training rows is refused unless --force."
        "\n\nexamples:\n"
        "  janitr train teacher --data data/ --out bundles/teacher\n"
        "  janitr train teacher --data data/ --out bundles/t1 --seeds 13 --force --epochs 1\n"
        "  janitr train teacher --data data/ --out bundles/t --model runs/mlm  # after pretrain",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="directory with train.jsonl, valid.jsonl and calib.jsonl",
    )
    p.add_argument("--out", required=True, metavar="BUNDLE_DIR", help="bundle directory to write")
    p.add_argument(
        "--model",
        dest="cfg_model_name_or_path",
        metavar="NAME_OR_PATH",
        default=argparse.SUPPRESS,
        help="encoder: HF hub id or local directory (default: installed MiniLM)",
    )
    p.add_argument(
        "--seeds",
        dest="cfg_seeds",
        type=_seed_list,
        metavar="S,S,S",
        default=argparse.SUPPRESS,
        help="comma-separated seeds (default: 13,42,7)",
    )
    p.add_argument(
        "--threads",
        dest="cfg_threads",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="torch CPU threads (default: all cores)",
    )
    p.add_argument(
        "--max-steps",
        dest="cfg_max_steps",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="stop each seed after N steps (smoke tests)",
    )
    p.add_argument(
        "--quiet",
        dest="cfg_progress",
        action="store_false",
        default=argparse.SUPPRESS,
        help="no progress bars",
    )
    _add_config_flags(
        p, TeacherConfig, skip=("model_name_or_path", "seeds", "threads", "max_steps", "progress")
    )
    _add_threshold_flags(p)
    p.set_defaults(func=_cmd_train_teacher)


def _cmd_train_teacher(args) -> int:
    from janitr.evaluation.evaluate import format_bundle_report
    from janitr.teacher.model import TeacherConfig, train_teacher

    bundle = train_teacher(
        data_dir=args.data,
        out_dir=args.out,
        config=TeacherConfig(**_config_overrides(args)),
        thresholds=_threshold_policy(args),
    )
    cal = bundle.manifest["model"]["calibration"]["temperatures"]
    print(format_bundle_report(bundle))
    print(
        f"temperatures (fitted on valid): scam {cal['scam']:.3f}, topic {cal['topic']:.3f}; "
        f"reliability diagram: {bundle.path / 'reliability.png'}"
    )
    return 0


TRAIN_REGISTRARS += [_add_train_tokenizer, _add_train_teacher]


def _add_pretrain(sub) -> None:
    from janitr.teacher.pretrain import PretrainConfig

    p = sub.add_parser(
        "pretrain",
        help="optional domain-adaptive MLM pretraining of the teacher encoder",
        description="Continue masked-language-model training of an encoder on DATA/train.jsonl "
        "texts plus --unlabeled files; rows sharing an id or normalized text with "
        "DATA/valid.jsonl, DATA/calib.jsonl or --exclude files are refused (or dropped with "
        "--drop-overlap). Writes a Hugging Face directory for `janitr train teacher --model`."
        "\n\nexamples:\n"
        "  janitr pretrain --data data/ --unlabeled data/unlabeled.jsonl --out runs/mlm",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, metavar="DIR", help="directory with train.jsonl")
    p.add_argument(
        "--unlabeled",
        nargs="*",
        default=[],
        metavar="JSONL",
        help="unlabeled JSONL files (id, text)",
    )
    p.add_argument(
        "--exclude",
        nargs="*",
        default=[],
        metavar="JSONL",
        help="more evaluation files whose rows must not be pretrained on",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME_OR_PATH",
        help="encoder to start from (default: installed MiniLM)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output model directory")
    p.add_argument(
        "--threads",
        dest="cfg_threads",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="torch CPU threads (default: all cores)",
    )
    p.add_argument(
        "--max-steps",
        dest="cfg_max_steps",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="stop after N steps",
    )
    p.add_argument(
        "--quiet",
        dest="cfg_progress",
        action="store_false",
        default=argparse.SUPPRESS,
        help="no progress bars",
    )
    _add_config_flags(p, PretrainConfig, skip=("threads", "max_steps", "progress"))
    p.set_defaults(func=_cmd_pretrain)


def _cmd_pretrain(args) -> int:
    from janitr.data.records import read_records
    from janitr.teacher.pretrain import PretrainConfig, pretrain_mlm

    data = Path(args.data)
    corpus = read_records(data / "train.jsonl")
    if args.unlabeled:
        corpus += read_records(*args.unlabeled, require_labels=False)
    exclude = [
        r
        for name in ("valid.jsonl", "calib.jsonl", "holdout.jsonl")
        if (data / name).is_file()
        for r in read_records(data / name)
    ]
    if args.exclude:
        exclude += read_records(*args.exclude, require_labels=False)
    out = pretrain_mlm(
        corpus=corpus,
        model_name_or_path=args.model,
        out_dir=args.out,
        config=PretrainConfig(**_config_overrides(args)),
        exclude=exclude,
    )
    print(f"wrote {out} (use: janitr train teacher --model {out})")
    return 0


def _add_cache(sub) -> None:
    p = sub.add_parser(
        "cache",
        help="cache calibrated teacher logits + hidden states for distillation",
        description="Run a teacher bundle's calibrated ensemble over DATA/train.jsonl and "
        "DATA/valid.jsonl and write OUT/<split>.safetensors (scam/topic logits, CLS vectors of "
        "--layers) with a sidecar naming the teacher, calibration, seeds, label map and split "
        "hash. An existing cache made from other inputs is never overwritten (unless "
        "--overwrite); `janitr distill` refuses a cache that does not match its data."
        "\n\nexamples:\n"
        "  janitr cache --teacher bundles/teacher --data data/ --out runs/cache\n"
        "  janitr cache --teacher bundles/teacher --data data/ --out runs/cache --layers 2,4,6",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--teacher", required=True, metavar="BUNDLE_DIR", help="teacher bundle")
    p.add_argument("--data", required=True, metavar="DIR", help="directory with the splits")
    p.add_argument(
        "--splits",
        default="train,valid",
        metavar="A,B",
        help="splits to cache (default: train,valid; never holdout or calib)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="cache directory")
    p.add_argument(
        "--layers",
        type=_seed_list,
        default=None,
        metavar="I,J,...",
        help="1-based teacher layers to cache (default: 4 spread over the depth)",
    )
    p.add_argument("--batch-size", type=int, default=64, metavar="N")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing cache even if made from other inputs",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_cache)


def _cmd_cache(args) -> int:
    from janitr.data.records import read_records
    from janitr.teacher.cache import build_cache, read_cache

    for split in [s.strip() for s in args.splits.split(",") if s.strip()]:
        records = read_records(Path(args.data) / f"{split}.jsonl")
        path = build_cache(
            teacher=args.teacher,
            records=records,
            split=split,
            out=args.out,
            layers=args.layers,
            batch_size=args.batch_size,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
        cache = read_cache(path, expect={"split": split})
        print(
            f"{split}: {cache.rows} rows, layers {cache.layer_indices}, hidden "
            f"{cache.hidden_size} -> {path}"
        )
    return 0


VERB_REGISTRARS += [_add_pretrain, _add_cache]


# --- run / runs / sweep / report (the whole pipeline and the run registry) ----------------

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
    _add_common_data_flags(p)
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
        "base run are hard-linked from it, so the teacher is trained once. Variants are ranked "
        "by scam recall at scam FPR <= thresholds.scam_target_fpr (ties: scam F1); the table is "
        "printed and saved as SWEEP.md and SWEEP.json.",
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
    p.add_argument("--bundle", default="student-int8", help="bundle that ranks the variants")
    _add_common_data_flags(p)
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


VERB_REGISTRARS += [_add_run, _add_runs, _add_sweep, _add_report]


# --- linear model, obfuscation, cross-fitting, error analysis -------------------------------


def _add_train_linear(train_sub) -> None:
    from janitr.baselines.linear import LinearConfig

    p = train_sub.add_parser(
        "linear",
        help="word+char n-gram TF-IDF + logistic regression (two heads), write a bundle",
        description="Train TF-IDF features (word 1-2-grams + char_wb 2-5-grams, sublinear tf) "
        "and two logistic regressions (scam-vs-not, topic bit) on DATA/train.jsonl, tune "
        "thresholds on the tuning split(s) (scam: max recall at FPR <= --scam-target-fpr, "
        "--threshold-rule guaranteed for a Clopper-Pearson bound), and write a bundle (kind "
        "linear; vocabularies + coefficients, no pickle)."
        "\n\nexamples:\n"
        "  janitr train linear --data data/ --out bundles/linear\n"
        "  janitr train linear --data data/ --out bundles/linear --c 8 --fold-confusables",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="directory with train.jsonl, calib.jsonl (and valid.jsonl)",
    )
    p.add_argument("--out", required=True, metavar="BUNDLE_DIR", help="bundle directory to write")
    _add_config_flags(p, LinearConfig, skip=("class_weight",))
    _add_threshold_flags(p)
    p.add_argument(
        "--class-weight",
        dest="cfg_class_weight",
        choices=("balanced", "none"),
        default=argparse.SUPPRESS,
        help="class weighting (default: balanced)",
    )
    p.set_defaults(func=_cmd_train_linear)


def _cmd_train_linear(args) -> int:
    from janitr.baselines.linear import LinearConfig, train_linear
    from janitr.evaluation.evaluate import format_bundle_report

    config = LinearConfig.from_dict(_config_overrides(args))
    bundle = train_linear(
        data_dir=args.data, out_dir=args.out, config=config, thresholds=_threshold_policy(args)
    )
    print(format_bundle_report(bundle))
    return 0


TRAIN_REGISTRARS += [_add_train_linear]


def _add_obfuscate(sub) -> None:
    from janitr.data.obfuscate import KINDS

    p = sub.add_parser(
        "obfuscate",
        help="write obfuscated copies of posts (leetspeak, look-alikes, zero-width, ...)",
        description="For every row of --data and every kind, write a copy whose text is "
        "obfuscated the way scammers dodge filters (cl4im, Cyrillic/Greek look-alikes from the "
        "Unicode confusables data, zero-width characters, fullwidth letters, s p a c e d words, "
        "hxxps://site[.]com, mixed); ids get '::obf-<kind>', labels are kept. Seeded: same "
        "seed, same file. Copies a kind leaves unchanged are skipped."
        "\n\nexamples:\n"
        "  janitr obfuscate --data data/valid.jsonl --out valid.obf.jsonl\n"
        "  janitr obfuscate --data data/valid.jsonl --out v.jsonl --kinds leet,homoglyph --seed 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, metavar="FILE", help="JSONL file (id, text[, labels])")
    p.add_argument("--out", required=True, metavar="FILE", help="JSONL file to write")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--kinds",
        default=",".join(KINDS),
        metavar="K1,K2",
        help=f"comma-separated kinds (default: all: {','.join(KINDS)})",
    )
    p.set_defaults(func=_cmd_obfuscate)


def _cmd_obfuscate(args) -> int:
    from janitr.data.obfuscate import write_obfuscated

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    n = write_obfuscated(data=args.data, out=args.out, seed=args.seed, kinds=kinds)
    print(f"wrote {n} obfuscated rows to {args.out}")
    return 0


def _add_crossval(sub) -> None:
    from janitr.baselines.fasttext import FastTextConfig
    from janitr.pipeline.crossval import COMBINES, MEMBERS, MODELS

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
    p.add_argument(
        "--model",
        choices=MODELS,
        default="linear",
        help="model family (default: linear); teacher fine-tunes the encoder once per fold "
        "(minutes per fold on a CPU)",
    )
    p.add_argument(
        "--members", default="fasttext,linear", metavar="A,B",
        help=f"families averaged by --model ensemble, 2 or more of {','.join(MEMBERS)} "
        "(default: fasttext,linear)",
    )  # fmt: skip
    p.add_argument(
        "--combine", choices=COMBINES, default="mean",
        help="how --model ensemble combines its members: mean of Platt-scaled members, or "
        "stack (a logistic regression on their logits, fitted on the other folds; default mean)",
    )  # fmt: skip
    p.add_argument(
        "--reuse", action="append", default=[], metavar="MEMBER=CV.json",
        help="take MEMBER's out-of-fold scores from an earlier `--json` result of that single "
        "family on the same data, --folds and --seed (needs --no-robustness); repeatable",
    )  # fmt: skip
    p.add_argument("--folds", type=int, default=5, metavar="K", help="folds (default 5)")
    p.add_argument("--seed", type=int, default=13, help="fold seed (default 13)")
    _add_threshold_flags(p, skip=("tune_on",))  # every row is tuned on out of fold
    p.add_argument(
        "--fold-confusables",
        action="store_true",
        help="fold Unicode confusables in the normalization",
    )
    p.add_argument(
        "--augment", action="store_true", help="add obfuscated copies of the training-fold rows"
    )
    p.add_argument(
        "--no-robustness",
        action="store_true",
        help="skip scoring obfuscated copies of held-out rows",
    )
    p.add_argument(
        "--linear-c",
        type=float,
        default=4.0,
        metavar="C",
        help="inverse regularization of the linear model (default 4)",
    )
    p.add_argument(
        "--fasttext-epoch", type=int, default=FastTextConfig.epoch, metavar="N",
        help=f"fastText epochs (default {FastTextConfig.epoch})",
    )  # fmt: skip
    p.add_argument(
        "--fasttext-lr", type=float, default=FastTextConfig.lr, metavar="LR",
        help=f"fastText learning rate (default {FastTextConfig.lr})",
    )  # fmt: skip
    p.add_argument(
        "--teacher-model", metavar="ID_OR_PATH",
        help="encoder of the teacher member (default: the installed all-MiniLM-L6-v2)",
    )  # fmt: skip
    p.add_argument(
        "--teacher-epochs", type=int, default=2, metavar="N",
        help="teacher epochs per fold (default 2)",
    )  # fmt: skip
    p.add_argument(
        "--no-fasttext-quantize", action="store_true",
        help="score the unquantized fastText fold models (default: the quantized .ftz, as shipped)",
    )  # fmt: skip
    p.add_argument("--n-boot", type=int, default=1000, metavar="N", help="bootstrap resamples")
    p.add_argument("--json", metavar="OUT", help="write the full result as JSON")
    p.add_argument("--predictions", metavar="OUT", help="write per-row OOF predictions JSONL")
    p.set_defaults(func=_cmd_crossval)


def _member_paths(items: list[str]) -> dict[str, str]:
    """`--reuse MEMBER=PATH` values as a dict; a value without `=` is refused."""
    from janitr.errors import ConfigError

    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--reuse {item!r}: expected MEMBER=PATH, e.g. teacher=cv.json")
        out[name.strip()] = path
    return out


def _cmd_crossval(args) -> int:
    from janitr.pipeline.crossval import (
        CrossvalConfig,
        format_crossval,
        run_crossval,
        write_oof_predictions,
    )

    config = CrossvalConfig(
        model=args.model, folds=args.folds, seed=args.seed, thresholds=_threshold_policy(args),
        fold_confusables=args.fold_confusables,
        augment=args.augment, robustness=not args.no_robustness, linear_c=args.linear_c,
        fasttext_epoch=args.fasttext_epoch, fasttext_lr=args.fasttext_lr,
        fasttext_quantize=not args.no_fasttext_quantize, teacher_model=args.teacher_model,
        teacher_epochs=args.teacher_epochs, n_boot=args.n_boot,
        members=tuple(m.strip() for m in args.members.split(",") if m.strip()),
        combine=args.combine,
        reuse=_member_paths(args.reuse),
    )  # fmt: skip
    result = run_crossval(data_dir=args.data, config=config)
    print(format_crossval(result))
    if args.predictions:
        write_oof_predictions(args.predictions, result)
    if args.json:
        from janitr.artifacts import write_json

        write_json(args.json, result)
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


VERB_REGISTRARS += [_add_obfuscate, _add_crossval, _add_errors]

from janitr.cli.score import register as _add_score  # noqa: E402

VERB_REGISTRARS.append(_add_score)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="janitr", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"janitr {__version__}")
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
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    # SIGTERM unwinds like Ctrl-C: `finally` blocks and context managers run, so child
    # processes are stopped and temporary files (fastText's training text) removed.
    previous = _terminate_with_exit()
    # `--quiet` is `quiet=True`, or `cfg_progress=False` where it maps onto a config field.
    quiet = getattr(args, "quiet", False) or getattr(args, "cfg_progress", True) is False
    saved_env = _silence_libraries() if quiet else None
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
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if saved_env is not None:
            _restore_env(saved_env)


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
