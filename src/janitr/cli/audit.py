"""`janitr audit` and `janitr relabel`: the label audit loop.

`register(subparsers)` adds both verbs; each handler builds a config, calls one library
function (`pipeline.audit.run_audit`, `data.relabel.relabel`) and prints its summary.
"""

from __future__ import annotations

import argparse

from janitr.cli.flags import add_config_flags, build_config

AUDIT_DESCRIPTION = """\
Score every labeled row of DATA/{train,valid,calib}.jsonl out of fold (group-aware folds, as
`janitr crossval`; the linear TF-IDF model takes seconds), then rank the rows whose given
class (scam / topic_crypto / clean) is likely wrong with confident learning (cleanlab). The
flagged rows go to a review file (JSONL), most suspicious first: id, text, given labels,
suggested class, score (probability of the given class: low = suspicious) and the reason.
Fill `new_labels` of the rows to change and pass the file to `janitr relabel`.

Needs the audit extra: pip install 'janitr[audit]'

examples:
  janitr audit --data data/ --out review.jsonl
  janitr audit --data data/ --out review.jsonl --model fasttext --top 50 --json audit.json
"""

RELABEL_DESCRIPTION = """\
Apply a reviewed change file to a dataset and write the result as a NEW dataset version in
--out (never in place; an existing folder is refused). Every *.jsonl file of --data is
copied, rows named in the change file get their new labels, and DATASET.json records the
parent's file hashes, the new ones and every change. The new version is validated, and its
splits are checked for leakage, before anything is written.

A change file row: {"id": "123", "new_labels": ["clean"], "note": "why"}; `janitr audit`'s
review file is one (rows with new_labels null are kept as they are).

examples:
  janitr relabel --data data/ --changes review.jsonl --out data-v2/
"""


def register(subparsers) -> None:
    """Add the `audit` and `relabel` verbs to the `janitr` sub-command parsers."""
    from janitr.pipeline.audit import AuditConfig

    p = subparsers.add_parser(
        "audit",
        help="rank likely label errors (confident learning on out-of-fold scores)",
        description=AUDIT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, metavar="DIR", help="directory with the splits")
    p.add_argument("--out", required=True, metavar="REVIEW.jsonl", help="review file to write")
    add_config_flags(p, AuditConfig)
    p.add_argument("--json", metavar="OUT", help="also write the summary as JSON")
    p.set_defaults(func=_cmd_audit)

    r = subparsers.add_parser(
        "relabel",
        help="apply a reviewed change file as a new dataset version (never in place)",
        description=RELABEL_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("--data", required=True, metavar="DIR", help="the parent dataset folder")
    r.add_argument("--changes", required=True, metavar="REVIEWED.jsonl",
                   help="reviewed change file (rows with new_labels)")  # fmt: skip
    r.add_argument("--out", required=True, metavar="NEW_DIR", help="new folder (must not exist)")
    r.add_argument("--no-leakage", action="store_true", help="skip the leakage check")
    r.set_defaults(func=_cmd_relabel)


def _cmd_audit(args) -> int:
    from janitr.pipeline.audit import AuditConfig, format_audit, run_audit

    if args.json:
        from janitr.artifacts import check_output_file

        check_output_file(args.json)
    config = build_config(AuditConfig, args)
    summary = run_audit(data_dir=args.data, out=args.out, config=config)
    print(format_audit(summary))
    if args.json:
        from janitr.artifacts import write_json

        write_json(args.json, summary)
    return 0


def _cmd_relabel(args) -> int:
    from janitr.data.relabel import format_relabel, relabel

    manifest = relabel(
        data_dir=args.data, changes=args.changes, out_dir=args.out, leakage=not args.no_leakage
    )
    print(format_relabel(manifest, args.out))
    return 0
