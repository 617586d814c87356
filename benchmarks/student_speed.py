"""Speed of the ONNX student per quantization format, side by side in one run (issue #16 item 5).

    python benchmarks/student_speed.py --fp32 runs/r1/stages/09-export/model.fp32.onnx \
        --student runs/r1/stages/08-distill/student --bundle runs/r1/bundles/student-int8 \
        --data ../shared/data/janitr [--posts 1000] [--reps 3] \
        [--out benchmarks/results/student_speed.json]

Builds every candidate file from the fp32 export into a temporary directory (static QDQ as
`janitr quantize` writes it, with and without `float_residuals`, uint8 and int7 weights,
per-channel; onnxruntime's weight-only MatMulNBits at 8 and 4 bits, fp32 activations
(accuracy_level 0) or int8 ones (4)), then measures, on the same real posts:

- where the time goes: tokenization (batch and one post at a time) and padding, ms/post;
- per file: mean |dp| per head and decision agreement against fp32 at the bundle's
  thresholds, "batch dp" (max |dp| of a post alone vs in shuffled batches of 32: 0 for a
  batch-invariant int8 file, ~1e-7 for fp32 arithmetic), the size, and session.run posts/s at
  batch 1, 8 and 64 (length-planned batches, `plan_batches`; padding included, tokenization
  not), one intra-op thread;
- the fastest file with other graph optimization levels, and end to end through `OnnxScorer`
  (tokenization included) on 1 and 2 threads.

The machine is shared, so the files are measured in turn, round-robin, `--reps` times, and
each keeps its best: only ratios within one run mean anything. The CPU model, its VNNI flag
and the load average go into the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_info

os.environ.setdefault("OMP_NUM_THREADS", "1")


def build_candidates(
    fp32: Path, tok, calibration: list[str], out: Path, *, max_length: int
) -> dict[str, Path]:
    """Every candidate file, written under `out`: {name: path}."""
    import logging
    import shutil

    from onnxruntime.quantization import QuantFormat
    from onnxruntime.quantization import matmul_nbits_quantizer as nbits

    from janitr.student.quantize import calibration_reader, write_int8_model

    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization's per-tensor notes
    files = {"fp32": out / "fp32.onnx"}
    shutil.copy(fp32, files["fp32"])
    static = {
        "static uint8 (old default)": ("uint8", False, False),
        "static uint8 + float residuals": ("uint8", False, True),
        "static int7": ("int7", False, False),
        "static int7 + float residuals": ("int7", False, True),
        "static int7 per-ch + float res.": ("int7", True, True),
    }
    for i, (name, (weights, per_channel, float_adds)) in enumerate(static.items()):
        files[name] = out / f"static{i}.onnx"
        reader = calibration_reader(tok, calibration, max_length=max_length, batch_size=32)
        write_int8_model(fp32, files[name], weights=weights, per_channel=per_channel,
                         reader=reader, float_residual_adds=float_adds)  # fmt: skip
    import onnx

    for bits, accuracy in ((8, 0), (8, 4), (4, 4)):
        name = f"MatMulNBits {bits}-bit acc{accuracy} b32"
        config = nbits.DefaultWeightOnlyQuantConfig(
            block_size=32, accuracy_level=accuracy, quant_format=QuantFormat.QOperator,
            op_types_to_quantize=("MatMul",), bits=bits,
        )  # fmt: skip
        quantizer = nbits.MatMulNBitsQuantizer(onnx.load(str(fp32)), algo_config=config)
        quantizer.process()
        files[name] = out / f"nbits{bits}_{accuracy}.onnx"
        quantizer.model.save_model_to_file(str(files[name]), use_external_data_format=False)
    return files


def _session(path: Path, level: str = "all", skip_layer_norm: bool = False):
    import onnxruntime as ort

    from janitr.runtime.onnx import DISABLED_OPTIMIZERS, session_options

    opts = session_options(1)
    opts.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    disabled = [] if skip_layer_norm else list(DISABLED_OPTIMIZERS)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=disabled)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fp32", required=True, help="the fp32 ONNX export")
    ap.add_argument("--student", required=True, help="the student dir (tokenizer, config)")
    ap.add_argument("--bundle", required=True, help="a student bundle (its thresholds)")
    ap.add_argument("--data", required=True, help="data dir: train.jsonl calibrates, "
                    "valid/calib/unlabeled give the posts")  # fmt: skip
    ap.add_argument("--posts", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from janitr.runtime.bundle import load_bundle
    from janitr.runtime.onnx import (
        RUN_COST_TOKENS,
        OnnxScorer,
        _encode,
        pad_encodings,
        plan_batches,
        read_config,
    )
    from janitr.student.export import texts_from_data
    from janitr.student.tokenizer import load_tokenizer

    machine = machine_info()
    student = Path(args.student)
    max_length = read_config(student / "student_config.json")["max_length"]
    tok = load_tokenizer(student / "tokenizer.json", expected_vocab_size=None)
    texts = texts_from_data(args.data, names=("valid", "calib", "unlabeled"))[: args.posts]
    n = len(texts)
    thresholds = load_bundle(args.bundle).thresholds
    calibration = texts_from_data(args.data, names=("train",))

    # Where the time goes outside the session.
    t = time.perf_counter()
    enc = _encode(tok, texts, max_length=max_length)
    tok_batch = (time.perf_counter() - t) / n * 1e3
    t = time.perf_counter()
    for text in texts:
        _encode(tok, [text], max_length=max_length)
    tok_single = (time.perf_counter() - t) / n * 1e3
    t = time.perf_counter()
    for e in enc:
        pad_encodings([e])
    pad_single = (time.perf_counter() - t) / n * 1e3
    lengths = np.array([len(e.ids) for e in enc])

    def run(sess, rows):
        ids, mask = pad_encodings([enc[i] for i in rows])
        p_scam, p_topic = sess.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.stack([p_scam, p_topic], axis=1).astype(np.float64)

    def posts_per_s(sess, batch):
        batches = ([[i] for i in range(n)] if batch == 1
                   else plan_batches(lengths, batch, run_cost=RUN_COST_TOKENS))  # fmt: skip
        t = time.perf_counter()
        for rows in batches:
            run(sess, rows)
        return n / (time.perf_counter() - t)

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = build_candidates(
            Path(args.fp32), tok, calibration, Path(tmp), max_length=max_length
        )
        sessions = {name: _session(path) for name, path in files.items()}
        reference = None
        perm = np.random.default_rng(0).permutation(n)
        for name, sess in sessions.items():
            alone = np.vstack([run(sess, [i]) for i in range(n)])
            batched = np.empty_like(alone)
            for k in range(0, n, 32):
                batched[perm[k : k + 32]] = run(sess, perm[k : k + 32])
            reference = alone if reference is None else reference
            same = (alone[:, 0] >= thresholds["scam"]) == (reference[:, 0] >= thresholds["scam"])
            same &= (alone[:, 1] >= thresholds["topic_crypto"]) == (
                reference[:, 1] >= thresholds["topic_crypto"]
            )
            rows[name] = {
                "mean_abs_dp": np.abs(alone - reference).mean(axis=0).round(5).tolist(),
                "agreement": round(float(same.mean()), 4),
                "batch_dp": float(np.abs(alone - batched).max()),
                "kb": files[name].stat().st_size // 1024,
                "posts_per_s": {"b1": [], "b8": [], "b64": []},
            }
        best = "static int7 + float residuals"
        levels = {f"{best}, opt {lv}": (lv, False) for lv in ("basic", "extended")}
        levels[f"{best}, opt all + SkipLayerNorm"] = ("all", True)
        level_sessions = {k: _session(files[best], lv, sk) for k, (lv, sk) in levels.items()}
        level_rows = {k: {"b1": [], "b64": []} for k in level_sessions}
        scorers = {(name, threads): OnnxScorer(files[name], tok, max_length=max_length,
                                               threads=threads, batch_size=64)
                   for name in ("fp32", "static uint8 (old default)", best)
                   for threads in (1, 2)}  # fmt: skip
        end_to_end = {f"{name}, {threads} thread(s)": [] for name, threads in scorers}
        for rep in range(args.reps):
            print(f"rep {rep + 1}/{args.reps}", file=sys.stderr)
            for name, sess in sessions.items():
                for batch in (1, 8, 64):
                    rows[name]["posts_per_s"][f"b{batch}"].append(posts_per_s(sess, batch))
            for name, sess in level_sessions.items():
                for batch in (1, 64):
                    level_rows[name][f"b{batch}"].append(posts_per_s(sess, batch))
            for (name, threads), scorer in scorers.items():
                t = time.perf_counter()
                scorer.predict_heads(texts)
                end_to_end[f"{name}, {threads} thread(s)"].append(n / (time.perf_counter() - t))
        for scorer in scorers.values():
            scorer.close()

    load_after = [round(x, 2) for x in os.getloadavg()]
    best_of = {k: {b: round(max(v), 1) for b, v in r["posts_per_s"].items()}
               for k, r in rows.items()}  # fmt: skip
    cpu = machine["cpu"]
    vnni = bool(cpu["flags"] and (cpu["flags"]["avx512_vnni"] or cpu["flags"]["avx_vnni"]))
    print(f"CPU {cpu['model']}, {machine['cpus']} cores, VNNI {'yes' if vnni else 'no'}; "
          f"load average {machine.get('load_average_1m')} -> {load_after}; {n} posts, "
          f"mean {lengths.mean():.1f} tokens (p50 {np.median(lengths):.0f}, "
          f"max {lengths.max()})")  # fmt: skip
    print(
        f"tokenization {tok_batch:.3f} ms/post batched, {tok_single:.3f} one at a time; "
        f"padding {pad_single:.3f} ms/post"
    )
    head = f"{'file':34s} {'dp scam':>8s} {'dp topic':>8s} {'agree':>7s} {'batch dp':>8s}"
    head += f" {'KB':>6s}"
    print(head + f" {'b1/s':>6s} {'b8/s':>6s} {'b64/s':>6s} {'b64 vs fp32':>11s}")
    for name, r in rows.items():
        ratio = best_of[name]["b64"] / best_of["fp32"]["b64"]
        print(f"{name:34s} {r['mean_abs_dp'][0]:8.4f} {r['mean_abs_dp'][1]:8.4f} "
              f"{r['agreement'] * 100:6.2f}% {r['batch_dp']:8.1e} {r['kb']:6d} "
              f"{best_of[name]['b1']:6.0f} {best_of[name]['b8']:6.0f} {best_of[name]['b64']:6.0f} "
              f"{ratio:10.2f}x")  # fmt: skip
    for name, r in level_rows.items():
        print(f"{name:52s} b1 {max(r['b1']):6.0f}/s  b64 {max(r['b64']):6.0f}/s")
    for name, v in end_to_end.items():
        print(f"OnnxScorer.predict_heads, {name:44s} {max(v):6.0f} posts/s (tokenization included)")
    if args.out:
        result = {
            "command": " ".join(["python", *sys.argv]),
            "machine": machine,
            "vnni": vnni,
            "load_average_after": load_after,
            "posts": n,
            "tokens": {
                "mean": float(lengths.mean()),
                "p50": float(np.median(lengths)),
                "max": int(lengths.max()),
            },  # fmt: skip
            "thresholds": thresholds,
            "ms_per_post": {
                "tokenize_batched": tok_batch,
                "tokenize_single": tok_single,
                "pad_single": pad_single,
            },  # fmt: skip
            "files": {k: {**r, "posts_per_s_best": best_of[k]} for k, r in rows.items()},
            "optimization_levels": {
                k: {b: max(v) for b, v in r.items()} for k, r in level_rows.items()
            },  # fmt: skip
            "onnx_scorer_posts_per_s": {k: max(v) for k, v in end_to_end.items()},
        }
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
