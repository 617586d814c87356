"""Refit a model family on every labeled row, as scikit-learn's `refit` does after a search.

`janitr run` measures its bundles honestly: trained on train minus a carved holdout, tuned on
valid+calib, scored on the holdout. That leaves rows unused by the bundle that ships. A refit
fits the same family with the same config on *all* labeled rows (train, the holdout, valid,
calib) and tunes its thresholds with the run's `ThresholdPolicy` on K-fold out-of-fold scores
of all those rows (`crossval.assign_folds`, `crossval.cross_fit`): thousands of negatives
instead of the ~500 of valid+calib. No held-out figure exists for the refit model; its
figure is the out-of-fold one, with each fold decided at thresholds tuned on the other folds
(`crossval.nested_thresholds`) and bootstrap CIs. The bundle records its lineage (the measured
bundle it replaces, the data, the out-of-fold tuning) under `model.refit`.

Families: `fasttext` (the run's `[fasttext]` config) and `linear` (`LinearConfig` defaults;
`janitr run` has no linear stage, so its refit has no measured twin). The teacher and the
student are not refit here.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from janitr.config import ConfigProblem, option, raise_problems
from janitr.data.labels import SCAM, TOPIC, collapse, targets
from janitr.data.records import Record
from janitr.evaluation.thresholds import ThresholdPolicy

log = logging.getLogger(__name__)

#: Families that can be refit.
FAMILIES = ("fasttext", "linear")
#: Suffix of a refit bundle's name: `bundles/fasttext-refit`.
SUFFIX = "-refit"


@dataclass(frozen=True)
class RefitConfig:
    """`[refit]` of `janitr run`: after the measured bundles are evaluated on the holdout,
    refit these families on every labeled row and ship them as `bundles/<family>-refit`."""

    enabled: bool = option(
        True,
        help="refit on all labeled rows after the holdout evaluation (on: on the shared data "
        "the fastText refit caught 0.14 more held-out scams at an FPR not significantly "
        "higher, docs/LEVERS.md)",
    )
    models: tuple[str, ...] = option(
        ("fasttext",), metavar="A,B", help=f"families to refit, of {','.join(FAMILIES)}"
    )
    folds: int = option(5, metavar="K", help="out-of-fold folds that tune the refit thresholds")
    seed: int = option(13, help="fold assignment and bootstrap seed")
    bootstrap: int = option(1000, help="bootstrap resamples of the out-of-fold figure's CIs")

    def __post_init__(self) -> None:
        problems = []
        bad = [m for m in self.models if m not in FAMILIES]
        if bad or not self.models or len(set(self.models)) != len(self.models):
            message = f"must name one or more of {', '.join(FAMILIES)} once each, got {self.models}"
            problems.append(ConfigProblem("models", message))
        if not isinstance(self.folds, int) or self.folds < 2:
            problems.append(ConfigProblem("folds", f"must be an integer >= 2, got {self.folds!r}"))
        if self.bootstrap < 0:
            problems.append(ConfigProblem("bootstrap", f"must be >= 0, got {self.bootstrap}"))
        raise_problems(self, problems)


@dataclass
class _Linear:
    """A fitted linear model with the normalization its scorer needs (as `FittedFastText`)."""

    model: object

    @property
    def normalization(self):
        return self.model.config.normalization

    def predict_heads(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.predict_heads(texts)


def family_fit(family: str, *, fasttext_config=None, linear_config=None) -> Callable:
    """`fit(records, work_dir) -> fitted` for a family; `fitted.predict_heads(normalized)` and
    `fitted.normalization` score it (the fold models and the final refit both call it)."""
    if family == "fasttext":
        from janitr.baselines.fasttext import FastTextConfig, fit_fasttext

        cfg = fasttext_config or FastTextConfig()
        return lambda records, work_dir: fit_fasttext(records, cfg, work_dir=work_dir)
    if family == "linear":
        from janitr.baselines.linear import LinearConfig, fit_linear

        cfg = linear_config or LinearConfig()

        return lambda records, work_dir: _Linear(fit_linear(records, cfg))
    raise ValueError(f"no refit for family {family!r}; one of {', '.join(FAMILIES)}")


def out_of_fold(records: Sequence[Record], fit: Callable, *, folds: int, seed: int, progress=False):
    """`(oof (N, 2), fold (N,))`: each row scored by the family fitted on the other folds."""
    from janitr.pipeline.crossval import assign_folds, cross_fit

    fold = assign_folds(records, folds=folds, seed=seed)

    def fit_score(train: Sequence[Record], texts: Sequence[str]) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="janitr-refit-fold-") as tmp:
            fitted = fit(train, tmp)
            return fitted.predict_heads([fitted.normalization.apply(t) for t in texts])

    return cross_fit(records, fold, fit_score, progress=progress), fold


def oof_figure(records, oof, fold, *, policy: ThresholdPolicy, folds: int, n_boot: int, seed: int):
    """The refit protocol's out-of-fold figure: every fold decided at thresholds tuned on the
    other folds' scores, measured once with bootstrap CIs (`crossval.lever_summary`)."""
    from janitr.evaluation.metrics import evaluate_predictions
    from janitr.pipeline.crossval import lever_summary, nested_thresholds

    gold = [collapse(r.labels) for r in records]
    t_scam, t_topic, _ = nested_thresholds(gold, oof, fold, folds=folds, policy=policy)
    report = evaluate_predictions(
        gold, oof[:, 0], oof[:, 1], thresholds={SCAM: t_scam, TOPIC: t_topic},
        is_topic=[targets(r.labels).is_topic for r in records], n_boot=n_boot, seed=seed,
    )  # fmt: skip
    summary = lever_summary(report)
    summary.pop("scam_fpr_by_negative_class", None)
    return summary


@dataclass
class Refit:
    """A family refit on all rows: the fitted model, its OOF-tuned thresholds, and the
    out-of-fold scores and figure behind them."""

    family: str
    fitted: object
    tuned: dict
    oof: np.ndarray
    fold: np.ndarray
    figure: dict


def refit(
    records: Sequence[Record],
    *,
    family: str,
    policy: ThresholdPolicy,
    folds: int = 5,
    seed: int = 13,
    n_boot: int = 1000,
    work_dir: str | Path,
    fasttext_config=None,
    linear_config=None,
    progress: bool = False,
) -> Refit:
    """Fit `family` on every row and tune its thresholds on K-fold out-of-fold scores.

    Args:
        records: every labeled row to learn from.
        family: one of `FAMILIES`.
        policy: the threshold policy (targets, rule, confidence; its `tune_on` is unused).
        folds, seed: the out-of-fold folds (`crossval.assign_folds`).
        n_boot: bootstrap resamples of the out-of-fold figure.
        work_dir: where the final model file is written (the caller's to keep or remove).
        fasttext_config, linear_config: the family's config (default: its defaults).
        progress: a progress bar over the folds.

    Returns:
        the `Refit`.

    Raises:
        ConfigError: too few rows for the folds, or a head without both classes.
    """
    fit = family_fit(family, fasttext_config=fasttext_config, linear_config=linear_config)
    records = list(records)
    oof, fold = out_of_fold(records, fit, folds=folds, seed=seed, progress=progress)
    tuned = policy.tune([collapse(r.labels) for r in records], oof)
    for name in tuned["tuning"]["disabled"]:
        log.warning("refit %s: no %s threshold meets the policy on the out-of-fold scores; "
                    "the class is disabled", family, name)  # fmt: skip
    figure = oof_figure(records, oof, fold, policy=policy, folds=folds, n_boot=n_boot, seed=seed)
    fitted = fit(records, work_dir)
    return Refit(family=family, fitted=fitted, tuned=tuned, oof=oof, fold=fold, figure=figure)


def lineage(result: Refit, splits: Mapping[str, Sequence[Record]], measured: dict | None) -> dict:
    """What a refit bundle records under `model.refit`: the measured bundle it stands in for,
    the rows it learned from, and how its thresholds were tuned."""
    return {
        "measured_bundle": measured,
        "data": {name: len(rows) for name, rows in splits.items()},
        "thresholds_from": f"out-of-fold scores of all {len(result.oof)} labeled rows "
        f"({int(result.fold.max()) + 1} group-aware folds)",
        "oof_figure": result.figure,
        "held_out_figure": None,  # every labeled row was learned from: none exists
    }


def write_refit_bundle(
    result: Refit,
    *,
    out_dir: str | Path,
    data_dir: Path,
    splits: Mapping[str, Sequence[Record]],
    policy: ThresholdPolicy,
    measured: dict | None = None,
):
    """Write the refit bundle with its family's writer; every split in `splits` is recorded
    as learned from (provenance and seen rows).

    Returns:
        the written Bundle.
    """
    kwargs = dict(
        out_dir=out_dir, data_dir=Path(data_dir), splits={k: list(v) for k, v in splits.items()},
        thresholds=policy, read=list(splits),
        tuning_data=f"out-of-fold ({'+'.join(splits)}, {int(result.fold.max()) + 1} folds)",
        lineage=lineage(result, splits, measured),
    )  # fmt: skip
    if result.family == "fasttext":
        from janitr.baselines.fasttext import write_fasttext_bundle

        return write_fasttext_bundle(result.fitted, result.tuned, **kwargs)
    from janitr.baselines.linear import write_linear_bundle

    return write_linear_bundle(result.fitted.model, result.tuned, **kwargs)


def _ci(ci: dict | None) -> str:
    return f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""


def refit_note(name: str, summary: Mapping) -> str:
    """One sentence for the report and `janitr runs show`: what ships, and which figure is
    whose (the refit stage's summary of bundle `name`)."""
    rows = summary.get("rows", {})
    oof = summary.get("oof", {})
    note = (
        f"Shipped: bundles/{name}, refit on all {sum(rows.values())} labeled rows "
        f"({' + '.join(rows)}), thresholds tuned on their out-of-fold scores. No held-out "
        f"figure exists for it; out of fold it reaches scam recall "
        f"{oof.get('scam_recall', float('nan')):.3f}{_ci(oof.get('scam_recall_ci'))} at scam "
        f"FPR {oof.get('scam_fpr', float('nan')):.4f}{_ci(oof.get('scam_fpr_ci'))}."
    )
    held = summary.get("measured_held_out")
    if held:
        note += (
            f" The {held.get('split')} figures are the measured bundle {summary['measured']}'s "
            f"(scam recall {held['scam_recall']:.3f}{_ci(held.get('scam_recall_ci'))} at FPR "
            f"{held['scam_fpr']:.4f}), trained without those rows."
        )
    return note
