"""Native side of `benchmarks/browser.mjs`: the same posts through `janitr.Classifier` (Python
onnxruntime, one thread), timed the way the browser side is timed.

    python benchmarks/browser_native.py --model BUNDLE --texts TEXTS.json --batch-size 8

Per call: normalization + tokenization + session run + decision, as `classify` in the
extension. Prints JSON: load seconds, and per-post latency p50/p95 (ms) at batch size 1 and
at --batch-size (a batch's time divided by its posts).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("JANITR_ONNX_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def percentiles(values: list[float]) -> dict:
    import numpy as np

    arr = np.asarray(values)
    return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
            "mean": float(arr.mean()), "n": len(values)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="student bundle")
    parser.add_argument("--texts", required=True, help="JSON list of raw texts")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--compare", default="", help="name=FILE.onnx,...: other models whose "
                        "bare session run is timed interleaved with the bundle's")  # fmt: skip
    args = parser.parse_args()

    from janitr.runtime.classifier import Classifier

    texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
    start = time.perf_counter()
    clf = Classifier.load(args.model)
    load = time.perf_counter() - start
    for text in texts[: args.warmup]:
        clf.predict([text])
    single = []
    for text in texts:
        t0 = time.perf_counter()
        clf.predict([text])
        single.append((time.perf_counter() - t0) * 1e3)
    batched = []
    for i in range(0, len(texts) - args.batch_size + 1, args.batch_size):
        chunk = texts[i : i + args.batch_size]
        t0 = time.perf_counter()
        clf.predict(chunk)
        batched.append((time.perf_counter() - t0) * 1e3 / len(chunk))
    # Where a batch-1 call's time goes: the whole call, normalization + tokenization, and
    # the bare session run.
    from janitr.runtime.onnx import encode_batch, open_session

    scorer = clf.scorer
    others = {k: open_session(v, threads=1)
              for k, v in (kv.split("=", 1) for kv in args.compare.split(",") if kv)}  # fmt: skip
    other_ms = {k: [] for k in others}
    call_ms, encode_ms, run_ms = [], [], []
    for text in texts:  # interleaved, as on the browser side
        t0 = time.perf_counter()
        clf.predict([text])
        call_ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        ids, mask = encode_batch(scorer.tokenizer, clf.normalize([text]),
                                 max_length=scorer.max_length)  # fmt: skip
        encode_ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        scorer.run(ids, mask)
        run_ms.append((time.perf_counter() - t0) * 1e3)
        for name, sess in others.items():
            t0 = time.perf_counter()
            sess.run(None, {"input_ids": ids, "attention_mask": mask})
            other_ms[name].append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({
        "backend": "onnxruntime (Python, CPUExecutionProvider, 1 thread)",
        "load_seconds": load,
        "batch1_ms_per_post": percentiles(single),
        f"batch{args.batch_size}_ms_per_post": percentiles(batched),
        "batch1_breakdown_ms": {"predict": percentiles(call_ms),
                                "normalize_tokenize": percentiles(encode_ms),
                                "session_run": percentiles(run_ms)},
        "session_run_batch1_ms": {k: percentiles(v) for k, v in other_ms.items()},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
