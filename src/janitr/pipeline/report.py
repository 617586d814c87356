"""The run report: one self-contained HTML page (figures embedded as PNG) and a Markdown twin.

Everything comes from files the run already holds: the evaluate stage's `eval.json` and
per-row `predictions.jsonl` of each bundle, the bundles' manifests (thresholds, sizes) and
the stage manifests (timings, summaries). Nothing is re-scored, so rendering takes seconds
and `janitr report RUN` can redo it at any time.

Shown: metrics of every bundle side by side with 95% bootstrap intervals, scam PR curves,
recall-vs-FPR curves with each bundle's operating point and the FPR budget, reliability
diagrams, confusion matrices, subgroups, the top false positives and false negatives with
their scores, artifact sizes and stage timings. Matplotlib (Agg) is imported when rendering.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from janitr.artifacts import read_json, write_text
from janitr.data.labels import CLASSES, SCAM

BUNDLE_ORDER = ("fasttext", "teacher", "student-fp32", "student-int8")
COLORS = {
    "fasttext": "#e07a1f",
    "teacher": "#6b4fbb",
    "student-fp32": "#1f77b4",
    "student-int8": "#2a9d8f",
}
CI_KEYS = {
    "scam.precision": "scam_precision",
    "scam.recall": "scam_recall",
    "scam.f1": "scam_f1",
    "scam.fpr": "scam_fpr",
    "macro_f1": "macro_f1",
}
METRIC_ROWS: tuple[tuple[str, str], ...] = (
    ("scam.precision", "scam precision"), ("scam.recall", "scam recall"),
    ("scam.f1", "scam F1"), ("scam.fpr", "scam FPR"), ("scam_pr_auc", "scam PR-AUC"),
    ("topic_crypto.precision", "topic precision"), ("topic_crypto.recall", "topic recall"),
    ("topic_crypto.f1", "topic F1"), ("topic_crypto.fpr", "topic FPR"),
    ("clean.f1", "clean F1"), ("macro_f1", "macro F1"), ("exact_match", "exact match"),
)  # fmt: skip


# --- data -------------------------------------------------------------------------------------


def _load_evaluations(run_dir: Path) -> dict[str, dict]:
    from janitr.pipeline.rundir import EVAL_FILE, PREDICTIONS_FILE, evaluation_dir

    eval_dir = evaluation_dir(run_dir)
    out: dict[str, dict] = {}
    if eval_dir is None:
        return out
    names = sorted(
        (p.parent.name for p in eval_dir.glob(f"*/{EVAL_FILE}")),
        key=lambda n: (BUNDLE_ORDER.index(n) if n in BUNDLE_ORDER else 99, n),
    )
    for name in names:
        folder = eval_dir / name
        rows = []
        if (folder / PREDICTIONS_FILE).is_file():
            with open(folder / PREDICTIONS_FILE, encoding="utf-8") as handle:
                rows = [json.loads(line) for line in handle if line.strip()]
        out[name] = {"report": read_json(folder / EVAL_FILE), "rows": rows}
    return out


def _bundle_dirs(run_dir: Path) -> dict[str, Path]:
    found = {
        p.name: p for p in sorted((run_dir / "bundles").glob("*")) if (p / "bundle.json").is_file()
    }
    for stage in sorted((run_dir / "stages").glob("*-thresholds")):
        for p in sorted((stage / "bundles").glob("*")):
            if (p / "bundle.json").is_file():
                found.setdefault(p.name, p)
    return found


def _metric(report: dict, key: str) -> float | None:
    value: object = report.get("metrics", {})
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, (int, float)) else None


def _ci(report: dict, key: str) -> dict | None:
    name = CI_KEYS.get(key)
    return report.get("ci95", {}).get(name) if name else None


# --- figures ----------------------------------------------------------------------------------


#: The report's figure style, applied only while its figures are drawn (`rc_context`): other
#: figures drawn in the same process (e.g. a teacher's reliability diagram) must not change.
STYLE = {
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 110,
}


def _plt():
    from janitr.errors import require

    require("matplotlib", extra="train").use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _arrays(rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.array([r["gold"] == SCAM for r in rows], dtype=np.int64)
    p = np.array([r["p_scam"] for r in rows], dtype=np.float64)
    pred = np.array([r["pred"] == SCAM for r in rows], dtype=np.int64)
    return y, p, pred


def _fig_pr(evals: dict[str, dict]) -> str:
    from sklearn.metrics import precision_recall_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for name, ev in evals.items():
        y, p, pred = _arrays(ev["rows"])
        if y.sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(y, p)
        auc = _metric(ev["report"], "scam_pr_auc")
        ax.step(
            recall,
            precision,
            where="post",
            color=COLORS.get(name),
            label=f"{name} (AP {auc:.3f})" if auc is not None else name,
        )
        r = _metric(ev["report"], "scam.recall")
        pr = _metric(ev["report"], "scam.precision")
        if r is not None and pr is not None:
            ax.plot([r], [pr], "o", color=COLORS.get(name), markersize=6, markeredgecolor="white")
    ax.set(
        xlabel="scam recall",
        ylabel="scam precision",
        xlim=(0, 1.02),
        ylim=(0, 1.02),
        title="Scam precision-recall (dot: chosen threshold)",
    )
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)


def _fig_recall_fpr(evals: dict[str, dict], target_fpr: float | None) -> str:
    from sklearn.metrics import roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    x_max = 0.2
    for name, ev in evals.items():
        y, p, pred = _arrays(ev["rows"])
        if y.sum() == 0 or y.sum() == y.size:
            continue
        fpr, tpr, _ = roc_curve(y, p)
        ax.step(fpr, tpr, where="post", color=COLORS.get(name), label=name)
        f, r = _metric(ev["report"], "scam.fpr"), _metric(ev["report"], "scam.recall")
        if f is not None and r is not None:
            ax.plot([f], [r], "o", color=COLORS.get(name), markersize=7, markeredgecolor="white")
            x_max = max(x_max, f * 1.3)
    if target_fpr is not None:
        ax.axvline(
            target_fpr,
            color="#c0392b",
            linestyle="--",
            linewidth=1,
            label=f"FPR budget {target_fpr:.0%}",
        )
        x_max = max(x_max, target_fpr * 3)
    ax.set(
        xlabel="scam false-positive rate",
        ylabel="scam recall",
        xlim=(0, min(1, x_max)),
        ylim=(0, 1.02),
        title="Recall vs FPR (dot: operating point)",
    )
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _fig_reliability(evals: dict[str, dict]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":", linewidth=1, label="perfect")
    for name, ev in evals.items():
        y, p, _ = _arrays(ev["rows"])
        if not y.size:
            continue
        edges = np.linspace(0, 1, 11)
        idx = np.clip(np.digitize(p, edges[1:-1]), 0, 9)
        xs, ys, ns = [], [], []
        for b in range(10):
            mask = idx == b
            if mask.any():
                xs.append(p[mask].mean())
                ys.append(y[mask].mean())
                ns.append(mask.sum())
        ece = ev["report"].get("calibration", {}).get(SCAM, {}).get("ece")
        label = f"{name} (ECE {ece:.3f})" if isinstance(ece, (int, float)) else name
        ax.plot(xs, ys, "-o", color=COLORS.get(name), markersize=3, label=label)
    ax.set(
        xlabel="predicted p(scam)",
        ylabel="observed scam rate",
        xlim=(0, 1),
        ylim=(0, 1),
        title="Reliability (scam head, 10 bins)",
    )
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def _fig_confusion(evals: dict[str, dict]) -> str:
    plt = _plt()
    n = len(evals)
    fig, axes = plt.subplots(1, n, figsize=(2.9 * n, 2.9), squeeze=False)
    for ax, (name, ev) in zip(axes[0], evals.items(), strict=True):
        conf = ev["report"].get("confusion", {})
        cm = np.array(conf.get("rows_gold_cols_pred", np.zeros((3, 3))), dtype=np.float64)
        classes = conf.get("classes", list(CLASSES))
        share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        ax.grid(False)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(
                    j,
                    i,
                    f"{int(cm[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if share[i, j] > 0.55 else "#222",
                )
        short = [c.replace("topic_crypto", "topic") for c in classes]
        ax.set_xticks(range(len(short)), short)
        ax.set_yticks(range(len(short)), short)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _fig_timings(stages: Sequence[dict]) -> str:
    plt = _plt()
    names = [s["name"] for s in stages]
    secs = [s["seconds"] for s in stages]
    fig, ax = plt.subplots(figsize=(6.0, 0.28 * len(names) + 0.8))
    ax.barh(range(len(names)), secs, color="#2a9d8f")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title("Stage timings (last run of each stage)")
    return _png(fig)


# --- tables -----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _metric_table(evals: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    head = ["metric", *evals]
    body = []
    for key, label in METRIC_ROWS:
        row = [label]
        for ev in evals.values():
            value = _metric(ev["report"], key)
            ci = _ci(ev["report"], key)
            cell = _fmt(value)
            if ci and value is not None:
                cell += f" [{ci['low']:.3f}, {ci['high']:.3f}]"
            row.append(cell)
        body.append(row)
    return head, body


def _threshold_table(evals: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    head = ["bundle", "t(scam)", "t(topic)", "tuned on", "scam rule"]
    body = []
    for name, ev in evals.items():
        th = ev["report"].get("thresholds", {})
        body.append(
            [
                name,
                _fmt(th.get("scam"), 4),
                _fmt(th.get("topic_crypto"), 4),
                str(ev["report"].get("model", {}).get("tuning_data") or "calib"),
                str(ev["report"].get("model", {}).get("tuning_rule") or "empirical"),
            ]
        )
    return head, body


def _subgroup_table(evals: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    groups: list[str] = []
    for ev in evals.values():
        for g in ev["report"].get("subgroups", {}):
            if g not in groups:
                groups.append(g)
    head = ["subgroup", "rows", *(f"{n}: scam R / FPR / macro F1" for n in evals)]
    body = []
    for g in groups:
        rows_n = None
        row = [g]
        cells = []
        for ev in evals.values():
            sg = ev["report"].get("subgroups", {}).get(g)
            if not sg:
                cells.append("–")
                continue
            rows_n = sg.get("rows")
            m = sg.get("metrics", {})
            cells.append(
                f"{_fmt(m.get('scam', {}).get('recall'))} / "
                f"{_fmt(m.get('scam', {}).get('fpr'))} / {_fmt(m.get('macro_f1'))}"
            )
        body.append(row + [str(rows_n if rows_n is not None else "–")] + cells)
    return head, body


def _count_cell(entry: dict | None, hits: str, total: str, rate: str) -> str:
    """`rate hits/total [low, high]`, or – when the report has no such entry."""
    if not entry:
        return "–"
    ci = entry.get("ci95")
    interval = f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""
    return f"{_fmt(entry.get(rate))} ({entry.get(hits)}/{entry.get(total)}){interval}"


def _by_kind_tables(evals: dict[str, dict]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Scam recall per kind of scam row and scam FPR per negative class, one column per
    bundle, each cell `rate (hits/total) [exact 95% CI]`.

    Returns:
        `[(title, head, body)]`: a table only when some evaluation holds its numbers (older
        `eval.json` files have no `scam_recall_by_kind`; their cells show –).
    """
    tables = []
    for title, key, hits, total, rate in (
        ("Scam recall by kind", "scam_recall_by_kind", "tp", "positives", "recall"),
        ("Scam FPR by negative class", "scam_fpr_by_negative_class", "fp", "negatives", "fpr"),
    ):
        names: list[str] = []
        for ev in evals.values():
            names += [k for k in ev["report"].get(key) or {} if k not in names]
        if not names:
            continue
        body = [
            [name, *(_count_cell((ev["report"].get(key) or {}).get(name), hits, total, rate)
                     for ev in evals.values())]
            for name in names
        ]  # fmt: skip
        tables.append((title, ["kind", *evals], body))
    return tables


def _calibration_table(evals: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    head = ["bundle", "scam ECE", "scam Brier", "topic ECE", "topic Brier"]
    body = []
    for name, ev in evals.items():
        cal = ev["report"].get("calibration", {})
        body.append(
            [
                name,
                *(
                    _fmt(cal.get(h, {}).get(k))
                    for h in (SCAM, "topic_crypto")
                    for k in ("ece", "brier")
                ),
            ]
        )
    return head, body


def _errors(rows: Sequence[dict], *, top: int) -> tuple[list[dict], list[dict]]:
    """The `top` worst scam false positives and false negatives (error analysis's lists)."""
    from janitr.evaluation.error_analysis import worst_errors

    worst = worst_errors(rows, {}, top=top)
    return worst["scam_false_positives"], worst["scam_false_negatives"]


def _size_table(bundles: dict[str, Path]) -> tuple[list[str], list[list[str]]]:
    head = ["bundle", "kind", "model file", "model size", "bundle size", "files"]
    body = []
    for name in sorted(bundles, key=lambda n: BUNDLE_ORDER.index(n) if n in BUNDLE_ORDER else 99):
        manifest = read_json(bundles[name] / "bundle.json")
        files = manifest.get("files", {})
        weights = {
            k: v for k, v in files.items() if k.endswith((".onnx", ".ftz", ".bin", ".safetensors"))
        }
        main = max(weights, key=lambda k: weights[k]["size"]) if weights else "–"
        model_bytes = sum(v["size"] for v in weights.values())
        total = sum(v["size"] for v in files.values())
        body.append(
            [
                name,
                manifest.get("kind", "?"),
                main if len(weights) <= 1 else f"{len(weights)} weight files",
                _bytes(model_bytes),
                _bytes(total),
                str(len(files)),
            ]
        )
    return head, body


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _stage_rows(run_dir: Path) -> list[dict]:
    from janitr.pipeline.rundir import stage_manifests

    return [
        {
            "index": m["index"],
            "name": m["stage"],
            "seconds": float(m["seconds"]),
            "finished_at": m.get("finished_at", ""),
            "summary": m.get("summary", {}),
        }
        for m in stage_manifests(run_dir)
    ]


# --- rendering --------------------------------------------------------------------------------

CSS = """
:root { --fg:#1d2430; --muted:#5b6575; --line:#e3e7ee; --accent:#2a9d8f; --bg:#f7f9fb;
        --warn:#fff4e5; --warnline:#f0a43a; }
* { box-sizing: border-box; }
body { font: 14px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--fg); background: var(--bg); margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 60px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 20px; padding-bottom: 12px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: var(--muted); font-size: 13px; }
.meta code { background: #eef1f5; padding: 1px 5px; border-radius: 4px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { background: white; border: 1px solid var(--line); border-radius: 8px;
        padding: 10px 14px; min-width: 200px; flex: 1; }
.card .name { font-weight: 600; }
.card .big { font-size: 20px; font-weight: 600; color: var(--accent); }
.card .small { color: var(--muted); font-size: 12px; }
.warn { background: var(--warn); border-left: 4px solid var(--warnline); padding: 8px 12px;
        border-radius: 4px; margin: 10px 0; }
table { border-collapse: collapse; background: white; border: 1px solid var(--line);
        border-radius: 6px; overflow: hidden; margin: 6px 0 12px; font-size: 13px; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right;
         vertical-align: top; }
th { background: #eef3f6; font-weight: 600; }
td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
td.label, th.label, th.text { text-align: left; }
td.text { text-align: left; max-width: 720px; white-space: normal; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(500px, 1fr)); gap: 14px; }
figure { background: white; border: 1px solid var(--line); border-radius: 8px; margin: 0;
         padding: 10px; text-align: center; }
figure img { max-width: 100%; height: auto; }
details { background: white; border: 1px solid var(--line); border-radius: 6px;
          padding: 6px 12px; margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; }
"""


_NUMERIC = re.compile(r"^[\s\d.,:/\[\]+\-–%KMGB]*$")


def _html_table(
    head: Sequence[str], body: Sequence[Sequence[str]], text_cols: Sequence[int] = ()
) -> str:
    # A column is right-aligned when every cell in it is a number (or an interval).
    numeric = [
        i > 0 and i not in text_cols and all(_NUMERIC.match(r[i]) for r in body)
        for i in range(len(head))
    ]

    def cls(i: int) -> str:
        if i in text_cols:
            return ' class="text"'
        return "" if numeric[i] else ' class="label"'

    out = [
        "<table><thead><tr>",
        *(f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(head)),
        "</tr></thead><tbody>",
    ]
    for row in body:
        out.append(
            "<tr>"
            + "".join(f"<td{cls(i)}>{html.escape(c)}</td>" for i, c in enumerate(row))
            + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _md_table(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    def esc(c: str) -> str:
        return c.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(esc(h) for h in head) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|",
    ]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def _error_rows(rows: Sequence[dict]) -> list[list[str]]:
    return [
        [
            r["id"],
            r["gold"],
            r["pred"],
            f"{r['p_scam']:.3f}",
            f"{r['p_topic']:.3f}",
            " ".join(str(r.get("text", "")).split())[:280],
        ]
        for r in rows
    ]


def _carved(stage: dict) -> bool:
    return stage["name"] == "validate" and bool(stage.get("summary", {}).get("holdout"))


def _carve_note(carved: dict) -> str:
    """One sentence on a holdout the run carved out of train (validate stage summary)."""
    rows = carved.get("rows", {})
    return (
        f"The holdout was carved from {carved.get('source', 'train.jsonl')}: "
        f"{rows.get('holdout', '?')} of {rows.get('train_before', '?')} rows "
        f"(fraction {carved.get('fraction', '?')}, seed {carved.get('seed', '?')}), "
        "near-duplicate groups kept whole; "
        f"{carved.get('pinned_to_train', 0)} rows stayed in train as duplicates of valid/calib, "
        f"{carved.get('dropped', 0)} were dropped by the leakage check."
    )


def render_report(run_dir: str | Path, *, out_dir: str | Path | None = None) -> list[Path]:
    """Render `report.html` (self-contained) and `report.md` for a run.

    Args:
        run_dir: the run directory.
        out_dir: where to write (default: the run directory itself).

    Returns:
        The written paths.

    Raises:
        RunError: if the run has no evaluation yet.
        MissingDependencyError: if matplotlib is not installed.
    """
    from janitr.errors import require

    require("matplotlib", extra="train")
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir
    run = _report_inputs(run_dir)
    with _plt().rc_context(STYLE):
        figures = {
            "pr": _fig_pr(run.evals),
            "roc": _fig_recall_fpr(run.evals, run.target_fpr),
            "rel": _fig_reliability(run.evals),
            "cm": _fig_confusion(run.evals),
            "time": _fig_timings(run.stages) if run.stages else None,
        }
    tables = _report_tables(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    write_text(html_path, "".join(_html_report(run, tables, figures)))
    write_text(md_path, "\n".join(_markdown_report(run, tables)))
    return [html_path, md_path]


@dataclass
class _ReportInputs:
    """What a report shows of a run, read once."""

    run_dir: Path
    name: str
    identity: dict  # run.json
    git: dict  # commit, dirty
    evals: dict[str, dict]  # bundle -> {"report": eval.json, "rows": predictions}
    data: dict  # the evaluation data (path, rows, sha256)
    target_fpr: float | None
    top: int  # errors listed per bundle
    stages: list[dict]
    bundles: dict[str, Path]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _report_inputs(run_dir: Path) -> _ReportInputs:
    """Read the run's evaluations, identity, config and stages; collect notes and warnings.

    Raises:
        RunError: if the run has no evaluation yet.
    """
    from janitr.errors import RunError
    from janitr.pipeline.rundir import git_commit

    evals = _load_evaluations(run_dir)
    if not evals:
        raise RunError(
            f"{run_dir}: nothing to report yet (no evaluate stage); run `janitr run` to finish it"
        )
    identity = read_json(run_dir / "run.json") if (run_dir / "run.json").is_file() else {}
    config = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    stages = _stage_rows(run_dir)
    run = _ReportInputs(
        run_dir=run_dir, name=identity.get("name", run_dir.name), identity=identity,
        git=git_commit() or {}, evals=evals,
        data=next(iter(evals.values()))["report"].get("data", {}),
        target_fpr=config.get("thresholds", {}).get("scam_target_fpr"),
        top=int(config.get("report", {}).get("top_errors", 10)), stages=stages,
        bundles=_bundle_dirs(run_dir),
        notes=[_carve_note(s["summary"]["holdout"]) for s in stages if _carved(s)],
    )  # fmt: skip
    for s in stages:
        if s["name"] == "refit":
            from janitr.pipeline.refit import refit_note

            run.notes += [refit_note(name, summary) for name, summary in s["summary"].items()]
    if any(ev["report"].get("overlap", {}).get("rows") for ev in evals.values()):
        n = max(ev["report"]["overlap"]["rows"] for ev in evals.values())
        run.warnings.append(
            f"Up to {n} of {run.data.get('rows')} evaluation rows were seen by a model "
            "in training or tuning (evaluate.allow_overlap = true): these numbers "
            "overestimate real performance."
        )
    for s in stages:
        if s["name"] == "leakage" and s["summary"].get("ok") is False:
            run.warnings.append(f"The splits overlap: {s['summary'].get('overlaps')}.")
    for bname, ev in evals.items():
        th = ev["report"].get("thresholds", {})
        if th.get("scam", 0) > 1:
            run.warnings.append(
                f"{bname}: the scam class is disabled (no threshold meets the FPR budget on "
                f"{ev['report'].get('model', {}).get('tuning_data') or 'calib'})."
            )
    return run


def _report_tables(run: _ReportInputs) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Every table of the report as (head, body), by name."""
    stages = run.stages
    stage_body = [
        [f"{s['index']:02d}", s["name"], f"{s['seconds']:.1f}", s["finished_at"]] for s in stages
    ]
    stage_body.append(["", "total", f"{sum(s['seconds'] for s in stages):.1f}", ""])
    return {
        "metrics": _metric_table(run.evals),
        "thresholds": _threshold_table(run.evals),
        "subgroups": _subgroup_table(run.evals),
        "sizes": _size_table(run.bundles) if run.bundles else ([], []),
        "calibration": _calibration_table(run.evals),
        "stages": (["#", "stage", "seconds", "finished"], stage_body),
    }


#: Columns of the error tables.
_ERROR_HEAD = ["id", "gold", "pred", "p(scam)", "p(topic)", "text"]


def _html_report(run: _ReportInputs, tables: dict, figures: dict) -> list[str]:
    """The HTML page, in pieces: header, cards, metrics, curves, errors, artifacts, stages."""
    name, data, git, identity = run.name, run.data, run.git, run.identity
    h = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>janitr run {html.escape(name)}</title><style>{CSS}</style></head><body><main>"
    ]
    h.append(
        f'<header><h1>Run {html.escape(name)}</h1><div class="meta">'
        f"created {html.escape(str(identity.get('created_at', '?')))} · commit "
        f"<code>{html.escape(str(git.get('commit', 'n/a'))[:12])}"
        f"{' (dirty)' if git.get('dirty') else ''}</code> · evaluated on "
        f"<code>{html.escape(str(data.get('path', '?')))}</code> "
        f"({data.get('rows', '?')} rows, sha256 "
        f"<code>{html.escape(str(data.get('sha256', ''))[:12])}</code>) · scam FPR budget "
        f"{_fmt(run.target_fpr, 3)}</div></header>"
    )
    for note in run.notes:
        h.append(f'<p class="meta">{html.escape(note)}</p>')
    for w in run.warnings:
        h.append(f'<div class="warn">⚠ {html.escape(w)}</div>')
    h += _html_cards(run.evals)
    h.append(
        '<h2>Metrics</h2><p class="meta">One-vs-rest per class; brackets: 95% '
        "percentile-bootstrap interval. With a few hundred rows, differences inside the "
        "intervals are noise.</p>"
    )
    h.append(_html_table(*tables["metrics"]))
    for title, k_head, k_body in _by_kind_tables(run.evals):
        h.append(
            f'<h3>{title}</h3><p class="meta">rate (hits/rows) [exact 95% Clopper-Pearson '
            "interval]; scam kinds by taxonomy group (fraud first, then spam/promo).</p>"
            + _html_table(k_head, k_body)
        )
    h.append("<h3>Thresholds</h3>" + _html_table(*tables["thresholds"]))
    h += _html_curves(figures, tables["calibration"])
    if tables["subgroups"][1]:
        h.append("<h2>Subgroups</h2>" + _html_table(*tables["subgroups"]))
    h += _html_errors(run)
    if tables["sizes"][1]:
        h.append("<h2>Artifacts</h2>" + _html_table(*tables["sizes"]))
    h.append("<h2>Stages</h2>" + _html_table(*tables["stages"]))
    if figures["time"]:
        h.append(
            f'<figure><img alt="stage timings" src="data:image/png;base64,'
            f'{figures["time"]}"></figure>'
        )
    h.append(
        f"<footer>janitr report · {html.escape(str(run.run_dir))}</footer></main></body></html>"
    )
    return h


def _html_cards(evals: dict[str, dict]) -> list[str]:
    """One card per bundle: scam recall, FPR, precision, macro F1."""
    h = ['<div class="cards">']
    for bname, ev in evals.items():
        r = ev["report"]
        ci = _ci(r, "scam.recall")
        h.append(
            f'<div class="card"><div class="name">{html.escape(bname)}</div>'
            f'<div class="big">recall {_fmt(_metric(r, "scam.recall"))}</div>'
            f'<div class="small">scam FPR {_fmt(_metric(r, "scam.fpr"))} · precision '
            f"{_fmt(_metric(r, 'scam.precision'))} · macro F1 "
            f"{_fmt(_metric(r, 'macro_f1'))}"
            + (f"<br>recall 95% CI [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else "")
            + "</div></div>"
        )
    h.append("</div>")
    return h


def _html_curves(figures: dict, calibration: tuple) -> list[str]:
    """PR, recall-vs-FPR and reliability figures, the calibration table, confusion matrices."""
    return [
        '<h2>Curves</h2><div class="grid">',
        f'<figure><img alt="PR curves" src="data:image/png;base64,{figures["pr"]}"></figure>',
        f'<figure><img alt="recall vs FPR" src="data:image/png;base64,{figures["roc"]}"></figure>',
        f'<figure><img alt="reliability" src="data:image/png;base64,{figures["rel"]}"></figure>',
        '<div><h3>Calibration per head</h3><p class="meta">Expected calibration error '
        "(10 bins) and Brier score on the evaluation rows; lower is better.</p>"
        + _html_table(*calibration)
        + "</div></div>",
        '<h2>Confusion matrices</h2><figure><img alt="confusion matrices" '
        f'src="data:image/png;base64,{figures["cm"]}"></figure>',
    ]


def _html_errors(run: _ReportInputs) -> list[str]:
    """Each bundle's worst scam false positives and false negatives (folded sections)."""
    h = [
        f'<h2>Top scam errors</h2><p class="meta">Up to {run.top} per bundle: false positives '
        "by highest p(scam), false negatives by lowest.</p>"
    ]
    for bname, ev in run.evals.items():
        fps, fns = _errors(ev["rows"], top=run.top)
        h.append(
            f"<details{' open' if bname == 'student-int8' else ''}><summary>"
            f"{html.escape(bname)}: {len(fps)} false positives, {len(fns)} false negatives "
            "shown</summary>"
        )
        h.append(
            "<h3>False positives</h3>"
            + (_html_table(_ERROR_HEAD, _error_rows(fps), (5,)) if fps else "<p>none</p>")
        )
        h.append(
            "<h3>False negatives</h3>"
            + (_html_table(_ERROR_HEAD, _error_rows(fns), (5,)) if fns else "<p>none</p>")
        )
        h.append("</details>")
    return h


def _markdown_report(run: _ReportInputs, tables: dict) -> list[str]:
    """The Markdown report, line by line (figures only in the HTML)."""
    data, git = run.data, run.git
    m = [
        f"# Run {run.name}",
        "",
        f"- created: {run.identity.get('created_at', '?')}",
        f"- commit: {git.get('commit', 'n/a')}{' (dirty)' if git.get('dirty') else ''}",
        f"- evaluated on: {data.get('path', '?')} ({data.get('rows', '?')} rows, sha256 "
        f"{str(data.get('sha256', ''))[:16]})",
        f"- scam FPR budget: {_fmt(run.target_fpr, 3)}",
        "",
    ]
    m += [f"> **Note:** {note}" for note in run.notes]
    m += [f"> **Warning:** {w}" for w in run.warnings]
    m += ["", "## Metrics", "", "95% bootstrap intervals in brackets.", "",
          _md_table(*tables["metrics"]), "",
          *(line for title, k_head, k_body in _by_kind_tables(run.evals)
            for line in (f"### {title}", "", _md_table(k_head, k_body), "")),
          "### Thresholds", "",
          _md_table(*tables["thresholds"]), "", "### Calibration", "",
          _md_table(*tables["calibration"]), ""]  # fmt: skip
    if tables["subgroups"][1]:
        m += ["## Subgroups", "", _md_table(*tables["subgroups"]), ""]
    m += ["## Top scam errors", ""]
    for bname, ev in run.evals.items():
        fps, fns = _errors(ev["rows"], top=run.top)
        m += [
            f"### {bname}: false positives",
            "",
            _md_table(_ERROR_HEAD, _error_rows(fps)) if fps else "none",
            "",
            f"### {bname}: false negatives",
            "",
            _md_table(_ERROR_HEAD, _error_rows(fns)) if fns else "none",
            "",
        ]
    if tables["sizes"][1]:
        m += ["## Artifacts", "", _md_table(*tables["sizes"]), ""]
    m += ["## Stages", "", _md_table(*tables["stages"]), "",
          "Figures (PR, recall-vs-FPR, reliability, confusion matrices) are in report.html.",
          ""]  # fmt: skip
    return m
