"""`janitr sweep`: run a grid of config variants of a base run, reusing unchanged stages.

Each variant is a full run directory (`<out_root>/<base name>--<key>-<value>...`) made by
`run_pipeline` with the base run's config plus the variant's overrides, on the base run's
data. Before running, every stage whose inputs and config hash to the same key as in the base
run is hard-linked from the base run (`reuse_from`), so a distillation sweep trains the
teacher once: only the stages downstream of a changed key run again.

Selection never looks at the holdout. A variant is chosen on the *selection rows*: the data's
`valid.jsonl`, scored by each variant's bundle at its own thresholds. Valid is the validation
split: the models pick their epochs on it (and, with `tune_on = "valid+calib"`, their
thresholds), so its figures are optimistic for every variant alike, but the holdout the run
reports on stays untouched by the choice. Ranking is the product rule on the selection rows:
scam recall among variants whose scam FPR is within the budget (`thresholds.scam_target_fpr`),
ties broken by scam F1, over-budget variants last. Each row carries 95% bootstrap CIs and the
paired difference of its scam recall against the chosen variant (same rows, same resamples).
The holdout figure is reported once, for the chosen variant only: ranking many variants by
their holdout recall and quoting the best one is selection on the test set (one sweep picked
0.848 vs 0.667 on 33 scams). With fewer than `MIN_SELECTION_POSITIVES` scam rows to select on,
the output and the JSON carry a warning. The table is printed and saved as `SWEEP.md` and
`SWEEP.json` in `out_root`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from janitr.artifacts import read_json, write_json, write_text
from janitr.data.labels import CLASSES, SCAM
from janitr.errors import ConfigError, RunError
from janitr.evaluation.metrics import bootstrap_ci, paired_bootstrap_difference, per_class_metrics

#: The split every variant is selected on (never the holdout the run reports on).
SELECTION_SPLIT = "valid"
#: Fewer scam rows than this on the selection split and the sweep warns: recall differences
#: of a few points are then within noise (33 scams give a 95% CI about +-0.15 wide).
MIN_SELECTION_POSITIVES = 100


@dataclass(frozen=True)
class SweepResult:
    """Ranked variants of a sweep (best first, ranked on the selection rows), the chosen
    variant's holdout figure, and where the summary was written."""

    rows: list[dict]
    out_root: Path
    bundle: str
    target_fpr: float
    selection: dict = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """Parse `["distill.temperature=2,3,4", ...]` into `{"distill.temperature": ["2", "3", "4"]}`.

    Raises:
        ConfigError: on an item without `=` or without values.
    """
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        parts = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or "." not in key or not parts:
            raise ConfigError(
                f"--grid {item!r}: expected section.key=v1,v2,... "
                "(e.g. --grid distill.temperature=2,3,4)"
            )
        grid[key.strip()] = parts
    return grid


def _variant_name(base: str, overrides: Mapping[str, Any]) -> str:
    parts = []
    for key, value in overrides.items():
        short = key.split(".")[-1]
        parts.append(f"{short}-{value}")
    slug = re.sub(r"[^a-z0-9.-]+", "-", "--".join(parts).lower()).strip("-")
    return f"{base}--{slug}"


def _rank_key(row: dict, target: float):
    s = row["selection"]
    within = s["scam_fpr"] is not None and s["scam_fpr"] <= target
    return (0 if within else 1, -(s["scam_recall"] or 0.0), -(s["scam_f1"] or 0.0))


def selection_predictions(run_dir: Path, bundle: str, data_dir: Path) -> dict:
    """Gold and predicted classes of a variant's bundle on the selection split.

    Valid is scored even though the models saw it (epoch selection, threshold tuning): it is
    the validation split, the same for every variant; the holdout is what must stay unseen.

    Returns:
        `{"ids", "gold", "pred"}` lists, one entry per row of `valid.jsonl`.

    Raises:
        RunError: if the variant has no such bundle or the data has no valid split.
    """
    from janitr.evaluation.evaluate import evaluate_bundle

    model = Path(run_dir) / "bundles" / bundle
    data = Path(data_dir) / f"{SELECTION_SPLIT}.jsonl"
    if not (model / "bundle.json").is_file():
        raise RunError(f"{run_dir}: no bundle {bundle!r} to select on (pass --bundle NAME)")
    if not data.is_file():
        raise RunError(f"{data}: the sweep selects variants on {SELECTION_SPLIT}.jsonl; add it")
    report = evaluate_bundle(
        model=model, data=data, allow_overlap=True, n_boot=0, with_predictions=True
    )
    pred = report["predictions"]
    return {"ids": list(pred["ids"]), "gold": list(pred["gold"]), "pred": list(pred["pred"])}


def _selection_metrics(gold: np.ndarray, pred: np.ndarray, *, n_boot: int, seed: int) -> dict:
    """Scam recall, FPR and F1 (with 95% CIs) and macro F1 of one variant on the selection rows."""
    per_class = per_class_metrics(gold, pred)
    ci = bootstrap_ci(gold, pred, metrics=("scam_recall", "scam_fpr"), n_boot=n_boot, seed=seed)
    return {
        "split": SELECTION_SPLIT,
        "rows": int(gold.size),
        "scam_positives": int((gold == CLASSES.index(SCAM)).sum()),
        "scam_recall": per_class[SCAM]["recall"],
        "scam_recall_ci": ci.get("scam_recall"),
        "scam_fpr": per_class[SCAM]["fpr"],
        "scam_fpr_ci": ci.get("scam_fpr"),
        "scam_f1": per_class[SCAM]["f1"],
        "macro_f1": float(np.mean([per_class[c]["f1"] for c in CLASSES])),
    }


def rank_variants(
    variants: Sequence[dict], *, target_fpr: float, n_boot: int = 1000, seed: int = 0
) -> list[dict]:
    """Rank variants on their selection rows alone, best first.

    Args:
        variants: one dict per variant with `run`, `selection_rows` (`{"ids", "gold",
            "pred"}` on the same rows in the same order for every variant), and anything else
            to keep in the row (its holdout metrics under `holdout_metrics`).
        target_fpr: the scam FPR budget of the product rule.
        n_boot, seed: bootstrap resamples and seed of the CIs and paired differences.

    Returns:
        rows with `selection` (metrics and CIs), `within_budget`, `rank`,
        `scam_recall_diff_vs_chosen` (`{"diff", "low", "high"}`, paired on the same rows), and
        `holdout` only on the chosen (first) row; `holdout_metrics` and `selection_rows` are
        dropped.

    Raises:
        RunError: if the variants were scored on different rows.
    """
    rows, hits = [], {}
    first = variants[0]["selection_rows"] if variants else None
    for v in variants:
        sel = v["selection_rows"]
        if sel["ids"] != first["ids"] or sel["gold"] != first["gold"]:
            raise RunError(f"{v['run']}: scored on other selection rows than {variants[0]['run']}")
        gold = np.array([CLASSES.index(g) for g in sel["gold"]])
        pred = np.array([CLASSES.index(p) for p in sel["pred"]])
        row = {k: x for k, x in v.items() if k not in ("selection_rows", "holdout_metrics")}
        row["selection"] = _selection_metrics(gold, pred, n_boot=n_boot, seed=seed)
        s = row["selection"]
        row["within_budget"] = s["scam_fpr"] is not None and s["scam_fpr"] <= target_fpr
        rows.append(row)
        hits[v["run"]] = (pred == CLASSES.index(SCAM), gold == CLASSES.index(SCAM), v)
    rows.sort(key=lambda r: _rank_key(r, target_fpr))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    if rows:
        best_hits, positives, chosen = hits[rows[0]["run"]]
        for row in rows:
            row["scam_recall_diff_vs_chosen"] = paired_bootstrap_difference(
                hits[row["run"]][0], best_hits, mask=positives, n_boot=n_boot, seed=seed
            )
        rows[0]["holdout"] = chosen.get("holdout_metrics")
    return rows


def selection_warning(rows: Sequence[dict]) -> str | None:
    """A warning when the selection rows hold too few scams to tell variants apart."""
    if not rows:
        return None
    positives = rows[0]["selection"]["scam_positives"]
    if positives >= MIN_SELECTION_POSITIVES:
        return None
    return (
        f"only {positives} scam rows in {SELECTION_SPLIT}.jsonl select the variant (fewer than "
        f"{MIN_SELECTION_POSITIVES}): recall differences within the paired CIs are noise"
    )


def run_sweep(
    *,
    base_run: str | Path,
    grid: Mapping[str, Sequence[Any]],
    out_root: str | Path | None = None,
    bundle: str = "student-int8",
    quiet: bool = False,
    stages=None,
    n_boot: int = 1000,
    selection_scorer=None,
) -> SweepResult:
    """Run every combination of `grid` as a variant of `base_run`, and rank them on the
    selection rows (`SELECTION_SPLIT`), never on the holdout.

    Args:
        base_run: a finished (or resumable) run directory; its config and data are reused.
        grid: `{"section.key": [values]}`; values may be strings (coerced like `--set`).
        out_root: where the variant runs go (default: the base run's parent directory).
        bundle: which bundle's predictions rank the variants.
        quiet: no progress lines.
        stages: stage list override (tests).
        n_boot: bootstrap resamples of the CIs and paired differences.
        selection_scorer: `(run_dir, bundle, data_dir) -> {"ids", "gold", "pred"}` on the
            selection rows (default `selection_predictions`; tests pass fakes).

    Returns:
        SweepResult whose rows (best first, see `rank_variants`) hold `run`, `path`,
        `overrides`, `selection`, `scam_recall_diff_vs_chosen`, `within_budget`, `rank`,
        `reused`, `ran`, and `holdout` for the chosen variant only.

    Raises:
        RunError: if `base_run` is not a run directory.
        ConfigError: if a grid key or value is invalid (checked for all variants first).
    """
    from janitr.pipeline.config import load_saved_config
    from janitr.pipeline.run import run_pipeline

    base_run = Path(base_run)
    if not (base_run / "run.json").is_file():
        raise RunError(f"{base_run}: not a `janitr run` directory (no run.json)")
    if not grid:
        raise ConfigError("the sweep grid is empty: pass --grid section.key=v1,v2")
    base_config = load_saved_config(base_run)
    identity = read_json(base_run / "run.json")
    base_name = identity.get("name", base_run.name)
    data_dir = Path(identity["data_dir"]) if identity.get("data_dir") else None
    if data_dir is None or not data_dir.is_dir():
        raise RunError(f"{base_run}: its data directory {data_dir} no longer exists")
    out_root = Path(out_root) if out_root else base_run.parent
    target = base_config.thresholds.scam_target_fpr
    scorer = selection_scorer or selection_predictions
    variants = []
    for overrides, config in _variants(base_config, grid):
        name = _variant_name(base_name, overrides)
        config = config.with_overrides({"run.name": name})
        result = run_pipeline(
            data_dir=data_dir, out_dir=out_root / name, config=config, quiet=quiet,
            stages=stages, reuse_from=base_run,
        )  # fmt: skip
        row = _sweep_row(name, overrides, result, bundle)
        row["selection_rows"] = scorer(result.run_dir, bundle, data_dir)
        variants.append(row)
    rows = rank_variants(variants, target_fpr=target, n_boot=n_boot, seed=base_config.run.seed)
    selection = {
        "split": SELECTION_SPLIT,
        "chosen": rows[0]["run"] if rows else None,
        "warning": selection_warning(rows),
    }
    result = SweepResult(rows=rows, out_root=out_root, bundle=bundle, target_fpr=target,
                         selection=selection)  # fmt: skip
    return _save_sweep(result, base_run=base_run, grid=grid)


def _save_sweep(result: SweepResult, *, base_run: Path, grid: Mapping) -> SweepResult:
    """Write SWEEP.md and SWEEP.json beside the variants; the result with their paths."""
    files = [result.out_root / "SWEEP.md", result.out_root / "SWEEP.json"]
    write_text(files[0], format_sweep(result, markdown=True) + "\n")
    write_json(
        files[1],
        {
            "format": "janitr-sweep",
            "format_version": 2,  # 2: ranked on the selection split; holdout of the chosen only
            "base_run": str(base_run),
            "grid": {k: [str(v) for v in vs] for k, vs in grid.items()},
            "bundle": result.bundle,
            "scam_target_fpr": result.target_fpr,
            "selection": result.selection,
            "rows": result.rows,
        },
    )
    return replace(result, files=files)


def _variants(base_config, grid: Mapping[str, Sequence[Any]]) -> list[tuple[dict, Any]]:
    """(overrides, config) of every combination of the grid; each config is built, so
    checked, before anything runs."""
    keys = list(grid)
    variants = []
    for values in itertools.product(*(grid[k] for k in keys)):
        overrides = dict(zip(keys, values, strict=True))
        overrides["run.name"] = ""
        config = base_config.with_overrides(overrides)  # every variant is checked up front
        del overrides["run.name"]
        variants.append((overrides, config))
    return variants


def _sweep_row(name: str, overrides: dict, result, bundle: str) -> dict:
    """One variant's row: which stages ran, and its holdout metrics (kept for the chosen
    variant only, by `rank_variants`)."""
    metrics = result.metrics.get(bundle, {})
    scam = metrics.get("metrics", {}).get("scam", {})
    holdout = {
        "split": metrics.get("data", {}).get("split", "holdout"),
        "scam_recall": scam.get("recall"),
        "scam_recall_ci": metrics.get("ci95", {}).get("scam_recall"),
        "scam_fpr": scam.get("fpr"),
        "scam_f1": scam.get("f1"),
        "macro_f1": metrics.get("metrics", {}).get("macro_f1"),
    }
    return {
        "run": name,
        "path": str(result.run_dir),
        "overrides": {k: str(v) for k, v in overrides.items()},
        "holdout_metrics": holdout,
        "reused": result.skipped,
        "ran": result.ran,
    }


def _f(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def _with_ci(value, ci) -> str:
    return _f(value) + (f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else "")


def _diff(d: dict | None) -> str:
    if not d or d.get("diff") is None:
        return "–"
    if d.get("low") is None:
        return f"{d['diff']:+.3f}"
    return f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


def _table_rows(result: SweepResult, keys: list[str]) -> list[list[str]]:
    body = []
    for r in result.rows:
        s = r["selection"]
        body.append([
            str(r["rank"]),
            *(r["overrides"][k] for k in keys),
            _with_ci(s["scam_recall"], s["scam_recall_ci"]),
            _diff(r.get("scam_recall_diff_vs_chosen")) if r["rank"] > 1 else "(chosen)",
            _with_ci(s["scam_fpr"], s["scam_fpr_ci"]),
            _f(s["scam_f1"]),
            _f(s["macro_f1"]),
            "yes" if r["within_budget"] else "NO",
            ",".join(r["ran"]) or "-",
        ])  # fmt: skip
    return body


def _footer(result: SweepResult) -> list[str]:
    """The chosen variant's holdout figure (reported once) and the few-scams warning."""
    lines = []
    if result.rows:
        chosen = result.rows[0]
        h = chosen.get("holdout") or {}
        recall = _with_ci(h.get("scam_recall"), h.get("scam_recall_ci"))
        lines.append(
            f"Chosen: {chosen['run']}. Its {h.get('split', 'holdout')} figure, reported once "
            f"and never used to choose: scam recall {recall}, "
            f"scam FPR {_f(h.get('scam_fpr'))}, macro F1 {_f(h.get('macro_f1'))}."
        )
    warning = result.selection.get("warning")
    if warning:
        lines.append(f"WARNING: {warning}")
    return lines


def format_sweep(result: SweepResult, *, markdown: bool = False) -> str:
    """The ranking on the selection rows as a text (or Markdown) table, then the chosen
    variant's holdout figure and any warning."""
    keys = list(result.rows[0]["overrides"]) if result.rows else []
    head = ["rank", *keys, "scam R [95% CI]", "R - chosen [95% CI, paired]", "scam FPR [95% CI]",
            "scam F1", "macro F1", "FPR ok", "reran"]  # fmt: skip
    body = _table_rows(result, keys)
    title = (
        f"Sweep ranked by {result.bundle} scam recall on {SELECTION_SPLIT}.jsonl (the selection "
        f"rows, never the holdout) at scam FPR <= {result.target_fpr:.3f} (ties: scam F1)"
    )
    footer = _footer(result)
    if markdown:
        lines = [f"# {title}", "", "| " + " | ".join(head) + " |",
                 "|" + "|".join("---" for _ in head) + "|"]  # fmt: skip
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join([*lines, "", *footer])
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(head)
    ]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join([*lines, *footer])
