"""`janitr sweep`'s selection: ranked on the selection rows, never the holdout; paired CIs."""

from __future__ import annotations

import numpy as np
import pytest

from janitr.errors import RunError
from janitr.evaluation.metrics import paired_bootstrap_difference
from janitr.pipeline.sweep import MIN_SELECTION_POSITIVES, rank_variants, selection_warning


def _rows(hits: int, false_alarms: int, *, scams: int = 20, others: int = 80) -> dict:
    gold = ["scam"] * scams + ["clean"] * others
    pred = ["scam"] * hits + ["clean"] * (scams - hits)
    pred += ["scam"] * false_alarms + ["clean"] * (others - false_alarms)
    return {"ids": [f"r{i}" for i in range(len(gold))], "gold": gold, "pred": pred}


def _variant(name: str, selection: dict, holdout_recall: float) -> dict:
    return {
        "run": name,
        "overrides": {"distill.alpha": name},
        "selection_rows": selection,
        "holdout_metrics": {"split": "holdout", "scam_recall": holdout_recall},
    }


def test_chosen_is_best_on_the_selection_rows_even_when_another_wins_the_holdout():
    variants = [
        _variant("holdout-best", _rows(hits=10, false_alarms=1), holdout_recall=0.9),
        _variant("selection-best", _rows(hits=16, false_alarms=1), holdout_recall=0.6),
        _variant("over-budget", _rows(hits=20, false_alarms=40), holdout_recall=0.95),
    ]
    rows = rank_variants(variants, target_fpr=0.02, n_boot=300, seed=1)
    assert [r["run"] for r in rows] == ["selection-best", "holdout-best", "over-budget"]
    assert rows[0]["holdout"] == {"split": "holdout", "scam_recall": 0.6}
    assert all("holdout" not in r and "holdout_metrics" not in r for r in rows[1:])
    assert rows[2]["within_budget"] is False
    s = rows[1]["selection"]
    assert s["scam_recall"] == pytest.approx(0.5) and s["scam_positives"] == 20
    assert s["scam_recall_ci"]["low"] < 0.5 < s["scam_recall_ci"]["high"]
    diff = rows[1]["scam_recall_diff_vs_chosen"]
    assert diff["diff"] == pytest.approx(0.5 - 0.8)
    assert diff["low"] <= diff["diff"] <= diff["high"] < 0  # every miss of B is a hit of A
    assert rows[0]["scam_recall_diff_vs_chosen"] == {"diff": 0.0, "low": 0.0, "high": 0.0}


def test_variants_scored_on_different_rows_are_refused():
    a, b = _rows(10, 0), _rows(10, 0)
    b["ids"] = list(reversed(b["ids"]))
    with pytest.raises(RunError, match="other selection rows"):
        rank_variants([_variant("a", a, 0.5), _variant("b", b, 0.5)], target_fpr=0.02, n_boot=10)


def test_warning_only_when_the_selection_rows_hold_few_scams():
    few = rank_variants([_variant("a", _rows(5, 0), 0.5)], target_fpr=0.02, n_boot=10)
    assert "only 20 scam rows" in selection_warning(few)
    n = MIN_SELECTION_POSITIVES
    many = rank_variants([_variant("a", _rows(n // 2, 0, scams=n), 0.5)], target_fpr=0.02,
                         n_boot=10)  # fmt: skip
    assert selection_warning(many) is None


def test_paired_bootstrap_difference_matches_a_brute_force_bootstrap():
    rng = np.random.default_rng(5)
    n, n_boot, seed = 60, 400, 11
    mask = rng.random(n) < 0.4
    a = (rng.random(n) < 0.7).astype(int)
    b = np.where(rng.random(n) < 0.8, a, 1 - a)  # mostly agrees with a: a paired design
    got = paired_bootstrap_difference(a, b, mask=mask, n_boot=n_boot, seed=seed)
    assert got["diff"] == pytest.approx(a[mask].mean() - b[mask].mean())
    # brute force: the same draws of row indices, one resample at a time
    draws = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    diffs = []
    for idx in draws:
        m = mask[idx]
        if m.any():
            diffs.append(a[idx][m].mean() - b[idx][m].mean())
    low, high = np.percentile(diffs, [2.5, 97.5])
    assert got["low"] == pytest.approx(low) and got["high"] == pytest.approx(high)
    # pairing matters: the interval is narrower than resampling the two models independently
    rng2 = np.random.default_rng(seed)
    pos = np.flatnonzero(mask)
    unpaired = [a[rng2.choice(pos, pos.size)].mean() - b[rng2.choice(pos, pos.size)].mean()
                for _ in range(n_boot)]  # fmt: skip
    assert high - low < np.subtract(*np.percentile(unpaired, [97.5, 2.5]))


def test_paired_bootstrap_difference_edge_cases():
    assert paired_bootstrap_difference([1, 0], [0, 0], mask=[0, 0]) == {
        "diff": None, "low": None, "high": None,
    }  # fmt: skip
    assert paired_bootstrap_difference([1, 0], [0, 0], n_boot=0)["low"] is None
    with pytest.raises(ValueError, match="alike"):
        paired_bootstrap_difference([1, 0], [0])


def test_selection_predictions_score_valid_with_the_variants_bundle(tmp_path):
    from janitr.baselines.linear import LinearConfig, train_linear
    from janitr.data.demo import write_demo_dataset
    from janitr.data.labels import collapse
    from janitr.data.records import read_records
    from janitr.evaluation.thresholds import ThresholdPolicy
    from janitr.pipeline.sweep import selection_predictions
    from janitr.runtime.classifier import Classifier

    data = write_demo_dataset(tmp_path / "data", rows=200, seed=2)
    run = tmp_path / "run"
    train_linear(data_dir=data, out_dir=run / "bundles" / "linear", config=LinearConfig(),
                 thresholds=ThresholdPolicy(tune_on="valid+calib", rule="empirical"))  # fmt: skip
    got = selection_predictions(run, "linear", data)
    valid = read_records(data / "valid.jsonl")
    assert got["ids"] == [r.id for r in valid]
    assert got["gold"] == [collapse(r.labels) for r in valid]
    classifier = Classifier.load(run / "bundles" / "linear")
    assert got["pred"] == [p.label for p in classifier.predict([r.text for r in valid])]
    with pytest.raises(RunError, match="no bundle 'student-int8'"):
        selection_predictions(run, "student-int8", data)
