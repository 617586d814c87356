"""`janitr` verbs that train models: train (fasttext, linear, tokenizer, teacher),
pretrain, cache, distill.

Each verb parses its flags, builds its config and calls one library function.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from janitr.cli.flags import add_config_flags, add_threshold_flags, build_config, threshold_policy


def register(sub) -> None:
    """Add this group's verbs to the `janitr` subparsers."""
    _add_train(sub)
    _add_distill(sub)
    _add_pretrain(sub)
    _add_cache(sub)


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model and write a bundle (janitr train MODEL --help)",
        description="Train one model and write a self-describing bundle (model files, tuned "
        "thresholds, normalization, data provenance and the ids of every row it saw)."
        "\n\nexamples:\n  janitr train fasttext --data data/ --out bundles/fasttext",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train_sub = p.add_subparsers(dest="train_model", metavar="MODEL")
    for add in (_add_train_fasttext, _add_train_linear, _add_train_tokenizer, _add_train_teacher):
        add(train_sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _add_train_fasttext(train_sub) -> None:
    from janitr.baselines.fasttext import FastTextConfig, train_fasttext

    p = train_sub.add_parser(
        "fasttext",
        help="fastText baseline: train, quantize to .ftz, tune thresholds, write a bundle",
        description="Train the fastText baseline on DATA/train.jsonl (one-vs-all loss: a scam "
        "head and an independent topic head), quantize it to a ~135 KB .ftz, tune the scam "
        "threshold for maximum recall at scam FPR <= --scam-target-fpr on the tuning split(s) "
        "(with the quantized model), tune the topic threshold for F1, and write a bundle. "
        "If DATA/valid.jsonl exists and is not used for tuning (--tune-on calib), a metrics "
        "table on it is printed."
        "\n\nexamples:\n"
        "  janitr train fasttext --data data/ --out bundles/fasttext\n"
        "  janitr train fasttext --data data/ --out bundles/ft --tune-on calib --epoch 25\n"
        "  janitr evaluate --model bundles/fasttext --data data/holdout.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_baseline_flags(p, FastTextConfig, train=train_fasttext)


def _add_baseline_flags(p: argparse.ArgumentParser, config_cls: type, *, train) -> None:
    """The flags and handler shared by `janitr train fasttext` and `janitr train linear`."""
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="directory with train.jsonl, calib.jsonl (and valid.jsonl)",
    )
    p.add_argument("--out", required=True, metavar="BUNDLE_DIR", help="bundle directory to write")
    add_config_flags(p, config_cls)
    add_threshold_flags(p)
    p.set_defaults(func=functools.partial(_cmd_train_baseline, config_cls, train))


def _cmd_train_baseline(config_cls: type, train, args) -> int:
    from janitr.evaluation.evaluate import format_bundle_report

    config = build_config(config_cls, args)
    bundle = train(
        data_dir=args.data, out_dir=args.out, config=config, thresholds=threshold_policy(args)
    )
    print(format_bundle_report(bundle))
    return 0


def _add_train_linear(train_sub) -> None:
    from janitr.baselines.linear import LinearConfig, train_linear

    p = train_sub.add_parser(
        "linear",
        help="word+char n-gram TF-IDF + logistic regression (two heads), write a bundle",
        description="Train TF-IDF features (word 1-2-grams + char_wb 2-5-grams, sublinear tf) "
        "and two logistic regressions (scam-vs-not, topic bit) on DATA/train.jsonl, tune "
        "thresholds on the tuning split(s) (scam: max recall at FPR <= --scam-target-fpr, "
        "--threshold-rule guaranteed for a Clopper-Pearson bound), and write a bundle (kind "
        "linear; vocabularies + coefficients, no pickle)."
        "\n\nexamples:\n"
        "  janitr train linear --data data/ --out bundles/linear\n"
        "  janitr train linear --data data/ --out bundles/linear --c 8 --fold-confusables",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_baseline_flags(p, LinearConfig, train=train_linear)


def _add_train_tokenizer(train_sub) -> None:
    from janitr.student.tokenizer import TokenizerConfig

    p = train_sub.add_parser(
        "tokenizer",
        help="student vocabulary (train texts, optionally + unlabeled)",
        description="Train the student's tokenizer (a SentencePiece unigram vocabulary, trained "
        "deterministically and saved as a Hugging Face tokenizer.json; "
        "[PAD] [UNK] [CLS] [SEP] [MASK] = ids 0..4) on "
        "the normalized texts of DATA/train.jsonl (plus --unlabeled files), never on evaluation "
        "data; write OUT/tokenizer.json and OUT/tokenizer_stats.json (vocab size, UNK rate on a "
        "sample, data hash). Fails if the UNK rate exceeds --max-unk-rate."
        "\n\nexamples:\n"
        "  janitr train tokenizer --data data/ --out runs/tok\n"
        "  janitr train tokenizer --data data/ --unlabeled data/unlabeled.jsonl --out runs/tok",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, metavar="DIR", help="directory with train.jsonl")
    p.add_argument(
        "--unlabeled",
        nargs="*",
        default=[],
        metavar="JSONL",
        help="extra unlabeled JSONL files (id, text) to train on",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    add_config_flags(p, TokenizerConfig)
    p.set_defaults(func=_cmd_train_tokenizer)


def _cmd_train_tokenizer(args) -> int:
    from janitr.student.tokenizer import TokenizerConfig, train_tokenizer_files

    path, stats = train_tokenizer_files(
        data_dir=args.data, out_dir=args.out, unlabeled=args.unlabeled,
        config=build_config(TokenizerConfig, args),
    )  # fmt: skip
    print(
        f"wrote {path}: {stats['vocab_size']} tokens from {stats['train_rows']} texts, "
        f"UNK rate {stats['sample_unk_rate']:.2%} on {stats['sample_size']} texts"
    )
    return 0


def _add_train_teacher(train_sub) -> None:
    from janitr.teacher.model import TeacherConfig

    p = train_sub.add_parser(
        "teacher",
        help="multi-seed encoder teacher: fine-tune, calibrate, tune thresholds, bundle",
        description="Fine-tune a pretrained encoder (default: the installed all-MiniLM-L6-v2; "
        "--model takes any Hugging Face hub id or local directory) with a scam head and a "
        "topic head, once per seed, on DATA/train.jsonl; pick each seed's best epoch on "
        "DATA/valid.jsonl; average the seeds into an ensemble; fit one temperature per head "
        "on valid; tune thresholds on --tune-on at scam FPR <= --scam-target-fpr; "
        "write a bundle of kind 'teacher' (with calibration.json and reliability.png). "
        "Fewer than 3 seeds on <= 5000 training rows is refused unless --force."
        "\n\nexamples:\n"
        "  janitr train teacher --data data/ --out bundles/teacher\n"
        "  janitr train teacher --data data/ --out bundles/t1 --seeds 13 --force --epochs 1\n"
        "  janitr train teacher --data data/ --out bundles/t --model runs/mlm  # after pretrain\n"
        "  torchrun --nproc-per-node 3 -m janitr train teacher --data data/ --out bundles/t"
        "  # a seed per GPU\n"
        "  torchrun --nproc-per-node 4 -m janitr train teacher --data data/ --out bundles/t "
        "--seeds 13 --ddp",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="directory with train.jsonl, valid.jsonl and calib.jsonl",
    )
    p.add_argument("--out", required=True, metavar="BUNDLE_DIR", help="bundle directory to write")
    add_config_flags(p, TeacherConfig)
    add_threshold_flags(p)
    p.set_defaults(func=_cmd_train_teacher, distributed=True)


def _cmd_train_teacher(args) -> int:
    from janitr.evaluation.evaluate import format_bundle_report
    from janitr.teacher import distributed
    from janitr.teacher.model import TeacherConfig, train_teacher

    world = distributed.World.from_env()
    with distributed.process_group(world):
        bundle = train_teacher(
            data_dir=args.data,
            out_dir=args.out,
            config=build_config(TeacherConfig, args),
            thresholds=threshold_policy(args),
            world=world,
        )
    if bundle is None:  # a rank other than 0 under torchrun: rank 0 writes and reports
        return 0
    cal = bundle.manifest["model"]["calibration"]["temperatures"]
    print(format_bundle_report(bundle))
    print(
        f"temperatures (fitted on valid): scam {cal['scam']:.3f}, topic {cal['topic']:.3f}; "
        f"reliability diagram: {bundle.path / 'reliability.png'}"
    )
    return 0


def _add_pretrain(sub) -> None:
    from janitr.teacher.pretrain import PretrainConfig

    p = sub.add_parser(
        "pretrain",
        help="optional domain-adaptive MLM pretraining of the teacher encoder",
        description="Continue masked-language-model training of an encoder on DATA/train.jsonl "
        "texts plus --unlabeled files; rows sharing an id or normalized text with "
        "DATA/valid.jsonl, DATA/calib.jsonl or --exclude files are refused (or dropped with "
        "--drop-overlap). Writes a Hugging Face directory for `janitr train teacher --model`."
        "\n\nexamples:\n"
        "  janitr pretrain --data data/ --unlabeled data/unlabeled.jsonl --out runs/mlm",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, metavar="DIR", help="directory with train.jsonl")
    p.add_argument(
        "--unlabeled",
        nargs="*",
        default=[],
        metavar="JSONL",
        help="unlabeled JSONL files (id, text)",
    )
    p.add_argument(
        "--exclude",
        nargs="*",
        default=[],
        metavar="JSONL",
        help="more evaluation files whose rows must not be pretrained on",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME_OR_PATH",
        help="encoder to start from (default: installed MiniLM)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output model directory")
    add_config_flags(p, PretrainConfig)
    p.set_defaults(func=_cmd_pretrain)


def _cmd_pretrain(args) -> int:
    from janitr.teacher.pretrain import PretrainConfig, pretrain_mlm

    out = pretrain_mlm(
        data_dir=args.data,
        unlabeled=args.unlabeled or [],
        exclude_files=args.exclude or [],
        model_name_or_path=args.model,
        out_dir=args.out,
        config=build_config(PretrainConfig, args),
    )
    print(f"wrote {out} (use: janitr train teacher --model {out})")
    return 0


def _add_cache(sub) -> None:
    p = sub.add_parser(
        "cache",
        help="cache calibrated teacher logits + hidden states for distillation",
        description="Run a teacher bundle's calibrated ensemble over DATA/train.jsonl and "
        "DATA/valid.jsonl and write OUT/<split>.safetensors (scam/topic logits, CLS vectors of "
        "--layers) with a sidecar naming the teacher, calibration, seeds, label map and split "
        "hash. An existing cache made from other inputs is never overwritten (unless "
        "--overwrite); `janitr distill` refuses a cache that does not match its data."
        "\n\nexamples:\n"
        "  janitr cache --teacher bundles/teacher --data data/ --out runs/cache\n"
        "  janitr cache --teacher bundles/teacher --data data/ --out runs/cache --layers 2,4,6\n"
        "  torchrun --nproc-per-node 4 -m janitr cache --teacher bundles/teacher --data data/ "
        "--out runs/cache  # rows shared out, rank 0 merges",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--teacher", required=True, metavar="BUNDLE_DIR", help="teacher bundle")
    p.add_argument("--data", required=True, metavar="DIR", help="directory with the splits")
    p.add_argument(
        "--splits",
        default="train,valid",
        metavar="A,B",
        help="splits to cache (default: train,valid; never holdout or calib)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="cache directory")
    p.add_argument(
        "--layers",
        type=_seed_list,
        default=None,
        metavar="I,J,...",
        help="1-based teacher layers to cache (default: 4 spread over the depth)",
    )
    p.add_argument("--batch-size", type=int, default=64, metavar="N")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing cache even if made from other inputs",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_cache, distributed=True)


def _cmd_cache(args) -> int:
    from janitr.data.records import read_records
    from janitr.teacher import distributed
    from janitr.teacher.cache import build_cache, read_cache

    world = distributed.World.from_env()
    with distributed.process_group(world):
        paths = {
            split: build_cache(
                teacher=args.teacher,
                records=read_records(Path(args.data) / f"{split}.jsonl"),
                split=split,
                out=args.out,
                layers=args.layers,
                batch_size=args.batch_size,
                overwrite=args.overwrite,
                progress=not args.quiet,
                world=world,
            )
            for split in [s.strip() for s in args.splits.split(",") if s.strip()]
        }
    if not world.is_main:  # rank 0 merged the shards and reports
        return 0
    for split, path in paths.items():
        cache = read_cache(path, expect={"split": split})
        print(
            f"{split}: {cache.rows} rows, layers {cache.layer_indices}, hidden "
            f"{cache.hidden_size} -> {path}"
        )
    return 0


def _add_distill(sub) -> None:
    from janitr.student.distill import DistillConfig
    from janitr.student.model import StudentConfig

    p = sub.add_parser(
        "distill",
        help="distill the tiny student from a teacher cache",
        description="Train the tiny transformer student from DATA/train.jsonl with the cached, "
        "calibrated teacher outputs (the teacher is never run): hard-label loss + "
        "temperature-scaled soft-label loss + hidden-state matching through learned "
        "projections (any student depth: student layers are mapped onto the cached teacher "
        "layers). A cache whose sidecar does not match the data is refused. The best epoch by "
        "--select-metric on DATA/valid.jsonl is written to OUT (model.safetensors, "
        "student_config.json, tokenizer.json, distill_report.json). Same --seed, same weights."
        "\n\nexamples:\n"
        "  janitr distill --data data/ --cache runs/r1/cache --tokenizer runs/r1/tokenizer "
        "--out runs/r1/student\n"
        "  janitr distill --data data/ --cache cache/ --tokenizer tok/ --out s6 --layers 6 "
        "--hidden 256 --heads 4 --ffn 1024 --epochs 5 --temperature 2\n"
        "  janitr export --student runs/r1/student --data data/ --out runs/r1/onnx/model.onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data", required=True, metavar="DIR", help="directory with train.jsonl and valid.jsonl"
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="teacher cache directory holding "
        "train.safetensors and valid.safetensors (from `janitr cache`)",
    )
    p.add_argument("--cache-train", metavar="PATH", help="train cache (overrides --cache)")
    p.add_argument("--cache-valid", metavar="PATH", help="valid cache (overrides --cache)")
    p.add_argument(
        "--tokenizer",
        required=True,
        metavar="PATH",
        help="tokenizer.json (or its directory) from `janitr train tokenizer`",
    )
    p.add_argument("--out", required=True, metavar="STUDENT_DIR", help="student directory")
    p.add_argument(
        "--strip-urls",
        action="store_true",
        help="normalize with URLs stripped (must match the teacher cache)",
    )
    add_config_flags(p, StudentConfig)
    add_config_flags(p, DistillConfig)
    p.set_defaults(func=_cmd_distill)


def _cmd_distill(args) -> int:
    from janitr.data.normalize import NormalizationConfig
    from janitr.errors import ConfigError
    from janitr.student.distill import DistillConfig, distill_student
    from janitr.student.model import StudentConfig

    student = build_config(StudentConfig, args)
    config = build_config(DistillConfig, args)
    cache_dir = Path(args.cache) if args.cache else None
    cache_train = args.cache_train or (cache_dir / "train.safetensors" if cache_dir else None)
    cache_valid = args.cache_valid or (cache_dir / "valid.safetensors" if cache_dir else None)
    if not cache_train or not cache_valid:
        raise ConfigError("give --cache DIR, or both --cache-train and --cache-valid")
    data = Path(args.data)
    result = distill_student(
        train=data / "train.jsonl", valid=data / "valid.jsonl", cache_train=cache_train,
        cache_valid=cache_valid, tokenizer_path=args.tokenizer, out_dir=args.out,
        student_config=student, config=config,
        normalization=NormalizationConfig(strip_urls=args.strip_urls),
    )  # fmt: skip
    print(
        f"student ({result.parameters:,} parameters) -> {result.student_dir}: best epoch "
        f"{result.best_epoch}, valid {result.select_metric} {result.best_metric:.4f}"
    )
    return 0
