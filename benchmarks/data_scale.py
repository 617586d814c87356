"""Data-layer scale benchmark: `janitr validate`, `split` and `leakage` on 100k and 1M rows.

Rows are built from the real texts of the shared `train.jsonl` (path via --data or the
JANITR_DATA environment variable) with heavy random word perturbations, unique ids and ~1%
planted near-duplicates (one character changed). Each step runs in its own process; wall time
and peak RSS (from `os.wait4`) are recorded. Figures go to benchmarks/results/data_scale.json,
with the machine (`machine.py`: CPU model and flags, load).

    python benchmarks/data_scale.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_info

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = os.environ.get("JANITR_DATA", str(HERE.parent.parent / "shared/data/janitr"))


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 8)))


def build_rows(base: list[dict], n: int, *, seed: int, near_dup_rate: float = 0.01):
    """Yield n JSONL lines: perturbed real texts, unique ids, planted near-duplicates."""
    rng = random.Random(seed)
    recent: list[str] = []
    for i in range(n):
        src = base[rng.randrange(len(base))]
        if recent and rng.random() < near_dup_rate:
            text = rng.choice(recent)
            pos = rng.randrange(len(text))
            text = text[:pos] + rng.choice("#@xq") + text[pos + 1 :]
        else:
            words = src["text"].split()
            words = [_word(rng) if rng.random() < 0.5 else w for w in words]
            words.append(_word(rng) + str(i))
            text = " ".join(words)
            if len(recent) < 1000:
                recent.append(text)
            else:
                recent[rng.randrange(1000)] = text
        yield json.dumps(
            {"id": f"s{i:08d}", "text": text, "labels": src["labels"]}, ensure_ascii=False
        )


def run_step(name: str, argv: list[str]) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    rc = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode("utf-8", "replace")[-2000:] if proc.stderr else ""
    return {
        "step": name,
        "seconds": round(wall, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "exit_code": rc,
        "stderr_tail": err if rc not in (0, 1) else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=DEFAULT_DATA, help="dir with train.jsonl")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--out", default=str(HERE / "results/data_scale.json"))
    parser.add_argument("--workdir", help="where to write the synthetic data (default: temp)")
    args = parser.parse_args(argv)

    text = (Path(args.data) / "train.jsonl").read_text(encoding="utf-8")
    base = [json.loads(line) for line in text.splitlines() if line.strip()]
    janitr = [sys.executable, "-m", "janitr"]
    machine = machine_info()
    results = []
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for n in args.sizes:
            data = Path(tmp) / f"rows_{n}.jsonl"
            with open(data, "w", encoding="utf-8") as handle:
                for line in build_rows(base, n, seed=n):
                    handle.write(line + "\n")
            splits = Path(tmp) / f"splits_{n}"
            steps = [
                run_step("validate", [*janitr, "validate", str(data)]),
                run_step("split", [*janitr, "split", "--data", str(data), "--out", str(splits)]),
                run_step(
                    "leakage",
                    [
                        *janitr,
                        "leakage",
                        str(splits),
                        "--warn-only",
                        "--json",
                        str(splits / "leakage.json"),
                    ],
                ),
            ]
            leak = json.loads((splits / "leakage.json").read_text("utf-8"))
            total = sum(s["seconds"] for s in steps)
            results.append({
                "rows": n, "file_mb": round(data.stat().st_size / 2**20, 1), "steps": steps,
                "total_seconds": round(total, 2),
                "peak_rss_mb": max(s["peak_rss_mb"] for s in steps),
                "leakage_near_dups": sum(p["near_dups"] for p in leak["pairs"]),
                "leakage_texts": sum(p["texts"] for p in leak["pairs"]),
            })  # fmt: skip
            print(f"{'rows':>9} {'step':<9} {'seconds':>8} {'peak RSS MB':>12} {'exit':>5}")
            for s in steps:
                print(
                    f"{n:>9} {s['step']:<9} {s['seconds']:>8.2f} {s['peak_rss_mb']:>12.1f} "
                    f"{s['exit_code']:>5}"
                )
                if s["stderr_tail"]:
                    print(s["stderr_tail"])
            print(f"{n:>9} {'total':<9} {total:>8.2f} {results[-1]['peak_rss_mb']:>12.1f}\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
