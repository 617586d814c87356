"""The run registry: names, RUN_INFO, list/show, and compare (refusal + paired tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from janitr.artifacts import write_json
from janitr.errors import RunError
from janitr.pipeline.rundir import make_run_name, write_run_info
from janitr.pipeline.runs import (
    compare_runs,
    format_comparison,
    list_runs,
    load_run_info,
    mcnemar_exact,
)


def fake_run(root: Path, name: str, *, gold, pred, sha="a" * 64, ids=None) -> Path:
    """A run directory holding only what the registry reads: run.json + one evaluation."""
    run = root / name
    ids = ids or [f"r{i}" for i in range(len(gold))]
    folder = run / "stages" / "12-evaluate" / "student-int8"
    folder.mkdir(parents=True)
    write_json(
        run / "run.json",
        {
            "format": "janitr-run",
            "format_version": 1,
            "name": name,
            "created_at": f"2026-01-01T00:00:0{len(root.name) % 10}Z",
        },
    )
    write_json(
        folder / "eval.json",
        {
            "data": {"sha256": sha, "rows": len(gold), "split": "holdout"},
            "metrics": {"scam": {"recall": 0.5}, "macro_f1": 0.4},
        },
    )
    rows = [
        {"id": i, "gold": g, "pred": p, "p_scam": 0.9 if p == "scam" else 0.1, "p_topic": 0.1}
        for i, g, p in zip(ids, gold, pred, strict=True)
    ]
    (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def test_run_names_are_readable_and_seedable():
    a = make_run_name(seed=7, date="2026-02-15")
    assert a == make_run_name(seed=7, date="2026-02-15")
    date, adjective, noun = a[:10], *a[11:].split("-")
    assert date == "2026-02-15" and adjective.isalpha() and noun.isalpha()


def test_mcnemar_exact_matches_the_binomial_test():
    scipy_stats = pytest.importorskip("scipy.stats")
    for b, c in [(0, 0), (1, 0), (3, 10), (7, 7), (0, 9), (20, 5)]:
        expected = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5).pvalue
        assert mcnemar_exact(b, c) == pytest.approx(expected)


def test_compare_refuses_different_data(tmp_path):
    gold = ["scam", "clean", "topic_crypto", "scam"]
    a = fake_run(tmp_path, "a", gold=gold, pred=gold, sha="a" * 64)
    b = fake_run(tmp_path, "b", gold=gold, pred=gold, sha="b" * 64)
    with pytest.raises(RunError, match="different rows are not comparable"):
        compare_runs(a, b)


def test_compare_refuses_different_row_ids(tmp_path):
    gold = ["scam", "clean"]
    a = fake_run(tmp_path, "a", gold=gold, pred=gold)
    b = fake_run(tmp_path, "b", gold=gold, pred=gold, ids=["x1", "x2"])
    with pytest.raises(RunError, match="different row ids"):
        compare_runs(a, b)


def test_compare_missing_bundle_names_what_exists(tmp_path):
    a = fake_run(tmp_path, "a", gold=["scam"], pred=["scam"])
    with pytest.raises(RunError, match="evaluated: student-int8"):
        compare_runs(a, a, bundle="teacher")


def test_paired_comparison_on_the_same_rows(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    gold = list(rng.choice(["scam", "topic_crypto", "clean"], size=n))
    pred_a = [g if rng.random() < 0.8 else "clean" for g in gold]
    # b fixes 40 of a's missed scams and breaks nothing: clearly better on scam.
    pred_b = list(pred_a)
    fixed = 0
    for i, (g, p) in enumerate(zip(gold, pred_a, strict=True)):
        if g == "scam" and p != "scam" and fixed < 40:
            pred_b[i] = "scam"
            fixed += 1
    a = fake_run(tmp_path, "a", gold=gold, pred=pred_a)
    b = fake_run(tmp_path, "b", gold=gold, pred=pred_b)
    result = compare_runs(a, b, n_boot=500)
    assert result["rows"] == n
    assert result["mcnemar"]["a_only_correct"] == 0
    assert result["mcnemar"]["b_only_correct"] == fixed
    assert result["mcnemar"]["p_value"] < 1e-6
    recall = result["metrics"]["scam_recall"]
    assert recall["delta"] > 0 and recall["ci95"]["low"] > 0
    assert "significantly" in result["verdict"]
    assert "scam_recall" in format_comparison(result)
    # Same run against itself: zero deltas, nothing significant.
    same = compare_runs(a, a, n_boot=200)
    assert all(m["delta"] == 0 for m in same["metrics"].values())
    assert same["mcnemar"]["p_value"] == 1.0 and "no significant" in same["verdict"]


def test_compare_aligns_rows_by_id(tmp_path):
    gold = ["scam", "clean", "scam"]
    a = fake_run(tmp_path, "a", gold=gold, pred=["scam", "clean", "clean"])
    b = fake_run(
        tmp_path,
        "b",
        gold=list(reversed(gold)),
        pred=["scam", "clean", "clean"],
        ids=["r2", "r1", "r0"],
    )
    result = compare_runs(a, b, n_boot=50)
    assert result["mcnemar"] == {"a_only_correct": 1, "b_only_correct": 1, "p_value": 1.0}


def test_run_info_and_listing(tmp_path):
    done = fake_run(tmp_path, "done", gold=["scam"], pred=["scam"])
    fake_run(tmp_path, "pending", gold=["scam"], pred=["scam"])
    (done / "bundles" / "student-int8").mkdir(parents=True)
    (done / "bundles" / "student-int8" / "model.onnx").write_bytes(b"onnx")
    info = write_run_info(done)
    assert info["format_version"] == 1 and info["name"] == "done"
    assert info["files"][0]["path"] == "bundles/student-int8/model.onnx"
    assert info["files"][0]["size"] == 4 and len(info["files"][0]["sha256"]) == 64
    assert info["metrics"]["student-int8"]["metrics"]["macro_f1"] == 0.4
    assert load_run_info(done)["name"] == "done"
    rows = {r["name"]: r for r in list_runs(tmp_path)}
    assert rows["done"]["status"] == "complete" and rows["pending"]["status"] == "incomplete"
    with pytest.raises(RunError, match="started but not finished"):
        load_run_info(tmp_path / "pending")


def test_cli_runs_verbs(tmp_path, capsys):
    from janitr.cli import main

    gold = ["scam", "clean"]
    a = fake_run(tmp_path, "a", gold=gold, pred=gold, sha="a" * 64)
    b = fake_run(tmp_path, "b", gold=gold, pred=gold, sha="b" * 64)
    assert main(["runs", "compare", str(a), str(b)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to compare") and "Traceback" not in err
    assert main(["runs", "list", str(tmp_path)]) == 0
    assert "incomplete" in capsys.readouterr().out
    assert main(["run", "--out", str(tmp_path / "r"), "--set", "distill.temprature=2"]) == 1
    assert "did you mean distill.temperature?" in capsys.readouterr().err


@pytest.mark.parametrize("verb", [["run"], ["runs"], ["sweep"], ["report"]])
def test_cli_help_has_examples(verb, capsys):
    from janitr.cli import main

    with pytest.raises(SystemExit) as info:
        main([*verb, "--help"])
    assert info.value.code == 0
    assert "example" in capsys.readouterr().out
