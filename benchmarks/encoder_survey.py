"""Do packaged encoders really carry pretrained weights? (issue #15 lever 4, the survey)

For each NAME=DIR (a directory extracted from a registry package), load it with
`transformers.AutoModel.from_pretrained(DIR)` and compare the cosine similarity of
mean-pooled, L2-normalized sentence vectors (`janitr.baselines.embed.SentenceEncoder`) on
three (sentence, paraphrase, unrelated) triples with a randomly initialized model of the same
architecture and tokenizer. Trained sentence encoders separate paraphrases from unrelated
sentences; random weights give every pair about the same (high) similarity. The SHA-256 of the
weights file tells identical packages apart. Also times the embedding of 256 real texts
(max_length 128), to estimate a full cross-fitting pass.

    python benchmarks/encoder_survey.py NAME=DIR [NAME=DIR ...] [--data DIR]

Results: benchmarks/results/encoder_survey.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from machine import machine_info

from janitr.artifacts import sha256_file
from janitr.baselines.embed import SentenceEncoder
from janitr.data.normalize import NormalizationConfig
from janitr.data.records import read_records

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = os.environ.get("JANITR_DATA", str(HERE.parent.parent / "shared/data/janitr"))
TRIPLES = [
    ("A man is playing a guitar.", "Someone plays an acoustic guitar.",
     "The stock market fell sharply today."),
    ("Claim your free crypto airdrop now!", "Get free tokens, connect your wallet to claim.",
     "I baked bread this morning."),
    ("The weather is lovely today.", "It is sunny and warm outside.",
     "Bitcoin price analysis for this week."),
]  # fmt: skip


def similarities(encoder: SentenceEncoder) -> list[tuple[float, float]]:
    """(cos(sentence, paraphrase), cos(sentence, unrelated)) per triple."""
    out = []
    for triple in TRIPLES:
        v = encoder.embed(list(triple))
        out.append((round(float(v[0] @ v[1]), 3), round(float(v[0] @ v[2]), 3)))
    return out


def random_twin(directory: str, out: Path) -> str:
    """The same architecture and tokenizer with random weights, saved to `out`."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.AutoConfig.from_pretrained(directory)
    transformers.AutoModel.from_config(config).save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(directory).save_pretrained(out)
    return str(out)


def survey(name: str, directory: str, texts: list[str], work: Path) -> dict:
    import transformers

    config = transformers.AutoConfig.from_pretrained(directory)
    weights = next(Path(directory).glob("*.safetensors"), None) or next(
        Path(directory).glob("pytorch_model.bin")
    )
    trained = SentenceEncoder(encoder=directory, progress=False)
    sims = similarities(trained)
    started = time.perf_counter()
    trained.embed(texts)
    seconds = time.perf_counter() - started
    twin = random_twin(directory, work / name)
    rand = similarities(SentenceEncoder(encoder=twin, progress=False))
    gap = float(np.mean([p - u for p, u in sims]))
    return {
        "files": sorted(p.name for p in Path(directory).iterdir()),
        "weights": {"file": weights.name, "bytes": weights.stat().st_size,
                    "sha256": sha256_file(weights)},
        "model_type": config.model_type,
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "cos_paraphrase_unrelated": sims,
        "cos_paraphrase_unrelated_random_init": rand,
        "mean_gap": round(gap, 3),
        "mean_gap_random_init": round(float(np.mean([p - u for p, u in rand])), 3),
        "pretrained": bool(gap > 0.3),
        f"seconds_embed_{len(texts)}_texts": round(seconds, 1),
    }  # fmt: skip


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoders", nargs="+", metavar="NAME=DIR")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--out", default=str(HERE / "results/encoder_survey.json"))
    args = parser.parse_args()
    norm = NormalizationConfig()
    rows = read_records(Path(args.data) / "train.jsonl")[:256]
    texts = [norm.apply(r.text) for r in rows]
    results = {}
    with tempfile.TemporaryDirectory(prefix="janitr-survey-") as tmp:
        for spec in args.encoders:
            name, directory = spec.split("=", 1)
            results[name] = survey(name, directory, texts, Path(tmp))
            print(name, json.dumps(results[name]), flush=True)
    out = {"machine": machine_info(), "encoders": results}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
