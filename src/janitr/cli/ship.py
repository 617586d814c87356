"""`janitr` verbs that make and use what ships: export (ONNX, web bundle, parity
fixtures), quantize, classify.

Each verb parses its flags, builds its config and calls one library function.
"""

from __future__ import annotations

import argparse
import json
import sys

from janitr.cli.flags import (
    add_bundle_id_flag,
    add_quiet_flag,
    add_threshold_flags,
    threshold_policy,
)


def register(sub) -> None:
    """Add this group's verbs to the `janitr` subparsers."""
    _add_export(sub)
    _add_quantize(sub)
    _add_classify(sub)


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a student to ONNX, gated by torch parity",
        description="Export a distilled student to ONNX (inputs input_ids and attention_mask, "
        "int64, dynamic batch and sequence; outputs p_scam and p_topic probabilities) and "
        "compare it with torch on >= --parity-rows normalized texts from DATA (train, valid, "
        "calib, unlabeled). The model is written only if mean |delta p| <= 0.01 per head and "
        "decision agreement >= 99%; the report goes to parity_fp32.json beside --out."
        "\n\nexamples:\n"
        "  janitr export --student runs/r1/student --data data/ --out runs/r1/onnx/model.onnx\n"
        "  janitr quantize --fp32 runs/r1/onnx/model.onnx --student runs/r1/student --data data/ "
        "--out runs/r1/onnx/model.int8.onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Not `required=True`: `janitr export web|probes|sweep` need none of these flags, so the
    # ONNX export checks them itself (_cmd_export).
    p.add_argument(
        "--student",
        metavar="STUDENT_DIR",
        help="directory written by `janitr distill` (required)",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="directory whose *.jsonl texts are used for the parity check (required)",
    )
    p.add_argument("--out", metavar="FILE.onnx", help="ONNX file to write (required)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    p.add_argument(
        "--parity-rows",
        type=int,
        default=1000,
        metavar="N",
        help="texts compared (default and minimum: 1000)",
    )
    p.add_argument("--strip-urls", action="store_true", help="normalize with URLs stripped")
    p.set_defaults(func=_cmd_export, export_parser=p)
    _add_export_web(p.add_subparsers(dest="export_target", metavar="TARGET"))


def _cmd_export(args) -> int:
    from janitr.student.export import export_onnx, parity_texts_from_data

    missing = [f"--{k}" for k in ("student", "data", "out") if getattr(args, k) is None]
    if missing:
        args.export_parser.error(
            f"the following arguments are required: {', '.join(missing)} "
            "(or use `janitr export web|probes|sweep`)"
        )
    texts = parity_texts_from_data(args.data, rows=args.parity_rows, strip_urls=args.strip_urls)
    report = export_onnx(
        student_dir=args.student,
        out_path=args.out,
        parity_texts=texts,
        opset=args.opset,
        min_rows=args.parity_rows,
    )
    print(report.summary())
    print(f"wrote {args.out} ({report.extra['model_bytes'] / 1e6:.2f} MB)")
    return 0


def _add_export_web(export_sub) -> None:
    w = export_sub.add_parser(
        "web",
        help="the browser extension's web bundle of a student",
        description="Write DIR/model.onnx, DIR/tokenizer.json and DIR/janitr-web.json (format, "
        "id and lineage, classes, thresholds, normalization with the Unicode data the "
        "JavaScript port needs, input/output names, max_length, SHA-256 of each file) from an "
        "ONNX student bundle. Training ids and data hashes stay out. A normalization the "
        "extension cannot reproduce is refused."
        "\n\nexamples:\n"
        "  janitr export web --model runs/r1/bundles/student-int8 --out runs/r1/web\n"
        "  janitr export web --model runs/r1 --out runs/r1/web      (the run's int8 student)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    w.add_argument(
        "--model",
        required=True,
        metavar="BUNDLE",
        help="student bundle (student-int8 or student-fp32), or a run directory (int8)",
    )
    w.add_argument("--out", required=True, metavar="DIR", help="web bundle directory to write")
    w.set_defaults(func=_cmd_export_web)

    pr = export_sub.add_parser(
        "probes",
        help="parity fixture: what the Python runtime does with each text",
        description="Write a JSON probe file for the extension's parity tests: for each "
        "distinct raw text of DATA/{valid,calib,unlabeled}.jsonl plus built-in edge cases "
        "(empty, emoji-only, RTL, zero-width, 10k characters, ...), its normalized text, token "
        "ids, p_scam and p_topic at batch size 1, and the label.\n\nexample:\n"
        "  janitr export probes --model runs/r1/bundles/student-int8 --data data/ "
        "--out runs/r1/web/probes.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pr.add_argument("--model", required=True, metavar="BUNDLE", help="student bundle or run dir")
    pr.add_argument("--data", required=True, metavar="DIR", help="directory with the *.jsonl data")
    pr.add_argument("--out", required=True, metavar="FILE.json", help="probe file to write")
    pr.set_defaults(func=_cmd_export_probes)

    sw = export_sub.add_parser(
        "sweep",
        help="parity fixture: every assigned code point, normalized",
        description="Write the normalized form of every code point this Python's unicodedata "
        "assigns, in a few contexts and for each normalization setting, for the extension's "
        "normalize.js test (tens of MB: write it under runs/).\n\nexample:\n"
        "  janitr export sweep --out runs/web/sweep.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sw.add_argument("--out", required=True, metavar="FILE.json", help="sweep file to write")
    sw.set_defaults(func=_cmd_export_sweep)


def _cmd_export_web(args) -> int:
    from janitr.runtime.web import WEB_MANIFEST, export_web

    manifest = export_web(args.model, args.out)
    sizes = {name: entry["size"] for name, entry in manifest["files"].items()}
    t = manifest["thresholds"]
    print(
        f"wrote {args.out}/{WEB_MANIFEST} ({manifest['id']}): "
        + ", ".join(f"{n} {b / 1e6:.2f} MB" for n, b in sizes.items())
        + f"; thresholds scam {t['scam']:.3f} topic {t['topic_crypto']:.3f}"
    )
    return 0


def _cmd_export_probes(args) -> int:
    from janitr.runtime.web import write_probes

    summary = write_probes(args.model, args.data, args.out)
    labels = ", ".join(f"{k} {v}" for k, v in summary["labels"].items())
    print(f"wrote {args.out}: {summary['probes']} probes ({labels}; {summary['empty']} empty)")
    return 0


def _cmd_export_sweep(args) -> int:
    from janitr.runtime.web import write_sweep

    summary = write_sweep(args.out)
    print(
        f"wrote {args.out}: {summary['codepoints']} code points x {summary['cases']} cases "
        f"(Unicode {summary['unicode_version']})"
    )
    return 0


def _add_quantize(sub) -> None:
    p = sub.add_parser(
        "quantize",
        help="int8-quantize an exported student, gated by parity; optionally write bundles",
        description="Quantize the fp32 ONNX student to int8 (static QDQ by default: activation "
        "ranges calibrated on DATA/train.jsonl texts, so a post gets the same score alone or in "
        "any batch; --mode dynamic measures them per run, and such a model is served one post "
        "at a time; weights int7 in [-64, 64], or uint8, never saturate int16 arithmetic on "
        "CPUs without VNNI) and "
        "compare it with the fp32 model and the torch student on >= 1000 texts. The int8 file "
        "is written only if parity holds; the report (with both sizes) goes to "
        "parity_int8.json beside --out. With --bundles DIR, also writes DIR/student-fp32 and "
        "DIR/student-int8 (kind onnx), each with thresholds tuned on --tune-on with "
        "that exact model, for `janitr evaluate` and `janitr classify`."
        "\n\nexamples:\n"
        "  janitr quantize --fp32 runs/r1/onnx/model.onnx --student runs/r1/student --data data/ "
        "--out runs/r1/onnx/model.int8.onnx --bundles runs/r1/bundles\n"
        "  janitr evaluate --model runs/r1/bundles/student-int8 --data holdout.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--fp32", required=True, metavar="FILE.onnx", help="model from `janitr export`")
    p.add_argument(
        "--student",
        required=True,
        metavar="STUDENT_DIR",
        help="student directory (tokenizer, config, torch weights for parity)",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="directory with the *.jsonl data")
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="int8 ONNX file to write")
    p.add_argument(
        "--mode",
        choices=("static", "dynamic"),
        default="static",
        help="static QDQ calibrated on train texts (default; batch-invariant scores) or "
        "dynamic (per-run activation ranges; served one post at a time)",
    )
    p.add_argument(
        "--weights",
        choices=("int7", "uint8"),
        default="int7",
        help="int7: int8 weights in [-64, 64] (default; u8 x s8 kernels, VNNI where the CPU "
        "has it, about 2x faster); uint8: u8 weights (slightly more precise, slower)",
    )
    p.add_argument("--per-channel", action="store_true", help="per-channel weight scales")
    p.add_argument(
        "--parity-rows",
        type=int,
        default=1000,
        metavar="N",
        help="texts compared (default and minimum: 1000)",
    )
    p.add_argument("--bundles", metavar="DIR", help="also write student-fp32/student-int8 bundles")
    p.add_argument("--strip-urls", action="store_true", help="normalize with URLs stripped")
    add_threshold_flags(p)
    p.set_defaults(func=_cmd_quantize)


def _cmd_quantize(args) -> int:
    from janitr.student.quantize import quantize_student

    policy = threshold_policy(args)
    result = quantize_student(
        fp32_path=args.fp32, student_dir=args.student, data_dir=args.data, out_path=args.out,
        mode=args.mode, weights=args.weights, per_channel=args.per_channel,
        parity_rows=args.parity_rows, strip_urls=args.strip_urls, bundles_dir=args.bundles,
        thresholds=policy,
    )  # fmt: skip
    sizes = result.report.extra["sizes"]
    print(result.report.summary())
    print(
        f"wrote {args.out}: {sizes['int8_bytes'] / 1e6:.2f} MB "
        f"(fp32 {sizes['fp32_bytes'] / 1e6:.2f} MB)"
    )
    for bundle in result.bundles.values():
        t = bundle.thresholds
        print(
            f"bundle {bundle.path}: thresholds scam {t['scam']:.3f} "
            f"topic {t['topic_crypto']:.3f} (tuned on {policy.tune_on})"
        )
    return 0


def _add_classify(sub) -> None:
    p = sub.add_parser(
        "classify",
        help="classify posts with a bundle (text, --stdin, or --input FILE.jsonl)",
        description="Classify posts with a model bundle: scam, topic_crypto or clean, with "
        "per-class scores. Give one text, one post per line on stdin, or a JSONL file of "
        '{"id", "text"} rows (written back with predictions). Every input (argument, stdin '
        "line, file line) gets exactly one answer, in order; one that cannot be classified "
        "(empty, only invisible characters, not valid UTF-8, a lone surrogate, a bad JSON "
        'row) is answered with an "error" saying why, and the exit code is then 1.'
        "\n\nexamples:\n"
        '  janitr classify --model bundles/fasttext "claim your free airdrop now"\n'
        "  cat posts.txt | janitr classify --model bundles/fasttext --stdin --json\n"
        "  janitr classify --model bundles/fasttext --input posts.jsonl --output preds.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, metavar="BUNDLE_DIR", help="bundle directory")
    p.add_argument("text", nargs="*", help="post text(s) to classify")
    p.add_argument("--stdin", action="store_true", help="read one post per line from stdin")
    p.add_argument("--input", metavar="FILE", help="JSONL file with id and text per row")
    p.add_argument("--output", metavar="FILE", help="JSONL output for --input")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per post (with the bundle's content_id)",
    )
    add_bundle_id_flag(p)
    add_quiet_flag(p)
    p.set_defaults(func=_cmd_classify)


def _print_prediction(text: str, pred, *, as_json: bool, content_id: str) -> None:
    if as_json:
        if isinstance(pred, Exception):
            # ASCII escapes: the text of a refused line may hold a lone surrogate.
            print(json.dumps({"text": text, "error": str(pred), "content_id": content_id}))
        else:
            row = {"text": text, **pred.to_dict(), "content_id": content_id}
            print(json.dumps(row, ensure_ascii=False))
    elif isinstance(pred, Exception):
        print(f"{'error':<13} {pred}")
    else:
        probs = "  ".join(f"{k}={v:.3f}" for k, v in pred.probabilities.items())
        print(f"{pred.label:<13} {probs}  {text[:60]!r}")


def _cmd_classify(args) -> int:
    from janitr.artifacts import check_output_file
    from janitr.errors import ConfigError, TextError
    from janitr.runtime.classifier import Classifier, classify_inputs, classify_jsonl

    sources = sum([bool(args.text), args.stdin, bool(args.input)])
    if sources != 1:
        raise ConfigError("give exactly one of: TEXT arguments, --stdin, or --input FILE.jsonl")
    if args.input and not args.output:
        raise ConfigError("--input needs --output FILE.jsonl")
    if args.output and not args.input:
        raise ConfigError("--output is for --input FILE.jsonl; TEXT and --stdin print")
    if args.output:
        check_output_file(args.output)
    clf = Classifier.load(args.model, content_id=args.bundle_id)
    if args.input:
        rows, errors = classify_jsonl(
            clf, input=args.input, output=args.output, progress=not args.quiet
        )
        print(f"wrote {rows} rows to {args.output} (bundle {clf.content_id[:12]})", file=sys.stderr)
        return _report_unclassified(errors, rows, marked=f'rows with "error" in {args.output}')
    answers = classify_inputs(
        clf, texts=args.text or None, stream=None if args.text else sys.stdin.buffer
    )
    for text, pred in answers:
        _print_prediction(text, pred, as_json=args.json, content_id=clf.content_id)
    errors = [str(pred) for _, pred in answers if isinstance(pred, TextError)]
    return _report_unclassified(errors, len(answers), marked='lines marked "error"')


def _report_unclassified(errors: list[str], total: int, *, marked: str) -> int:
    """Exit 1, naming the first few, when some inputs could not be classified."""
    if not errors:
        return 0
    shown = "; ".join(errors[:3]) + ("; ..." if len(errors) > 3 else "")
    print(
        f"error: {len(errors)} of {total} input(s) could not be classified ({marked}): {shown}",
        file=sys.stderr,
    )
    return 1
