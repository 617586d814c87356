"""How well `janitr audit` finds planted label errors in the real data.

For each seed: the labeled rows of the shared data (train + valid + calib; path via --data or
JANITR_DATA) are copied into a temporary folder with a share of them (5% by default) given a
wrong class: the row's labels are replaced by those of another class picked at random
(scam -> `clean` or `topic_crypto`, topic_crypto -> `clean` or `scam`, clean -> `scam` or
`topic_crypto`). The audit (the library's `audit_records`: linear out-of-fold scores,
confident learning) ranks every row; we measure precision and recall of its first k rows at
finding the planted flips, for k = n/2, n, 2n (n = number of planted flips), and of the set
it flags.

The real labels have errors of their own, which the audit also (rightly) ranks high and
which count against its precision here. So the unflipped copy is audited once too, and
`precision_excl_natural` leaves out of the first k the rows that are flagged there.

    python benchmarks/audit_planted.py --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_info

from janitr.data.labels import CLASSES, collapse
from janitr.evaluation.label_audit import planted_recovery
from janitr.pipeline.audit import AuditConfig, audit_records
from janitr.pipeline.crossval import SPLITS, read_labeled

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = os.environ.get("JANITR_DATA", str(HERE.parent.parent / "shared/data/janitr"))
#: The labels a flipped row gets, per new class.
FLIP_LABELS = {"scam": ["scam"], "topic_crypto": ["topic_crypto"], "clean": ["clean"]}


def planted_copy(data: Path, out: Path, *, share: float, seed: int) -> set[str]:
    """Copy DATA's labeled splits into `out`, flipping the class of `share` of the rows."""
    rng = random.Random(seed)
    rows = {}
    for split in SPLITS:
        path = data / f"{split}.jsonl"
        if path.is_file():
            rows[split] = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    everything = [(s, i) for s, part in rows.items() for i in range(len(part))]
    flipped = set()
    for s, i in rng.sample(everything, round(share * len(everything))):
        row = rows[s][i]
        old = collapse(row["labels"])
        row["labels"] = list(FLIP_LABELS[rng.choice([c for c in CLASSES if c != old])])
        flipped.add(row["id"])
    out.mkdir(parents=True, exist_ok=True)
    for s, part in rows.items():
        with open(out / f"{s}.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in part)
    return flipped


def measure(issues, ids, planted_ids, natural_ids) -> dict:
    ranked = [i.index for i in issues]
    planted = {k for k, i in enumerate(ids) if i in planted_ids}
    n = len(planted)
    at_k = {}
    for k in (n // 2, n, 2 * n):
        m = planted_recovery(ranked, planted, k=k)
        top = ranked[:k]
        natural = sum(1 for i in top if ids[i] in natural_ids and i not in planted)
        m["natural_in_top"] = natural
        m["precision_excl_natural"] = round(m["hits"] / max(1, k - natural), 4)
        at_k[str(k)] = m
    flagged = [i.index for i in issues if i.flagged]
    hits = sum(1 for i in flagged if i in planted)
    return {
        "planted": n,
        "at_k": at_k,
        "flagged": {
            "rows": len(flagged),
            "hits": hits,
            "precision": round(hits / len(flagged), 4) if flagged else 0.0,
            "recall": round(hits / n, 4) if n else 0.0,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=DEFAULT_DATA, help="dir with train/valid/calib.jsonl")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--share", type=float, default=0.05, help="share of rows flipped")
    parser.add_argument("--model", default="linear", choices=("linear", "fasttext"))
    parser.add_argument("--out", default=str(HERE / "results" / "audit_planted.json"))
    args = parser.parse_args(argv)
    config = AuditConfig(model=args.model, progress=False)
    data = Path(args.data)
    tmp = Path(tempfile.mkdtemp(prefix="janitr-audit-planted-"))
    try:
        started = time.perf_counter()
        records = read_labeled(data)
        natural = audit_records(records, config=config)
        natural_ids = {records[i.index].id for i in natural if i.flagged}
        print(f"unflipped data: {len(records)} rows, {len(natural_ids)} flagged "
              f"({time.perf_counter() - started:.0f}s)", flush=True)  # fmt: skip
        runs = []
        for seed in args.seeds:
            started = time.perf_counter()
            planted_ids = planted_copy(data, tmp / f"seed{seed}", share=args.share, seed=seed)
            rows = read_labeled(tmp / f"seed{seed}")
            issues = audit_records(rows, config=config)
            result = {"seed": seed, **measure(issues, [r.id for r in rows], planted_ids,
                                              natural_ids)}  # fmt: skip
            result["seconds"] = round(time.perf_counter() - started, 1)
            runs.append(result)
            n = result["planted"]
            at_n, fl = result["at_k"][str(n)], result["flagged"]
            print(f"seed {seed}: {n} planted; top-{n} precision {at_n['precision']:.3f} recall "
                  f"{at_n['recall']:.3f} (precision excl. natural flags "
                  f"{at_n['precision_excl_natural']:.3f}); flagged {fl['rows']}: precision "
                  f"{fl['precision']:.3f} recall {fl['recall']:.3f} ({result['seconds']}s)",
                  flush=True)  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def mean(get):
        values = [get(r) for r in runs]
        return round(sum(values) / len(values), 4)

    summary = {
        "top_n_precision": mean(lambda r: r["at_k"][str(r["planted"])]["precision"]),
        "top_n_recall": mean(lambda r: r["at_k"][str(r["planted"])]["recall"]),
        "top_n_precision_excl_natural": mean(
            lambda r: r["at_k"][str(r["planted"])]["precision_excl_natural"]
        ),
        "top_2n_recall": mean(lambda r: r["at_k"][str(2 * r["planted"])]["recall"]),
        "flagged_precision": mean(lambda r: r["flagged"]["precision"]),
        "flagged_recall": mean(lambda r: r["flagged"]["recall"]),
    }
    print("mean over seeds: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.items()))
    out = {
        "machine": machine_info(),
        "data": str(data),
        "rows": len(records),
        "share": args.share,
        "config": config.to_dict(),
        "natural_flagged": len(natural_ids),
        "runs": runs,
        "mean": summary,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
