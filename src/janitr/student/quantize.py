"""Int8 quantization of an exported student, gated by parity (`janitr quantize`).

An int8 file made on one CPU is served on others (a server, a laptop, the browser's
onnxruntime-web), so the *file* must give the same answers everywhere, and a post must get
the same score alone or in any batch. Two modes, both from `onnxruntime.quantization`:

- `static` (default): QDQ format. Only the weight matmuls (a MatMul whose second input is an
  initializer) and the word-embedding table are quantized, their outputs left in float;
  attention's activation x activation matmuls, softmax, LayerNorm, the residual stream
  (`float_residuals`) and the heads stay fp32. Activation ranges are fixed
  at quantization time from calibration texts (the training texts), so every token is
  quantized with the same scale whatever else is in its batch: scores are bit-identical
  alone, shuffled, or regrouped into batches of any size (measured: max |dp| 0 on 1000 texts).
- `dynamic`: `quantize_dynamic`, activation ranges measured per session run. The range is
  taken over the whole padded batch, so a post's p moves with its batch-mates (up to 4.7e-3
  on the tiny test student). Such a file carries `batch_invariant: false` in its metadata and
  `OnnxScorer` then runs it one post per session run (same score alone or batched, slower).

Weights are never full-range int8. onnxruntime's u8 x s8 kernels on x86 CPUs without VNNI
(AVX2 `vpmaddubsw`) add two u8*s8 products in a saturating int16: 2 * 255 * 127 = 64770
overflows it, and on the tiny test student every decision flipped (p_scam 0.578 -> 0.457,
reproduced under `qemu-x86_64 -cpu Haswell`; the same file is right on an AVX-512 VNNI CPU).
`weights="int7"` (default) stores int8 weights in [-64, 64] (`reduce_range`), so
2 * 255 * 64 = 32640 fits whatever kernel runs it; `weights="uint8"` uses u8 x u8 kernels,
which widen to 16 bits first and have no VNNI path: about half the speed of int7 on x86.
`quantize_onnx` checks the written file's weight range.

int7 (129 weight levels) was once less precise than uint8: on the real-size student below
it missed the 99% gate. Most of that error was not the weights but the residual stream, which
the QDQ quantizer routed through 8 bits after every LayerNorm; with `float_residuals` (issue
#16) the real-size student from the realsize run gives, against fp32 on 4000 texts (0.5 /
0.5), mean |dp| 0.0017 / 0.0015 and 99.67% decision agreement with int7 weights, at 1.5-2.1x
the speed of the old uint8 default and 2.0-2.6x fp32's on an AVX-512 VNNI CPU
(benchmarks/student_speed.py, docs/LEVERS.md). The tables below predate that change
(residuals quantized).

Measured with `benchmarks/quantize_options.py` (results in benchmarks/results/quantize_*.json)
on a 2-core AMD EPYC with AVX-512 VNNI shared with other jobs (load average 7-12, so posts/s
are best-of-3 and only roughly comparable; tiny models are dominated by per-call overhead),
onnxruntime 1.32. mean |dp| and decision agreement (0.5 / 0.5) against the fp32 ONNX model,
each file scored as `OnnxScorer` serves it; "batch dp" = max |dp| of a text alone vs in
shuffled raw batches of 32 (the file itself); posts/s on one thread through `OnnxScorer` at
batch sizes 1 and 32 (a dynamic model is served one post per run, so its 32 is single runs
too; batched anyway it ran 2.5x faster on the tiny student); "Haswell" = decision agreement of
the same file under `qemu-x86_64 -cpu Haswell` (AVX2, no AVX-512/VNNI; 300 texts; "-" = not
run there).

Tiny test student (tests/tiny_student.py: 2 layers x 32, 995 texts):

    option                   mean |dp| scam   topic   agree batch dp  b1/s  b32/s    KB  Haswell
    static uint8 (default)           0.0027  0.0008  100.0%    0e+00   947   2452    76     100%
    static int7                      0.0020  0.0016  100.0%    0e+00  1020   2293    76     100%
    static int7 per-channel          0.0025  0.0013  100.0%    0e+00   906   2491    79     100%
    dynamic int7                     0.0014  0.0006  100.0%    5e-03   977   1697    78     100%
    dynamic int7 per-ch.             0.0024  0.0006  100.0%    3e-03   951   1625    81     100%
    dynamic uint8                    0.0021  0.0006  100.0%    4e-03   959   1391    78     100%
    old: dynamic int8                0.0010  0.0004  100.0%    4e-03   936   2949    78       0%
    fp32                             0.0000  0.0000  100.0%    6e-08  1025   2228   111      ref

Real-size student (4 layers x 192, vocab 8192, max_length 96, trained on the shared data but
briefly: 1 teacher seed x 25 steps, 45 distillation steps; 1500 valid/calib/unlabeled texts,
60 under Haswell). Being under-trained, its p_topic sits in [0.46, 0.56] (9% of texts within
0.01 of 0.5), which makes decision agreement at 0.5 harsh; a fully trained student was not
available to measure:

    option                   mean |dp| scam   topic   agree batch dp  b1/s  b32/s    KB  Haswell
    static uint8 (default)           0.0032  0.0020   99.5%    0e+00    94    148  3474     100%
    static int7                      0.0026  0.0041   97.6%    0e+00   141    202  3474     100%
    static int7 per-channel          0.0028  0.0044   98.1%    0e+00   141    193  3509        -
    dynamic int7                     0.0012  0.0008   99.6%    5e-03   167    188  3477     100%
    dynamic int7 per-ch.             0.0015  0.0009   99.5%    5e-03   150    180  3511        -
    dynamic uint8                    0.0011  0.0010   99.6%    6e-03    98    109  3477        -
    old: dynamic int8                0.0010  0.0014   98.9%    5e-03   161    208  3477     100%
    fp32                             0.0000  0.0000  100.0%    9e-08    78     92 13231      ref

On that student, static int7 misses the 99% gate that static uint8 passes, so uint8 is the
default. Under Haswell the old default's topic mean |dp| there grows from 0.0013 to 0.0108 on
the same 60 texts (saturation); static uint8, static int7 and dynamic int7 score as they do
natively (quantize_probe_*_real*.json). "old" carries no
metadata, so its b32 is batched; dynamic files batched anyway ran 1.1-1.3x faster than served
one post per run (benchmarks/results/quantize_options_real.json, `b32_raw`).

The original pipeline never checked the int8 model (UPSTREAM.md §12.15). Here the quantized
file becomes visible only if it reproduces the fp32 ONNX model (and, given the student
directory, the torch model) on >= 1000 texts: mean |delta p| <= 0.01 per head and decision
agreement >= 99%. The report, with both files' sizes, goes to `parity_int8.json`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from janitr.errors import ConfigError, ParityError, require
from janitr.evaluation.thresholds import DEFAULT_POLICY, ThresholdPolicy
from janitr.runtime.onnx import QUANTIZATION_KEY
from janitr.student.export import (
    MAX_MEAN_DELTA,
    MIN_AGREEMENT,
    MIN_PARITY_ROWS,
    ParityReport,
    check_lineage,
    check_parity_texts,
    compare_heads,
    parity_texts_from_data,
    texts_from_data,
    write_student_bundles,
)

log = logging.getLogger(__name__)

PARITY_INT8 = "parity_int8.json"
MODES = ("static", "dynamic")
#: int7: int8 weights in [-64, 64] (reduce_range; u8 x s8 kernels, VNNI where the CPU has
#: it); uint8: u8 weights (u8 x u8 kernels, which have no VNNI path: about half the speed).
WEIGHTS = ("int7", "uint8")
#: The largest |int8 weight| no u8 x s8 kernel can saturate on: 2 * 255 * 64 <= 32767.
SAFE_INT8_WEIGHT = 64


def calibration_reader(tok, texts: Sequence[str], *, max_length: int, batch_size: int):
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


def weight_nodes(model) -> list[str]:
    """Names of the nodes static mode quantizes: MatMuls with an initializer as second input
    (the dense layers) and Gathers from an initializer (the embedding table)."""
    inits = {i.name for i in model.graph.initializer}
    return [
        n.name
        for n in model.graph.node
        if (n.op_type == "MatMul" and n.input[1] in inits)
        or (n.op_type == "Gather" and n.input[0] in inits)
    ]


def float_residuals(model) -> int:
    """Feed the residual Adds the float activation, not its int8 round trip; returns how many
    inputs were rewired.

    The QDQ quantizer puts one QuantizeLinear -> DequantizeLinear pair on each tensor a
    quantized MatMul reads, and every other reader of that tensor gets the dequantized copy
    too: each LayerNorm output (the residual stream) went through 8 bits on its way into the
    next residual Add, and the error accumulated over the layers. The MatMuls still read the
    quantized tensor (that is where int8 pays); the Adds read the float one, which costs
    nothing. Measured on the real-size student, int7 weights, 2,452 texts: mean |dp|
    0.0033 / 0.0029 -> 0.0018 / 0.0015, decision agreement 99.06% -> 99.59% (docs/LEVERS.md).
    """
    inits = {i.name for i in model.graph.initializer}
    made_by = {out: node for node in model.graph.node for out in node.output}
    rewired = 0
    for node in model.graph.node:
        if node.op_type != "Add":
            continue
        for k, name in enumerate(node.input):
            dq = made_by.get(name)
            if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] in inits:
                continue
            q = made_by.get(dq.input[0])
            if q is None or q.op_type != "QuantizeLinear":
                continue
            # A tensor moved out of a dequantized one (the embedding Gather) is already on
            # the int8 grid: its round trip loses nothing, and reading it in float would
            # make onnxruntime dequantize the whole table on every run.
            source = made_by.get(q.input[0])
            if source is not None and any(
                made_by.get(i) is not None and made_by[i].op_type == "DequantizeLinear"
                for i in source.input
            ):
                continue
            node.input[k] = q.input[0]
            rewired += 1
    read = {i for node in model.graph.node for i in node.input}
    read |= {o.name for o in model.graph.output}
    for node in [n for n in model.graph.node if n.op_type == "DequantizeLinear"]:
        if node.output[0] not in read:
            model.graph.node.remove(node)
    return rewired


def int8_weight_range(model) -> tuple[int, int]:
    """(min, max) over the model's int8 weight tensors ((0, 0) if it has none)."""
    from onnx import TensorProto, numpy_helper

    lo = hi = 0
    for init in model.graph.initializer:
        if init.data_type == TensorProto.INT8 and len(init.dims) >= 2:
            values = numpy_helper.to_array(init)
            lo, hi = min(lo, int(values.min())), max(hi, int(values.max()))
    return lo, hi


def quantization_info(model) -> dict:
    """The `janitr.quantization` metadata of an ONNX model ({} if it has none)."""
    for prop in model.metadata_props:
        if prop.key == QUANTIZATION_KEY:
            return json.loads(prop.value)
    return {}


def write_int8_model(
    fp32_path: str | Path,
    out: str | Path,
    *,
    mode: str = "static",
    weights: str = "int7",
    per_channel: bool = False,
    reader=None,
    float_residual_adds: bool = True,
) -> None:
    """Write the int8 model of `fp32_path` to `out`, with its `janitr.quantization` metadata.

    No parity check and no validation of the settings: `quantize_onnx` does both. `reader`
    (`calibration_reader`) feeds static mode's calibration batches. `float_residual_adds`
    (static mode): `float_residuals` on the written graph; False keeps onnxruntime's graph
    as it is (for benchmarks/student_speed.py's before/after).
    """
    onnx = require("onnx", extra="train")
    import onnxruntime.quantization as q

    weight_type = q.QuantType.QInt8 if weights == "int7" else q.QuantType.QUInt8
    # reduce_range only narrows signed weights; u8 weights use u8 x u8 kernels.
    reduce_range = weights == "int7"
    if mode == "dynamic":
        q.quantize_dynamic(
            str(fp32_path),
            str(out),
            weight_type=weight_type,
            per_channel=per_channel,
            reduce_range=reduce_range,
        )
    else:
        model = onnx.load(str(fp32_path))
        q.quantize_static(
            model,
            str(out),
            reader,
            quant_format=q.QuantFormat.QDQ,
            op_types_to_quantize=["MatMul", "Gather"],
            nodes_to_quantize=weight_nodes(model),
            activation_type=q.QuantType.QUInt8,
            weight_type=weight_type,
            per_channel=per_channel,
            reduce_range=reduce_range,
            # The matmul outputs stay float (onnxruntime runs MatMulIntegerToFloat): no
            # second rounding to u8 before the bias and the residual.
            extra_options={"OpTypesToExcludeOutputQuantization": ["MatMul", "Gather"]},
        )
    model = onnx.load(str(out))
    float_adds = mode == "static" and float_residual_adds
    if float_adds:
        float_residuals(model)
    info = {
        "format": "janitr-int8",
        "format_version": 1,
        "mode": mode,
        "weights": weights,
        "per_channel": per_channel,
        "residuals": "float" if float_adds else "quantized",
        # Dynamic activation ranges span the whole padded batch (see the module docstring).
        "batch_invariant": mode == "static",
    }
    # Keep the fp32 file's other metadata (the student lineage stamp); replace ours.
    props = {p.key: p.value for p in model.metadata_props if p.key != QUANTIZATION_KEY}
    props[QUANTIZATION_KEY] = json.dumps(info, sort_keys=True)
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(out))


def quantize_onnx(
    *,
    fp32_path: str | Path,
    out_path: str | Path,
    tokenizer_path: str | Path,
    parity_texts: Sequence[str],
    mode: str = "static",
    weights: str = "int7",
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
        mode: "static" (fixed activation ranges from `calibration_texts`: batch-invariant
            scores) or "dynamic" (ranges per session run; scored one post at a time).
        weights: "int7" (int8 weights in [-64, 64]; ~2x faster on x86) or "uint8" (u8
            weights); both are safe from int16 saturation on every CPU (module docstring).
        calibration_texts: normalized texts for static calibration (required for "static";
            use training data, never evaluation data).
        student_dir: the torch student; if given, the int8 model is also compared to torch.
        per_channel: per-channel weight scales.
        thresholds: decision thresholds for the agreement check (default 0.5 / 0.5).
        report_path: default `parity_int8.json` beside `out_path`.
        calibration_batch_size: texts per calibration batch.
        min_rows, max_mean_delta, min_agreement: the parity gates.

    Returns:
        The passing report of int8 vs fp32 ONNX; `extra` holds the settings, the sizes and
        the comparison with torch.

    Raises:
        ParityError: if a parity gate fails, or the file could saturate int16 arithmetic on
            some CPU (nothing is left at `out_path`).
        ConfigError: on an unknown mode or weight type, static mode without calibration
            texts, or too few parity texts.
    """
    require("onnx", extra="train")  # onnxruntime's quantizer is built on it too
    from janitr.artifacts import atomic_path

    _check_settings(mode, weights, calibration_texts)
    texts = check_parity_texts(parity_texts, min_rows)
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    report_path = Path(report_path) if report_path else out_path.parent / PARITY_INT8
    tok, max_length = _student_tokenizer(fp32_path, tokenizer_path, student_dir)
    gates = {"thresholds": thresholds, "max_mean_delta": max_mean_delta,
             "min_agreement": min_agreement, "min_rows": min_rows}  # fmt: skip
    with atomic_path(out_path) as tmp, _quiet_root_logger():
        lo, hi = _write_int8(
            fp32_path, tmp, tok, max_length=max_length, mode=mode, weights=weights,
            per_channel=per_channel, calibration_texts=calibration_texts,
            batch_size=calibration_batch_size,
        )  # fmt: skip
        n_calib = len(calibration_texts) if mode == "static" else 0
        settings = {"mode": mode, "weights": weights, "per_channel": per_channel,
                    "int8_weight_range": [lo, hi], "calibration_texts": n_calib}  # fmt: skip
        report, failures = _int8_parity(
            fp32_path, tmp, tok, texts, max_length=max_length, gates=gates, settings=settings,
            student_dir=student_dir,
        )  # fmt: skip
        if failures:
            raise ParityError(
                f"int8 quantization failed parity: {'; '.join(failures)} (mode {mode}, weights "
                f"{weights}, per_channel {per_channel}); "
                f"{_what_to_try(mode, weights, per_channel)}; the model was not written",
                report,
            )
    report.write(report_path)
    return report


def _student_tokenizer(fp32_path: Path, tokenizer_path, student_dir):
    """The student's tokenizer and max_length, after checking that the fp32 file is that
    student's (`check_lineage`)."""
    from janitr.runtime.onnx import CONFIG_FILE, OnnxScorer, read_config
    from janitr.student.tokenizer import load_tokenizer

    tok_file = Path(tokenizer_path)
    tok_file = tok_file / "tokenizer.json" if tok_file.is_dir() else tok_file
    config_file = Path(student_dir) / CONFIG_FILE if student_dir else tok_file.parent / CONFIG_FILE
    max_length = read_config(config_file)["max_length"]
    tok = load_tokenizer(tok_file, expected_vocab_size=None)
    check_lineage(
        fp32_path, config_file.parent,
        scorer_factory=lambda: OnnxScorer(fp32_path, tok, max_length=max_length, threads=1),
    )  # fmt: skip
    return tok, max_length


def _write_int8(
    fp32_path: Path, out: Path, tok, *, max_length: int, mode: str, weights: str,
    per_channel: bool, calibration_texts, batch_size: int,
) -> tuple[int, int]:  # fmt: skip
    """Quantize `fp32_path` into `out` (static: calibrated on `calibration_texts`); returns
    the int8 weight range.

    Raises:
        ParityError: if a weight lies outside +-`SAFE_INT8_WEIGHT` (int16 saturation).
    """
    onnx = require("onnx", extra="train")
    reader = None
    if mode == "static":
        reader = calibration_reader(
            tok, list(calibration_texts), max_length=max_length, batch_size=batch_size
        )
    write_int8_model(
        fp32_path, out, mode=mode, weights=weights, per_channel=per_channel, reader=reader
    )
    lo, hi = int8_weight_range(onnx.load(str(out)))
    if max(-lo, hi) > SAFE_INT8_WEIGHT:
        raise ParityError(
            f"int8 quantization wrote weights in [{lo}, {hi}]: u8 x s8 kernels on CPUs "
            f"without VNNI saturate beyond +-{SAFE_INT8_WEIGHT}; the model was not written"
        )
    return lo, hi


def _check_settings(mode: str, weights: str, calibration_texts) -> None:
    """Refuse an unknown mode or weight type, and static mode without calibration texts."""
    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {MODES}, got {mode!r}")
    if weights not in WEIGHTS:
        raise ConfigError(f"--weights must be one of {WEIGHTS}, got {weights!r}")
    if mode == "static" and not calibration_texts:
        raise ConfigError(
            "--mode static needs calibration texts (the training texts); "
            "or use --mode dynamic, which needs none"
        )


def _int8_parity(
    fp32_path: Path, int8_path: Path, tok, texts, *, max_length: int, gates: dict,
    settings: dict, student_dir,
) -> tuple[ParityReport, list[str]]:  # fmt: skip
    """The int8 model against the fp32 one (and the torch student, when given) on `texts`:
    the report, with settings and sizes in `extra`, and the failed gates' summaries."""
    from janitr.runtime.onnx import OnnxScorer

    # The scorer picks its batching from the file's metadata: a dynamic model runs one
    # post per session run, as it will be served.
    fp32 = OnnxScorer(fp32_path, tok, max_length=max_length, threads=1)
    int8 = OnnxScorer(int8_path, tok, max_length=max_length, threads=1)
    p_fp32 = fp32.predict_heads(texts)
    p_int8 = int8.predict_heads(texts)
    report = compare_heads(
        p_fp32, p_int8, reference_name="onnx-fp32", candidate_name="onnx-int8", **gates
    )
    failures = [] if report.passed else [report.summary()]
    extra = {k: settings[k] for k in ("mode", "weights", "per_channel")}
    extra["batch_invariant"] = int8.batch_invariant
    extra.update({k: settings[k] for k in ("int8_weight_range", "calibration_texts")})
    extra["sizes"] = {
        "fp32_bytes": fp32_path.stat().st_size,
        "int8_bytes": int8_path.stat().st_size,
        "ratio": int8_path.stat().st_size / fp32_path.stat().st_size,
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
    return report, failures


@dataclass(frozen=True)
class QuantizedStudent:
    """What `quantize_student` made: the int8 parity report and the bundles it wrote
    (`{"student-fp32": Bundle, "student-int8": Bundle}`, empty without `bundles_dir`)."""

    report: ParityReport
    out_path: Path
    bundles: dict = field(default_factory=dict)


def quantize_student(
    *,
    fp32_path: str | Path,
    student_dir: str | Path,
    data_dir: str | Path,
    out_path: str | Path,
    mode: str = "static",
    weights: str = "int7",
    per_channel: bool = False,
    parity_rows: int = MIN_PARITY_ROWS,
    strip_urls: bool = False,
    bundles_dir: str | Path | None = None,
    thresholds: ThresholdPolicy = DEFAULT_POLICY,
) -> QuantizedStudent:
    """`janitr quantize`: quantize an exported student with texts from a data directory,
    and optionally write its fp32 and int8 bundles.

    Static mode calibrates on DATA_DIR/train.jsonl's texts; parity is checked on the first
    `parity_rows` texts of the data directory (`parity_texts_from_data`). With `bundles_dir`,
    writes `student-fp32` and `student-int8` bundles there, each with thresholds tuned by
    `thresholds` on its own model's scores of the `thresholds.tune_on` split(s).

    Args:
        fp32_path: the model written by `export_onnx` (its `parity_fp32.json` beside it).
        student_dir: the distilled student (tokenizer, config, torch weights).
        data_dir: directory with train/valid/calib (and unlabeled) JSONL files.
        out_path: the int8 `.onnx` file to write (`parity_int8.json` goes beside it).
        mode, weights, per_channel: as for `quantize_onnx`.
        parity_rows: texts compared (at least `MIN_PARITY_ROWS`).
        strip_urls: normalize with URLs stripped (as the student was trained).
        bundles_dir: where to write the two bundles (None: none are written).
        thresholds: the threshold policy of the bundles.

    Raises:
        ParityError: if int8 parity fails (nothing is written).
        ConfigError: on bad options or too few texts.
    """
    from janitr.data.records import read_records

    data = Path(data_dir)
    calibration = (
        texts_from_data(data, names=("train",), strip_urls=strip_urls) if mode == "static" else None
    )
    report = quantize_onnx(
        fp32_path=fp32_path,
        out_path=out_path,
        tokenizer_path=student_dir,
        parity_texts=parity_texts_from_data(data, rows=parity_rows, strip_urls=strip_urls),
        mode=mode,
        weights=weights,
        calibration_texts=calibration,
        student_dir=student_dir,
        per_channel=per_channel,
        min_rows=parity_rows,
    )
    result = QuantizedStudent(report=report, out_path=Path(out_path))
    if bundles_dir is None:
        return result
    fp32, int8 = Path(fp32_path), Path(out_path)
    bundles = write_student_bundles(
        student_dir=student_dir,
        models={"student-fp32": fp32, "student-int8": int8},
        out_dir=bundles_dir,
        train=data / "train.jsonl",
        valid=data / "valid.jsonl",
        calib=read_records(*(data / f"{s}.jsonl" for s in thresholds.tune_splits)),
        parity_reports={
            "student-fp32": fp32.parent / "parity_fp32.json",
            "student-int8": int8.parent / PARITY_INT8,
        },
        normalization=_student_normalization(student_dir, strip_urls=strip_urls),
        thresholds=thresholds,
    )
    return QuantizedStudent(report=report, out_path=int8, bundles=dict(bundles))


def _what_to_try(mode: str, weights: str, per_channel: bool) -> str:
    """The other settings worth a try after a failed parity gate, most promising first."""
    tries = []
    if not per_channel:
        tries.append("--per-channel (quantize.per_channel = true)")
    if weights == "uint8":
        tries.append('--weights int7 (quantize.weights = "int7"; faster on x86, less precise)')
    else:
        tries.append('--weights uint8 (quantize.weights = "uint8"; more precise, slower on x86)')
    if mode == "static":
        tries.append(
            "more, or more typical, calibration texts (train.jsonl), or --mode dynamic "
            '(quantize.mode = "dynamic": per-run ranges, served one post at a time)'
        )
    else:
        tries.append('--mode static (quantize.mode = "static", calibrated on train texts)')
    return "try " + ", or ".join(tries) + ", or ship the fp32 model"


def _student_normalization(student_dir: str | Path, *, strip_urls: bool):
    """The normalization the student was distilled with (recorded in its distill report;
    a student without one: the default), with `strip_urls` as given."""
    import json

    from janitr.data.normalize import NormalizationConfig
    from janitr.student.distill import REPORT_FILE

    path = Path(student_dir) / REPORT_FILE
    recorded = NormalizationConfig()
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data.get("normalization"), dict):
            recorded = NormalizationConfig.from_dict(data["normalization"])
    return NormalizationConfig(strip_urls=strip_urls, fold_confusables=recorded.fold_confusables)
