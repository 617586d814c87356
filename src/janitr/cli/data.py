"""`janitr` verbs that read and write datasets: validate, split, leakage, benchmark,
demo-data, labels, obfuscate.

Each verb parses its flags, builds its config and calls one library function.
"""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    """Add this group's verbs to the `janitr` subparsers."""
    _add_validate(sub)
    _add_split(sub)
    _add_leakage(sub)
    _add_benchmark(sub)
    _add_demo_data(sub)
    _add_labels(sub)
    _add_obfuscate(sub)


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
