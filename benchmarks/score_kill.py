"""`kill -9` a `janitr score` job at random points; every restart must complete and the
final output must equal an uninterrupted run's, byte for byte.

    python benchmarks/score_kill.py --model runs/r1/bundles/fasttext --posts 1000000 --kills 5

An uninterrupted run writes the reference. Then the same job is started, killed with SIGKILL
(the whole process group: the CLI and its workers) at a random time before it would finish,
and started again, --kills times (each at a random point of the work left); the last start
runs to the end. The check: no manifest.json
after any kill (an unfinished job never looks complete), every part's bytes equal the
reference's, and the manifests agree. Results: benchmarks/results/score_kill.json, with the
machine and the load average (a shared machine makes the timings noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_info
from score_corpus import DATA, synthesize

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="bundle directory")
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/score_kill.json")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = {
        "model": str(args.model),
        "posts": args.posts,
        "seed": args.seed,
        "machine": machine_info(),
        "kills": [],
    }
    with tempfile.TemporaryDirectory(prefix="janitr-score-kill-") as tmp:
        corpus = synthesize(Path(tmp) / "corpus.jsonl", posts=args.posts, data_dir=args.data)

        def command(out: str) -> list[str]:
            return [
                sys.executable,
                "-m",
                "janitr",
                "score",
                "--model",
                str(args.model),
                "--out",
                str(Path(tmp) / out),
                "--quiet",
                str(corpus),
            ]

        began = time.perf_counter()
        ref = subprocess.run(command("ref"), env=env, capture_output=True, text=True)
        full = time.perf_counter() - began
        result["uninterrupted_seconds"] = full
        result["uninterrupted_returncode"] = ref.returncode
        print(f"uninterrupted: {full:.1f} s, rc {ref.returncode}")
        killed = Path(tmp) / "killed"
        total_parts = len(list((Path(tmp) / "ref").glob("part-*.jsonl")))
        for k in range(args.kills):
            # A random point of the work that is left (so that every kill interrupts).
            left = 1 - len(list(killed.glob("part-*.jsonl"))) / total_parts
            delay = rng.uniform(0.1, 0.9) * full * left / 2
            proc = subprocess.Popen(
                command("killed"), env=env, start_new_session=True, stderr=subprocess.DEVNULL
            )
            time.sleep(delay)
            finished_first = proc.poll() is not None
            if not finished_first:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            parts = len(list(killed.glob("part-*.jsonl")))
            looks_complete = (killed / "manifest.json").exists()
            entry = {
                "kill": k + 1,
                "after_seconds": round(delay, 2),
                "parts_on_disk": parts,
                "manifest_after_kill": looks_complete,
                "finished_before_kill": finished_first,
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
            result["kills"].append(entry)
            print(entry)
        began = time.perf_counter()
        last = subprocess.run(command("killed"), env=env, capture_output=True, text=True)
        result["final_restart"] = {
            "seconds": time.perf_counter() - began,
            "returncode": last.returncode,
            "stderr_tail": last.stderr[-400:],
        }
        ref_parts = sorted((Path(tmp) / "ref").glob("part-*.jsonl"))
        same = [(killed / p.name).read_bytes() == p.read_bytes() for p in ref_parts]
        extra = {p.name for p in killed.glob("part-*.jsonl")} - {p.name for p in ref_parts}
        ref_manifest = json.loads((Path(tmp) / "ref" / "manifest.json").read_text())
        got_manifest = json.loads((killed / "manifest.json").read_text())
        result["identical"] = all(same) and not extra and ref_manifest == got_manifest
        result["parts"] = len(ref_parts)
        result["rows"] = got_manifest["rows"]
        result["every_restart_completed_or_was_killed"] = last.returncode == ref.returncode
        result["every_kill_interrupted_the_job"] = not any(
            e["finished_before_kill"] for e in result["kills"]
        )
        result["no_complete_looking_output_after_a_kill"] = not any(
            e["manifest_after_kill"] and not e["finished_before_kill"] for e in result["kills"]
        )
    print(
        f"final restart: {result['final_restart']['seconds']:.1f} s; "
        f"identical to the uninterrupted run: {result['identical']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
