"""The run report as a reader sees it: every section, embedded figures, numbers that match
the evaluation JSON, and the errors and warnings it promises."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from janitr.artifacts import write_json  # noqa: E402
from janitr.data.labels import CLASSES  # noqa: E402
from janitr.evaluation.metrics import evaluate_predictions  # noqa: E402
from janitr.pipeline.report import render_report  # noqa: E402
from janitr.pipeline.rundir import (  # noqa: E402
    MANIFEST,
    RUN_FILE,
    STAGE_FORMAT,
    STAGE_FORMAT_VERSION,
    write_evaluation,
)

THRESHOLDS = {
    "fasttext": {"scam": 0.55, "topic_crypto": 0.5},
    "student-int8": {"scam": 2.0, "topic_crypto": 0.45},  # a disabled scam class
}


def _manifest(stage_dir, index, name, summary):
    stage_dir.mkdir(parents=True, exist_ok=True)
    write_json(
        stage_dir / MANIFEST,
        {
            "format": STAGE_FORMAT,
            "format_version": STAGE_FORMAT_VERSION,
            "stage": name,
            "index": index,
            "status": "complete",
            "seconds": 1.5 * index,
            "finished_at": "2026-01-01T00:00:00Z",
            "summary": summary,
        },
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory holding what the report reads: run.json, config.json, a carved
    holdout in the validate stage, and two bundles' evaluations with per-row predictions."""
    run = tmp_path_factory.mktemp("run")
    write_json(run / RUN_FILE, {"name": "2026-01-01-calm-otter", "created_at": "2026-01-01"})
    write_json(
        run / "config.json",
        {"thresholds": {"scam_target_fpr": 0.02}, "report": {"top_errors": 3}},
    )
    carve = {"source": "train.jsonl", "fraction": 0.2, "seed": 13, "pinned_to_train": 4}
    carve["rows"] = {"train_before": 500, "holdout": 100}
    _manifest(run / "stages" / "01-validate", 1, "validate", {"holdout": carve})
    _manifest(run / "stages" / "12-evaluate", 12, "evaluate", {"split": "holdout"})
    rng = np.random.default_rng(0)
    n = 120
    gold = rng.choice(CLASSES, size=n, p=[0.3, 0.3, 0.4]).tolist()
    texts = [f"post {i} https://x.co/{i}" if i % 3 else f"post {i}" for i in range(n)]
    reports = {}
    for name, thresholds in THRESHOLDS.items():
        p_scam = np.clip(rng.normal([0.7 if g == "scam" else 0.35 for g in gold], 0.2), 0, 1)
        p_topic = np.clip(rng.normal([0.7 if g != "clean" else 0.3 for g in gold], 0.2), 0, 1)
        report = evaluate_predictions(
            gold, p_scam, p_topic, thresholds=thresholds,
            is_topic=[int(g != "clean") for g in gold], texts_raw=texts, n_boot=50, seed=1,
        )  # fmt: skip
        pred = [CLASSES[i] for i in _decide(p_scam, p_topic, thresholds)]
        report["data"] = {"path": "holdout.jsonl", "rows": n, "sha256": "ab" * 32}
        report["model"] = {"kind": "fasttext", "tuning_data": "valid+calib"}
        rows = [
            {"id": f"r{i}", "gold": gold[i], "pred": pred[i], "p_scam": float(p_scam[i]),
             "p_topic": float(p_topic[i]), "text": texts[i]}
            for i in range(n)
        ]  # fmt: skip
        write_evaluation(run / "stages" / "12-evaluate" / name, report, rows)
        reports[name] = (report, rows)
    paths = render_report(run)
    return {
        "reports": reports,
        "html": (run / "report.html").read_text(encoding="utf-8"),
        "md": (run / "report.md").read_text(encoding="utf-8"),
        "paths": paths,
    }


def _decide(p_scam, p_topic, thresholds):
    from janitr.data.labels import decide

    return decide(p_scam, p_topic, t_scam=thresholds["scam"], t_topic=thresholds["topic_crypto"])


def test_every_section_is_present(run):
    html, md = run["html"], run["md"]
    assert [p.name for p in run["paths"]] == ["report.html", "report.md"]
    for heading in ("Metrics", "Curves", "Confusion matrices", "Subgroups", "Top scam errors"):
        assert f"<h2>{heading}</h2>" in html
    assert "<h2>Stages</h2>" in html and "<h3>Thresholds</h3>" in html
    for heading in ("## Metrics", "### Thresholds", "### Calibration", "## Subgroups"):
        assert f"\n{heading}\n" in md
    assert "\n## Top scam errors\n" in md and "\n## Stages\n" in md
    assert "<h1>Run 2026-01-01-calm-otter</h1>" in html and md.startswith("# Run 2026-01-01-")
    # the carved holdout is explained, and the scam FPR budget is stated
    assert "100 of 500 rows (fraction 0.2, seed 13)" in html and "100 of 500 rows" in md
    assert "scam FPR budget 0.020" in html and "- scam FPR budget: 0.020" in md


def test_figures_are_embedded_pngs(run):
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', run["html"])
    assert [alt for alt, _ in images] == [
        "PR curves", "recall vs FPR", "reliability", "confusion matrices", "stage timings",
    ]  # fmt: skip
    for _, data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<img" not in run["md"] and 'src="http' not in run["html"]  # self-contained


def test_numbers_match_the_metrics_json(run):
    html, md = run["html"], run["md"]
    for name, (report, _) in run["reports"].items():
        m, ci = report["metrics"], report["ci95"]
        recall = f"{m['scam']['recall']:.3f} [{ci['scam_recall']['low']:.3f}, "
        recall += f"{ci['scam_recall']['high']:.3f}]"
        assert recall in md and recall in html
        assert f"{m['macro_f1']:.3f} [{ci['macro_f1']['low']:.3f}" in md
        assert f"{m['topic_crypto']['f1']:.3f}" in md
        assert f'<div class="big">recall {m["scam"]["recall"]:.3f}</div>' in html
        t = report["thresholds"]
        assert f"| {name} | {t['scam']:.4f} | {t['topic_crypto']:.4f} | valid+calib |" in md
        cal = report["calibration"]["scam"]
        assert f"{cal['ece']:.3f} | {cal['brier']:.3f}" in md


def test_top_errors_are_the_most_confident_mistakes(run):
    report, rows = run["reports"]["fasttext"]
    fps = sorted(
        (r for r in rows if r["pred"] == "scam" and r["gold"] != "scam"), key=lambda r: -r["p_scam"]
    )
    fns = sorted(
        (r for r in rows if r["gold"] == "scam" and r["pred"] != "scam"), key=lambda r: r["p_scam"]
    )
    assert fps and fns
    md = run["md"]
    section = md.split("### fasttext: false positives")[1].split("### fasttext: false negatives")
    listed_fp = re.findall(r"^\| (r\d+) \|", section[0], re.M)
    listed_fn = re.findall(r"^\| (r\d+) \|", section[1].split("###")[0], re.M)
    assert listed_fp == [r["id"] for r in fps[:3]]  # report.top_errors = 3
    assert listed_fn == [r["id"] for r in fns[:3]]


def test_a_disabled_scam_class_is_a_warning(run):
    assert "student-int8: the scam class is disabled" in run["html"]
    assert "> **Warning:** student-int8: the scam class is disabled" in run["md"]
    assert "fasttext: the scam class is disabled" not in run["md"]
