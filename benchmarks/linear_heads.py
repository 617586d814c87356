"""Finer supervision (issue #15 lever 3): collapsed scam head vs group heads, by cross-fitting.

For each fold seed, `janitr crossval --model linear` is run (or its `--json` result reused
from --out) with `--linear-heads collapsed`, `groups` (noisy-or) and `groups` +
`--linear-group-combine stack`; no robustness pass. For both threshold rules the decisions at
the nested per-fold thresholds are rebuilt from the OOF scores and measured on every row:
scam recall [95% CI] and FPR by negative class (from crossval's report), recall by kind of
scam row (`metrics.scam_recall_by_kind`, Clopper-Pearson), and the paired difference to the
collapsed head on the same rows (shared bootstrap resamples, as `janitr runs compare` does,
plus McNemar's exact test). Results: benchmarks/results/linear_heads.json and a markdown table
on stdout.

    OMP_NUM_THREADS=1 python benchmarks/linear_heads.py [--data DIR] [--seeds 13 7] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from janitr.data.labels import CLASSES, SCAM, collapse, decide
from janitr.evaluation.metrics import (
    bootstrap_metric_samples,
    bootstrap_weights,
    percentile_interval,
    scam_recall_by_kind,
)
from janitr.pipeline.crossval import CrossvalConfig, crossval, read_labeled
from janitr.pipeline.runs import mcnemar_exact

VARIANTS = {
    "collapsed": {"linear_heads": "collapsed"},
    "groups_noisy_or": {"linear_heads": "groups", "linear_group_combine": "noisy_or"},
    "groups_stack": {"linear_heads": "groups", "linear_group_combine": "stack"},
}
RULES = ("empirical", "guaranteed")


def _decisions(result: dict, rule: str) -> np.ndarray:
    pred = result["predictions"]
    per_fold = result["rules"][rule]["per_fold"]
    fold = np.array(pred["fold"])
    t_scam = np.array([per_fold[k]["t_scam"] for k in fold])
    t_topic = np.array([per_fold[k]["t_topic"] for k in fold])
    return decide(np.array(pred["p_scam"]), np.array(pred["p_topic"]),
                  t_scam=t_scam, t_topic=t_topic)  # fmt: skip


def _paired(gold, pred_a, pred_b, *, n_boot=1000, seed=13) -> dict:
    weights = bootstrap_weights(gold.size, n_boot=n_boot, seed=seed)
    ones = np.ones((1, gold.size))
    out = {}
    for name in ("scam_recall", "scam_fpr", "macro_f1"):
        a = bootstrap_metric_samples(gold, pred_a, weights=weights)[name]
        b = bootstrap_metric_samples(gold, pred_b, weights=weights)[name]
        point = (bootstrap_metric_samples(gold, pred_b, weights=ones)[name][0]
                 - bootstrap_metric_samples(gold, pred_a, weights=ones)[name][0])  # fmt: skip
        out[name] = {"delta": float(point), "ci95": percentile_interval(b - a)}
    scam = CLASSES.index(SCAM)
    right_a = (pred_a == scam) == (gold == scam)
    right_b = (pred_b == scam) == (gold == scam)
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    out["mcnemar"] = {"a_only": only_a, "b_only": only_b, "p": mcnemar_exact(only_a, only_b)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/janitr")
    ap.add_argument("--seeds", type=int, nargs="+", default=[13, 7])
    ap.add_argument("--out", default="runs/linear_heads", help="crossval JSON results (reused)")
    ap.add_argument("--results", default="benchmarks/results/linear_heads.json")
    args = ap.parse_args()
    records = read_labeled(args.data)
    gold = np.array([CLASSES.index(collapse(r.labels)) for r in records])
    raw = [r.labels for r in records]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary, lines = {}, []
    for seed in args.seeds:
        results = {}
        for name, settings in VARIANTS.items():
            path = out_dir / f"cv_{name}_s{seed}.json"
            if not path.is_file():
                config = CrossvalConfig(model="linear", seed=seed, robustness=False, **settings)
                path.write_text(json.dumps(crossval(records=records, config=config)))
            results[name] = json.loads(path.read_text())
            assert results[name]["predictions"]["ids"] == [r.id for r in records]
        for rule in RULES:
            base = _decisions(results["collapsed"], rule)
            for name, result in results.items():
                s = result["rules"][rule]["summary"]
                pred = _decisions(result, rule)
                kinds = scam_recall_by_kind(gold, pred, raw)
                row = {
                    "scam_recall": s["scam_recall"], "scam_recall_ci": s["scam_recall_ci"],
                    "scam_fpr": s["scam_fpr"], "fpr_by_negative": s["scam_fpr_by_negative_class"],
                    "by_kind": kinds, "macro_f1": s["macro_f1"], "pr_auc": s["scam_pr_auc"],
                    "seconds": result["seconds"],
                    "paired_vs_collapsed": _paired(gold, base, pred) if name != "collapsed"
                    else None,
                }  # fmt: skip
                summary.setdefault(f"seed{seed}", {}).setdefault(rule, {})[name] = row
                ci, neg = row["scam_recall_ci"], row["fpr_by_negative"]
                p = row["paired_vs_collapsed"]
                delta = "–"
                if p:
                    d = p["scam_recall"]
                    lo, hi = d["ci95"]["low"], d["ci95"]["high"]
                    delta = (f"{d['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}] "
                             f"(McNemar p={p['mcnemar']['p']:.2g})")  # fmt: skip
                lines.append(
                    f"| {seed} | {rule} | {name} | {row['scam_recall']:.3f} [{ci['low']:.3f}, "
                    f"{ci['high']:.3f}] | {delta} | {row['scam_fpr']:.4f} ({neg['clean']:.4f} / "
                    f"{neg['topic_crypto']:.4f}) | {kinds['fraud']['recall']:.3f} / "
                    f"{kinds['spam_promo']['recall']:.3f} | {row['macro_f1']:.3f} | "
                    f"{row['pr_auc']:.3f} |"
                )
    print("| fold seed | rule | heads | scam recall @ FPR<=2% [95% CI] | Δ recall vs collapsed "
          "[paired 95% CI] | OOF scam FPR (clean / topic) | recall fraud / spam_promo | "
          "macro F1 | PR-AUC |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    Path(args.results).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
