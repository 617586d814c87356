"""The real stages of `janitr run`: thin adapters from a stage context to library calls.

Honest evaluation: valid selects epochs and fits temperatures, calib tunes thresholds, so
neither can measure the final models. Data without a `holdout.jsonl` gets one in the first
stage: `janitr.data.splits.carve_holdout` splits `data.holdout_fraction` of train off with
the group-aware stratified splitter, and every later stage reads the carved `data/` folder:
it trains on the reduced train and evaluates on the holdout.

Each stage reads its inputs (`ctx.data_file`, `ctx.stage`), calls one library function,
writes into `ctx.out` and returns a small summary for the manifest and the report. Heavy
modules are imported inside the functions, so that importing the stage list never imports
torch.

Thresholds: the trainer stages tune *provisional* thresholds (`PROVISIONAL`: calib, the
empirical rule), which only label their own report on valid; the thresholds stage then tunes
every final bundle with `[thresholds]` (`janitr.evaluation.tuning.tune_bundle`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from janitr.artifacts import read_json, write_json, write_lines
from janitr.config import ConfigProblem
from janitr.errors import ConfigError, PipelineError
from janitr.evaluation.thresholds import ThresholdPolicy
from janitr.pipeline.config import PipelineConfig, as_keys
from janitr.pipeline.rundir import DATA_DIR, write_evaluation
from janitr.pipeline.runner import Stage, StageContext

log = logging.getLogger(__name__)

#: The threshold policy of the trainer stages: calib only (their report on valid must not
#: see its thresholds tuned on valid) and the empirical rule. The final thresholds are the
#: thresholds stage's, tuned with `[thresholds]`.
PROVISIONAL = ThresholdPolicy(tune_on="calib", rule="empirical")


def preflight(config: PipelineConfig, data_dir: Path) -> None:
    """Refuse, before anything trains, a run whose evaluation would be refused at the end.

    Raises:
        ConfigError: if the evaluation split is one the models select or tune on (valid,
            calib) and `evaluate.allow_overlap` is false, or the named split is missing.
    """
    _preflight_teacher(config, data_dir)
    split = config.evaluate.split
    carved = will_carve_holdout(config, data_dir)
    if split == "auto":
        split = "holdout" if carved or (data_dir / "holdout.jsonl").is_file() else "valid"
    if split == "holdout" and carved:
        return
    if not (data_dir / f"{split}.jsonl").is_file():
        raise ConfigError(f"evaluate.split: {split}.jsonl does not exist in {data_dir}")
    if split in ("valid", "calib") and not config.evaluate.allow_overlap:
        raise ConfigError(
            f"evaluate.split: the run would evaluate on {split}.jsonl"
            + (
                " (there is no holdout.jsonl and data.holdout_fraction = 0)"
                if config.evaluate.split == "auto"
                else ""
            )
            + ", but the teacher and student choose their best epoch on valid and every model "
            "tunes its thresholds on calib, so the evaluation would be refused after training. "
            "Set data.holdout_fraction (e.g. 0.2: a holdout is carved out of train.jsonl), add "
            "a holdout.jsonl (`janitr split` writes one), or set evaluate.allow_overlap = true "
            "(the report then flags the numbers as optimistic)"
        )


def _preflight_teacher(config: PipelineConfig, data_dir: Path) -> None:
    """The teacher settings that depend on the data or the encoder, checked now rather than
    at the teacher and cache stages (minutes later), each problem naming its config key.

    The seed guard: the lines of train.jsonl bound the rows the teacher will train on (a
    carved holdout only removes rows), so a guard that fires on that bound fires at the
    teacher stage too. The encoder's positions and depth: read from its config.json when it
    is a local directory (the default encoder is; a hub id is checked at its stage).
    """
    from janitr.teacher.model import check_seed_guard

    train = data_dir / "train.jsonl"
    if train.is_file():  # else the validate stage reports the missing file with its path
        with open(train, "rb") as handle:
            lines = sum(1 for line in handle if line.strip())
        try:
            check_seed_guard(config.teacher, lines)
        except ConfigError as exc:
            raise as_keys(exc, "teacher") from None
    spec = Path(config.teacher.resolved_model()) / "config.json"
    if not spec.is_file():
        return
    encoder = read_json(spec)
    problems = []
    positions = encoder.get("max_position_embeddings")
    if isinstance(positions, int) and config.teacher.max_length > positions:
        message = (
            f"{config.teacher.max_length} is longer than the {positions} positions of the "
            f"encoder {spec.parent}; use {positions} or less"
        )
        problems.append(ConfigProblem("teacher.max_length", message))
    depth = encoder.get("num_hidden_layers")
    layers = config.cache.layers or ()
    bad = [i for i in layers if isinstance(depth, int) and not 1 <= i <= depth]
    if bad:
        message = f"{bad} outside the encoder's layers 1..{depth}"
        problems.append(ConfigProblem("cache.layers", message))
    if problems:
        raise ConfigError(problems=problems)


def will_carve_holdout(config: PipelineConfig, data_dir: Path) -> bool:
    """True when the validate stage carves a holdout out of train.jsonl (none is given)."""
    return config.data.holdout_fraction > 0 and not (data_dir / "holdout.jsonl").is_file()


def _relative(obj: Any, data_dir: Path) -> Any:
    """Replace absolute data paths in a report by file names (outputs must not depend on
    where the data lives, so that runs on copies of the same data share stage outputs)."""
    prefix = str(data_dir) + os.sep
    if isinstance(obj, str):
        return obj.replace(prefix, "")
    if isinstance(obj, list):
        return [_relative(v, data_dir) for v in obj]
    if isinstance(obj, dict):
        return {_relative(k, data_dir): _relative(v, data_dir) for k, v in obj.items()}
    return obj


def _labeled_splits(ctx: StageContext, names: Sequence[str]) -> list[Path]:
    return [
        ctx.data_file(n)
        for n in names
        if n in ("train", "valid", "calib") or ctx.data_file(n).is_file()
    ]


def _normalized(path: Path, *, labeled: bool = True) -> list[str]:
    """Normalized texts of a split; rows of an unlabeled file that have problems are skipped
    (the validate stage reported them)."""
    from janitr.data.records import Record, read_records, scan

    if labeled:
        return [r.norm_text for r in read_records(path, require_labels=True)]
    return [r.norm_text for r in scan([path], require_labels=False) if isinstance(r, Record)]


def stage_validate(ctx: StageContext) -> dict:
    """Check every row of every split; all problems at once. Then, when the data has no
    `holdout.jsonl`, carve one out of train into `data/` (`janitr.data.splits.carve_holdout`)."""
    from janitr.data.validate import validate_files
    from janitr.errors import DataError

    report = validate_files(
        _labeled_splits(ctx, ("train", "valid", "calib", "holdout")), require_labels=True
    )
    problems = list(report.problems)
    payload = {"labeled": _relative(report.to_dict(), ctx.data_dir)}
    skipped = 0
    if ctx.data_file("unlabeled").is_file():
        # The unlabeled corpus only feeds the tokenizer (and MLM pretraining): its bad rows
        # are skipped with a warning instead of stopping the run.
        unlabeled = validate_files([ctx.data_file("unlabeled")], require_labels=False)
        skipped = len(unlabeled.problems)
        payload["unlabeled"] = _relative(unlabeled.to_dict(), ctx.data_dir)
        if skipped:
            log.warning(
                "unlabeled.jsonl: %d bad row(s) will be skipped (first: %s)",
                skipped,
                unlabeled.problems[0],
            )
    write_json(ctx.out / "validate.json", payload)
    if problems:
        raise DataError(
            problems,
            summary=f"{len(problems)} problem(s) in the data in {ctx.data_dir}; fix them and rerun",
        )
    summary = {
        "rows": report.rows,
        "rows_per_file": _relative(report.rows_per_file, ctx.data_dir),
        "class_counts": report.to_dict()["class_counts"],
        "unlabeled_rows_skipped": skipped,
    }
    if will_carve_holdout(ctx.config, ctx.data_dir):
        from janitr.data.splits import carve_holdout

        carve = carve_holdout(
            ctx.data_dir,
            ctx.out / DATA_DIR,
            fraction=ctx.config.data.holdout_fraction,
            seed=ctx.config.data.holdout_seed,
            threshold=ctx.config.leakage.threshold,
        )
        write_json(ctx.out / "holdout_split.json", carve)
        summary["holdout"] = {k: v for k, v in carve.items() if k != "dropped_ids"}
        log.info(
            "no holdout.jsonl: carved %d holdout rows out of train.jsonl (%d left to train on; "
            "%d dropped as duplicates of valid/calib)",
            carve["rows"]["holdout"],
            carve["rows"]["train"],
            carve["dropped"],
        )
    else:
        summary["holdout"] = {
            "source": "holdout.jsonl" if ctx.data_file("holdout").is_file() else None
        }
    return summary


def stage_leakage(ctx: StageContext) -> dict:
    """Overlap between the splits by id, normalized text and near-duplicate text."""
    from janitr.data.leakage import check_leakage
    from janitr.errors import LeakageError

    cfg = ctx.config.leakage
    report = check_leakage(
        _labeled_splits(ctx, ("train", "valid", "calib", "holdout")), threshold=cfg.threshold
    )
    payload = _relative(report.to_dict(), ctx.data_dir)
    write_json(ctx.out / "leakage.json", payload)
    pairs = [
        p for p in payload.get("pairs", []) if p.get("ids") or p.get("texts") or p.get("near_dups")
    ]

    def describe(items: list[dict]) -> str:
        return "; ".join(
            f"{p['a']}/{p['b']}: {p['ids']} ids, {p['texts']} texts, "
            f"{p['near_dups']} near-duplicates"
            for p in items
        )

    detail = describe(pairs)
    holdout = [p for p in pairs if "holdout" in (p["a"], p["b"])]
    fatal = pairs if cfg.fail_any else (holdout if cfg.fail else [])
    if fatal:
        raise LeakageError(
            f"the splits overlap ({describe(fatal)}); fix the splits (`janitr split`), or set "
            "leakage.fail = false / leakage.fail_any = false to record it and go on"
        )
    if pairs:
        log.warning("the splits overlap (%s); recorded in the report", detail)
    return {"ok": bool(report.ok), "overlaps": detail}


def stage_tokenizer(ctx: StageContext) -> dict:
    """Student vocabulary (SentencePiece unigram) on the normalized training (+ unlabeled) texts."""
    from janitr.student.tokenizer import save_tokenizer, tokenizer_stats, train_tokenizer

    cfg = ctx.config.tokenizer
    texts = _normalized(ctx.data_file("train"))
    if ctx.config.data.tokenizer_unlabeled and ctx.data_file("unlabeled").is_file():
        texts += _normalized(ctx.data_file("unlabeled"), labeled=False)
    tok = train_tokenizer(texts, config=cfg)
    stats = tokenizer_stats(tok, texts, config=cfg)
    save_tokenizer(tok, ctx.out, stats=stats)
    size = tok.get_vocab_size(with_added_tokens=True)
    if size != cfg.vocab_size:
        log.warning(
            "the tokenizer has %d tokens, not %d (the training text is small); the student uses %d",
            size,
            cfg.vocab_size,
            size,
        )
    return {"vocab_size": size, "sample_unk_rate": stats["sample_unk_rate"], "texts": len(texts)}


def stage_fasttext(ctx: StageContext) -> dict:
    """fastText baseline, quantized to .ftz (thresholds re-tuned in the thresholds stage)."""
    from janitr.baselines.fasttext import train_fasttext

    bundle = train_fasttext(
        data_dir=ctx.data_dir,
        out_dir=ctx.out / "bundle",
        config=ctx.config.fasttext,
        thresholds=PROVISIONAL,
    )
    return {
        "thresholds": bundle.thresholds,
        "size_bytes": bundle.manifest["model"].get("size_bytes"),
    }


def stage_pretrain(ctx: StageContext) -> dict:
    """Optional domain-adaptive MLM pretraining of the teacher encoder on unlabeled text."""
    import dataclasses

    from janitr.teacher.pretrain import pretrain_mlm

    result = pretrain_mlm(
        data_dir=ctx.data_dir,
        out_dir=ctx.out / "encoder",
        config=dataclasses.replace(ctx.config.pretrain, progress=not ctx.quiet),
        model_name_or_path=ctx.config.teacher.model_name_or_path,
    )
    return {"encoder": Path(result).name}


def stage_teacher(ctx: StageContext) -> dict:
    """Multi-seed teacher, calibrated per head (temperature scaling on valid)."""
    import dataclasses

    from janitr.teacher.model import train_teacher

    cfg = dataclasses.replace(ctx.config.teacher, progress=not ctx.quiet)
    if "pretrain" in ctx.upstream:
        cfg = dataclasses.replace(cfg, model_name_or_path=str(ctx.stage("pretrain") / "encoder"))
    bundle = train_teacher(
        data_dir=ctx.data_dir,
        out_dir=ctx.out / "bundle",
        config=cfg,
        thresholds=PROVISIONAL,
        work_dir=ctx.out / "work",
    )
    model = bundle.manifest["model"]
    return {
        "teacher_id": model.get("teacher_id"),
        "seeds": model.get("seeds"),
        "calibration": model.get("calibration"),
        "thresholds": bundle.thresholds,
    }


def stage_cache(ctx: StageContext) -> dict:
    """Teacher targets (calibrated logits, blended with a linear model) and hidden states."""
    from janitr.data.records import dump_row, read_records
    from janitr.student.distill import distillation_corpus
    from janitr.teacher.cache import build_cache

    cfg = ctx.config.cache
    teacher = ctx.stage("teacher") / "bundle"
    splits = {split: read_records(ctx.data_file(split)) for split in ("train", "valid")}
    if cfg.unlabeled and ctx.data_file("unlabeled").is_file():
        splits["unlabeled"] = distillation_corpus(
            ctx.data_file("unlabeled"),
            train=ctx.data_file("train"),
            evals=[ctx.data_file(s) for s in ("valid", "calib", "holdout")],
            threshold=ctx.config.leakage.threshold,
        )
        write_lines(ctx.out / UNLABELED_FILE, (dump_row(r.raw) for r in splits["unlabeled"]))
    mixes = {}
    if cfg.linear_weight > 0:
        from janitr.pipeline.crossval import cross_fitted_linear_heads

        heads = cross_fitted_linear_heads(
            splits["train"],
            {k: v for k, v in splits.items() if k != "train"},
            config=cache_linear_config(),
        )
        name = "linear (out-of-fold on train)"
        mixes = {k: (h, cfg.linear_weight, name) for k, h in heads.items()}
    for split, records in splits.items():
        build_cache(
            teacher=teacher,
            records=records,
            split=split,
            out=ctx.out,
            layers=cfg.layers,
            batch_size=cfg.batch_size,
            progress=not ctx.quiet,
            mix=mixes.get(split),
        )
    return {"rows": {k: len(v) for k, v in splits.items()}, "linear_weight": cfg.linear_weight}


def cache_linear_config():
    """The linear model whose out-of-fold probabilities the cache blends into the teacher's
    logits (`cache.linear_weight`)."""
    from janitr.baselines.linear import LinearConfig

    return LinearConfig(fold_confusables=True)


#: The unlabeled rows the cache stage kept for distillation (JSONL, in the cache folder).
UNLABELED_FILE = "unlabeled.jsonl"


def stage_distill(ctx: StageContext) -> dict:
    """Distill the student from the cache (any depth maps onto the cached teacher layers)."""
    import dataclasses

    from janitr.student.distill import distill_student
    from janitr.student.tokenizer import load_tokenizer

    tok_dir = ctx.stage("tokenizer")
    vocab = load_tokenizer(tok_dir, expected_vocab_size=None).get_vocab_size(with_added_tokens=True)
    student = ctx.config.student
    if vocab != student.vocab_size:
        student = dataclasses.replace(student, vocab_size=vocab)
    cfg = dataclasses.replace(ctx.config.distill, progress=not ctx.quiet)
    cache = ctx.stage("cache")
    unlabeled = cache / UNLABELED_FILE
    result = distill_student(
        train=ctx.data_file("train"),
        valid=ctx.data_file("valid"),
        cache_train=cache,
        cache_valid=cache,
        extra=unlabeled if unlabeled.is_file() else None,
        cache_extra=cache,
        tokenizer_path=tok_dir / "tokenizer.json",
        out_dir=ctx.out / "student",
        student_config=student,
        config=cfg,
    )
    return {
        "best_epoch": result.best_epoch,
        "best_metric": result.best_metric,
        "select_metric": result.select_metric,
        "parameters": result.parameters,
    }


def _parity_texts(ctx: StageContext) -> list[str]:
    texts = _normalized(ctx.data_file("train")) + _normalized(ctx.data_file("valid"))
    if ctx.data_file("unlabeled").is_file():
        texts += _normalized(ctx.data_file("unlabeled"), labeled=False)
    return texts


def stage_export(ctx: StageContext) -> dict:
    """ONNX export of the student, gated by torch/ONNX parity."""
    from janitr.student.export import export_onnx

    cfg = ctx.config.export
    report = export_onnx(
        student_dir=ctx.stage("distill") / "student",
        out_path=ctx.out / "model.fp32.onnx",
        parity_texts=_parity_texts(ctx),
        opset=cfg.opset,
        report_path=ctx.out / "parity_fp32.json",
        min_rows=cfg.parity_rows,
        max_mean_delta=cfg.max_mean_delta,
        min_agreement=cfg.min_agreement,
    )
    return {"parity": report.summary(), "size_bytes": (ctx.out / "model.fp32.onnx").stat().st_size}


def stage_quantize(ctx: StageContext) -> dict:
    """Int8 quantization, gated by fp32/int8 (and torch/int8) parity."""
    from janitr.student.quantize import quantize_onnx

    cfg = ctx.config.quantize
    student = ctx.stage("distill") / "student"
    report = quantize_onnx(
        fp32_path=ctx.stage("export") / "model.fp32.onnx",
        out_path=ctx.out / "model.int8.onnx",
        tokenizer_path=student / "tokenizer.json",
        parity_texts=_parity_texts(ctx),
        mode=cfg.mode,
        calibration_texts=_normalized(ctx.data_file("train")) if cfg.mode == "static" else None,
        student_dir=student,
        weights=cfg.weights,
        per_channel=cfg.per_channel,
        report_path=ctx.out / "parity_int8.json",
        min_rows=cfg.parity_rows,
        max_mean_delta=cfg.max_mean_delta,
        min_agreement=cfg.min_agreement,
    )
    return {"parity": report.summary(), "size_bytes": (ctx.out / "model.int8.onnx").stat().st_size}


def stage_thresholds(ctx: StageContext) -> dict:
    """Final bundles, every one tuned on the same rows (`thresholds.tune_on`) with the same
    policy (`[thresholds]`)."""
    from janitr.data.records import read_records
    from janitr.evaluation.tuning import tune_bundle
    from janitr.student.export import write_student_bundles

    policy = ctx.config.thresholds
    out = ctx.out / "bundles"
    tuning = read_records(*(ctx.data_file(split) for split in policy.tune_splits))
    summary = {}
    for name in ("fasttext", "teacher"):
        if name in ctx.upstream:
            bundle = tune_bundle(
                ctx.stage(name) / "bundle", out / name, records=tuning, policy=policy
            )
            summary[name] = bundle.thresholds
    if "quantize" in ctx.upstream:
        student = ctx.stage("distill") / "student"
        bundles = write_student_bundles(
            student_dir=student,
            models={
                "student-fp32": ctx.stage("export") / "model.fp32.onnx",
                "student-int8": ctx.stage("quantize") / "model.int8.onnx",
            },
            out_dir=out,
            train=ctx.data_file("train"),
            valid=ctx.data_file("valid"),
            calib=tuning,
            tuning_name=policy.tune_on,
            parity_reports={
                "student-fp32": ctx.stage("export") / "parity_fp32.json",
                "student-int8": ctx.stage("quantize") / "parity_int8.json",
            },
            thresholds=policy,
        )
        summary.update({name: b.thresholds for name, b in bundles.items()})
    return {"thresholds": summary, "tuned_on": policy.tune_on, "rows": len(tuning)}


def resolve_eval_split(ctx: StageContext) -> str:
    """The split the evaluate stage scores: `evaluate.split`, with `auto` meaning the
    holdout if there is one, else valid.

    Raises:
        PipelineError: if that split's file does not exist.
    """
    split = ctx.config.evaluate.split
    if split == "auto":
        split = "holdout" if ctx.data_file("holdout").is_file() else "valid"
    if not ctx.data_file(split).is_file():
        raise PipelineError(
            f"evaluate.split = {split!r}, but {ctx.data_file(split)} does not exist"
        )
    return split


def evaluate_into(
    bundle_dir: Path,
    data: Path,
    out_dir: Path,
    *,
    split: str,
    allow_overlap: bool,
    n_boot: int,
    seed: int,
) -> dict:
    """Evaluate one bundle; write `eval.json` and `predictions.jsonl` (with texts) to out_dir."""
    from janitr.data.labels import targets
    from janitr.data.normalize import has_url
    from janitr.data.records import read_records
    from janitr.evaluation.evaluate import evaluate_bundle

    report = evaluate_bundle(
        model=bundle_dir,
        data=data,
        allow_overlap=allow_overlap,
        n_boot=n_boot,
        seed=seed,
        with_predictions=True,
    )
    preds = report.pop("predictions")
    # Paths would make outputs depend on where the run lives; names are enough.
    report["data"] = {**report["data"], "path": data.name, "split": split}
    report["model"] = {**report["model"], "path": bundle_dir.name}
    records = {r.id: r for r in read_records(data)}
    rows = []
    for i, row_id in enumerate(preds["ids"]):
        rec = records[row_id]
        rows.append(
            {
                "id": row_id,
                "gold": preds["gold"][i],
                "pred": preds["pred"][i],
                "p_scam": preds["p_scam"][i],
                "p_topic": preds["p_topic"][i],
                "is_topic": targets(rec.labels).is_topic,
                "has_url": has_url(rec.text),
                "text": rec.text,
            }
        )
    write_evaluation(out_dir, report, rows)
    return report


def stage_evaluate(ctx: StageContext) -> dict:
    """Every final bundle on the evaluation split, one metric code path, per-row predictions."""
    cfg = ctx.config.evaluate
    split = resolve_eval_split(ctx)
    data = ctx.data_file(split)
    if cfg.allow_overlap:
        log.warning(
            "evaluate.allow_overlap = true: rows the models saw are scored too; "
            "these numbers are not an honest estimate"
        )
    summary = {"split": split}
    for bundle_dir in sorted((ctx.stage("thresholds") / "bundles").iterdir()):
        if not (bundle_dir / "bundle.json").is_file():
            continue
        report = evaluate_into(
            bundle_dir,
            data,
            ctx.out / bundle_dir.name,
            split=split,
            allow_overlap=cfg.allow_overlap,
            n_boot=cfg.bootstrap,
            seed=cfg.seed,
        )
        m = report["metrics"]
        summary[bundle_dir.name] = {
            "scam_recall": m["scam"]["recall"],
            "scam_fpr": m["scam"]["fpr"],
            "macro_f1": m["macro_f1"],
        }
    return summary


def stage_refit(ctx: StageContext) -> dict:
    """Refit `[refit] models` on every labeled row (train, holdout, valid, calib), thresholds
    tuned on out-of-fold scores (`janitr.pipeline.refit`): `bundles/<family>-refit`. The
    measured bundles keep their holdout figures; a refit has an out-of-fold figure only."""
    import tempfile

    from janitr.artifacts import sha256_file
    from janitr.data.records import read_records
    from janitr.pipeline.refit import SUFFIX, refit, write_refit_bundle
    from janitr.pipeline.rundir import EVAL_FILE

    cfg = ctx.config.refit
    names = [s for s in ("train", "holdout", "valid", "calib") if ctx.data_file(s).is_file()]
    splits = {s: read_records(ctx.data_file(s)) for s in names}
    records = [r for s in names for r in splits[s]]
    summary = {}
    for family in cfg.models:
        measured_dir = ctx.stage("thresholds") / "bundles" / family
        measured = held_out = None
        if (measured_dir / "bundle.json").is_file():
            measured = {"bundle": family, "sha256": sha256_file(measured_dir / "bundle.json")}
            report = read_json(ctx.stage("evaluate") / family / EVAL_FILE)
            scam = report["metrics"]["scam"]
            held_out = {"split": report["data"].get("split"), "scam_recall": scam["recall"],
                        "scam_fpr": scam["fpr"], "scam_recall_ci": report.get("ci95", {}).get(
                            "scam_recall")}  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="janitr-refit-") as tmp:
            result = refit(
                records, family=family, policy=ctx.config.thresholds, folds=cfg.folds,
                seed=cfg.seed, n_boot=cfg.bootstrap, work_dir=tmp,
                fasttext_config=ctx.config.fasttext, progress=not ctx.quiet,
            )  # fmt: skip
            bundle = write_refit_bundle(
                result, out_dir=ctx.out / "bundles" / (family + SUFFIX), data_dir=ctx.data_dir,
                splits=splits, policy=ctx.config.thresholds, measured=measured,
            )  # fmt: skip
        summary[family + SUFFIX] = {
            "measured": family if measured else None, "measured_held_out": held_out,
            "rows": {s: len(v) for s, v in splits.items()}, "thresholds": bundle.thresholds,
            "oof": result.figure,
        }  # fmt: skip
    return summary


def stage_report(ctx: StageContext) -> dict:
    """HTML + Markdown report of the run (re-render any time with `janitr report RUN`)."""
    from janitr.pipeline.report import render_report

    paths = render_report(ctx.run_dir, out_dir=ctx.out)
    return {"files": sorted(p.name for p in paths)}


_DATA = ("train", "valid", "calib", "holdout", "unlabeled")


STAGES: tuple[Stage, ...] = (
    Stage(
        "validate",
        stage_validate,
        sections=("data", "leakage"),
        data=_DATA,
        provides_data=True,
    ),
    Stage(
        "leakage",
        stage_leakage,
        deps=("validate",),
        sections=("leakage",),
        data=("train", "valid", "calib", "holdout"),
    ),
    Stage(
        "tokenizer",
        stage_tokenizer,
        deps=("validate",),
        sections=("tokenizer", "data"),
        data=("train", "unlabeled"),
        version=2,  # 2: SentencePiece (deterministic) instead of the WordPiece trainer
    ),
    Stage(
        "fasttext",
        stage_fasttext,
        deps=("leakage",),
        sections=("fasttext",),
        data=("train", "valid", "calib"),
        version=2,  # 2: heads from the exact logits, not fastText's saturating table sigmoid
    ),
    Stage(
        "pretrain",
        stage_pretrain,
        deps=("leakage",),
        sections=("pretrain", "teacher"),
        data=_DATA,
        enabled=lambda c: c.pretrain.enabled,
    ),
    Stage(
        "teacher",
        stage_teacher,
        deps=("leakage", "pretrain"),
        sections=("teacher",),
        data=("train", "valid", "calib"),
    ),
    Stage(
        "cache",
        stage_cache,
        deps=("teacher",),
        sections=("cache", "leakage"),
        data=("train", "valid", "calib", "holdout", "unlabeled"),
    ),
    Stage(
        "distill",
        stage_distill,
        deps=("tokenizer", "cache"),
        sections=("distill", "student"),
        data=("train", "valid"),
    ),
    Stage(
        "export",
        stage_export,
        deps=("distill",),
        sections=("export",),
        data=("train", "valid", "unlabeled"),
        version=2,  # 2: the last layer computes only the [CLS] row (same outputs, faster)
    ),
    Stage(
        "quantize",
        stage_quantize,
        deps=("distill", "export"),
        sections=("quantize",),
        data=("train", "valid", "unlabeled"),
        version=2,  # 2: weights in [-64, 64] or u8 (no int16 saturation), metadata in the file
    ),
    Stage(
        "thresholds",
        stage_thresholds,
        deps=("fasttext", "teacher", "distill", "export", "quantize"),
        sections=("thresholds",),
        data=("train", "valid", "calib"),
    ),
    Stage(
        "evaluate",
        stage_evaluate,
        deps=("thresholds",),
        sections=("evaluate",),
        data=("valid", "calib", "holdout"),
    ),
    Stage(
        "refit",
        stage_refit,
        deps=("thresholds", "evaluate"),
        sections=("refit", "fasttext", "thresholds"),
        data=("train", "valid", "calib", "holdout"),
        enabled=lambda c: c.refit.enabled,
    ),
    Stage(
        "report",
        stage_report,
        deps=("evaluate", "thresholds", "refit"),
        sections=("report",),
        enabled=lambda c: c.report.enabled,
    ),
)


def default_stages() -> list[Stage]:
    """The real stage list, in order."""
    return list(STAGES)
