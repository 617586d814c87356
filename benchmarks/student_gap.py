"""How far is the shipped student from the blend it learns from? (issue #15 lever 2)

The student is distilled from a blend of the teacher and a linear model
(`cache.linear_weight`: the cache's logits are `(1 - w) * teacher + w * logit(p_linear)`).
This scores that blend as a model of its own, on the same rows as the run's student, through
the same code path:

  - teacher: the run's teacher bundle (`bundles/teacher`, calibrated probabilities);
  - linear: the cache stage's linear model (`cross_fitted_linear_heads` with the cache's
    `LinearConfig`), fitted on all of the run's train rows;
  - blend: `sigmoid((1 - w) * logit(p_teacher) + w * logit(p_linear))` per head, which is
    the probability the student's soft targets encode at temperature 1;
  - student: the run's student bundle (default `student-int8`), rescored.

Every model's thresholds are tuned on the run's tuning rows (`thresholds.tune_on`, valid +
calib) with the run's `ThresholdPolicy`, and every model is decided on the run's holdout once,
with `metrics.evaluate_predictions` (bootstrap CIs). The student's retuned thresholds must
equal its bundle's, which checks that the path is the pipeline's. The gap is the paired
difference of scam recall (student - blend) on the same holdout rows, and of the
threshold-free scam average precision.

    python benchmarks/student_gap.py --run runs/RUN [--bundle student-int8] \
        [--out benchmarks/results/student_gap.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from machine import machine_info

from janitr.data.labels import CLASSES, SCAM, TOPIC, collapse, decide
from janitr.data.records import read_records
from janitr.evaluation.evaluate import score_records
from janitr.evaluation.metrics import evaluate_predictions, paired_bootstrap_difference
from janitr.pipeline.config import load_saved_config
from janitr.pipeline.crossval import cross_fitted_linear_heads
from janitr.pipeline.stages import cache_linear_config
from janitr.runtime.bundle import load_bundle

N_BOOT = 2000


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def blend(teacher: np.ndarray, linear: np.ndarray, weight: float) -> np.ndarray:
    """`(N, 2)` head probabilities of the teacher + linear blend (`cache.mix_logits` at T=1)."""
    z = (1.0 - weight) * _logit(teacher) + weight * _logit(linear)
    return 1.0 / (1.0 + np.exp(-z))


def model_scores(run: Path, bundle: str, splits: dict, weight: float) -> dict:
    """`{model: {split: (N, 2) probabilities}}` for teacher, linear, blend and the student."""
    train = read_records(run / "stages/01-validate/data/train.jsonl")
    linear = cross_fitted_linear_heads(train, dict(splits), config=cache_linear_config())
    linear.pop("train")
    scores = {"linear": linear}
    for name, path in (("teacher", "teacher"), ("student", bundle)):
        loaded = load_bundle(run / "bundles" / path)
        scores[name] = {split: score_records(loaded, rows) for split, rows in splits.items()}
    scores["blend"] = {
        split: blend(scores["teacher"][split], linear[split], weight) for split in splits
    }
    return scores


def _evaluate(heads: dict, splits: dict, policy, tune_splits) -> tuple[dict, dict]:
    tuning_rows = [r for s in tune_splits for r in splits[s]]
    tuning_heads = np.concatenate([heads[s] for s in tune_splits])
    tuned = policy.tune([collapse(r.labels) for r in tuning_rows], tuning_heads)
    holdout = splits["holdout"]
    report = evaluate_predictions(
        [collapse(r.labels) for r in holdout],
        heads["holdout"][:, 0],
        heads["holdout"][:, 1],
        thresholds=tuned["thresholds"],
        raw_labels=[r.labels for r in holdout],
        n_boot=N_BOOT,
        seed=0,
    )
    return tuned["thresholds"], report


def _row(name: str, thresholds: dict, report: dict) -> dict:
    m, ci = report["metrics"], report["ci95"]
    by_kind = report.get("scam_recall_by_kind", {})
    return {
        "model": name,
        "scam_threshold": thresholds[SCAM],
        "scam_recall": m[SCAM]["recall"],
        "scam_recall_ci": ci["scam_recall"],
        "scam_fpr": m[SCAM]["fpr"],
        "scam_fpr_ci": ci["scam_fpr"],
        "scam_ap": m["scam_pr_auc"],
        "recall_by_kind": {k: f"{v['tp']}/{v['positives']}" for k, v in by_kind.items()},
    }


def _paired(name_a, name_b, decided: dict, splits: dict) -> dict:
    holdout = splits["holdout"]
    is_scam = np.array([collapse(r.labels) == SCAM for r in holdout])
    return paired_bootstrap_difference(
        decided[name_a], decided[name_b], mask=is_scam, n_boot=N_BOOT, seed=0
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished `janitr run` directory")
    ap.add_argument("--bundle", default="student-int8", help="the student bundle to compare")
    ap.add_argument("--out", type=Path, help="JSON file for the figures")
    args = ap.parse_args(argv)

    config = load_saved_config(args.run)
    policy, weight = config.thresholds, config.cache.linear_weight
    data = args.run / "stages/01-validate/data"
    names = (*policy.tune_splits, "holdout")
    splits = {s: read_records(data / f"{s}.jsonl") for s in names}
    scores = model_scores(args.run, args.bundle, splits, weight)
    rows, decided, tuned = [], {}, {}
    for name in ("blend", "student", "teacher", "linear"):
        tuned[name], report = _evaluate(scores[name], splits, policy, policy.tune_splits)
        rows.append(_row(name, tuned[name], report))
        decided[name] = _flags_scam(scores[name]["holdout"], tuned[name])
    shipped = load_bundle(args.run / "bundles" / args.bundle).thresholds
    same = all(abs(shipped[k] - tuned["student"][k]) < 1e-9 for k in shipped)
    gap = _paired("student", "blend", decided, splits)
    is_scam = [collapse(r.labels) == SCAM for r in splits["holdout"]]
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": machine_info(),
        "run": str(args.run),
        "linear_weight": weight,
        "policy": policy.describe(),
        "holdout_rows": len(splits["holdout"]),
        "holdout_scams": int(sum(is_scam)),
        "student_thresholds_match_bundle": same,
        "models": rows,
        "student_minus_blend_recall": gap,
        "student_minus_blend_ap": rows[1]["scam_ap"] - rows[0]["scam_ap"],
    }
    _print(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"saved: {args.out}")
    return 0 if same else 1


def _flags_scam(heads: np.ndarray, thresholds: dict) -> np.ndarray:
    """The decision rule's scam flags (`labels.decide(...) == scam`): p_scam >= t_scam."""
    return decide(heads[:, 0], heads[:, 1], t_scam=thresholds[SCAM], t_topic=thresholds[TOPIC]) == (
        CLASSES.index(SCAM)
    )


def _print(result: dict) -> None:
    print(f"{result['run']}: holdout {result['holdout_rows']} rows, {result['holdout_scams']} "
          f"scams; thresholds: {result['policy']}")  # fmt: skip
    print(f"{'model':<8} {'scam recall [95% CI]':<24} {'scam FPR':<9} {'scam AP':<8} by kind")
    for r in result["models"]:
        ci = r["scam_recall_ci"]
        print(f"{r['model']:<8} {r['scam_recall']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]   "
              f"{r['scam_fpr']:<9.4f} {r['scam_ap']:<8.3f} {r['recall_by_kind']}")  # fmt: skip
    g = result["student_minus_blend_recall"]
    print(f"student - blend: scam recall {g['diff']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}] "
          f"(paired), scam AP {result['student_minus_blend_ap']:+.3f}")  # fmt: skip
    if not result["student_thresholds_match_bundle"]:
        print("ERROR: the student's retuned thresholds differ from its bundle's", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
