"""`janitr score` on a large synthetic corpus: posts/s and peak memory, per engine and model.

    python benchmarks/score_corpus.py --model runs/r1/bundles/fasttext --posts 1000000 \\
        --engines local ray
    python benchmarks/score_corpus.py --model runs/r1/bundles/student-int8 --posts 100000

The corpus is the shared data's texts (train, valid, calib, unlabeled: real post lengths)
repeated with fresh ids up to --posts rows. Each engine runs the real CLI in a fresh process
group; peak memory is the largest sum over every process of the group (driver, workers,
Ray's raylet and actors), sampled every 0.1 s, of RSS and of PSS (shared pages split between
the processes that map them: the sum that does not count Ray's object store once per worker).
Target (issue #16): fastText on 1M posts <= 60 s on a 2-core machine, peak <= 1 GB. The
machine (CPU model, avx512_vnni) and the load average go into
benchmarks/results/score_<variant>.json: on a shared machine the figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from machine import machine_info

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/janitr")


def synthesize(out: Path, *, posts: int, data_dir: Path = DATA) -> Path:
    """`posts` rows `{"id", "text"}` cycling through the texts of the data folder."""
    texts = []
    for name in ("train", "valid", "calib", "unlabeled"):
        path = data_dir / f"{name}.jsonl"
        if path.exists():
            with open(path, encoding="utf-8") as handle:
                texts += [json.loads(line)["text"] for line in handle if line.strip()]
    if not texts:
        raise SystemExit(f"no texts under {data_dir}; pass --data")
    with open(out, "w", encoding="utf-8") as handle:
        for i in range(posts):
            handle.write(json.dumps({"id": f"s{i}", "text": texts[i % len(texts)]}) + "\n")
    return out


def group_memory_bytes(session: int) -> tuple[int, int]:
    """`(RSS, PSS)` summed over every process of a session. The RSS sum counts shared pages
    (Ray's object store, mapped into every worker) once per process; PSS splits each shared
    page between its processes, so its sum is the memory the job really holds."""
    rss = pss = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) != session:  # field 6 of stat: the session id
                continue
            for line in Path(f"/proc/{entry}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return rss, pss


def run_measured(command: list[str], env: dict) -> dict:
    """Run a command in its own session; wall time, exit code, peak session RSS and PSS."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True
    )
    peak_rss = peak_pss = 0
    stop = threading.Event()

    def sample():
        nonlocal peak_rss, peak_pss
        while not stop.is_set():
            rss, pss = group_memory_bytes(proc.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    stop.set()
    sampler.join()
    return {
        "seconds": time.perf_counter() - began,
        "returncode": proc.returncode,
        "peak_rss_mb": peak_rss / 2**20,
        "peak_pss_mb": peak_pss / 2**20,
        "stderr_tail": err[-600:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="bundle directory")
    parser.add_argument("--posts", type=int, default=1_000_000, help="corpus rows")
    parser.add_argument("--engines", nargs="+", default=["local"], choices=["local", "ray"])
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the shared data")
    parser.add_argument("--out", type=Path, default=None, help="result JSON")
    args = parser.parse_args()

    from janitr.runtime.bundle import load_bundle

    bundle = load_bundle(args.model)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = {
        "model": str(args.model),
        "kind": bundle.kind,
        "variant": Path(args.model).name,
        "bundle_sha256": bundle.content_id,
        "posts": args.posts,
        "machine": machine_info(),
        "engines": {},
    }
    with tempfile.TemporaryDirectory(prefix="janitr-score-bench-") as tmp:
        corpus = synthesize(Path(tmp) / "corpus.jsonl", posts=args.posts, data_dir=args.data)
        result["corpus_mb"] = corpus.stat().st_size / 2**20
        for engine in args.engines:
            command = [
                sys.executable,
                "-m",
                "janitr",
                "score",
                "--model",
                str(args.model),
                "--out",
                str(Path(tmp) / engine),
                "--engine",
                engine,
                "--quiet",
                str(corpus),
            ]
            if args.workers:
                command += ["--workers", str(args.workers)]
            load_before = os.getloadavg()[0]
            run = run_measured(command, env)
            run["load_average_1m_before"] = round(load_before, 2)
            run["load_average_1m_after"] = round(os.getloadavg()[0], 2)
            run["posts_per_second"] = args.posts / run["seconds"]
            result["engines"][engine] = run
            print(
                f"{engine:6s} {result['variant']:14s} {args.posts:>9,d} posts "
                f"{run['seconds']:7.1f} s {run['posts_per_second']:9,.0f} posts/s "
                f"peak RSS {run['peak_rss_mb']:5.0f} MB PSS {run['peak_pss_mb']:5.0f} MB  "
                f"rc {run['returncode']}  "
                f"load {run['load_average_1m_before']}"
            )
    if "local" in result["engines"] and "ray" in result["engines"]:
        local, ray = result["engines"]["local"]["seconds"], result["engines"]["ray"]["seconds"]
        result["ray_overhead_seconds"] = ray - local
        print(f"ray adds {ray - local:+.1f} s ({ray / local:.2f}x the local engine's time)")
    out = args.out or ROOT / "benchmarks" / "results" / f"score_{result['variant']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
