"""Int8 quantization of an exported student, gated by parity (`janitr quantize`).

Two modes, both from `onnxruntime.quantization`:

- `dynamic` (default): weights stored as int8 (QInt8), activations quantized on the fly per
  batch. Needs no calibration data; the usual choice for small transformers on CPU.
- `static`: QDQ format, int8 weights and uint8 activations with ranges measured on
  calibration texts (a `CalibrationDataReader` over length-sorted, padded batches).

Measured on the 4x192 student (2-core AMD EPYC, onnxruntime 1.32; issue #5), dynamic
per-tensor QInt8 of the plain exported graph is the fastest variant: per-channel and
reduce_range run at the same speed, QUInt8 weights at 0.6x, fp32 at 0.4x; fusing the graph
first with `onnxruntime.transformers.optimizer` (Attention -> QAttention, SkipLayerNorm,
BiasGelu, EmbedLayerNorm) runs at 0.7-0.85x on CPU, so it is not done; and static QDQ
fails the parity gate (mean |dp| 0.08). Speed comes from the export ([CLS]-only last layer,
`export._probability_module`) and the runtime (`onnx_runtime.OnnxScorer`) instead.

The original pipeline never checked the int8 model (UPSTREAM.md §12.15). Here the quantized
file becomes visible only if it reproduces the fp32 ONNX model (and, given the student
directory, the torch model) on >= 1000 texts: mean |delta p| <= 0.01 per head and decision
agreement >= 99%. The report, with both files' sizes, goes to `parity_int8.json`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from janitr.errors import ConfigError, ParityError, require
from janitr.student.export import (
    MAX_MEAN_DELTA,
    MIN_AGREEMENT,
    MIN_PARITY_ROWS,
    ParityReport,
    check_lineage,
    check_parity_texts,
    compare_heads,
)

log = logging.getLogger(__name__)

PARITY_INT8 = "parity_int8.json"
MODES = ("dynamic", "static")


def _calibration_reader(tok, texts: Sequence[str], *, max_length: int, batch_size: int):
    """A `CalibrationDataReader` feeding padded batches of `texts` to the static calibrator."""
    require("onnx", extra="train")  # onnxruntime's quantizer is built on the onnx package
    from onnxruntime.quantization import CalibrationDataReader

    from janitr.runtime.onnx import encode_batch, length_sorted_batches

    class Reader(CalibrationDataReader):
        def __init__(self):
            batches = length_sorted_batches(tok, texts, batch_size, max_length)
            self._items = iter(
                [
                    dict(
                        zip(
                            ("input_ids", "attention_mask"),
                            encode_batch(tok, [texts[i] for i in idx], max_length=max_length),
                            strict=True,
                        )
                    )
                    for idx in batches
                ]
            )

        def get_next(self):
            return next(self._items, None)

    return Reader()


@contextlib.contextmanager
def _quiet_root_logger():
    """onnxruntime.quantization logs per-tensor notes and a pre-processing hint on the *root*
    logger; silence them below ERROR while it runs (the parity report is the real check)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_onnx(
    *,
    fp32_path: str | Path,
    out_path: str | Path,
    tokenizer_path: str | Path,
    parity_texts: Sequence[str],
    mode: str = "dynamic",
    calibration_texts: Sequence[str] | None = None,
    student_dir: str | Path | None = None,
    per_channel: bool = False,
    thresholds: Mapping[str, float] | None = None,
    report_path: str | Path | None = None,
    calibration_batch_size: int = 32,
    min_rows: int = MIN_PARITY_ROWS,
    max_mean_delta: float = MAX_MEAN_DELTA,
    min_agreement: float = MIN_AGREEMENT,
) -> ParityReport:
    """Quantize an fp32 student ONNX model to int8 and check its parity.

    Args:
        fp32_path: the model written by `export_onnx`.
        out_path: the int8 `.onnx` file to write.
        tokenizer_path: the student's `tokenizer.json`; `student_config.json` is read from
            `student_dir` if given, else from beside `tokenizer_path`.
        parity_texts: >= `min_rows` normalized texts.
        mode: "dynamic" or "static".
        calibration_texts: normalized texts for static calibration (required for "static";
            use training data, never evaluation data).
        student_dir: the torch student; if given, the int8 model is also compared to torch.
        per_channel: per-channel weight scales.
        thresholds: decision thresholds for the agreement check (default 0.5 / 0.5).
        report_path: default `parity_int8.json` beside `out_path`.
        calibration_batch_size: texts per calibration batch.
        min_rows, max_mean_delta, min_agreement: the parity gates.

    Returns:
        The passing report of int8 vs fp32 ONNX; `extra` holds the sizes and the comparison
        with torch.

    Raises:
        ParityError: if a parity gate fails (nothing is left at `out_path`).
        ConfigError: on an unknown mode, static mode without calibration texts, or too few
            parity texts.
    """
    require("onnx", extra="train")  # onnxruntime's quantizer is built on the onnx package
    import onnxruntime.quantization as q

    from janitr.artifacts import atomic_path
    from janitr.runtime.onnx import CONFIG_FILE, OnnxScorer, read_config
    from janitr.student.tokenizer import load_tokenizer

    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {MODES}, got {mode!r}")
    if mode == "static" and not calibration_texts:
        raise ConfigError("--mode static needs calibration texts (e.g. the training texts)")
    texts = check_parity_texts(parity_texts, min_rows)
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    report_path = Path(report_path) if report_path else out_path.parent / PARITY_INT8
    tok_file = Path(tokenizer_path)
    tok_file = tok_file / "tokenizer.json" if tok_file.is_dir() else tok_file
    config_file = Path(student_dir) / CONFIG_FILE if student_dir else tok_file.parent / CONFIG_FILE
    max_length = read_config(config_file)["max_length"]
    tok = load_tokenizer(tok_file, expected_vocab_size=None)
    check_lineage(
        fp32_path, config_file.parent,
        scorer_factory=lambda: OnnxScorer(fp32_path, tok, max_length=max_length, threads=1),
    )  # fmt: skip

    with atomic_path(out_path) as tmp, _quiet_root_logger():
        if mode == "dynamic":
            q.quantize_dynamic(
                str(fp32_path), str(tmp), weight_type=q.QuantType.QInt8, per_channel=per_channel
            )
        else:
            reader = _calibration_reader(
                tok,
                list(calibration_texts),
                max_length=max_length,
                batch_size=calibration_batch_size,
            )
            q.quantize_static(
                str(fp32_path),
                str(tmp),
                reader,
                quant_format=q.QuantFormat.QDQ,
                activation_type=q.QuantType.QUInt8,
                weight_type=q.QuantType.QInt8,
                per_channel=per_channel,
            )
        fp32 = OnnxScorer(fp32_path, tok, max_length=max_length, threads=1)
        int8 = OnnxScorer(tmp, tok, max_length=max_length, threads=1)
        p_fp32 = fp32.predict_heads(texts)
        p_int8 = int8.predict_heads(texts)
        gates = {
            "thresholds": thresholds,
            "max_mean_delta": max_mean_delta,
            "min_agreement": min_agreement,
            "min_rows": min_rows,
        }
        report = compare_heads(
            p_fp32, p_int8, reference_name="onnx-fp32", candidate_name="onnx-int8", **gates
        )
        failures = [] if report.passed else [report.summary()]
        extra = {
            "mode": mode,
            "per_channel": per_channel,
            "sizes": {
                "fp32_bytes": fp32_path.stat().st_size,
                "int8_bytes": tmp.stat().st_size,
                "ratio": tmp.stat().st_size / fp32_path.stat().st_size,
            },
        }
        if student_dir:
            from janitr.student.model import TorchStudentScorer

            p_torch = TorchStudentScorer.from_dir(student_dir).predict_heads(texts)
            vs_torch = compare_heads(
                p_torch, p_int8, reference_name="torch", candidate_name="onnx-int8", **gates
            )
            extra["vs_torch"] = vs_torch.to_dict()
            if not vs_torch.passed:
                failures.append(vs_torch.summary())
        report.extra = extra
        report.passed = not failures
        log.debug("%s", report.summary())
        if failures:
            raise ParityError(
                "int8 quantization failed parity: "
                + "; ".join(failures)
                + " (try --per-channel, or --mode static with calibration "
                "texts); the model was not written",
                report,
            )
    report.write(report_path)
    return report
