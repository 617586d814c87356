"""K-fold cross-fitting: an honest number for every labeled row, and the lever table.

All labeled rows (train + valid + calib) are split into K folds, stratified by the
co-occurrence label set and group-aware: rows with equal or near-duplicate normalized text
(`neardup.duplicate_groups`) always share a fold, so no fold is scored by a model that trained
on its twin. For each fold a model is trained on the other K-1 folds and scores the fold,
giving an out-of-fold (OOF) `p_scam`, `p_topic` for every row.

Thresholds are chosen by *nested* tuning: fold k is decided with thresholds tuned on the OOF
scores of the other folds only (thousands of rows instead of calib's 214), then every row is
measured once through `metrics.evaluate_predictions` (per-row thresholds, bootstrap CIs). The
pooled "oracle" threshold (tuned on all OOF rows, then measured on them) is reported beside it
as the optimistic reference. Both threshold rules (`empirical`, `guaranteed`) are evaluated on
the same scores, with the FPR they actually give.

Model families: `linear` (`linear.fit_linear`), `fasttext` (the baseline's training and
quantization, scored like a bundle: the `.ftz` that would ship), `teacher` (the fine-tuned
encoder, one seed per fold; an eighth of the training folds selects its epoch and fits its
temperatures), `embed` (frozen sentence embeddings + logistic regression, `embed.fit_embed`;
one encoder for all folds, so every text is embedded once), and `ensemble`: any of them
(`members`), per fold and head either Platt-scaled on the other folds' OOF scores and averaged
(`combine = mean`), or stacked by a logistic regression on their logits fitted on the other
folds (`stack`). A member's OOF scores can be
reused from an earlier result of the same folds (`reuse`), so an expensive teacher is
cross-fitted once and then combined with cheap members in seconds. Optional levers:
confusables folding, obfuscation augmentation of the training folds, and robustness of each
fold model on obfuscated copies of its held-out rows.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from janitr.baselines.fasttext import FastTextConfig
from janitr.baselines.linear import GROUP_COMBINES, HEADS, LinearConfig
from janitr.config import ConfigProblem, choice_problems, non_negative, option, raise_problems
from janitr.data.labels import CLASSES, SCAM, TOPIC, collapse, targets, training_label_set
from janitr.data.obfuscate import KINDS, augment_kinds_problem
from janitr.data.records import Record, read_records
from janitr.errors import ConfigError, DataError, Problem
from janitr.evaluation.metrics import evaluate_predictions
from janitr.evaluation.thresholds import DEFAULT_POLICY, RULES, ThresholdPolicy

log = logging.getLogger(__name__)

MODELS = ("linear", "fasttext", "teacher", "embed", "ensemble")
#: Families an ensemble can combine.
MEMBERS = ("linear", "fasttext", "teacher", "embed")
#: How an ensemble combines its members (`_combined`).
COMBINES = ("mean", "stack")
#: `format` of the `janitr crossval --json` result (`runs compare` reads it too).
CROSSVAL_FORMAT = "janitr-crossval"
#: Splits pooled for cross-fitting (whatever of them exists in the data directory).
SPLITS = ("train", "valid", "calib")
#: Obfuscation kinds used for augmentation and robustness (`mixed` only for robustness).
AUGMENT_KINDS = ("leet", "homoglyph", "zero_width", "spaced", "defang")


@dataclass(frozen=True)
class CrossvalConfig:
    """Settings of `janitr crossval` (each field but `thresholds` is a flag of that verb;
    the threshold policy's targets and confidence drive the nested search, its rule is the
    headline (both rules are always reported); its `tune_on` is unused: every row is tuned
    on out of fold)."""

    model: str = option(
        "linear",
        choices=MODELS,
        help="model family; teacher fine-tunes the encoder once per fold (minutes per fold "
        "on a CPU); ensemble combines --members",
    )
    folds: int = option(5, metavar="K", help="number of folds")
    seed: int = option(13, help="fold assignment seed (also the obfuscation and bootstrap seed)")
    thresholds: ThresholdPolicy = option(DEFAULT_POLICY, cli=False, help="the threshold policy")
    fold_confusables: bool = option(
        True,
        help="fold Unicode confusables (and drop combining marks) in the normalization (all "
        "members; the default normalization)",
    )
    augment: bool = option(
        False, help="add obfuscated copies of the training-fold rows (labels kept)"
    )
    augment_kinds: tuple[str, ...] = option(
        AUGMENT_KINDS,
        metavar="K,K",
        help="obfuscation kinds of the --augment copies (janitr obfuscate --help lists them)",
    )
    augment_per_row: str = option(
        "all",
        choices=("all", "one"),
        help="--augment copies per training row: one per kind (all), or one of a kind drawn "
        "per row (one: what janitr distill does)",
    )
    robustness: bool = option(
        True, help="score obfuscated copies of each held-out fold with its fold model"
    )
    linear_c: float = option(4.0, metavar="C", help="inverse regularization of the linear model")
    linear_heads: str = option(
        LinearConfig.heads,
        choices=HEADS,
        help="scam heads of the linear model (linear.LinearConfig.heads)",
    )
    linear_group_combine: str = option(
        LinearConfig.group_combine,
        choices=GROUP_COMBINES,
        help="how the linear model's group heads give p_scam (linear.LinearConfig.group_combine)",
    )
    fasttext_epoch: int = option(FastTextConfig.epoch, help="fastText epochs")
    fasttext_lr: float = option(FastTextConfig.lr, metavar="LR", help="fastText learning rate")
    fasttext_quantize: bool = option(
        True,
        help="score each fold's quantized .ftz fastText model, as shipped (off: the "
        "unquantized model)",
    )
    teacher_model: str | None = option(
        None,
        metavar="ID_OR_PATH",
        help="encoder of the teacher member (default: the installed all-MiniLM-L6-v2)",
    )
    teacher_epochs: int = option(2, help="teacher epochs per fold")
    teacher_max_length: int = option(96, help="teacher tokens per text, special tokens included")
    teacher_group_weight: float = option(
        0.0,
        identity_default=True,
        help="weight of the teacher member's training-only group head "
        "(teacher.model.TeacherConfig.group_weight); 0 turns it off",
    )
    embed_encoder: str | None = option(
        None,
        metavar="ID_OR_PATH",
        help="frozen sentence encoder of the embed member (default: the installed "
        "all-MiniLM-L6-v2)",
    )
    embed_c: float = option(1.0, metavar="C", help="inverse regularization of the embed member")
    embed_cache: str | None = option(
        None, metavar="DIR", help="directory caching the embed member's embeddings across runs"
    )
    n_boot: int = option(1000, help="bootstrap resamples for the CIs")
    members: tuple[str, ...] = option(
        ("fasttext", "linear"),
        metavar="A,B",
        help=f"families combined by --model ensemble, 2 or more of {','.join(MEMBERS)}",
    )
    combine: str = option(
        "mean",
        choices=COMBINES,
        help="how --model ensemble combines its members: mean of Platt-scaled members, or "
        "stack (a logistic regression on their logits, fitted on the other folds)",
    )
    reuse: dict[str, str] = option(
        default_factory=dict,
        metavar="MEMBER=CV.json",
        help="take MEMBER's out-of-fold scores from an earlier --json result of that single "
        "family on the same data, --folds and --seed (needs --no-robustness); repeatable",
    )

    def __post_init__(self) -> None:
        problems = choice_problems(self, ("model",))
        if not isinstance(self.folds, int) or self.folds < 2:
            problems.append(ConfigProblem("folds", f"must be an integer >= 2, got {self.folds!r}"))
        problems += non_negative(self, ("teacher_group_weight",))
        if self.linear_c <= 0:
            problems.append(ConfigProblem("linear_c", f"must be > 0, got {self.linear_c}"))
        bad = [m for m in self.members if m not in MEMBERS]
        if bad or len(set(self.members)) != len(self.members) or len(self.members) < 2:
            problems.append(
                ConfigProblem(
                    "members",
                    f"must name 2 or more of {', '.join(MEMBERS)} once each, "
                    f"got {','.join(self.members)}",
                )
            )
        if problem := augment_kinds_problem(self.augment_kinds, allow_empty=False):
            problems.append(problem)
        problems += choice_problems(self, ("linear_heads", "linear_group_combine", "combine"))
        used = self.members if self.model == "ensemble" else (self.model,)
        for name in self.reuse:
            if name not in used:
                problems.append(
                    ConfigProblem("reuse", f"{name}=...: {name} is not cross-fitted here")
                )
        if self.reuse and self.robustness:
            problems.append(
                ConfigProblem(
                    "reuse",
                    "needs robustness off: a reused result has no scores of obfuscated copies",
                    ("robustness",),
                )
            )
        raise_problems(self, problems)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["members"] = list(self.members)
        out["augment_kinds"] = list(self.augment_kinds)
        out["reuse"] = {k: str(v) for k, v in self.reuse.items()}
        return out


def read_labeled(data_dir: str | Path, splits: Sequence[str] = SPLITS) -> list[Record]:
    """Every labeled row of the named splits that exist in data_dir (ids unique across them).

    Raises:
        DataError: if none of the split files exists, or on bad rows.
    """
    data_dir = Path(data_dir)
    paths = [data_dir / f"{s}.jsonl" for s in splits if (data_dir / f"{s}.jsonl").is_file()]
    if not paths:
        raise DataError(
            [Problem(str(data_dir), 0, "<dir>", "no split files",
                     f"--data must hold some of {', '.join(s + '.jsonl' for s in splits)}")],
            summary=f"{data_dir}: nothing to cross-validate",
        )  # fmt: skip
    return read_records(*paths)


def assign_folds(records: Sequence[Record], *, folds: int, seed: int) -> np.ndarray:
    """Fold index per row: stratified by label set, near-duplicates kept in one fold.

    Raises:
        ConfigError: if there are fewer duplicate groups than folds.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    from janitr.data.neardup import duplicate_groups

    groups = np.asarray(duplicate_groups([r.norm_text for r in records]))
    if len(np.unique(groups)) < folds:
        raise ConfigError(f"--folds {folds} is more than the {len(np.unique(groups))} "
                          "distinct texts; use fewer folds")  # fmt: skip
    strata = ["+".join(training_label_set(r.labels)) for r in records]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = np.full(len(records), -1, dtype=np.int64)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(records)), strata, groups)):
        out[test] = k
    return out


# --- members: (train records, raw texts to score) -> (M, 2) head probabilities -------------


def _augmented(train: Sequence[Record], config: CrossvalConfig) -> list[Record]:
    """The training rows plus one obfuscated copy per (row, kind) when `augment` is on."""
    if not config.augment:
        return list(train)
    from janitr.data.obfuscate import augment_copies, obfuscate_records

    if config.augment_per_row == "one":
        copies = [
            {"id": f"{train[i].id}::aug", "text": text, "labels": train[i].labels}
            for i, text in augment_copies(train, kinds=config.augment_kinds, seed=config.seed)
        ]
    else:
        copies = obfuscate_records(train, seed=config.seed, kinds=config.augment_kinds)
    return list(train) + [
        Record(id=c["id"], text=c["text"], labels=tuple(c["labels"]), path="<augment>", line=0)
        for c in copies
    ]


def _linear_member(config: CrossvalConfig) -> Callable:
    from janitr.baselines.linear import fit_linear

    cfg = LinearConfig(
        c=config.linear_c, fold_confusables=config.fold_confusables,
        heads=config.linear_heads, group_combine=config.linear_group_combine,
    )  # fmt: skip

    def fit_score(train: Sequence[Record], texts: Sequence[str]) -> np.ndarray:
        model = fit_linear(_augmented(train, config), cfg)
        return model.predict_heads([cfg.normalization.apply(t) for t in texts])

    return fit_score


def _fasttext_member(config: CrossvalConfig) -> Callable:
    from janitr.baselines.fasttext import fit_fasttext
    from janitr.data.normalize import NormalizationConfig

    # Augmentation is crossval's lever here (--augment), not the training recipe's default.
    ft_cfg = FastTextConfig(
        epoch=config.fasttext_epoch, lr=config.fasttext_lr, quantize=config.fasttext_quantize,
        seed=config.seed, augment_kinds=(),
    )  # fmt: skip
    norm = NormalizationConfig(fold_confusables=config.fold_confusables)

    def fit_score(train: Sequence[Record], texts: Sequence[str]) -> np.ndarray:
        # Trained (and quantized) in a fresh process, as `janitr train fasttext` does.
        with tempfile.TemporaryDirectory(prefix="janitr-cv-ft-") as tmp:
            fitted = fit_fasttext(
                _augmented(train, config), ft_cfg, work_dir=tmp, normalization=norm
            )
            return fitted.predict_heads([norm.apply(t) for t in texts])

    return fit_score


def _teacher_member(config: CrossvalConfig) -> Callable:
    from janitr.data.normalize import NormalizationConfig
    from janitr.teacher.model import TeacherConfig, fit_teacher

    t_cfg = TeacherConfig(
        model_name_or_path=config.teacher_model, seeds=(config.seed,),
        epochs=config.teacher_epochs, max_length=config.teacher_max_length, force=True,
        group_weight=config.teacher_group_weight, progress=False,
    )  # fmt: skip
    norm = NormalizationConfig()  # the teacher's (its bundles record the default)

    def fit_score(train: Sequence[Record], texts: Sequence[str]) -> np.ndarray:
        # An eighth of the training folds (near-duplicates kept together) selects the epoch
        # and fits the temperatures; the held-out fold is only scored.
        inner = assign_folds(train, folds=8, seed=config.seed) == 0
        with tempfile.TemporaryDirectory(prefix="janitr-cv-teacher-") as tmp:
            fitted = fit_teacher(
                train=[r for r, v in zip(train, inner, strict=True) if not v],
                valid=[r for r, v in zip(train, inner, strict=True) if v],
                config=t_cfg, work_dir=tmp, target_fpr=config.thresholds.scam_target_fpr,
            )  # fmt: skip
            heads = fitted.scorer().predict_heads([norm.apply(t) for t in texts])
        return np.asarray(heads, dtype=np.float64)

    return fit_score


def _embed_member(config: CrossvalConfig) -> Callable:
    from janitr.baselines.embed import EmbedConfig, SentenceEncoder, fit_embed

    cfg = EmbedConfig(
        encoder=config.embed_encoder, c=config.embed_c, fold_confusables=config.fold_confusables,
        cache_dir=config.embed_cache,
    )  # fmt: skip
    encoder = None  # one encoder for every fold: each text is embedded once

    def fit_score(train: Sequence[Record], texts: Sequence[str]) -> np.ndarray:
        nonlocal encoder
        encoder = encoder or SentenceEncoder.from_config(cfg)
        model = fit_embed(_augmented(train, config), cfg, encoder=encoder)
        return model.predict_heads([cfg.normalization.apply(t) for t in texts])

    return fit_score


MEMBER_BUILDERS = {
    "linear": _linear_member,
    "fasttext": _fasttext_member,
    "teacher": _teacher_member,
    "embed": _embed_member,
}


def reused_scores(path: str | Path, records: Sequence[Record], fold: np.ndarray) -> np.ndarray:
    """OOF heads `(N, 2)` from an earlier crossval JSON result on the same rows and folds.

    Raises:
        ConfigError: if the file is not a crossval result or covers other rows or folds.
    """
    from janitr.artifacts import read_json

    try:
        result = read_json(path)
        pred = result["predictions"]
        by_id = {i: k for k, i in enumerate(pred["ids"])}
        rows = [by_id[r.id] for r in records]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--reuse {path}: not a crossval result of these rows ({exc!r})") from exc
    if len(by_id) != len(records) or [pred["fold"][k] for k in rows] != fold.tolist():
        raise ConfigError(
            f"--reuse {path}: its folds differ from this run's (cross-validate both with the "
            "same --folds and --seed on the same data)"
        )
    return np.array([[pred["p_scam"][k], pred["p_topic"][k]] for k in rows], dtype=np.float64)


# --- calibration of ensemble members ----------------------------------------------------------


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def platt(scores_fit: np.ndarray, y_fit: np.ndarray, scores_apply: np.ndarray) -> np.ndarray:
    """Platt scaling: a 1-D logistic regression on logit(score), fitted and applied."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y_fit)) < 2:
        return np.asarray(scores_apply, dtype=np.float64)
    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(_logit(scores_fit)[:, None], y_fit)
    return lr.predict_proba(_logit(scores_apply)[:, None])[:, 1]


# --- cross-fitted targets for distillation ---------------------------------------------------


def cross_fitted_linear_heads(
    train: Sequence[Record],
    others: dict[str, Sequence[Record]],
    *,
    config=None,
    folds: int = 5,
    seed: int = 13,
    fold: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Linear-model head probabilities to distill from, never scored by a model that saw the row.

    A linear model scoring its own training rows is nearly certain of their labels, so its
    in-sample probabilities teach a student nothing beyond the gold labels. Train rows are
    therefore scored out of fold (K group-aware folds, `assign_folds`), and every other
    split by one model fitted on all of train.

    Args:
        train: labeled training rows.
        others: more splits to score, e.g. `{"valid": [...], "unlabeled": [...]}`.
        config: `linear.LinearConfig` (default: its defaults).
        folds, seed: the cross-fitting folds (`assign_folds`).
        fold: a fold index per train row instead (e.g. to share folds between calls).

    Returns:
        `{"train": (N, 2), **{name: (M, 2)}}` probabilities `[p_scam, p_topic]`.
    """
    from janitr.baselines.linear import fit_linear

    config = config or LinearConfig()
    norm = config.normalization
    if fold is None:
        fold = assign_folds(train, folds=folds, seed=seed)
    oof = np.zeros((len(train), 2))
    for k in np.unique(fold):
        test = np.flatnonzero(fold == k)
        model = fit_linear([train[i] for i in np.flatnonzero(fold != k)], config)
        oof[test] = model.predict_heads([norm.apply(train[i].text) for i in test])
    full = fit_linear(train, config)
    out = {"train": oof}
    for name, records in others.items():
        out[name] = full.predict_heads([norm.apply(r.text) for r in records])
    return out


# --- cross-fitting -----------------------------------------------------------------------------


def _cross_fit(records, fold, config, member: Callable, obf_rows):
    """OOF heads (N, 2) and heads of each obfuscated row with its source row's fold model."""
    n = len(records)
    oof = np.zeros((n, 2))
    obf = np.zeros((len(obf_rows), 2))
    obf_fold = np.array([fold[i] for i, _ in obf_rows], dtype=np.int64)
    for k in range(config.folds):
        started = time.perf_counter()
        test = np.flatnonzero(fold == k)
        train = [records[i] for i in np.flatnonzero(fold != k)]
        obf_idx = np.flatnonzero(obf_fold == k)
        texts = [records[i].text for i in test] + [obf_rows[j][1] for j in obf_idx]
        heads = member(train, texts)
        oof[test] = heads[: test.size]
        obf[obf_idx] = heads[test.size :]
        log.info("fold %d/%d: %d train, %d scored (%.1fs)", k + 1, config.folds, len(train),
                 len(texts), time.perf_counter() - started)  # fmt: skip
    return oof, obf


def cross_fit(
    records: Sequence[Record], fold: np.ndarray, fit_score: Callable, *, progress: bool = False
) -> np.ndarray:
    """Out-of-fold heads `(N, 2)` from any `fit_score(train records, raw texts) -> (M, 2)`.

    For callers with their own fold model (e.g. the run's exact fastText config in
    `pipeline.refit`); `fold` is a fold index per row (`assign_folds`).
    """
    import sys

    from tqdm import tqdm

    records = list(records)
    oof = np.zeros((len(records), 2))
    for k in tqdm(np.unique(fold), desc="out-of-fold", unit="fold", disable=not progress,
                  file=sys.stderr):  # fmt: skip
        test = np.flatnonzero(fold == k)
        train = [records[i] for i in np.flatnonzero(fold != k)]
        oof[test] = fit_score(train, [records[i].text for i in test])
    return oof


def stack(members_fit: np.ndarray, y_fit: np.ndarray, members_apply: np.ndarray):
    """Stacking: one logistic regression on the members' logits, fitted and applied.

    Args:
        members_fit: `(n_fit, M)` member probabilities of the fitting rows.
        y_fit: `(n_fit,)` 0/1 targets.
        members_apply: `(n_apply, M)` member probabilities to combine.

    Returns:
        `(combined probabilities (n_apply,), coefficients (M,))`.
    """
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y_fit)) < 2:
        return np.mean(members_apply, axis=1), np.full(members_fit.shape[1], np.nan)
    lr = LogisticRegression(C=1.0, max_iter=1000)
    lr.fit(_logit(members_fit), y_fit)
    return lr.predict_proba(_logit(members_apply))[:, 1], lr.coef_[0]


def _platt_mean(members_fit: np.ndarray, y_fit: np.ndarray, members_apply: np.ndarray):
    """Each member Platt-scaled (fitted on `members_fit`), then averaged; no coefficients."""
    cal = [
        platt(members_fit[:, j], y_fit, members_apply[:, j]) for j in range(members_fit.shape[1])
    ]
    return np.mean(cal, axis=0), None


def _combined(members_oof, members_obf, y, fold, obf_fold, folds, combine: str):
    """Per fold and head, fitted on the other folds' OOF scores only: each member Platt-scaled
    and averaged (`mean`), or one logistic regression on all members' logits (`stack`). The
    fold's rows and its obfuscated copies are combined by the same fit.

    Returns:
        `(oof (N, 2), obf (n_obf, 2), stack coefficients (folds, 2, M) or None)`.
    """
    combine_fn = stack if combine == "stack" else _platt_mean
    oof = np.zeros((y.shape[0], 2))
    obf = np.zeros((obf_fold.size, 2))
    coefs = np.full((folds, 2, len(members_oof)), np.nan)
    for k in range(folds):
        fit, app, app_obf = fold != k, fold == k, obf_fold == k
        n_app = int(app.sum())
        for head in range(2):
            cols = np.stack([m[:, head] for m in members_oof], axis=1)
            rows = cols[app]
            if app_obf.any():
                obf_cols = np.stack([mo[app_obf, head] for mo in members_obf], axis=1)
                rows = np.vstack([rows, obf_cols])
            combined, coef = combine_fn(cols[fit], y[fit, head], rows)
            oof[app, head] = combined[:n_app]
            obf[app_obf, head] = combined[n_app:]
            if coef is not None:
                coefs[k, head] = coef
    return oof, obf, (coefs if combine == "stack" else None)


def nested_thresholds(gold, oof, fold, *, folds: int, policy: ThresholdPolicy):
    """Per-row thresholds: fold k gets thresholds tuned on the other folds' OOF scores
    with `policy.tune`.

    Returns:
        (t_scam (N,), t_topic (N,), per-fold tuning summaries).
    """
    gold = np.asarray(gold)
    t_scam = np.zeros(len(gold))
    t_topic = np.zeros(len(gold))
    per_fold = []
    for k in range(folds):
        other = fold != k
        tuned = policy.tune(gold[other].tolist(), oof[other])
        t_scam[fold == k] = tuned["thresholds"][SCAM]
        t_topic[fold == k] = tuned["thresholds"][TOPIC]
        s = tuned["tuning"][SCAM]
        per_fold.append({"fold": k, "t_scam": s["threshold"], "t_topic": tuned["thresholds"][TOPIC],
                         "tuning_rows": int(other.sum()), "tuning_negatives": s["negatives"],
                         "tuning_fpr": s["fpr"], "tuning_recall": s["recall"]})  # fmt: skip
    return t_scam, t_topic, per_fold


def _robustness(gold_idx, oof_pred, obf_rows, obf_pred, kinds) -> dict:
    from janitr.data.obfuscate import scam_rates

    out = {}
    src = np.array([i for i, _, _ in obf_rows], dtype=np.int64)
    kind_of = np.array([k for _, _, k in obf_rows])
    for kind in kinds:
        sel = kind_of == kind
        out[kind] = {
            "original": scam_rates(gold_idx[src[sel]], oof_pred[src[sel]]),
            "obfuscated": scam_rates(gold_idx[src[sel]], obf_pred[sel]),
        }
    return out


def _obfuscated_rows(records: list[Record], config: CrossvalConfig, kinds) -> list:
    """(row index, obfuscated text, kind) per row and kind, for the robustness report."""
    from janitr.data.obfuscate import obfuscate_records

    position = {r.id: i for i, r in enumerate(records)}
    # different seed from augmentation: test copies are not the training copies
    return [
        (position[row["source_id"]], row["text"], row["obfuscation"])
        for row in obfuscate_records(records, seed=config.seed + 1, kinds=kinds)
    ]


def _oof_scores(records, fold, y, obf_pairs, obf_fold, config: CrossvalConfig):
    """Out-of-fold heads of the model (members cross-fitted or reused, then combined for an
    ensemble): `(oof (N, 2), obfuscated copies (M, 2), stack weights or None)`."""
    members = config.members if config.model == "ensemble" else (config.model,)
    member_scores = {}
    for name in members:
        if name in config.reuse:
            log.info("reusing the OOF scores of %s from %s", name, config.reuse[name])
            scores = reused_scores(config.reuse[name], records, fold)
            member_scores[name] = (scores, np.zeros((0, 2)))
            continue
        log.info("cross-fitting %s (%d folds, %d rows)", name, config.folds, len(records))
        member_scores[name] = _cross_fit(
            records, fold, config, MEMBER_BUILDERS[name](config), obf_pairs
        )
    if config.model != "ensemble":
        return (*member_scores[config.model], None)
    oof, obf, coefs = _combined(
        [member_scores[m][0] for m in members], [member_scores[m][1] for m in members],
        y, fold, obf_fold, config.folds, config.combine,
    )  # fmt: skip
    stack_weights = None
    if coefs is not None:  # mean over folds, per head and member
        stack_weights = {
            head: dict(zip(members, np.nanmean(coefs[:, j], axis=0).round(4).tolist(),
                           strict=True))
            for j, head in enumerate((SCAM, TOPIC))
        }  # fmt: skip
    return oof, obf, stack_weights


def crossval(*, records: Sequence[Record], config: CrossvalConfig) -> dict:
    """Cross-fit a model family on labeled rows and measure it with nested thresholds.

    Args:
        records: every labeled row to use (ids unique).
        config: model family, folds, seed and levers.

    Returns:
        a JSON-able dict: `config`, `rows`, `fold_sizes`, `report` (evaluate_predictions at
        nested thresholds of `config.thresholds.rule`), `rules` (for each rule: headline
        metrics with CIs and the actual OOF scam FPR), `pooled` (oracle thresholds tuned on
        all OOF rows), `per_fold`, `robustness` (per obfuscation kind), `predictions`
        (per-row OOF scores), `seconds`.

    Raises:
        ConfigError: on bad settings or too few rows for the folds.
    """
    from janitr.data.labels import decide

    started = time.perf_counter()
    records = list(records)
    fold = assign_folds(records, folds=config.folds, seed=config.seed)
    gold = [collapse(r.labels) for r in records]
    gold_idx = np.array([CLASSES.index(g) for g in gold], dtype=np.int64)
    y = np.array([[targets(r.labels).is_scam, targets(r.labels).is_topic] for r in records])

    kinds = KINDS
    obf_rows = _obfuscated_rows(records, config, kinds) if config.robustness else []
    obf_pairs = [(i, t) for i, t, _ in obf_rows]
    obf_fold = np.array([fold[i] for i, _ in obf_pairs], dtype=np.int64)
    oof, obf, stack_weights = _oof_scores(records, fold, y, obf_pairs, obf_fold, config)
    texts_raw = [r.text for r in records]
    is_topic = y[:, 1].tolist()
    rules = {}
    headline = None
    for rule in RULES:
        t_scam, t_topic, per_fold = nested_thresholds(
            gold, oof, fold, folds=config.folds, policy=replace(config.thresholds, rule=rule)
        )
        report = evaluate_predictions(
            gold, oof[:, 0], oof[:, 1], thresholds={SCAM: t_scam, TOPIC: t_topic},
            is_topic=is_topic, texts_raw=texts_raw, raw_labels=[r.labels for r in records],
            n_boot=config.n_boot, seed=config.seed,
        )  # fmt: skip
        pred = decide(oof[:, 0], oof[:, 1], t_scam=t_scam, t_topic=t_topic)
        rules[rule] = {"summary": lever_summary(report), "per_fold": per_fold}
        if config.robustness:
            obf_t_scam = np.array([per_fold[f]["t_scam"] for f in obf_fold])
            obf_t_topic = np.array([per_fold[f]["t_topic"] for f in obf_fold])
            obf_pred = decide(obf[:, 0], obf[:, 1], t_scam=obf_t_scam, t_topic=obf_t_topic)
            rules[rule]["robustness"] = _robustness(gold_idx, pred, obf_rows, obf_pred, kinds)
        if rule == config.thresholds.rule:
            headline = (report, pred, t_scam, t_topic)
    report, pred, t_scam, t_topic = headline
    pooled = config.thresholds.tune(gold, oof)
    return {
        "format": CROSSVAL_FORMAT,
        "format_version": 1,
        "config": config.to_dict(),
        "rows": len(records),
        "fold_sizes": np.bincount(fold, minlength=config.folds).tolist(),
        "report": report,
        "rules": rules,
        "pooled": {"thresholds": pooled["thresholds"], "scam": pooled["tuning"][SCAM]},
        "robustness": rules[config.thresholds.rule].get("robustness", {}),
        "stack_weights": stack_weights,
        "predictions": {
            "ids": [r.id for r in records],
            "fold": fold.tolist(),
            "gold": gold,
            "pred": [CLASSES[i] for i in pred],
            "p_scam": [float(x) for x in oof[:, 0]],  # full precision: `reuse` reads them
            "p_topic": [float(x) for x in oof[:, 1]],
            "t_scam": [round(float(x), 6) for x in t_scam],
            "t_topic": [round(float(x), 6) for x in t_topic],
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def lever_summary(report: dict) -> dict:
    """Headline numbers of one evaluation: scam recall/FPR (with CIs), macro F1, exact match."""
    m, ci = report["metrics"], report.get("ci95", {})
    return {
        "scam_recall": m[SCAM]["recall"],
        "scam_recall_ci": ci.get("scam_recall"),
        "scam_fpr": m[SCAM]["fpr"],
        "scam_fpr_ci": ci.get("scam_fpr"),
        "scam_precision": m[SCAM]["precision"],
        "scam_fpr_by_negative_class": m.get("scam_fpr_by_negative_class"),
        "scam_recall_by_kind": m.get("scam_recall_by_kind"),
        "macro_f1": m["macro_f1"],
        "macro_f1_ci": ci.get("macro_f1"),
        "exact_match": m["exact_match"],
        "scam_pr_auc": m["scam_pr_auc"],
    }


def _ci(ci: dict | None) -> str:
    return f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""


def format_crossval(result: dict) -> str:
    """A readable summary: headline metrics per rule, pooled oracle, robustness."""
    cfg = result["config"]
    lines = [
        f"crossval {cfg['model']}: {result['rows']} rows, {cfg['folds']} folds (seed "
        f"{cfg['seed']}, sizes {result['fold_sizes']}), {result['seconds']}s",
        f"levers: fold_confusables={cfg['fold_confusables']} augment={cfg['augment']} "
        f"linear_c={cfg['linear_c']}"
        + (f" linear_heads={cfg['linear_heads']}" if "linear_heads" in cfg else "")
        + (f" ({cfg['linear_group_combine']})" if cfg.get("linear_heads") == "groups" else ""),
    ]
    if cfg["model"] == "ensemble":
        reused = ", ".join(f"{m} from {p}" for m, p in cfg.get("reuse", {}).items())
        lines.append(
            f"ensemble: {cfg.get('combine', 'mean')} of {', '.join(cfg['members'])}"
            + (f" (reused: {reused})" if reused else "")
        )
    for head, weights in (result.get("stack_weights") or {}).items():
        shown = "  ".join(f"{m} {w:+.3f}" for m, w in weights.items())
        lines.append(f"stacking weights on member logits ({head}, mean over folds): {shown}")
    lines += [
        "",
        "nested thresholds (each fold decided with thresholds tuned on the other folds):",
    ]
    for rule, v in result["rules"].items():
        s = v["summary"]
        neg = s["scam_fpr_by_negative_class"] or {}
        lines.append(
            f"  {rule:<10} scam recall {s['scam_recall']:.3f}{_ci(s['scam_recall_ci'])}  "
            f"scam FPR {s['scam_fpr']:.4f}{_ci(s['scam_fpr_ci'])} (clean "
            f"{neg.get('clean', 0):.4f}, topic {neg.get('topic_crypto', 0):.4f})  "
            f"macro F1 {s['macro_f1']:.3f}{_ci(s['macro_f1_ci'])}  exact {s['exact_match']:.3f}"
        )
        # kinds with scam rows (the same rows under every rule; the headline report counts them)
        counts = result["report"].get("scam_recall_by_kind") or {}
        by_kind = s.get("scam_recall_by_kind") or {}
        shown = ", ".join(
            f"{kind} {r:.3f} (of {counts[kind]['positives']})"
            for kind, r in by_kind.items()
            if counts.get(kind, {}).get("positives")
        )
        if shown:
            lines.append(f"  {'':<10} scam recall by kind of scam row: {shown}")
    p = result["pooled"]["scam"]
    lines.append(
        f"  pooled oracle (tuned and measured on all OOF rows): scam recall {p['recall']:.3f} "
        f"at FPR {p['fpr']:.4f}; scam PR-AUC {result['report']['metrics']['scam_pr_auc']:.3f}"
    )
    if result.get("robustness"):
        from janitr.data.obfuscate import format_robustness

        o = result["report"]["metrics"]
        rob = {
            "original": {"rows": result["rows"], "scam_recall": o[SCAM]["recall"],
                         "scam_fpr_clean": o["scam_fpr_by_negative_class"]["clean"],
                         "scam_fpr_topic_crypto": o["scam_fpr_by_negative_class"]["topic_crypto"]},
            "kinds": result["robustness"],
        }  # fmt: skip
        lines += ["", "robustness (fold models on obfuscated copies of their held-out rows):",
                  format_robustness(rob)]  # fmt: skip
    return "\n".join(lines)


def lever_table(results: Sequence[tuple[str, dict]]) -> str:
    """Markdown table, one row per (lever name, crossval result)."""
    head = (
        "| lever | rule | scam recall @ FPR<=2% [95% CI] | OOF scam FPR (clean / topic) "
        "| macro F1 [95% CI] | exact | scam recall obfuscated (mixed) | FPR obfuscated clean "
        "(mixed) |\n|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    for name, result in results:
        for rule, v in result["rules"].items():
            s = v["summary"]
            neg = s["scam_fpr_by_negative_class"]
            mixed = v.get("robustness", {}).get("mixed", {}).get("obfuscated")
            rob = (f"{mixed['scam_recall']:.3f} | {mixed['scam_fpr_clean']:.3f}" if mixed
                   else "- | -")  # fmt: skip
            rows.append(
                f"| {name} | {rule} | {s['scam_recall']:.3f}{_ci(s['scam_recall_ci'])} | "
                f"{s['scam_fpr']:.4f} ({neg['clean']:.4f} / {neg['topic_crypto']:.4f}) | "
                f"{s['macro_f1']:.3f}{_ci(s['macro_f1_ci'])} | {s['exact_match']:.3f} | {rob} |"
            )
    return "\n".join(rows)


def run_crossval(*, data_dir: str | Path, config: CrossvalConfig) -> dict:
    """`janitr crossval`: read train/valid/calib from data_dir and cross-fit.

    Raises:
        DataError: on missing files or bad rows.
        ConfigError: on bad settings.
    """
    return crossval(records=read_labeled(data_dir), config=config)


def write_oof_predictions(path: str | Path, result: dict) -> int:
    """Per-row OOF predictions as JSONL (the `janitr errors` input); returns the row count."""
    from janitr.evaluation.evaluate import write_predictions

    return write_predictions(path, {"predictions": result["predictions"]})


def out_of_fold_heads(
    records: Sequence[Record], *, config: CrossvalConfig, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold head probabilities of one model family, without the evaluation around it.

    The same folds (`assign_folds`) and fold models (`MEMBER_BUILDERS`) as `crossval`, for
    callers that only need the scores (the label audit).

    Args:
        records: labeled rows (ids unique).
        config: `model` (one of MEMBERS), `folds`, `seed` and the member's settings.
        progress: a progress bar over the folds (stderr).

    Returns:
        `(oof (N, 2) [p_scam, p_topic], fold (N,))`.

    Raises:
        ConfigError: if `config.model` is not a single family, or too few rows for the folds.
    """
    import contextlib
    import sys

    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    if config.model not in MEMBERS:
        raise ConfigError(f"--model must be one of {', '.join(MEMBERS)}, got {config.model!r}")
    records = list(records)
    fold = assign_folds(records, folds=config.folds, seed=config.seed)
    member = MEMBER_BUILDERS[config.model](config)
    # The per-fold log lines are printed above the bar, not through it.
    redirect = logging_redirect_tqdm() if progress else contextlib.nullcontext()
    with redirect, tqdm(total=config.folds, unit="fold", desc=f"{config.model} out-of-fold",
                        disable=not progress, file=sys.stderr) as bar:  # fmt: skip

        def fit_score(train: Sequence[Record], texts: Sequence[str]) -> np.ndarray:
            heads = member(train, texts)
            bar.update(1)
            return heads

        oof, _ = _cross_fit(records, fold, config, fit_score, [])
    return oof, fold
