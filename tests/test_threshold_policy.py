"""One threshold policy: one scam-target default, one problem check worded per caller, one
function tuning head scores and one tuning any bundle."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from janitr.cli import main
from janitr.errors import ConfigError
from janitr.evaluation.thresholds import (
    DEFAULT_POLICY,
    SCAM_TARGET_FPR,
    ThresholdPolicy,
    tune_thresholds,
)
from janitr.pipeline.config import load_config

SRC = Path(__file__).resolve().parents[1] / "src" / "janitr"


def test_the_scam_target_default_is_written_once():
    """The literal 0.02 appears as a value only in SCAM_TARGET_FPR (the other 0.02 in src is
    the lower bound of data.holdout_fraction, a comparison)."""
    found = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        comparisons = {
            id(c) for node in ast.walk(tree) if isinstance(node, ast.Compare)
            for c in ast.walk(node)
        }  # fmt: skip
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and node.value == 0.02
                and id(node) not in comparisons
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == [f"evaluation/thresholds.py:{_line_of('SCAM_TARGET_FPR = 0.02')}"]
    assert SCAM_TARGET_FPR == DEFAULT_POLICY.scam_target_fpr == 0.02


def _line_of(text: str) -> int:
    lines = (SRC / "evaluation" / "thresholds.py").read_text().splitlines()
    return lines.index(text) + 1


def test_run_and_train_share_the_default_policy():
    assert load_config().thresholds == DEFAULT_POLICY
    assert DEFAULT_POLICY.rule == "guaranteed" and DEFAULT_POLICY.confidence == 0.8
    assert DEFAULT_POLICY.tune_on == "valid+calib" and DEFAULT_POLICY.topic_target_fpr is None


def test_problems_are_collected_and_worded_for_each_caller(capsys, tmp_path):
    with pytest.raises(ConfigError) as info:
        ThresholdPolicy(rule="magic", tune_on="train", topic_target_fpr=1.5)
    message = str(info.value)
    for part in ("rule: expected one of", "tune_on: expected one of", "topic_target_fpr:"):
        assert part in message
    with pytest.raises(ConfigError, match=r"thresholds\.confidence: expected a float in \(0, 1\)"):
        load_config(overrides=["thresholds.confidence=2"])
    assert load_config(overrides=["thresholds.topic_target_fpr=none"]).thresholds == (
        DEFAULT_POLICY
    )
    argv = ["train", "linear", "--data", str(tmp_path), "--out", str(tmp_path / "b")]
    assert main([*argv, "--confidence", "2", "--scam-target-fpr", "0"]) == 1
    err = capsys.readouterr().err
    assert "--confidence: expected a float in (0, 1)" in err
    assert "--scam-target-fpr: expected a float in (0, 1)" in err


def test_record_adds_the_rule_only_when_not_empirical():
    empirical = ThresholdPolicy(tune_on="calib", rule="empirical")
    assert empirical.record() == {
        "scam_target_fpr": 0.02,
        "topic_target_fpr": None,
        "tune_on": "calib",
    }
    assert DEFAULT_POLICY.record() == {
        "scam_target_fpr": 0.02,
        "topic_target_fpr": None,
        "tune_on": "valid+calib",
        "threshold_rule": "guaranteed",
        "confidence": 0.8,
    }


def test_tune_is_the_search_with_the_policy_recorded():
    rng = np.random.default_rng(3)
    gold = rng.choice(["scam", "topic_crypto", "clean"], size=600).tolist()
    heads = rng.random((600, 2))
    for policy in (DEFAULT_POLICY, replace(DEFAULT_POLICY, rule="empirical", topic_target_fpr=0.3)):
        tuned = policy.tune(gold, heads)
        search = tune_thresholds(
            gold, heads[:, 0], heads[:, 1], scam_target_fpr=policy.scam_target_fpr,
            topic_target_fpr=policy.topic_target_fpr, rule=policy.rule,
            confidence=policy.confidence,
        )  # fmt: skip
        assert tuned["thresholds"] == search["thresholds"]
        assert tuned["tuning"]["scam_threshold_rule"] == policy.rule
        assert tuned["tuning"]["topic_target_fpr"] == policy.topic_target_fpr
        assert ("confidence" in tuned["tuning"]) == (policy.rule == "guaranteed")


@pytest.mark.integration
def test_tune_bundle_retunes_any_bundle_with_its_own_scores(tmp_path):
    from janitr.data.records import read_records
    from janitr.evaluation.evaluate import score_records
    from janitr.evaluation.tuning import tune_bundle
    from janitr.runtime.bundle import load_bundle
    from tiny_fasttext import train_tiny_bundle

    source = train_tiny_bundle(tmp_path)
    records = read_records(tmp_path / "data" / "valid.jsonl", tmp_path / "data" / "calib.jsonl")
    policy = replace(DEFAULT_POLICY, rule="empirical", scam_target_fpr=0.05)
    out = tune_bundle(source.path, tmp_path / "tuned", records=records, policy=policy)
    again = load_bundle(out.path)
    expect = policy.tune([r.gold for r in records], score_records(source, records))
    assert again.thresholds == expect["thresholds"]
    assert again.manifest["tuning"]["data"] == "valid+calib"
    assert again.manifest["data"]["valid+calib"]["role"] == "threshold tuning"
    assert {"train", "calib", "valid+calib"} <= set(again.seen_data())
    assert again.manifest["model"] == source.manifest["model"]  # the model is untouched
