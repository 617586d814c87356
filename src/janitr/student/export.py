"""ONNX export of a distilled student, the parity check that gates it, and student bundles.

`export_onnx` traces the student with torch's TorchScript exporter (`dynamo=False`: in torch
2.13 it exports this encoder in under a second, writes one self-contained file and matches
torch to ~1e-7; the dynamo exporter takes ~10x longer, upgrades the requested opset and
writes weights to a separate `.onnx.data` file). The graph:

    inputs   input_ids (batch, seq) int64, attention_mask (batch, seq) int64
    outputs  p_scam (batch,)  = softmax(scam_logits)[:, 1]
             p_topic (batch,) = sigmoid(topic_logit)

Both axes are dynamic (the original fixed the sequence at max_length, UPSTREAM.md §12.15),
and the outputs are probabilities so every runtime gets them without re-implementing the
heads. The exported file only becomes visible once torch and onnxruntime agree on at least
1000 texts (mean |delta p| <= 0.01 for each head, decision agreement >= 99%); otherwise
`ParityError` is raised and nothing is left behind. The report goes to `parity_fp32.json`.

`write_student_bundles` turns the exported fp32 and int8 models into `onnx` bundles whose
thresholds are tuned on calibration data with *that exact* model.

Lineage: the exported file carries the SHA-256 of the student weights it came from (ONNX
metadata `janitr.student_sha256`); `check_lineage` refuses to pair a model with another
student's tokenizer and weights (e.g. run A's ONNX quantized with run B's student).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from janitr.errors import ConfigError, ParityError, ProvenanceError, require
from janitr.evaluation.thresholds import DEFAULT_POLICY, ThresholdPolicy

log = logging.getLogger(__name__)

PARITY_FP32 = "parity_fp32.json"
MIN_PARITY_ROWS = 1000
MAX_MEAN_DELTA = 0.01
MIN_AGREEMENT = 0.99
DEFAULT_THRESHOLDS = {"scam": 0.5, "topic_crypto": 0.5}
#: ONNX metadata key holding the SHA-256 of the student weights a model was exported from.
LINEAGE_KEY = "janitr.student_sha256"


@dataclass
class ParityReport:
    """How closely a candidate model reproduces a reference on the same texts.

    Attributes:
        reference: name of the reference backend ("torch", "onnx-fp32").
        candidate: name of the candidate ("onnx-fp32", "onnx-int8").
        rows: texts compared.
        mean_abs_delta: mean |p_candidate - p_reference| per head (`scam`, `topic_crypto`).
        max_abs_delta: max of the same, per head.
        decision_agreement: share of texts given the same class by the decision rule.
        thresholds: thresholds used for the decisions.
        gates: `max_mean_delta`, `min_agreement`, `min_rows`.
        passed: all gates met.
        extra: anything else (file sizes, comparisons against other references).
    """

    reference: str
    candidate: str
    rows: int
    mean_abs_delta: dict[str, float]
    max_abs_delta: dict[str, float]
    decision_agreement: float
    thresholds: dict[str, float]
    gates: dict[str, float]
    passed: bool
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"format": "janitr-parity", "format_version": 1, **asdict(self)}

    def write(self, path: str | Path) -> None:
        from janitr.artifacts import write_json

        write_json(path, self.to_dict())

    def summary(self) -> str:
        d = self.mean_abs_delta
        return (
            f"{self.candidate} vs {self.reference} on {self.rows} texts: mean |dp| scam "
            f"{d['scam']:.6f} topic {d['topic_crypto']:.6f}, decision agreement "
            f"{self.decision_agreement:.2%} -> {'PASS' if self.passed else 'FAIL'}"
        )


def compare_heads(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    reference_name: str,
    candidate_name: str,
    thresholds: Mapping[str, float] | None = None,
    max_mean_delta: float = MAX_MEAN_DELTA,
    min_agreement: float = MIN_AGREEMENT,
    min_rows: int = MIN_PARITY_ROWS,
) -> ParityReport:
    """Parity of two (N, 2) head-probability arrays scored on the same texts."""
    from janitr.data.labels import decide

    thresholds = dict(thresholds or DEFAULT_THRESHOLDS)
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    delta = np.abs(ref - cand)
    kw = {"t_scam": thresholds["scam"], "t_topic": thresholds["topic_crypto"]}
    agree = decide(ref[:, 0], ref[:, 1], **kw) == decide(cand[:, 0], cand[:, 1], **kw)
    mean = {"scam": float(delta[:, 0].mean()), "topic_crypto": float(delta[:, 1].mean())}
    agreement = float(agree.mean()) if len(agree) else 0.0
    passed = (
        len(ref) >= min_rows and max(mean.values()) <= max_mean_delta and agreement >= min_agreement
    )
    return ParityReport(
        reference=reference_name,
        candidate=candidate_name,
        rows=len(ref),
        mean_abs_delta=mean,
        max_abs_delta={"scam": float(delta[:, 0].max()), "topic_crypto": float(delta[:, 1].max())},
        decision_agreement=agreement,
        thresholds={k: float(v) for k, v in thresholds.items()},
        gates={
            "max_mean_delta": max_mean_delta,
            "min_agreement": min_agreement,
            "min_rows": min_rows,
        },
        passed=bool(passed),
    )


def check_parity_texts(texts: Sequence[str], min_rows: int) -> list[str]:
    """The parity texts as a list, refusing too few.

    Raises:
        ConfigError: if there are fewer than `min_rows` non-empty texts.
    """
    texts = [t for t in texts if t]
    if len(texts) < min_rows:
        raise ConfigError(
            f"parity needs >= {min_rows} texts, got {len(texts)}; pass more "
            "(e.g. train + valid + unlabeled texts)"
        )
    return texts


def texts_from_data(
    data_dir: str | Path,
    *,
    names: Sequence[str] = ("train", "valid", "calib", "unlabeled"),
    strip_urls: bool = False,
) -> list[str]:
    """Distinct normalized texts of the `DATA_DIR/<name>.jsonl` files that exist, in file order
    (for parity and static calibration; labels are not needed, so unlabeled text counts)."""
    from janitr.data.normalize import normalize_text
    from janitr.data.records import Record, scan

    seen: dict[str, None] = {}
    for name in names:
        path = Path(data_dir) / f"{name}.jsonl"
        if path.is_file():
            # Only the texts matter here: rows with other problems (e.g. a duplicated id in
            # an unlabeled corpus) still contribute their text.
            for item in scan([path], require_labels=False):
                if isinstance(item, Record):
                    text = normalize_text(item.text, strip_urls=strip_urls)
                    if text:
                        seen.setdefault(text, None)
    return list(seen)


def parity_texts_from_data(
    data_dir: str | Path, *, rows: int = MIN_PARITY_ROWS, strip_urls: bool = False
) -> list[str]:
    """The texts a parity check of `janitr export` / `janitr quantize` compares on: the first
    `rows` distinct normalized texts of DATA_DIR (all of them when there are fewer; the
    check itself refuses too few).

    Raises:
        ConfigError: if `rows` is below `MIN_PARITY_ROWS`.
    """
    if rows < MIN_PARITY_ROWS:
        raise ConfigError(f"parity_rows must be >= {MIN_PARITY_ROWS}, got {rows}")
    texts = texts_from_data(data_dir, strip_urls=strip_urls)
    return texts[:rows]


def _probability_module(model):
    """Wrap a student for export: its two head probabilities, computed by a lean forward.

    The same weights and arithmetic as `StudentModel.forward` in eval mode (BERT embeddings,
    post-LayerNorm layers with eager softmax attention, heads on [CLS]), written out so the
    traced graph is small, with one saving: the heads read only the [CLS] row of the last
    layer, so that layer computes its query, attention output, feed-forward and LayerNorms
    for [CLS] alone (keys and values still cover every token). That removes about a fifth of
    the encoder's work for 4 layers (more for fewer) and changes no output; the parity check
    against the torch model in `export_onnx` confirms it.
    """
    torch = require("torch", extra="train")

    class StudentProbabilities(torch.nn.Module):
        def __init__(self, student):
            super().__init__()
            self.student = student
            self.heads = student.config.heads
            self.head_dim = student.config.hidden // student.config.heads

        def forward(self, input_ids, attention_mask):
            bert = self.student.encoder
            emb = bert.embeddings
            batch, seq = input_ids.shape[0], input_ids.shape[1]
            # Absolute positions 0..seq-1 and token type 0, as BertEmbeddings without ids.
            h = emb.word_embeddings(input_ids) + emb.token_type_embeddings.weight[0]
            h = emb.LayerNorm(h + emb.position_embeddings.weight[:seq])
            # Additive key mask (batch, 1, 1, seq), as transformers' eager attention.
            dtype = h.dtype
            bias = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min

            def heads(t):  # (batch, len, hidden) -> (batch, heads, len, head_dim)
                return t.view(batch, -1, self.heads, self.head_dim).transpose(1, 2)

            layers = bert.encoder.layer
            for i, layer in enumerate(layers):
                att = layer.attention.self
                x = h[:, :1] if i == len(layers) - 1 else h  # last layer: [CLS] queries only
                q, k, v = heads(att.query(x)), heads(att.key(h)), heads(att.value(h))
                scores = torch.matmul(q, k.transpose(-1, -2)) * self.head_dim**-0.5 + bias
                ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
                ctx = ctx.transpose(1, 2).reshape(batch, -1, self.heads * self.head_dim)
                a = layer.attention.output(ctx, x)  # dense + residual + LayerNorm
                h = layer.output(layer.intermediate(a), a)  # FFN + residual + LayerNorm
            cls = h[:, 0]
            scam = self.student.scam_head(cls)
            topic = self.student.topic_head(cls).squeeze(-1)
            return torch.softmax(scam, dim=-1)[:, 1], torch.sigmoid(topic)

    return StudentProbabilities(model).eval()


def _student_weights_sha256(student_dir: Path) -> str:
    from janitr.artifacts import sha256_file
    from janitr.student.model import WEIGHTS_FILE

    weights = Path(student_dir) / WEIGHTS_FILE
    if not weights.is_file():
        raise ProvenanceError(f"{student_dir} is not a student directory: no {WEIGHTS_FILE}")
    return sha256_file(weights)


def _stamp_lineage(onnx_path: Path, student_dir: Path) -> None:
    """Record the student's weights hash in the ONNX file's metadata (in place)."""
    onnx = require("onnx", extra="train")

    model = onnx.load(str(onnx_path))
    entry = model.metadata_props.add()
    entry.key, entry.value = LINEAGE_KEY, _student_weights_sha256(student_dir)
    onnx.save(model, str(onnx_path))


def check_lineage(onnx_path: str | Path, student_dir: str | Path, *, scorer_factory=None) -> None:
    """Refuse an ONNX model paired with a student it was not exported from.

    Args:
        onnx_path: a model from `export_onnx`.
        student_dir: the student whose tokenizer and config will feed it.
        scorer_factory: for files exported before lineage was recorded: a callable that
            builds a scorer of `onnx_path` with the student's tokenizer; one probe text is
            scored, and an onnxruntime failure (token ids beyond the model's vocabulary,
            another hidden size) is reported as a lineage error rather than a traceback.

    Raises:
        ProvenanceError: naming both files and what to pass instead.
    """
    onnx = require("onnx", extra="train")

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError / OSError subclasses by version
        raise ProvenanceError(f"{onnx_path} is not a readable ONNX model ({exc})") from exc
    recorded = {p.key: p.value for p in model.metadata_props}.get(LINEAGE_KEY)
    hint = (
        "give the student directory the model was exported from (e.g. the same run's "
        "stages/*-distill/student), or export this student first"
    )
    from janitr.student.model import WEIGHTS_FILE

    if recorded is not None and (Path(student_dir) / WEIGHTS_FILE).is_file():
        actual = _student_weights_sha256(Path(student_dir))
        if recorded != actual:
            raise ProvenanceError(
                f"{onnx_path} was exported from a student with weights sha256 "
                f"{recorded[:12]}, but {student_dir} has {actual[:12]}; {hint}"
            )
        return
    if scorer_factory is not None:  # no record, or no weights to compare it with
        try:
            scorer_factory().predict_heads(["lineage probe"])
        except Exception as exc:  # onnxruntime's errors share no public base class
            raise ProvenanceError(
                f"{onnx_path} does not run with the tokenizer and config of {student_dir} "
                f"({type(exc).__name__}: {str(exc)[:160]}); {hint}"
            ) from exc


#: Batch and sequence axes of the exported graph's inputs and outputs.
_DYNAMIC_AXES = {
    "input_ids": {0: "batch", 1: "seq"},
    "attention_mask": {0: "batch", 1: "seq"},
    "p_scam": {0: "batch"},
    "p_topic": {0: "batch"},
}


def export_onnx(
    *,
    student_dir: str | Path,
    out_path: str | Path,
    parity_texts: Sequence[str],
    opset: int = 17,
    thresholds: Mapping[str, float] | None = None,
    report_path: str | Path | None = None,
    min_rows: int = MIN_PARITY_ROWS,
    max_mean_delta: float = MAX_MEAN_DELTA,
    min_agreement: float = MIN_AGREEMENT,
) -> ParityReport:
    """Export a student directory to ONNX and check parity with torch.

    The graph is traced from `_probability_module`: the student's forward with the last
    layer computed for [CLS] only (the heads read nothing else), 1.3x faster after int8
    quantization and identical in output.

    Args:
        student_dir: directory written by `janitr distill`.
        out_path: the `.onnx` file to write.
        parity_texts: >= `min_rows` normalized texts to compare torch and onnxruntime on.
        opset: ONNX opset.
        thresholds: decision thresholds for the agreement check (default 0.5 / 0.5, since
            thresholds are tuned later on the exported model itself).
        report_path: where to write the parity report (default: `parity_fp32.json` beside
            `out_path`).
        min_rows, max_mean_delta, min_agreement: the parity gates.

    Returns:
        The passing `ParityReport` (also written to `report_path`).

    Raises:
        ParityError: if parity fails (no model file is left at `out_path`).
        ConfigError: if there are too few parity texts.
        BundleError: if `student_dir` is not a student directory.
    """
    torch = require("torch", extra="train")

    from janitr.artifacts import atomic_path
    from janitr.runtime.onnx import OnnxScorer
    from janitr.student.model import TorchStudentScorer

    texts = check_parity_texts(parity_texts, min_rows)
    out_path = Path(out_path)
    report_path = Path(report_path) if report_path else out_path.parent / PARITY_FP32
    reference = TorchStudentScorer.from_dir(student_dir)
    config = reference.model.config
    wrapped = _probability_module(reference.model)

    axes = _DYNAMIC_AXES
    with atomic_path(out_path) as tmp:
        _trace(wrapped, config, tmp, axes=axes, opset=opset)
        _stamp_lineage(tmp, Path(student_dir))
        candidate = OnnxScorer(tmp, reference.tokenizer, max_length=config.max_length, threads=1)
        report = compare_heads(
            reference.predict_heads(texts), candidate.predict_heads(texts),
            reference_name="torch", candidate_name="onnx-fp32", thresholds=thresholds,
            max_mean_delta=max_mean_delta, min_agreement=min_agreement, min_rows=min_rows,
        )  # fmt: skip
        report.extra = {
            "opset": opset,
            "exporter": f"torch {torch.__version__} torchscript",
            "graph": "last layer computed for [CLS] only",
            "model_bytes": tmp.stat().st_size,
            "dynamic_axes": axes,
        }
        log.debug("%s", report.summary())
        if not report.passed:
            raise ParityError(
                f"ONNX export failed parity: {report.summary()}; the model was not written", report
            )
    report.write(report_path)
    return report


def _trace(wrapped, config, out: Path, *, axes: dict, opset: int) -> None:
    """Trace `wrapped` into an ONNX file on a padded dummy batch (row 1 has padding, so the
    traced graph keeps the mask path)."""
    import warnings

    torch = require("torch", extra="train")
    from janitr.runtime.onnx import INPUT_NAMES, OUTPUT_NAMES

    seq = min(16, config.max_length)
    gen = torch.Generator().manual_seed(0)
    ids = (
        torch.randint(5, config.vocab_size, (2, seq), generator=gen)
        if config.vocab_size > 5
        else torch.full((2, seq), config.vocab_size - 1)
    )
    mask = torch.ones_like(ids)
    mask[1, seq // 2 :] = 0
    ids[1, seq // 2 :] = config.pad_token_id
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation and warns about traced
        # Python branches in transformers' mask code; parity below is the real check.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (ids, mask),
            str(out),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def write_student_bundles(
    *,
    student_dir: str | Path,
    models: Mapping[str, str | Path],
    out_dir: str | Path,
    train,
    valid,
    calib,
    parity_reports: Mapping[str, str | Path] | None = None,
    normalization=None,
    tuning_name: str | None = None,
    thresholds: ThresholdPolicy = DEFAULT_POLICY,
    include_torch: bool = False,
    threads: int | None = None,
) -> dict:
    """Write one `onnx` bundle per exported model, thresholds tuned on `calib` with it.

    Each bundle's thresholds are tuned with `thresholds.tune` on that model's own scores.

    Args:
        student_dir: the distilled student (tokenizer.json, student_config.json, and the
            torch weights if `include_torch`).
        models: bundle name -> `.onnx` file, e.g. `{"student-fp32": ..., "student-int8": ...}`.
        out_dir: parent directory; each bundle goes to `out_dir/<name>`.
        train, valid: the distillation data (records or JSONL paths): recorded as seen.
        calib: threshold-tuning data (records or JSONL path): recorded as seen.
        tuning_name: what the tuning data is called in the bundle (default:
            `thresholds.tune_on`, e.g. `valid+calib`).
        parity_reports: bundle name -> parity JSON to ship inside the bundle as `parity.json`.
        normalization: `NormalizationConfig` used in training (default: plain).
        thresholds: the threshold policy (targets, rule, confidence).
        include_torch: also write a `student-torch` bundle (for parity and evaluation).
        threads: onnxruntime threads while scoring calib.

    Returns:
        `{name: Bundle}`.
    """
    from janitr.data.normalize import NormalizationConfig
    from janitr.runtime.bundle import write_bundle
    from janitr.student.distill import as_records

    tuning_name = tuning_name or thresholds.tune_on
    normalization = normalization or NormalizationConfig()
    strip = normalization.strip_urls
    student_dir = Path(student_dir)
    data = {
        name: as_records(value, name)
        for name, value in (("train", train), ("valid", valid), (tuning_name, calib))
    }
    provenance, seen = _lineage(data, tuning_name=tuning_name, strip_urls=strip)
    calib_texts = [normalization.apply(r.text) for r in data[tuning_name]]
    gold = [r.gold for r in data[tuning_name]]
    student_meta = json.loads((student_dir / "student_config.json").read_text(encoding="utf-8"))
    distill_summary = _distill_summary(student_dir)
    targets = _bundle_targets(
        student_dir, models, parity_reports=parity_reports, include_torch=include_torch,
        threads=threads,
    )  # fmt: skip
    bundles = {}
    for name, (kind, files, scorer) in targets.items():
        tuned = thresholds.tune(gold, scorer.predict_heads(calib_texts))
        if tuned["tuning"].get("disabled"):
            log.warning("%s: thresholds disabled for %s on %s", name,
                        tuned["tuning"]["disabled"], tuning_name)  # fmt: skip
        model_info = {
            "family": "student",
            "variant": name,
            "architecture": student_meta["config"],
            "parameters": student_meta.get("parameters"),
            "distill": distill_summary,
        }
        if "model.onnx" in files:
            model_info["onnx_bytes"] = Path(files["model.onnx"]).stat().st_size
        bundles[name] = write_bundle(
            Path(out_dir) / name, kind=kind, files=files, thresholds=tuned["thresholds"],
            tuning={**tuned["tuning"], "data": tuning_name, "model": name},
            normalization=normalization, data=provenance, seen=seen, model=model_info,
        )  # fmt: skip
    return bundles


def _lineage(data: dict, *, tuning_name: str, strip_urls: bool) -> tuple[dict, dict]:
    """Each split's rows, hash and role (`data`), and its ids and text keys (`seen`)."""
    from janitr.data.records import split_hash
    from janitr.runtime.bundle import seen_entry

    provenance = {
        name: {"rows": len(recs), "sha256": split_hash(recs, strip_urls=strip_urls)}
        for name, recs in data.items()
    }
    provenance["train"]["role"] = "distillation"
    provenance["valid"]["role"] = "distillation (epoch selection)"
    provenance[tuning_name]["role"] = "threshold tuning"
    seen = {
        name: seen_entry([r.id for r in recs], [r.text for r in recs])
        for name, recs in data.items()
    }
    return provenance, seen


#: Fields of the distillation report a student bundle carries.
_DISTILL_FIELDS = ("best_epoch", "select_metric", "best_metric", "layer_map", "teacher",
                   "temperature_note")  # fmt: skip


def _distill_summary(student_dir: Path) -> dict:
    """The distillation report's summary fields, or {} when the student has no report."""
    report_file = student_dir / "distill_report.json"
    if not report_file.is_file():
        return {}
    rep = json.loads(report_file.read_text(encoding="utf-8"))
    return {k: rep.get(k) for k in _DISTILL_FIELDS}


def _bundle_targets(
    student_dir: Path, models: Mapping, *, parity_reports, include_torch: bool, threads
) -> dict[str, tuple[str, dict, object]]:
    """Bundle name -> (kind, files, scorer) of each model to bundle."""
    from janitr.runtime.onnx import OnnxScorer

    config_file = student_dir / "student_config.json"
    tok_file = student_dir / "tokenizer.json"
    targets: dict[str, tuple[str, dict, object]] = {}
    for name, path in models.items():
        scorer = OnnxScorer.from_files(path, tok_file, config_file, threads=threads)
        files = {"model.onnx": path, "tokenizer.json": tok_file, "student_config.json": config_file}
        if parity_reports and name in parity_reports:
            files["parity.json"] = parity_reports[name]
        targets[name] = ("onnx", files, scorer)
    if include_torch:
        from janitr.student.model import TorchStudentScorer

        targets["student-torch"] = (
            "student-torch",
            {
                "model.safetensors": student_dir / "model.safetensors",
                "tokenizer.json": tok_file,
                "student_config.json": config_file,
            },
            TorchStudentScorer.from_dir(student_dir),
        )
    return targets
