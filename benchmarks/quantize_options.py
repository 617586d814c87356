"""Int8 options for an exported student: parity, batch dependence, speed and size.

    python benchmarks/quantize_options.py --student RUN/stages/08-distill/student \\
        --fp32 RUN/stages/09-export/model.fp32.onnx --data ../shared/data/janitr \\
        --out benchmarks/results/quantize_options_real.json

Each option is written with `janitr.student.quantize.write_int8_model` (static ones
calibrated on DATA/train.jsonl), plus the old default (dynamic, full-range int8 weights)
through onnxruntime directly, for comparison. Per option: mean and max |dp| per head against
the fp32 model and decision agreement (`--thresholds`) on the valid, calib and unlabeled
texts, each scored the way `OnnxScorer` serves the file; the batch dependence of the file
itself (max |dp| between a text alone and in shuffled raw batches of 32); posts/s on one
thread through `OnnxScorer` with batches of 1 and 32 (a model that is not batch-invariant is
served one post per run, so its "32" runs single posts too; `b32_raw` times it batched
anyway), best of `--rounds` interleaved rounds, since other processes share the machine;
file size and int8 weight range.

CPU check (`--probe DIR`): only the parity of the `.onnx` files already in DIR against
DIR/fp32.onnx, on `--rows` texts. Run it under an emulated CPU without AVX-512 to see
the kernels of such a CPU at work (slow: keep --rows small):

    qemu-x86_64 -cpu Haswell .venv/bin/python benchmarks/quantize_options.py --probe DIR \\
        --student ... --data ... --rows 300 --out benchmarks/results/quantize_probe_haswell.json

The JSON records the machine (`machine.py`), and under `cpuid` what the CPU reports to
programs (numpy's runtime detection), which is what an emulator changes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from machine import machine_info

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

#: (name, mode, weights, per_channel); "old-default" is the file janitr made before issue #12.
OPTIONS = (
    ("static-int7", "static", "int7", False),
    ("static-int7-perchannel", "static", "int7", True),
    ("static-uint8", "static", "uint8", False),
    ("dynamic-int7", "dynamic", "int7", False),
    ("dynamic-int7-perchannel", "dynamic", "int7", True),
    ("dynamic-uint8", "dynamic", "uint8", False),
    ("old-default", "dynamic", "int8", False),
)


def cpuid_features() -> dict | None:
    """What the CPU reports to programs (numpy's cpuid-based detection), or None."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # pragma: no cover - numpy < 2
        return None
    return {k: bool(features.get(k)) for k in ("AVX2", "AVX512F", "AVX512VNNI", "AVXVNNI")}


def _texts(data: Path, names, limit: int) -> list[str]:
    from janitr.student.export import texts_from_data

    return texts_from_data(data, names=names)[:limit]


def _write(fp32: Path, out: Path, mode, weights, per_channel, calib, tok, max_length) -> float:
    import onnxruntime.quantization as q

    from janitr.student.quantize import calibration_reader, write_int8_model

    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization's root-logger notes
    start = time.perf_counter()
    if weights == "int8":  # the old default: full-range int8 weights, can saturate
        q.quantize_dynamic(str(fp32), str(out), weight_type=q.QuantType.QInt8)
    else:
        reader = None
        if mode == "static":
            reader = calibration_reader(tok, calib, max_length=max_length, batch_size=32)
        write_int8_model(fp32, out, mode=mode, weights=weights, per_channel=per_channel,
                         reader=reader)  # fmt: skip
    return time.perf_counter() - start


def _parity(ref: np.ndarray, got: np.ndarray, thresholds: dict) -> dict:
    from janitr.student.export import compare_heads

    r = compare_heads(ref, got, reference_name="fp32", candidate_name="int8",
                      thresholds=thresholds, min_rows=1)  # fmt: skip
    return {"mean_abs_dp": r.mean_abs_delta, "max_abs_dp": r.max_abs_delta,
            "decision_agreement": r.decision_agreement}  # fmt: skip


def _batch_dependence(path: Path, tok, texts: list[str], max_length: int) -> float:
    """Max |dp| between each text alone and in shuffled raw batches of 32 (the file itself)."""
    from janitr.runtime.onnx import encode_batch, open_session

    sess = open_session(path)

    def run(rows):
        ids, mask = encode_batch(tok, [texts[i] for i in rows], max_length=max_length)
        return np.stack(sess.run(None, {"input_ids": ids, "attention_mask": mask}), axis=1)

    alone = np.vstack([run([i]) for i in range(len(texts))])
    perm = np.random.default_rng(0).permutation(len(texts))
    grouped = np.empty_like(alone)
    for start in range(0, len(texts), 32):
        rows = perm[start : start + 32]
        grouped[rows] = run(rows)
    return float(np.abs(grouped - alone).max())


def _posts_per_second(path: Path, tok, texts, max_length, batch_size, *, force_batch=False,
                      seconds: float = 1.5) -> float:  # fmt: skip
    from janitr.runtime.onnx import OnnxScorer

    scorer = OnnxScorer(path, tok, max_length=max_length, threads=1, batch_size=batch_size)
    if force_batch:  # time a batch-dependent model batched anyway
        scorer.batch_size = batch_size
    scorer.predict_heads(texts[:64])
    posts, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i in range(0, len(texts), batch_size):
            scorer.predict_heads(texts[i : i + batch_size])
        posts += len(texts)
    return posts / (time.perf_counter() - start)


def _int8_range(path: Path) -> list[int]:
    import onnx

    from janitr.student.quantize import int8_weight_range

    return list(int8_weight_range(onnx.load(str(path))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--student", required=True, help="student dir (tokenizer, student_config)")
    p.add_argument("--fp32", help="fp32 ONNX model (not with --probe)")
    p.add_argument("--data", required=True, help="dir with train/valid/calib/unlabeled.jsonl")
    p.add_argument("--work", default="runs/quantize_options", help="where the files go")
    p.add_argument("--probe", metavar="DIR", help="only the parity of DIR/*.onnx vs fp32.onnx")
    p.add_argument("--rows", type=int, default=2000, help="parity texts")
    p.add_argument("--calib-rows", type=int, default=10**9, help="static calibration texts")
    p.add_argument("--options", help="comma-separated subset of the options (default: all)")
    p.add_argument("--speed-rows", type=int, default=600, help="texts per speed round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved speed rounds (best kept)")
    p.add_argument("--thresholds", default="0.5,0.5", help="scam,topic for decision agreement")
    p.add_argument("--out", required=True, help="JSON results")
    args = p.parse_args(argv)

    from janitr.runtime.onnx import OnnxScorer, read_config
    from janitr.student.tokenizer import load_tokenizer

    student = Path(args.student)
    tok = load_tokenizer(student / "tokenizer.json", expected_vocab_size=None)
    max_length = read_config(student / "student_config.json")["max_length"]
    scam, topic = (float(x) for x in args.thresholds.split(","))
    thresholds = {"scam": scam, "topic_crypto": topic}
    texts = _texts(Path(args.data), ("valid", "calib", "unlabeled"), args.rows)
    work = Path(args.probe or args.work)
    result = {"machine": machine_info(), "cpuid": cpuid_features(), "rows": len(texts),
              "argv": argv if argv is not None else sys.argv[1:],
              "thresholds": thresholds, "options": {}}  # fmt: skip

    def served(path: Path) -> np.ndarray:
        return OnnxScorer(path, tok, max_length=max_length, threads=1).predict_heads(texts)

    if args.probe:
        ref = served(work / "fp32.onnx")
        for path in sorted(work.glob("*.onnx")):
            if path.name != "fp32.onnx":
                result["options"][path.stem] = _parity(ref, served(path), thresholds)
                print(path.stem, json.dumps(result["options"][path.stem]), flush=True)
    else:
        work.mkdir(parents=True, exist_ok=True)
        fp32 = work / "fp32.onnx"
        shutil.copyfile(args.fp32, fp32)
        calib = _texts(Path(args.data), ("train",), args.calib_rows)
        ref = served(fp32)
        files = {"fp32": fp32}
        wanted = args.options.split(",") if args.options else [o[0] for o in OPTIONS]
        for name, mode, weights, per_channel in OPTIONS:
            if name not in wanted:
                continue
            files[name] = work / f"{name}.onnx"
            seconds = _write(fp32, files[name], mode, weights, per_channel, calib, tok, max_length)
            entry = {"mode": mode, "weights": weights, "per_channel": per_channel,
                     "quantize_seconds": round(seconds, 1)}  # fmt: skip
            result["options"][name] = entry
        result["options"]["fp32"] = {"mode": "fp32"}
        speed_texts = texts[: args.speed_rows]
        for name, path in files.items():
            entry = result["options"][name]
            entry.update(_parity(ref, served(path), thresholds))
            entry["batch_dependence_max_dp"] = _batch_dependence(path, tok, texts[:500],
                                                                 max_length)  # fmt: skip
            entry["bytes"] = path.stat().st_size
            entry["int8_weight_range"] = _int8_range(path)
            entry["batch_invariant_served"] = OnnxScorer(
                path, tok, max_length=max_length).batch_invariant  # fmt: skip
            print(name, "parity done", flush=True)
        speeds: dict[str, dict[str, list[float]]] = {n: {} for n in files}
        for _ in range(args.rounds):  # interleaved, so a busy spell hits every option
            for name, path in files.items():
                for label, bs, force in (("b1", 1, False), ("b32", 32, False),
                                         ("b32_raw", 32, True)):  # fmt: skip
                    if label == "b32_raw" and result["options"][name].get("mode") != "dynamic":
                        continue
                    pps = _posts_per_second(path, tok, speed_texts, max_length, bs,
                                            force_batch=force)  # fmt: skip
                    speeds[name].setdefault(label, []).append(pps)
        for name, by_label in speeds.items():
            result["options"][name]["posts_per_second"] = {k: max(v) for k, v in by_label.items()}
            result["options"][name]["posts_per_second_rounds"] = by_label
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"saved {out}")
    return 0


def table(result: dict) -> str:
    """A markdown table of the results."""
    head = ("| option | mean abs dp scam / topic | max abs dp scam | agreement | "
            "batch dep. max dp | posts/s b1 / b32 | size KB | int8 range |")  # fmt: skip
    lines = [head, "|" + "---|" * 8]
    for name, e in result["options"].items():
        if "mean_abs_dp" not in e:
            continue
        m, pps = e["mean_abs_dp"], e.get("posts_per_second", {})
        speed = " / ".join(f"{pps[k]:.0f}" for k in ("b1", "b32") if k in pps) or "-"
        if "b32_raw" in pps:
            speed += f" ({pps['b32_raw']:.0f} batched)"
        lines.append(
            f"| {name} | {m['scam']:.4f} / {m['topic_crypto']:.4f} | "
            f"{e['max_abs_dp']['scam']:.4f} | {e['decision_agreement']:.2%} | "
            f"{e.get('batch_dependence_max_dp', float('nan')):.1e} | {speed} | "
            f"{e.get('bytes', 0) / 1024:.0f} | {e.get('int8_weight_range', '-')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
