"""Pick the posts of the browser tests' fixture page and what the Python runtime says of them.

The demo model is a smoke model, so the browser tests do not check decisions against the
true labels: they check the extension against `janitr.Classifier` on the same bundle. This
script reads labeled rows (valid, then calib) of a dataset, classifies them with the bundle,
and keeps the first few posts of each predicted class (the first page), plus more for the
posts the test inserts later. It writes JSON: {model, thresholds, page, later, restart},
each post {id, handle, text, expected, p_scam, p_topic, gold}. Post text is the dataset's,
read where it lies; the output goes to a git-ignored folder.

    .venv/bin/python extension/test/fixture_posts.py --model runs/demo/bundles/student-int8 \
        --data ../shared/data/janitr --out extension/test-results/posts.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import urlparse

from janitr import Classifier
from janitr.data.labels import CLEAN, SCAM, TOPIC, collapse
from janitr.data.records import read_records

#: Posts per predicted class on the first page, and inserted later.
PAGE = {SCAM: 4, TOPIC: 2, CLEAN: 4}
LATER = {SCAM: 2, CLEAN: 2}
#: Posts inserted after the service worker was stopped.
RESTART = {SCAM: 1, CLEAN: 1}
PARTS = {"page": PAGE, "later": LATER, "restart": RESTART}
MIN_CHARS, MAX_CHARS = 30, 280
#: Keep only posts whose head probabilities are at least this far from the thresholds they
#: are compared with, so that a difference within the parity tolerance of the web runtime
#: (1e-5 for fp32) cannot flip a decision: the demo model's scores sit close together.
MARGIN = 1e-4


def handle(raw: dict) -> str:
    """The @handle of a post's source URL (x.com/NAME/status/ID), or a neutral one."""
    parts = urlparse(raw.get("source_url") or "").path.strip("/").split("/")
    return parts[0] if len(parts) >= 3 and parts[1] == "status" else "someone"


def decisive(p_scam: float, p_topic: float, t: dict[str, float], margin: float) -> bool:
    """True if no change of the heads smaller than `margin` changes the decision."""
    if abs(p_scam - t[SCAM]) < margin:
        return False
    return p_scam >= t[SCAM] or abs(p_topic - t[TOPIC]) >= margin


def interleave(posts: list[dict]) -> list[dict]:
    """The posts round-robin by expected class (scam, clean, topic_crypto), order kept within."""
    queues = [[p for p in posts if p["expected"] == c] for c in (SCAM, CLEAN, TOPIC)]
    out = []
    while any(queues):
        out.extend(q.pop(0) for q in queues if q)
    return out


def pick(model: Path, data: Path, margin: float = MARGIN) -> dict:
    files = [data / "valid.jsonl", data / "calib.jsonl"]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} not found; pass --data DIR of the dataset")
    records = [r for r in read_records(*files) if MIN_CHARS <= len(r.text) <= MAX_CHARS]
    clf = Classifier.load(model)
    preds = clf.predict([r.text for r in records])
    want = {part: dict(counts) for part, counts in PARTS.items()}
    out = {"model": str(model), "thresholds": dict(clf.thresholds)} | {part: [] for part in PARTS}
    for rec, pred in zip(records, preds, strict=True):
        p = pred.probabilities
        if not decisive(p[SCAM], p[TOPIC], clf.thresholds, margin):
            continue
        for part in PARTS:
            if want[part].get(pred.label, 0) > 0:
                want[part][pred.label] -= 1
                out[part].append(
                    {
                        "id": rec.id,
                        "handle": handle(rec.raw),
                        "text": rec.text,
                        "expected": pred.label,
                        "p_scam": pred.probabilities[SCAM],
                        "p_topic": pred.probabilities[TOPIC],
                        "gold": collapse(rec.labels),
                    }
                )
                break
    for part in PARTS:  # mixed, as on a timeline: one of each class in turn
        out[part] = interleave(out[part])
    short = {p: {c: n for c, n in w.items() if n > 0} for p, w in want.items()}
    if any(short.values()):
        raise SystemExit(
            f"error: {model} predicts too few posts of some class on {data} (still wanted: "
            f"{short}); the browser tests need each class at least a few times"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a student bundle directory")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (valid/calib)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--margin", type=float, default=MARGIN, help="min |p - threshold|")
    args = parser.parse_args(argv)
    posts = pick(args.model, args.data, args.margin)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(posts, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    counts = {p: len(posts[p]) for p in PARTS}
    print(f"wrote {args.out}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
