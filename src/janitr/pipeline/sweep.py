"""`janitr sweep`: run a grid of config variants of a base run, reusing unchanged stages.

Each variant is a full run directory (`<out_root>/<base name>--<key>-<value>...`) made by
`run_pipeline` with the base run's config plus the variant's overrides, on the base run's
data. Before running, every stage whose inputs and config hash to the same key as in the base
run is hard-linked from the base run (`reuse_from`), so a distillation sweep trains the
teacher once: only the stages downstream of a changed key run again.

Variants are ranked by the product rule: scam recall among variants whose scam FPR is within
the budget (`thresholds.scam_target_fpr`), ties broken by scam F1; variants over the budget
rank last. The table is printed and saved as `SWEEP.md` and `SWEEP.json` in `out_root`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from janitr.artifacts import read_json, write_json, write_text
from janitr.errors import ConfigError, RunError


@dataclass(frozen=True)
class SweepResult:
    """Ranked variants of a sweep (best first) and where the summary was written."""

    rows: list[dict]
    out_root: Path
    bundle: str
    target_fpr: float
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
    within = row["scam_fpr"] is not None and row["scam_fpr"] <= target
    return (0 if within else 1, -(row["scam_recall"] or 0.0), -(row["scam_f1"] or 0.0))


def run_sweep(
    *,
    base_run: str | Path,
    grid: Mapping[str, Sequence[Any]],
    out_root: str | Path | None = None,
    bundle: str = "student-int8",
    quiet: bool = False,
    stages=None,
) -> SweepResult:
    """Run every combination of `grid` as a variant of `base_run` and rank them.

    Args:
        base_run: a finished (or resumable) run directory; its config and data are reused.
        grid: `{"section.key": [values]}`; values may be strings (coerced like `--set`).
        out_root: where the variant runs go (default: the base run's parent directory).
        bundle: which bundle's evaluation ranks the variants.
        quiet: no progress lines.
        stages: stage list override (tests).

    Returns:
        SweepResult with rows `{"run", "path", "overrides", "scam_recall", "scam_fpr",
        "scam_f1", "macro_f1", "within_budget", "reused", "ran"}`, best first.

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
    variants = _variants(base_config, grid)
    target = base_config.thresholds.scam_target_fpr
    rows = []
    for overrides, config in variants:
        name = _variant_name(base_name, overrides)
        config = config.with_overrides({"run.name": name})
        result = run_pipeline(
            data_dir=data_dir,
            out_dir=out_root / name,
            config=config,
            quiet=quiet,
            stages=stages,
            reuse_from=base_run,
        )
        rows.append(_sweep_row(name, overrides, result, bundle))
    for row in rows:
        row["within_budget"] = row["scam_fpr"] is not None and row["scam_fpr"] <= target
    rows.sort(key=lambda r: _rank_key(r, target))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    result = SweepResult(rows=rows, out_root=out_root, bundle=bundle, target_fpr=target)
    files = [out_root / "SWEEP.md", out_root / "SWEEP.json"]
    write_text(files[0], format_sweep(result, markdown=True) + "\n")
    write_json(
        files[1],
        {
            "format": "janitr-sweep",
            "format_version": 1,
            "base_run": str(base_run),
            "grid": {k: [str(v) for v in vs] for k, vs in grid.items()},
            "bundle": bundle,
            "scam_target_fpr": target,
            "rows": rows,
        },
    )
    return SweepResult(rows=rows, out_root=out_root, bundle=bundle, target_fpr=target, files=files)


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
    """One variant's row: its bundle's headline metrics and which stages ran."""
    metrics = result.metrics.get(bundle, {}).get("metrics", {})
    scam = metrics.get("scam", {})
    return {
        "run": name,
        "path": str(result.run_dir),
        "overrides": {k: str(v) for k, v in overrides.items()},
        "scam_recall": scam.get("recall"),
        "scam_fpr": scam.get("fpr"),
        "scam_f1": scam.get("f1"),
        "macro_f1": metrics.get("macro_f1"),
        "reused": result.skipped,
        "ran": result.ran,
    }


def format_sweep(result: SweepResult, *, markdown: bool = False) -> str:
    """The ranking as a text (or Markdown) table."""
    keys = list(result.rows[0]["overrides"]) if result.rows else []
    head = ["rank", *keys, "scam R", "scam FPR", "scam F1", "macro F1", "FPR ok", "reran"]

    def f(v):
        return "–" if v is None else f"{v:.3f}"

    body = [
        [
            str(r["rank"]),
            *(r["overrides"][k] for k in keys),
            f(r["scam_recall"]),
            f(r["scam_fpr"]),
            f(r["scam_f1"]),
            f(r["macro_f1"]),
            "yes" if r["within_budget"] else "NO",
            ",".join(r["ran"]) or "-",
        ]
        for r in result.rows
    ]
    title = (
        f"Sweep ranked by {result.bundle} scam recall at scam FPR <= "
        f"{result.target_fpr:.3f} (ties: scam F1)"
    )
    if markdown:
        lines = [
            f"# {title}",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---" for _ in head) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(head)
    ]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)
