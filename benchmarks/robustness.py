"""Robustness per obfuscation kind, by cross-fitting (issue #15 lever 7).

For each variant (model family x levers), `janitr crossval` fits one model per fold and
scores obfuscated copies of that fold's held-out rows (seed+1; augmentation copies use the
fold seed, so test copies are never training copies). Per kind we keep: scam recall on
altered scams next to the same model's recall on the unaltered source rows, and scam FPR on
altered clean, altered topic_crypto and all altered negatives, each with a Clopper-Pearson
95% interval (some kinds change few rows: `defang` and `shortener` need a link). Thresholds
are the nested out-of-fold ones of the headline rule (guaranteed unless --rule says
otherwise): no row is tuned on and reported.

    python benchmarks/robustness.py --variants linear linear_fold linear_fold_aug
    python benchmarks/robustness.py --variants fasttext_fold_aug --merge

Results go to benchmarks/results/robustness.json (`--merge` adds to the variants there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from machine import machine_info

from janitr.data.obfuscate import BENIGN_KINDS, DEFAULT_AUGMENT_KINDS
from janitr.evaluation.metrics import clopper_pearson
from janitr.pipeline.crossval import AUGMENT_KINDS, CrossvalConfig, crossval, read_labeled

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = os.environ.get("JANITR_DATA", str(HERE.parent.parent / "shared/data/janitr"))
OUT = HERE / "results" / "robustness.json"
#: Every kind whose copies the folded normalization does not map back to the original
#: (homoglyph, zero_width, fullwidth, math, diacritics, caps, line_breaks it does).
WIDE = ("leet", "spaced", "defang", "punct", "symbols", "repeat", "shortener", "emoji", "tags")
#: name -> (model, fold_confusables, augment kinds or None[, augment_per_row])
VARIANTS = {
    "linear": ("linear", False, None),
    "linear_fold": ("linear", True, None),
    "linear_fold_aug": ("linear", True, AUGMENT_KINDS),
    "linear_fold_augwide": ("linear", True, WIDE),
    "linear_one_wide": ("linear", True, WIDE, "one"),
    "linear_shipped": ("linear", True, DEFAULT_AUGMENT_KINDS, "one"),
    "linear_all_lst": ("linear", True, DEFAULT_AUGMENT_KINDS, "all"),
    "fasttext": ("fasttext", False, None),
    "fasttext_fold": ("fasttext", True, None),
    "fasttext_fold_aug": ("fasttext", True, AUGMENT_KINDS),
    "fasttext_fold_augwide": ("fasttext", True, WIDE),
    "fasttext_one_wide": ("fasttext", True, WIDE, "one"),
    "fasttext_shipped": ("fasttext", True, DEFAULT_AUGMENT_KINDS, "one"),
}


def _rate(k: int, n: int) -> dict:
    ci = clopper_pearson(k, n) if n else {"low": 0.0, "high": 1.0}
    # 4 decimals: k and n are exact, the rest is for reading
    rate = round(k / n, 4) if n else None
    return {"k": k, "n": n, "rate": rate, "ci95": [round(ci["low"], 4), round(ci["high"], 4)]}


def kind_rows(robustness: dict) -> dict:
    """Per kind: altered vs unaltered scam recall, altered FPR (clean, topic, all negatives)."""
    out = {}
    for kind, v in robustness.items():
        a, o = v["obfuscated"], v["original"]
        fp_clean = round(a["scam_fpr_clean"] * a["clean_rows"])
        fp_topic = round(a["scam_fpr_topic_crypto"] * a["topic_crypto_rows"])
        out[kind] = {
            "benign": kind in BENIGN_KINDS,
            "recall_altered": _rate(round(a["scam_recall"] * a["scams"]), a["scams"]),
            "recall_unaltered": _rate(round(o["scam_recall"] * o["scams"]), o["scams"]),
            "fpr_altered_clean": _rate(fp_clean, a["clean_rows"]),
            "fpr_altered_topic": _rate(fp_topic, a["topic_crypto_rows"]),
            "fpr_altered_negatives": _rate(
                fp_clean + fp_topic, a["clean_rows"] + a["topic_crypto_rows"]
            ),
            "fpr_unaltered_negatives": o["scam_fpr_clean"] * o["clean_rows"]
            + o["scam_fpr_topic_crypto"] * o["topic_crypto_rows"],
        }
        neg = o["clean_rows"] + o["topic_crypto_rows"]
        out[kind]["fpr_unaltered_negatives"] = (
            round(out[kind]["fpr_unaltered_negatives"] / neg, 4) if neg else None
        )
    return out


def run_variant(name: str, records, *, rule: str, seed: int) -> dict:
    model, fold, kinds, *per_row = VARIANTS[name]
    cfg = CrossvalConfig(
        model=model, fold_confusables=fold, augment=kinds is not None,
        augment_kinds=kinds or AUGMENT_KINDS, augment_per_row=(per_row or ["all"])[0],
        seed=seed, n_boot=200,
    )  # fmt: skip
    started = time.perf_counter()
    result = crossval(records=records, config=cfg)
    summary = result["rules"][rule]["summary"]
    return {
        "config": result["config"],
        "rule": rule,
        "seconds": round(time.perf_counter() - started, 1),
        "headline": summary,
        "kinds": kind_rows(result["rules"][rule]["robustness"]),
    }


def compare(result: dict, names) -> str:
    """Markdown: one row per kind; per variant, recall on altered scams (unaltered recall)
    / scam FPR on all altered negatives."""
    names = [n for n in names if n in result["variants"]]
    lines = ["| kind | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    kinds = result["variants"][names[0]]["kinds"]
    for kind in kinds:
        cells = []
        for n in names:
            k = result["variants"][n]["kinds"][kind]
            cells.append(
                f"{k['recall_altered']['rate']:.2f} ({k['recall_unaltered']['rate']:.2f}) / "
                f"{k['fpr_altered_negatives']['rate']:.3f}"
            )
        tag = f"{kind} (benign)" if kinds[kind]["benign"] else kind
        lines.append(f"| {tag} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(result: dict, names=None) -> str:
    """Markdown: one row per (variant, kind), with 95% intervals."""
    lines = [
        "| variant | kind | recall altered scams [95% CI] | unaltered recall | FPR altered "
        "clean [95% CI] | FPR altered topic [95% CI] | FPR altered negatives |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(r: dict) -> str:
        return f"{r['rate']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] (n={r['n']})"

    for name, v in result["variants"].items():
        if names is not None and name not in names:
            continue
        for kind, k in v["kinds"].items():
            tag = f"{kind} (benign)" if k["benign"] else kind
            lines.append(
                f"| {name} | {tag} | {cell(k['recall_altered'])} | "
                f"{k['recall_unaltered']['rate']:.3f} | {cell(k['fpr_altered_clean'])} | "
                f"{cell(k['fpr_altered_topic'])} | {k['fpr_altered_negatives']['rate']:.3f} |"
            )
    return "\n".join(lines)


def dumps(result: dict) -> str:
    """JSON with one line per (variant, kind) and per config/headline: diffable, small."""
    one = lambda v: json.dumps(v, separators=(",", ":"))  # noqa: E731
    parts = []
    for name, v in result["variants"].items():
        kinds = ",\n".join(f'    "{k}": {one(x)}' for k, x in v["kinds"].items())
        fields = [f'   "{k}": {one(x)}' for k, x in v.items() if k != "kinds"]
        parts.append(
            f'  "{name}": {{\n' + ",\n".join(fields) + f',\n   "kinds": {{\n{kinds}\n   }}\n  }}'
        )
    head = [f' "{k}": {one(x)}' for k, x in result.items() if k != "variants"]
    return "{\n" + ",\n".join(head) + ',\n "variants": {\n' + ",\n".join(parts) + "\n }\n}\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--rule", default="guaranteed", choices=("empirical", "guaranteed"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--merge", action="store_true", help="keep other variants in --out")
    args = parser.parse_args(argv)
    records = read_labeled(args.data)
    out = Path(args.out)
    result = {"benchmark": "robustness", "format_version": 1, "variants": {}}
    if args.merge and out.is_file():
        result = json.loads(out.read_text())
    result["machine"] = machine_info()
    result["data"] = {"dir": args.data, "rows": len(records)}
    for name in args.variants:
        print(f"[robustness] {name} ...", file=sys.stderr, flush=True)
        result["variants"][name] = run_variant(name, records, rule=args.rule, seed=args.seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(dumps(result))
    print(table(result, args.variants))
    print()
    print(compare(result, list(result["variants"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
