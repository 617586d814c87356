"""Does refitting on every labeled row (lever 1 of issue #15) beat the measured protocol?

Without the blind holdout, on rows neither protocol saw: the shared data's train is carved
like `janitr run` does (`carve_holdout`, 20%, `configs/default.toml`'s seed and leakage
threshold). Then, for fastText (default.toml's `[fasttext]`) and the linear model
(`LinearConfig` defaults):

  (a) measured: trained on the carved train, thresholds tuned on valid+calib with
      default.toml's `[thresholds]` policy (what `janitr run` ships today);
  (b) refit: `pipeline.refit.refit` on carved train + valid + calib (everything except the
      carved 20%), thresholds tuned with the same policy on 5-fold out-of-fold scores.

Both are decided on the carved 20% (scam recall and FPR with 95% bootstrap CIs, and the
paired difference (b) - (a) on the same rows). Results: benchmarks/results/refit.json.

    python benchmarks/refit.py [--data DIR] [--families fasttext linear]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_info

from janitr.data.labels import CLASSES, SCAM, collapse, decide
from janitr.data.records import read_records
from janitr.data.splits import carve_holdout
from janitr.evaluation.metrics import bootstrap_ci, paired_bootstrap_difference, per_class_metrics
from janitr.pipeline.config import load_config
from janitr.pipeline.refit import family_fit, refit

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = os.environ.get("JANITR_DATA", str(HERE.parent.parent / "shared/data/janitr"))
N_BOOT = 2000


def _decide(fitted, thresholds: dict, rows) -> np.ndarray:
    heads = fitted.predict_heads([fitted.normalization.apply(r.text) for r in rows])
    pred = decide(
        heads[:, 0], heads[:, 1], t_scam=thresholds[SCAM], t_topic=thresholds["topic_crypto"]
    )
    return np.asarray(pred)


def _scores(gold: np.ndarray, pred: np.ndarray) -> dict:
    m = per_class_metrics(gold, pred)[SCAM]
    ci = bootstrap_ci(gold, pred, metrics=("scam_recall", "scam_fpr"), n_boot=N_BOOT, seed=0)
    return {
        "scam_recall": m["recall"],
        "scam_recall_ci": ci["scam_recall"],
        "scam_fpr": m["fpr"],
        "scam_fpr_ci": ci["scam_fpr"],
        "tp": m["tp"],
        "fp": m["fp"],
    }


def compare(family: str, splits: dict, policy, cfg) -> dict:
    holdout = splits["holdout"]
    gold = np.array([CLASSES.index(collapse(r.labels)) for r in holdout])
    fit = family_fit(family, fasttext_config=cfg.fasttext)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        for name in ("a", "b"):
            Path(tmp, name).mkdir()
        fitted = fit(splits["train"], tmp + "/a")
        tune = splits["valid"] + splits["calib"]
        heads = fitted.predict_heads([fitted.normalization.apply(r.text) for r in tune])
        tuned = policy.tune([collapse(r.labels) for r in tune], heads)
        pred_a = _decide(fitted, tuned["thresholds"], holdout)
        out["measured"] = {
            "thresholds": tuned["thresholds"],
            "tuning_rows": len(tune),
            "train_rows": len(splits["train"]),
            **_scores(gold, pred_a),
            "seconds": round(time.perf_counter() - started, 1),
        }
        started = time.perf_counter()
        rows = splits["train"] + splits["valid"] + splits["calib"]
        r = refit(
            rows,
            family=family,
            policy=policy,
            folds=5,
            seed=13,
            n_boot=N_BOOT,
            work_dir=tmp + "/b",
            fasttext_config=cfg.fasttext,
            progress=True,
        )
        pred_b = _decide(r.fitted, r.tuned["thresholds"], holdout)
        out["refit"] = {
            "thresholds": r.tuned["thresholds"],
            "train_rows": len(rows),
            "oof_negatives": r.tuned["tuning"][SCAM]["negatives"],
            "oof_figure": r.figure,
            **_scores(gold, pred_b),
            "seconds": round(time.perf_counter() - started, 1),
        }
    scam = CLASSES.index(SCAM)
    out["refit_minus_measured"] = {
        "scam_recall": paired_bootstrap_difference(
            pred_b == scam, pred_a == scam, mask=gold == scam, n_boot=N_BOOT, seed=0
        ),
        "scam_fpr": paired_bootstrap_difference(
            pred_b == scam, pred_a == scam, mask=gold != scam, n_boot=N_BOOT, seed=0
        ),
    }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--families", nargs="+", default=["fasttext", "linear"])
    ap.add_argument("--out", default=str(HERE / "results" / "refit.json"))
    args = ap.parse_args(argv)
    cfg = load_config(HERE.parent / "configs" / "default.toml")
    policy = cfg.thresholds
    with tempfile.TemporaryDirectory() as tmp:
        carve = carve_holdout(
            Path(args.data),
            Path(tmp),
            fraction=cfg.data.holdout_fraction,
            seed=cfg.data.holdout_seed,
            threshold=cfg.leakage.threshold,
        )
        splits = {
            s: read_records(Path(tmp) / f"{s}.jsonl")
            for s in ("train", "valid", "calib", "holdout")
        }
    result = {
        "format": "janitr-benchmark-refit",
        "format_version": 1,
        "machine": machine_info(),
        "policy": policy.record(),
        "carve": carve["rows"],
        "holdout_scams": sum(collapse(r.labels) == SCAM for r in splits["holdout"]),
        "families": {},
    }
    for family in args.families:
        print(f"{family} ...", file=sys.stderr)
        result["families"][family] = compare(family, splits, policy, cfg)
        print(json.dumps(result["families"][family], indent=1), file=sys.stderr)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
