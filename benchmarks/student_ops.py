"""Where an ONNX student's time goes, by operator type (issue #16 item 5).

    python benchmarks/student_ops.py --model fp32=runs/R/bundles/student-fp32/model.onnx \
        --model int8=runs/R/bundles/student-int8/model.onnx [--batch 16] [--length 40] \
        [--runs 200] [--out benchmarks/results/student_ops.json]

Each file is run `--runs` times on one (batch x length) input of random token ids, with
onnxruntime's profiler on and the runtime's session settings (`runtime.onnx.session_options`
on one thread, `DISABLED_OPTIMIZERS` left out); kernel time is summed per operator type.
Files are measured in turn, round-robin, twice, and each keeps its faster pass: the machine
may be shared, so only shares and ratios within one run mean anything.

It also prints the bound Amdahl's law puts on the speed-up of a quantized file over the
first file (fp32): the first file's total kernel time over the quantized file's time outside
its matrix products. Quantization makes matrix products faster; LayerNorm, GELU, bias adds,
transposes and (de)quantization stay float work, so however fast the integer products get,
the speed-up over fp32 cannot exceed that ratio.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from machine import machine_info

from janitr.runtime.onnx import DISABLED_OPTIMIZERS, session_options

#: Operator types that are matrix products (integer or float).
MATMUL_OPS = frozenset(
    {"MatMul", "FusedMatMul", "Gemm", "MatMulInteger", "MatMulIntegerToFloat", "QLinearMatMul"}
)


def profile(path: Path, *, batch: int, length: int, runs: int, seed: int = 0) -> dict:
    """`{"total_us": mean kernel time per run, "ops": {op type: mean us per run}}`."""
    options = session_options(threads=1)  # the runtime's own settings
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(
            str(path),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(DISABLED_OPTIMIZERS),
        )
        rng = np.random.default_rng(seed)
        ids = rng.integers(5, 8000, size=(batch, length)).astype(np.int64)
        names = [i.name for i in session.get_inputs()]
        feed = dict(zip(names, (ids, np.ones_like(ids)), strict=True))
        session.run(None, feed)  # warm-up, profiled too: dropped below by run count
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    ops = {op: us / (runs + 1) for op, us in per_op.most_common()}
    return {"total_us": sum(ops.values()), "ops": ops}


def shares(result: dict) -> dict:
    """Matrix-product and other kernel time per run, in us."""
    matmul = sum(us for op, us in result["ops"].items() if op in MATMUL_OPS)
    return {"matmul_us": matmul, "other_us": result["total_us"] - matmul}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME=PATH",
        help="an ONNX file to profile (repeatable; the first is the fp32 baseline)",
    )
    ap.add_argument("--batch", type=int, default=16, help="rows per run")
    ap.add_argument("--length", type=int, default=40, help="tokens per row (real posts: ~40)")
    ap.add_argument("--runs", type=int, default=200, help="profiled runs per pass")
    ap.add_argument("--out", type=Path, help="JSON file for the figures")
    args = ap.parse_args(argv)
    models = dict(item.split("=", 1) for item in args.model)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    best: dict[str, dict] = {}
    for _ in range(2):
        for name, path in models.items():
            result = profile(Path(path), batch=args.batch, length=args.length, runs=args.runs)
            if name not in best or result["total_us"] < best[name]["total_us"]:
                best[name] = result
    baseline = next(iter(models))
    report = {
        "command": "python " + " ".join(sys.argv),
        "machine": machine_info(),
        "batch": args.batch,
        "length": args.length,
        "runs": args.runs,
        "models": {},
    }
    for name, result in best.items():
        split = shares(result)
        report["models"][name] = {
            **result,
            **split,
            "speedup_vs_baseline": best[baseline]["total_us"] / result["total_us"],
            "amdahl_bound_vs_baseline": best[baseline]["total_us"] / split["other_us"],
        }
    _print(report, baseline)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"saved: {args.out}")
    return 0


def _print(report: dict, baseline: str) -> None:
    print(f"batch {report['batch']} x {report['length']} tokens, one thread, "
          f"{report['machine']['cpu']}")  # fmt: skip
    for name, r in report["models"].items():
        print(
            f"\n{name}: {r['total_us'] / 1000:.2f} ms per run, "
            f"{r['speedup_vs_baseline']:.2f}x {baseline}; matrix products "
            f"{r['matmul_us'] / r['total_us']:.0%}, other ops {r['other_us'] / 1000:.2f} ms "
            f"-> at most {r['amdahl_bound_vs_baseline']:.2f}x {baseline} with free products"
        )
        for op, us in list(r["ops"].items())[:10]:
            print(f"  {op:<28} {us / r['total_us']:6.1%}  {us / 1000:7.3f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
