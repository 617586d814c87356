"""The run registry: list, show and compare finished runs.

Every `janitr run` directory gets a name (`YYYY-MM-DD-<adjective>-<noun>`) and, when it
finishes, a `RUN_INFO.json` (`janitr.pipeline.rundir.write_run_info`): format version, name,
git commit of the code, resolved config, data hashes, stage timings, final metrics per
bundle, and every shipped file with its size and SHA-256. This module reads them.

`compare_runs` puts two runs' evaluations of one bundle side by side, but only if both were
evaluated on the very same rows (same data SHA-256 and the same row ids): comparing numbers
measured on different data is how the original project fooled itself. On the same rows it
gives the metric deltas with paired-bootstrap 95% intervals and an exact McNemar test on
per-row scam correctness, because with a few hundred rows a difference of two or three
examples is noise.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from janitr.artifacts import read_json
from janitr.errors import RunError
from janitr.pipeline.rundir import (
    EVAL_FILE,
    PREDICTIONS_FILE,
    RUN_FILE,
    RUN_INFO,
    RUN_INFO_FORMAT,
    RUN_INFO_VERSION,
    evaluation_dir,
)

#: Metrics shown by `runs list/show/compare`, in order.
KEY_METRICS: tuple[str, ...] = (
    "scam_precision", "scam_recall", "scam_f1", "scam_fpr", "macro_f1", "exact_match",
)  # fmt: skip


def load_run_info(run: str | Path) -> dict:
    """Read a run's `RUN_INFO.json`.

    Raises:
        RunError: if the directory is not a finished run or the file has another format.
    """
    run = Path(run)
    path = run / RUN_INFO
    if not path.is_file():
        hint = (
            "it has started but not finished; rerun `janitr run` to resume it"
            if (run / RUN_FILE).is_file()
            else "pass a directory made by `janitr run`"
        )
        raise RunError(f"{run}: no {RUN_INFO} ({hint})")
    info = read_json(path)
    if info.get("format") != RUN_INFO_FORMAT or info.get("format_version") != RUN_INFO_VERSION:
        raise RunError(
            f"{path}: expected {RUN_INFO_FORMAT} v{RUN_INFO_VERSION}, found "
            f"{info.get('format')!r} v{info.get('format_version')!r}"
        )
    return info


# --- list / show ------------------------------------------------------------------------------


def _flat(metrics: dict) -> dict[str, float]:
    """`{"scam_recall": ..., "macro_f1": ...}` from a nested metrics dict."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, (int, float)):
                    out[f"{key}_{sub}"] = float(v)
        elif isinstance(value, (int, float)):
            out[key] = float(value)
    return out


def list_runs(root: str | Path = "runs") -> list[dict]:
    """Every run directory under `root` (finished or not), newest first.

    Returns:
        `[{"name", "path", "status", "created_at", "metrics": {bundle: flat metrics}}]`.
    """
    root = Path(root)
    rows = []
    if not root.is_dir():
        return rows
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if (run_dir / RUN_INFO).is_file():
            try:
                info = load_run_info(run_dir)
            except (RunError, ValueError):
                continue
            rows.append(
                {
                    "name": info["name"],
                    "path": str(run_dir),
                    "status": "complete",
                    "created_at": info.get("created_at") or "",
                    "metrics": {b: _flat(m["metrics"]) for b, m in info["metrics"].items()},
                }
            )
        elif (run_dir / RUN_FILE).is_file():
            identity = read_json(run_dir / RUN_FILE)
            rows.append(
                {
                    "name": identity.get("name", run_dir.name),
                    "path": str(run_dir),
                    "status": "incomplete",
                    "created_at": identity.get("created_at", ""),
                    "metrics": {},
                }
            )
    rows.sort(key=lambda r: (r["created_at"], r["name"]), reverse=True)
    return rows


def format_runs(rows: Sequence[dict], *, bundle: str = "student-int8") -> str:
    """A text table of `list_runs` output."""
    if not rows:
        return "no runs found"
    head = f"{'name':<32} {'status':<10} {'scam R':>7} {'scam FPR':>8} {'macro F1':>8}  path"
    lines = [head, "-" * len(head)]
    for r in rows:
        m = r["metrics"].get(bundle, {})

        def cell(key: str, width: int, m=m) -> str:
            return f"{m[key]:>{width}.3f}" if key in m else f"{'-':>{width}}"

        lines.append(
            f"{r['name']:<32} {r['status']:<10} {cell('scam_recall', 7)} "
            f"{cell('scam_fpr', 8)} {cell('macro_f1', 8)}  {r['path']}"
        )
    lines.append(f"(metrics of bundle {bundle})")
    return "\n".join(lines)


def show_run(run: str | Path) -> dict:
    """The `RUN_INFO.json` of a run (see `format_run` for text)."""
    return load_run_info(run)


def format_run(info: dict) -> str:
    """A readable summary of a run: identity, data, stage timings, metrics per bundle."""
    git = info.get("git") or {}
    lines = [
        f"run {info['name']}",
        f"  created   {info.get('created_at')}",
        f"  commit    {git.get('commit', 'n/a')}{' (dirty)' if git.get('dirty') else ''}",
        f"  data      {info.get('data_dir')}",
    ]
    for split, entry in sorted(info.get("data", {}).items()):
        lines.append(f"    {split:<10} {entry['size']:>10} B  sha256 {entry['sha256'][:16]}")
    lines.append("  stages")
    for s in info.get("stages", []):
        lines.append(f"    {s['index']:02d} {s['name']:<12} {s['seconds']:>9.1f}s")
    lines.append(f"  metrics (evaluated on {_eval_split(info)})")
    lines.append(f"    {'bundle':<14}" + "".join(f"{m:>16}" for m in KEY_METRICS))
    for bundle, entry in info.get("metrics", {}).items():
        flat = _flat(entry["metrics"])
        lines.append(
            f"    {bundle:<14}"
            + "".join(f"{flat[m]:>16.3f}" if m in flat else f"{'-':>16}" for m in KEY_METRICS)
        )
    if info.get("refit"):
        from janitr.pipeline.refit import refit_note

        lines.append("  refit (shipped; measured figures above)")
        lines += [f"    {refit_note(name, s)}" for name, s in info["refit"].items()]
    lines.append(
        f"  files     {info.get('file_count', 0)} files, {info.get('total_bytes', 0) / 1e6:.1f} MB"
    )
    return "\n".join(lines)


def _eval_split(info: dict) -> str:
    for entry in info.get("metrics", {}).values():
        data = entry.get("data", {})
        if data:
            return f"{data.get('split', '?')}, {data.get('rows', '?')} rows"
    return "n/a"


# --- compare ----------------------------------------------------------------------------------


def load_predictions(run: str | Path, bundle: str) -> tuple[dict, list[dict]]:
    """The evaluation report and per-row predictions of one bundle of a run.

    Raises:
        RunError: if the run has no evaluation of that bundle.
    """
    eval_dir = evaluation_dir(run)
    if eval_dir is None:
        raise RunError(f"{run}: the run has no evaluate stage yet; finish it with `janitr run`")
    folder = eval_dir / bundle
    if not (folder / EVAL_FILE).is_file() or not (folder / PREDICTIONS_FILE).is_file():
        known = sorted(p.name for p in eval_dir.iterdir() if (p / EVAL_FILE).is_file())
        raise RunError(
            f"{run}: no evaluation of bundle {bundle!r} (evaluated: "
            f"{', '.join(known) or 'none'}); pass --bundle NAME"
        )
    report = read_json(folder / EVAL_FILE)
    with open(folder / PREDICTIONS_FILE, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return report, rows


#: What `compare_runs` reports as its `bundle` when it compares crossval results.
CROSSVAL_ROWS = "crossval out-of-fold decisions"


def _comparable(path: str | Path, bundle: str) -> tuple[dict, list[dict]]:
    """`(report, rows)` for `compare_runs`: a run's evaluation of `bundle`, or the
    out-of-fold decisions of a crossval JSON file (its `data.sha256` is the hash of its row
    ids and gold labels, so two cross-validations of the same rows compare)."""
    from janitr.pipeline.crossval import CROSSVAL_FORMAT

    path = Path(path)
    if not path.is_file():
        return load_predictions(path, bundle)
    try:
        result = read_json(path)
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: not a run directory, and not readable JSON ({exc})") from exc
    if not isinstance(result, dict) or result.get("format") != CROSSVAL_FORMAT:
        raise RunError(
            f"{path}: not a run directory or a `janitr crossval --json` file "
            f"(format {result.get('format') if isinstance(result, dict) else None!r})"
        )
    pred = result["predictions"]
    rows = [
        {"id": i, "gold": g, "pred": p}
        for i, g, p in zip(pred["ids"], pred["gold"], pred["pred"], strict=True)
    ]
    key = json.dumps(sorted((r["id"], r["gold"]) for r in rows)).encode()
    return {"data": {"sha256": hashlib.sha256(key).hexdigest()}}, rows


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for discordant counts b and c (binomial, p = 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def compare_runs(
    a: str | Path,
    b: str | Path,
    *,
    bundle: str = "student-int8",
    n_boot: int = 2000,
    seed: int = 0,
) -> dict:
    """Compare one bundle of two runs on the same evaluation rows.

    Either side may also be a `janitr crossval --json` file: its out-of-fold decisions are
    compared row by row (both must cover the same labeled rows), which is how two levers
    measured by cross-validation are told apart from noise.

    Args:
        a: the reference run directory (or crossval JSON).
        b: the candidate run directory (or crossval JSON; deltas are b - a).
        bundle: which bundle of each run to compare (ignored for crossval JSON).
        n_boot: paired bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        `{"a", "b", "bundle", "rows", "data_sha256", "metrics": {name: {"a", "b", "delta",
        "ci95": {"low", "high"}, "p_boot"}}, "mcnemar": {"a_only_correct", "b_only_correct",
        "p_value"}, "verdict"}`.

    Raises:
        RunError: if either run lacks the bundle's evaluation, or the two evaluations were
            made on different data (different SHA-256 or different row ids).
    """
    from janitr.data.labels import CLASSES

    report_a, rows_a, rows_b = _aligned_rows(a, b, bundle)
    gold = np.array([CLASSES.index(r["gold"]) for r in rows_a])
    pred_a = np.array([CLASSES.index(r["pred"]) for r in rows_a])
    pred_b = np.array([CLASSES.index(r["pred"]) for r in rows_b])
    only_a, only_b, p_value, verdict = _scam_mcnemar(gold, pred_a, pred_b)
    return {
        "a": str(a),
        "b": str(b),
        "bundle": CROSSVAL_ROWS if Path(a).is_file() else bundle,
        "rows": int(gold.size),
        "data_sha256": report_a.get("data", {}).get("sha256"),
        "metrics": _paired_deltas(gold, pred_a, pred_b, n_boot=n_boot, seed=seed),
        "n_boot": n_boot,
        "mcnemar": {"a_only_correct": only_a, "b_only_correct": only_b, "p_value": p_value},
        "verdict": verdict,
    }


def _aligned_rows(a, b, bundle: str) -> tuple[dict, list[dict], list[dict]]:
    """Run a's report and both runs' prediction rows in a's row order.

    Raises:
        RunError: if the evaluations were made on different data or rows, or disagree on
            gold labels.
    """
    report_a, rows_a = _comparable(a, bundle)
    report_b, rows_b = _comparable(b, bundle)
    sha_a = report_a.get("data", {}).get("sha256")
    sha_b = report_b.get("data", {}).get("sha256")
    if sha_a != sha_b:
        raise RunError(
            f"refusing to compare: {a} was evaluated on data sha256 {str(sha_a)[:16]}... and "
            f"{b} on {str(sha_b)[:16]}...; metrics on different rows are not comparable "
            "(evaluate both bundles on the same file with `janitr evaluate`)"
        )
    ids_a = [r["id"] for r in rows_a]
    ids_b = [r["id"] for r in rows_b]
    if sorted(ids_a) != sorted(ids_b) or len(set(ids_a)) != len(ids_a):
        raise RunError(
            f"refusing to compare: {a} and {b} have predictions for different row "
            "ids although their data hashes agree; the evaluations are damaged, "
            "rerun the evaluate stage"
        )
    by_id = {r["id"]: r for r in rows_b}
    rows_b = [by_id[i] for i in ids_a]
    if any(ra["gold"] != rb["gold"] for ra, rb in zip(rows_a, rows_b, strict=True)):
        raise RunError("refusing to compare: the two evaluations disagree on gold labels")
    return report_a, rows_a, rows_b


def _paired_deltas(gold, pred_a, pred_b, *, n_boot: int, seed: int) -> dict:
    """Each key metric of a and b, b - a, its paired-bootstrap 95% interval and p-value."""
    from janitr.evaluation.metrics import (
        bootstrap_metric_samples,
        bootstrap_weights,
        percentile_interval,
    )

    n = gold.size
    weights = bootstrap_weights(n, n_boot=n_boot, seed=seed)  # (B, N), shared: paired
    ones = np.ones((1, n))
    point_a = bootstrap_metric_samples(gold, pred_a, weights=ones)
    point_b = bootstrap_metric_samples(gold, pred_b, weights=ones)
    boot_a = bootstrap_metric_samples(gold, pred_a, weights=weights)
    boot_b = bootstrap_metric_samples(gold, pred_b, weights=weights)
    metrics = {}
    for name in KEY_METRICS:
        delta = boot_b[name] - boot_a[name]
        p_boot = min(1.0, 2.0 * min(float(np.mean(delta <= 0)), float(np.mean(delta >= 0))))
        metrics[name] = {
            "a": float(point_a[name][0]),
            "b": float(point_b[name][0]),
            "delta": float(point_b[name][0] - point_a[name][0]),
            "ci95": percentile_interval(delta),
            "p_boot": p_boot,
        }
    return metrics


def _scam_mcnemar(gold, pred_a, pred_b) -> tuple[int, int, float, str]:
    """McNemar's exact test on the scam decisions: rows only a / only b gets right, the
    p-value and a one-line verdict."""
    from janitr.data.labels import CLASSES, SCAM

    scam = CLASSES.index(SCAM)
    right_a = (pred_a == scam) == (gold == scam)
    right_b = (pred_b == scam) == (gold == scam)
    only_a = int(np.sum(right_a & ~right_b))
    only_b = int(np.sum(right_b & ~right_a))
    p_value = mcnemar_exact(only_a, only_b)
    if p_value < 0.05:
        better = "b" if only_b > only_a else "a"
        verdict = (
            f"scam decisions differ significantly (McNemar p={p_value:.3g}); "
            f"run {better} is right more often"
        )
    else:
        verdict = (
            f"no significant difference in scam decisions (McNemar p={p_value:.3g}: "
            f"{only_a} rows only a gets right, {only_b} only b); treat the deltas as noise"
        )
    return only_a, only_b, p_value, verdict


def format_comparison(result: dict) -> str:
    """A text table of `compare_runs` output."""
    lines = [
        f"{'' if result['bundle'] == CROSSVAL_ROWS else 'bundle '}{result['bundle']} on "
        f"{result['rows']} identical rows "
        f"(data sha256 {str(result['data_sha256'])[:16]}...)",
        f"  a = {result['a']}",
        f"  b = {result['b']}",
        "",
        f"{'metric':<16}{'a':>9}{'b':>9}{'b - a':>9}   {'95% CI (paired bootstrap)':<28}",
    ]
    for name, m in result["metrics"].items():
        ci = m["ci95"]
        lines.append(
            f"{name:<16}{m['a']:>9.3f}{m['b']:>9.3f}{m['delta']:>+9.3f}   "
            f"[{ci['low']:+.3f}, {ci['high']:+.3f}]"
        )
    lines += ["", result["verdict"]]
    return "\n".join(lines)
