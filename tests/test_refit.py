"""Refit on every labeled row (issue #15 lever 1): OOF-tuned thresholds, lineage, the run stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extras import needs
from janitr.artifacts import read_json, sha256_file
from janitr.data.demo import write_demo_dataset
from janitr.data.labels import collapse
from janitr.data.records import read_records
from janitr.errors import ConfigError, LeakageError
from janitr.evaluation.thresholds import ThresholdPolicy
from janitr.pipeline.refit import (
    RefitConfig,
    family_fit,
    out_of_fold,
    refit,
    write_refit_bundle,
)
from janitr.runtime.bundle import load_bundle

POLICY = ThresholdPolicy(rule="empirical")


def _splits(tmp_path: Path) -> tuple[Path, dict]:
    data = write_demo_dataset(tmp_path / "data", rows=300, seed=3)
    return data, {s: read_records(data / f"{s}.jsonl") for s in ("train", "valid", "calib")}


@needs("sklearn")
def test_linear_refit_tunes_on_out_of_fold_scores_and_records_lineage(tmp_path):
    from janitr.evaluation.evaluate import evaluate_bundle

    data, splits = _splits(tmp_path)
    rows = [r for s in splits.values() for r in s]
    result = refit(rows, family="linear", policy=POLICY, folds=3, seed=5, n_boot=50,
                   work_dir=tmp_path / "work")  # fmt: skip
    # the thresholds are the policy's on the out-of-fold scores of every row, recomputed here
    oof, fold = out_of_fold(rows, family_fit("linear"), folds=3, seed=5)
    np.testing.assert_allclose(oof, result.oof)
    assert result.tuned == POLICY.tune([collapse(r.labels) for r in rows], oof)
    assert sorted(np.unique(fold).tolist()) == [0, 1, 2]
    # out of fold is not in sample: a row's OOF score differs from the all-rows model's
    full = result.fitted.predict_heads([result.fitted.normalization.apply(r.text) for r in rows])
    assert not np.allclose(full, oof)
    assert 0.0 <= result.figure["scam_recall"] <= 1.0 and result.figure["scam_recall_ci"]
    measured = {"bundle": "linear", "sha256": "0" * 64}
    bundle = write_refit_bundle(result, out_dir=tmp_path / "linear-refit", data_dir=data,
                                splits=splits, policy=POLICY, measured=measured)  # fmt: skip
    loaded = load_bundle(tmp_path / "linear-refit")
    lineage = loaded.manifest["model"]["refit"]
    assert lineage["measured_bundle"] == measured and lineage["held_out_figure"] is None
    assert lineage["data"] == {s: len(v) for s, v in splits.items()}
    assert lineage["oof_figure"]["scam_recall"] == pytest.approx(result.figure["scam_recall"])
    assert bundle.thresholds == pytest.approx(result.tuned["thresholds"])
    assert set(loaded.manifest["data"]) == {"train", "valid", "calib"}
    # every labeled row was learned from: scoring valid with it is refused as overlap
    with pytest.raises(LeakageError):
        evaluate_bundle(model=tmp_path / "linear-refit", data=data / "valid.jsonl", n_boot=0)


def test_refit_config_problems():
    with pytest.raises(ConfigError) as err:
        RefitConfig(models=("teacher",), folds=1)
    fields = {p.field for p in err.value.problems}
    assert fields == {"models", "folds"}


@pytest.mark.integration
@needs("fasttext", "sklearn")
def test_run_ships_refit_bundles_beside_unchanged_measured_ones(tmp_path):
    from janitr.pipeline.config import load_config
    from janitr.pipeline.run import run_pipeline
    from janitr.pipeline.stages import STAGES

    root = Path(__file__).resolve().parents[1]
    names = ("validate", "leakage", "fasttext", "thresholds", "evaluate", "refit")
    stages = [s for s in STAGES if s.name in names]
    base = load_config(root / "configs" / "fast.toml", overrides=["data.demo_rows=400"])
    plain = run_pipeline(data_dir=None, out_dir=tmp_path / "plain", config=base, quiet=True,
                         stages=stages)  # fmt: skip
    config = base.with_overrides(["refit.enabled=true", "refit.models=fasttext,linear",
                                  "refit.folds=3", "refit.bootstrap=50"])  # fmt: skip
    run = run_pipeline(data_dir=None, out_dir=tmp_path / "refit", config=config, quiet=True,
                       stages=stages)  # fmt: skip
    a, b = plain.run_dir / "bundles", run.run_dir / "bundles"
    assert sorted(p.name for p in b.iterdir()) == ["fasttext", "fasttext-refit", "linear-refit"]
    assert sha256_file(a / "fasttext" / "bundle.json") == sha256_file(
        b / "fasttext" / "bundle.json"
    )
    lineage = load_bundle(b / "fasttext-refit").manifest["model"]["refit"]
    assert lineage["measured_bundle"]["sha256"] == sha256_file(b / "fasttext" / "bundle.json")
    assert lineage["data"]["holdout"] > 0  # the carved holdout is learned from too
    assert load_bundle(b / "linear-refit").manifest["model"]["refit"]["measured_bundle"] is None
    from janitr.pipeline.report import render_report
    from janitr.pipeline.runs import format_run, load_run_info

    info = read_json(run.run_dir / "RUN_INFO.json")
    assert set(info["refit"]) == {"fasttext-refit", "linear-refit"}
    assert "fasttext-refit" not in info["metrics"]  # never evaluated on the holdout it learned
    shown = format_run(load_run_info(run.run_dir))
    assert "bundles/fasttext-refit" in shown and "No held-out figure" in shown
    assert "measured bundle fasttext" in shown
    render_report(run.run_dir)
    assert "Shipped: bundles/linear-refit" in (run.run_dir / "report.md").read_text()
