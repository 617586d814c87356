"""Inference benchmark for any model bundle: single-post latency and batch throughput.

    python benchmarks/inference.py --model /tmp/ft_bundle --data data/valid.jsonl

Latency: one post per call through `janitr.Classifier.predict` (normalization + scorer +
decision), one thread, after a warm-up; p50/p95/p99 in milliseconds. Throughput: the same
texts in batches (`--batch-size`), repeated until `--min-seconds` have passed; posts/s.
Results print as a table and are saved to benchmarks/results/inference_<kind>.json, with the
machine (`machine.py`: CPU model, its avx2/avx512f/avx512_vnni/avx_vnni flags, the load).

Student example (torch fp32, ONNX fp32, ONNX int8; throughput on two threads):

    for b in student-torch student-fp32 student-int8; do
      python benchmarks/inference.py --model runs/r1/bundles/$b --data data/valid.jsonl \
          --batch-size 64 --batch-threads 2 --out benchmarks/results/inference_$b.json
    done

fastText example (two cores: a scorer that holds the GIL, as fastText does, gets its batches
split across two processes, `Classifier.load(..., processes=2)`):

    python benchmarks/inference.py --model runs/r1/bundles/fasttext --data data/valid.jsonl \
        --batch-threads 2

Backends are whatever `bundle.scorer()` builds for the bundle's kind (fasttext, onnx, teacher,
student-torch): add a backend by adding a bundle kind, nothing here changes. Thread count
is pinned through the usual environment variables before any backend is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from machine import machine_info

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def _texts(path: str | None, limit: int) -> list[str]:
    from janitr.data.records import read_records

    if path is None:
        base = ["claim your free airdrop now, connect wallet", "btc is up 5% today",
                "lovely lunch in the park with friends"]  # fmt: skip
        return (base * (limit // 3 + 1))[:limit]
    records = read_records(path, require_labels=False)
    return [r.text for r in records][:limit]


def benchmark(*, model: str, texts: list[str], batch_size: int, min_seconds: float,
              latency_posts: int, batch_threads: int = 1) -> dict:  # fmt: skip
    """Measure latency and throughput of one bundle; returns the result dict.

    Latency always runs on one thread; throughput on `batch_threads` (ONNX scorers read
    $JANITR_ONNX_THREADS when built and run that many batches at once, torch takes
    `torch.set_num_threads`, and a scorer that holds the GIL while predicting,
    `scorer.holds_gil` like fastText, gets its batches split across `batch_threads`
    processes).
    """
    from janitr.runtime.classifier import Classifier

    machine = machine_info()  # before the run: the load average is the other processes'
    t0 = time.perf_counter()
    clf = Classifier.load(model)
    load_s = time.perf_counter() - t0
    for text in texts[:20]:  # warm-up
        clf.predict([text])
    lat = []
    sample = (texts * (latency_posts // len(texts) + 1))[:latency_posts]
    for text in sample:
        start = time.perf_counter()
        clf.predict([text])
        lat.append((time.perf_counter() - start) * 1000.0)
    lat.sort()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    processes = 1
    if batch_threads != 1:
        os.environ["JANITR_ONNX_THREADS"] = str(batch_threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(batch_threads)
        if getattr(clf.scorer, "holds_gil", False):
            processes = batch_threads
        clf = Classifier.load(model, processes=processes)
        clf.predict(texts[:batch_size])  # warm-up (starts the worker processes, if any)
    posts = 0
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        for i in range(0, len(texts), batch_size):
            clf.predict(texts[i : i + batch_size])
        posts += len(texts)
    elapsed = time.perf_counter() - start
    clf.close()
    return {
        "model": str(model),
        "kind": clf.kind,
        "bundle_sha256": clf.bundle.content_id,
        "model_bytes": sum(e["size"] for e in clf.bundle.manifest["files"].values()),
        "load_seconds": round(load_s, 4),
        "latency_ms": {
            "p50": pct(0.50),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "mean": statistics.fmean(lat),
            "posts": len(lat),
        },  # fmt: skip
        "throughput": {
            "posts_per_second": posts / elapsed,
            "batch_size": batch_size,
            "posts": posts,
            "seconds": elapsed,
        },  # fmt: skip
        "threads": {"latency": 1, "throughput": batch_threads, "processes": processes},
        "machine": machine,
    }


def format_result(r: dict) -> str:
    lat, thr = r["latency_ms"], r["throughput"]
    return "\n".join([
        f"{'kind':<16}{'size KB':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'posts/s':>12}",
        f"{r['kind']:<16}{r['model_bytes'] / 1024:>9.1f}{lat['p50']:>9.3f}{lat['p95']:>9.3f}"
        f"{lat['p99']:>9.3f}{thr['posts_per_second']:>12,.0f}",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", required=True, help="bundle directory")
    p.add_argument("--data", help="JSONL file whose texts are used (default: 3 built-in posts)")
    p.add_argument("--limit", type=int, default=5000, help="max texts read from --data")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--min-seconds", type=float, default=3.0, help="throughput run length")
    p.add_argument("--latency-posts", type=int, default=1000)
    p.add_argument(
        "--batch-threads",
        type=int,
        default=1,
        help="threads for the throughput run (latency always uses 1)",
    )
    p.add_argument("--out", help="JSON path (default: benchmarks/results/inference_<kind>.json)")
    args = p.parse_args(argv)
    result = benchmark(model=args.model, texts=_texts(args.data, args.limit),
                       batch_size=args.batch_size, min_seconds=args.min_seconds,
                       latency_posts=args.latency_posts,
                       batch_threads=args.batch_threads)  # fmt: skip
    print(format_result(result))
    out = Path(args.out or Path(__file__).parent / "results" / f"inference_{result['kind']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
