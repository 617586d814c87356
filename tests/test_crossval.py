"""Cross-fitting: folds keep near-duplicates together, OOF scores, nested thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from janitr.cli import main
from janitr.data.demo import write_demo_dataset
from janitr.data.neardup import duplicate_groups
from janitr.errors import ConfigError
from janitr.evaluation.thresholds import ThresholdPolicy, tune_thresholds
from janitr.pipeline.crossval import (
    CrossvalConfig,
    assign_folds,
    crossval,
    format_crossval,
    lever_table,
    nested_thresholds,
    platt,
    read_labeled,
    stack,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_demo_dataset(tmp_path_factory.mktemp("demo"), rows=200, seed=1)


def test_folds_group_and_stratify(data_dir):
    records = read_labeled(data_dir)
    fold = assign_folds(records, folds=4, seed=0)
    assert set(fold.tolist()) == {0, 1, 2, 3}
    groups = np.asarray(duplicate_groups([r.norm_text for r in records]))
    for g in np.unique(groups):
        assert len(set(fold[groups == g].tolist())) == 1  # near-duplicates share a fold
    assert np.array_equal(fold, assign_folds(records, folds=4, seed=0))
    with pytest.raises(ConfigError):
        assign_folds(records[:3], folds=5, seed=0)


def test_nested_thresholds_never_use_own_fold():
    rng = np.random.default_rng(0)
    n = 600
    gold = rng.choice(["scam", "topic_crypto", "clean"], size=n).tolist()
    oof = rng.random((n, 2))
    fold = np.arange(n) % 3
    policy = ThresholdPolicy(scam_target_fpr=0.1, rule="empirical")
    t_scam, _, per_fold = nested_thresholds(gold, oof, fold, folds=3, policy=policy)
    for k in range(3):
        other = fold != k
        tuned = tune_thresholds(np.asarray(gold)[other].tolist(), oof[other, 0], oof[other, 1],
                                scam_target_fpr=0.1, rule="empirical")  # fmt: skip
        expect = tuned["thresholds"]["scam"]
        assert np.all(t_scam[fold == k] == expect) and per_fold[k]["t_scam"] == expect


def test_platt_is_monotone():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(int)
    s = np.clip(rng.normal(0.3 + 0.3 * y, 0.1), 0.01, 0.99)
    grid = np.linspace(0.01, 0.99, 50)
    cal = platt(s, y, grid)
    assert np.all(np.diff(cal) >= 0) and cal.min() >= 0 and cal.max() <= 1


@pytest.mark.integration
def test_crossval_linear_end_to_end(data_dir, tmp_path, capsys):
    records = read_labeled(data_dir)
    cfg = CrossvalConfig(model="linear", folds=3, seed=0, n_boot=50, augment=True)
    res = crossval(records=records, config=cfg)
    assert res["rows"] == len(records) == len(res["predictions"]["p_scam"])
    assert sum(res["fold_sizes"]) == len(records)
    assert set(res["rules"]) == {"empirical", "guaranteed"}
    s = res["rules"]["empirical"]["summary"]
    assert 0 <= s["scam_recall"] <= 1 and "clean" in s["scam_fpr_by_negative_class"]
    assert "mixed" in res["robustness"]
    assert res["report"]["thresholds"]["scam"]["per_row"] is True
    assert "| lever |" in lever_table([("linear", res)])
    out = tmp_path / "oof.jsonl"
    argv = ["crossval", "--data", str(data_dir), "--folds", "3", "--n-boot", "20",
            "--no-robustness", "--predictions", str(out),
            "--json", str(tmp_path / "cv.json")]  # fmt: skip
    code = main(argv)
    assert code == 0 and out.is_file() and "nested thresholds" in capsys.readouterr().out
    assert main(["errors", str(out), "--data", str(data_dir / "train.jsonl")]) == 0


def test_config_errors():
    with pytest.raises(ConfigError, match="model: must be one of"):
        CrossvalConfig(model="svm")
    with pytest.raises(ConfigError, match="folds: must be"):
        CrossvalConfig(folds=1)
    with pytest.raises(ConfigError, match="augment_kinds: unknown or empty rot13"):
        CrossvalConfig(augment_kinds=("leet", "rot13"))
    with pytest.raises(ConfigError, match="augment_kinds: unknown or empty ; known: leet,"):
        CrossvalConfig(augment_kinds=())
    # folding is the default normalization, augmentation a lever
    assert CrossvalConfig().fold_confusables and not CrossvalConfig().augment


def test_cross_fitted_linear_heads_never_score_a_row_with_its_own_label(data_dir):
    import dataclasses

    from janitr.pipeline.crossval import cross_fitted_linear_heads

    records = read_labeled(data_dir, ("train",))
    valid = read_labeled(data_dir, ("valid",))
    fold = assign_folds(records, folds=4, seed=0)
    heads = cross_fitted_linear_heads(records, {"valid": valid}, fold=fold)
    assert heads["train"].shape == (len(records), 2) and heads["valid"].shape == (len(valid), 2)
    # Flip one row's label: its own out-of-fold score must not move (the model that scores
    # it never saw it), while the model fitted on all of train (valid's scores) does change.
    i = next(k for k, r in enumerate(records) if r.gold == "scam")
    flipped = list(records)
    flipped[i] = dataclasses.replace(records[i], labels=("clean",))
    again = cross_fitted_linear_heads(flipped, {"valid": valid}, fold=fold)
    assert again["train"][i, 0] == pytest.approx(heads["train"][i, 0], abs=1e-12)
    assert not np.allclose(again["valid"], heads["valid"])


@pytest.mark.integration
@pytest.mark.parametrize("combine", ["mean", "stack"])
def test_crossval_fasttext_scores_the_quantized_model_that_ships(data_dir, monkeypatch, combine):
    """Each fold's fastText member is trained and quantized as `janitr train fasttext` does
    (fresh process, `.ftz`), with the configured epochs and learning rate; the ensemble
    combines it with the linear member (stacking reports its weights)."""
    import janitr.baselines.fasttext as ftb

    fits = []
    real_fit = ftb.fit_in_fresh_process

    def recording_fit(train_txt, config, out_dir):
        fitted = real_fit(train_txt, config, out_dir)
        fits.append((config.epoch, config.lr, config.quantize, fitted["model_name"]))
        return fitted

    monkeypatch.setattr(ftb, "fit_in_fresh_process", recording_fit)
    records = read_labeled(data_dir)
    cfg = CrossvalConfig(model="ensemble", folds=2, seed=0, n_boot=20, robustness=False,
                         fasttext_epoch=7, fasttext_lr=0.3, combine=combine)  # fmt: skip
    res = crossval(records=records, config=cfg)
    assert fits == [(7, 0.3, True, "model.ftz")] * 2
    p = np.asarray(res["predictions"]["p_scam"])
    assert p.shape == (len(records),) and ((p >= 0) & (p <= 1)).all()
    text = format_crossval(res)
    assert f"ensemble: {combine} of fasttext, linear" in text
    if combine == "stack":
        assert set(res["stack_weights"]) == {"scam", "topic_crypto"}
        assert set(res["stack_weights"]["scam"]) == {"fasttext", "linear"}
        assert "stacking weights on member logits (scam" in text
    else:
        assert res["stack_weights"] is None


def test_stacking_weights_follow_the_informative_member():
    """Fitted on rows where one member's logit carries the label and another is noise, the
    stack puts a large positive weight on the first, ~0 on the second, and ranks by it."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    informative = 1 / (1 + np.exp(-(3.0 * (2 * y - 1) + rng.normal(0, 2, y.size))))
    noise = rng.uniform(0.01, 0.99, y.size)
    members = np.stack([informative, noise], axis=1)
    combined, coef = stack(members[:1500], y[:1500], members[1500:])
    assert coef[0] > 0.5 and abs(coef[1]) < 0.15
    assert np.corrcoef(combined, informative[1500:])[0, 1] > 0.95


def test_runs_compare_pairs_two_crossval_results(data_dir, tmp_path, capsys):
    """`janitr runs compare` takes two crossval JSON files: deltas on the same rows, zero
    against itself; a file of another kind is refused with a message naming it."""
    import json

    common = ["crossval", "--data", str(data_dir), "--folds", "3", "--n-boot", "20",
              "--no-robustness"]  # fmt: skip
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main([*common, "--json", str(a)]) == 0
    assert main([*common, "--linear-c", "0.05", "--json", str(b)]) == 0
    capsys.readouterr()
    assert main(["runs", "compare", str(a), str(b), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bundle"] == "crossval out-of-fold decisions"
    assert result["rows"] == len(read_labeled(data_dir))
    recall = result["metrics"]["scam_recall"]
    assert recall["delta"] == pytest.approx(recall["b"] - recall["a"])
    assert main(["runs", "compare", str(a), str(a), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert all(m["delta"] == 0 for m in same["metrics"].values())
    assert same["mcnemar"]["p_value"] == 1.0
    other = tmp_path / "other.json"
    other.write_text('{"format": "janitr-run-info"}', encoding="utf-8")
    assert main(["runs", "compare", str(other), str(a)]) != 0
    assert "not a run directory or a `janitr crossval --json` file" in capsys.readouterr().err


@pytest.mark.slow
def test_teacher_member_is_cross_fitted_once_and_reused(data_dir, tmp_path, monkeypatch):
    """`--model teacher` fine-tunes a (tiny) encoder per fold; its JSON result then feeds an
    ensemble through `reuse` without training it again; other folds are refused."""
    pytest.importorskip("torch")
    from janitr.artifacts import write_json
    from janitr.pipeline.crossval import reused_scores
    from tiny_bert import make_tiny_bert

    tiny = make_tiny_bert(tmp_path / "tiny_bert")
    records = read_labeled(data_dir)
    common = dict(folds=2, seed=0, n_boot=20, robustness=False, teacher_model=str(tiny),
                  teacher_epochs=1)  # fmt: skip
    teacher = crossval(records=records, config=CrossvalConfig(model="teacher", **common))
    p = np.asarray(teacher["predictions"]["p_scam"])
    assert p.shape == (len(records),) and ((p > 0) & (p < 1)).all()
    path = tmp_path / "cv_teacher.json"
    write_json(path, teacher)

    import janitr.teacher.model

    def no_training(**kwargs):
        raise AssertionError("the reused teacher must not be trained again")

    monkeypatch.setattr(janitr.teacher.model, "fit_teacher", no_training)
    ensemble = crossval(
        records=records,
        config=CrossvalConfig(
            model="ensemble", members=("teacher", "linear"), reuse={"teacher": str(path)}, **common
        ),  # fmt: skip
    )
    assert ensemble["config"]["reuse"] == {"teacher": str(path)}
    fold = np.asarray(teacher["predictions"]["fold"])
    np.testing.assert_array_equal(reused_scores(path, records, fold)[:, 0], p)
    with pytest.raises(ConfigError, match="folds differ"):
        reused_scores(path, records, 1 - fold)


def test_member_and_reuse_settings_are_checked():
    with pytest.raises(ConfigError, match="members: must name"):
        CrossvalConfig(model="ensemble", members=("linear",))
    with pytest.raises(ConfigError, match="members: must name"):
        CrossvalConfig(model="ensemble", members=("linear", "svm"))
    with pytest.raises(ConfigError, match=r"reuse: needs robustness off.*\(see robustness\)"):
        CrossvalConfig(model="ensemble", reuse={"fasttext": "cv.json"})
    with pytest.raises(ConfigError, match="teacher is not cross-fitted here"):
        CrossvalConfig(model="linear", reuse={"teacher": "cv.json"}, robustness=False)
    with pytest.raises(SystemExit) as info:  # a usage error: argparse exits 2
        main(["crossval", "--data", ".", "--reuse", "teacher"])
    assert info.value.code == 2
