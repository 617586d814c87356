"""The teacher and its cache under torchrun: 2 CPU processes (gloo) on the tiny BERT.

Seeds shared out over ranks must give the bundle one process gives (same weights, same
logits); the cache scored in row shards and merged by rank 0 must equal the one-process
cache; DDP (one seed, batches shared out) must run and write a sane bundle. Each torchrun
job is `python -m torch.distributed.run`, so it works from any venv.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import janitr
from extras import needs
from janitr.teacher.batching import shard_batches
from janitr.teacher.distributed import World
from tiny_bert import make_tiny_bert, synthetic_rows

TIMEOUT_S = 300


def test_world_from_env():
    assert World.from_env({}) == World() and not World().active
    world = World.from_env(
        {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    )
    assert (world.rank, world.size, world.local_rank, world.local_size) == (3, 4, 1, 2)
    assert world.active and not world.is_main
    from janitr.errors import ConfigError

    with pytest.raises(ConfigError, match="expected integers"):
        World.from_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="out of range"):
        World.from_env({"RANK": "2", "WORLD_SIZE": "2"})


@pytest.mark.parametrize("n,size", [(0, 2), (1, 3), (7, 2), (10, 3), (48, 4)])
def test_spans_and_parts_cover_everything_once(n, size):
    worlds = [World(r, size, r, size) for r in range(size)]
    spans = [w.span(n) for w in worlds]
    assert [i for a, b in spans for i in range(a, b)] == list(range(n))
    seeds = tuple(range(100, 100 + n))
    assert sorted(s for w in worlds for s in w.part(seeds)) == list(seeds)


def test_shard_batches_give_every_rank_the_same_count():
    batches = [f"b{i}" for i in range(7)]
    shards = [shard_batches(batches, r, 3) for r in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]
    assert sorted({b for s in shards for b in s}) == sorted(batches)
    assert shards[0] == ["b0", "b3", "b6"] and shards[2] == ["b2", "b5", "b1"]


def test_cli_refuses_other_verbs_under_torchrun(monkeypatch, capsys):
    from janitr.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert main(["validate", "nothing.jsonl"]) == 2
    assert "rank 1: this verb runs in one process" in capsys.readouterr().err


# --- torchrun on 2 gloo processes -------------------------------------------------------------


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """`torchrun --nproc-per-node 2 -m janitr ARGS` on CPU, this checkout's janitr first."""
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    src = str(Path(janitr.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
           "-m", "janitr", *args]  # fmt: skip
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0 or not check, (
        f"rc {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("dist")
    model = make_tiny_bert(root / "tiny_bert")
    data = root / "data"
    data.mkdir()
    write_jsonl(data / "train.jsonl", synthetic_rows(48))
    write_jsonl(data / "valid.jsonl", synthetic_rows(24, offset=1000))
    write_jsonl(data / "calib.jsonl", synthetic_rows(24, offset=2000))
    return root, model, data


TRAIN_FLAGS = ("--batch-size", "8", "--max-length", "32", "--threads", "1", "--quiet")


def tensors(path: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(str(path))


@needs("torch", "transformers", "safetensors")
@pytest.mark.integration
@pytest.mark.slow
def test_seeds_shared_out_give_the_one_process_bundle_and_cache(setup):
    from janitr.data.records import read_records
    from janitr.teacher.cache import IDENTITY_KEYS, build_cache, read_cache
    from janitr.teacher.model import TeacherConfig, train_teacher

    root, model, data = setup
    seeds = (13, 42, 7)  # 3 seeds on 2 ranks: rank 0 trains 13 and 7, rank 1 trains 42
    config = TeacherConfig(model_name_or_path=str(model), seeds=seeds, epochs=2, max_steps=4,
                           batch_size=8, max_length=32, threads=1, progress=False)  # fmt: skip
    one = train_teacher(data_dir=data, out_dir=root / "one", config=config)
    torchrun("train", "teacher", "--data", str(data), "--out", str(root / "two"),
             "--model", str(model), "--seeds", "13,42,7", "--epochs", "2", "--max-steps", "4",
             *TRAIN_FLAGS, cwd=root)  # fmt: skip
    from janitr.runtime.bundle import load_bundle

    two = load_bundle(root / "two")
    assert two.manifest["model"]["teacher_id"] == one.manifest["model"]["teacher_id"]
    for seed in seeds:  # the same weights, seed by seed
        a = tensors(one.path / f"seed_{seed}" / "model.safetensors")
        b = tensors(two.path / f"seed_{seed}" / "model.safetensors")
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)
    s1 = json.loads((one.path / "training_summary.json").read_text())
    s2 = json.loads((two.path / "training_summary.json").read_text())
    assert s1["per_seed"] == s2["per_seed"]  # histories and best epochs
    t1 = one.manifest["model"]["calibration"]["temperatures"]
    t2 = two.manifest["model"]["calibration"]["temperatures"]
    assert t2 == pytest.approx(t1, abs=1e-6) and two.thresholds == one.thresholds
    assert not (root / "two.work").exists()  # rank 0 cleaned the work folder

    # The cache: rows scored in 2 shards and merged equal the one-process cache.
    train = read_records(data / "train.jsonl")
    single = read_cache(build_cache(teacher=one.path, records=train, split="train",
                                    out=root / "cache1", progress=False))  # fmt: skip
    torchrun("cache", "--teacher", str(one.path), "--data", str(data), "--splits", "train",
             "--out", str(root / "cache2"), "--quiet", cwd=root)  # fmt: skip
    merged = read_cache(root / "cache2", split="train")
    assert merged.ids == single.ids
    for name in ("scam_logits", "topic_logits", "hidden"):
        a = getattr(single, name).astype(np.float32)
        b = getattr(merged, name).astype(np.float32)
        np.testing.assert_allclose(b, a, rtol=2**-10, atol=1e-6, err_msg=name)
    assert {k: merged.sidecar[k] for k in IDENTITY_KEYS} == {
        k: single.sidecar[k] for k in IDENTITY_KEYS
    }
    assert not list((root / "cache2").glob(".*shard*"))  # shards merged and removed


@needs("torch", "transformers", "safetensors")
@pytest.mark.integration
@pytest.mark.slow
def test_ddp_trains_one_model_on_two_processes(setup):
    from janitr.runtime.bundle import load_bundle

    root, model, data = setup
    torchrun("train", "teacher", "--data", str(data), "--out", str(root / "ddp"),
             "--model", str(model), "--seeds", "13", "--force", "--ddp", "--epochs", "8",
             "--lr", "2e-3", *TRAIN_FLAGS, cwd=root)  # fmt: skip
    bundle = load_bundle(root / "ddp")
    training = bundle.manifest["model"]["training"]
    assert training["ddp"] is True and training["ddp_processes"] == 2
    summary = json.loads((bundle.path / "training_summary.json").read_text())
    history = summary["per_seed"][0]["history"]
    # 48 rows in batches of 8: one bucket of 6 batches an epoch, 3 per rank.
    assert [h["steps"] for h in history] == [3 * k for k in range(1, 9)]
    # Not equal to a one-process run (each step averages two ranks' batches), but it learns:
    # rank 0 validates on all of valid (each rank's training loss covers its half only).
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["scam_ap"] > history[0]["scam_ap"]
    probs = bundle.scorer().predict_heads(["claim your free airdrop", "lovely weather"])
    assert probs.shape == (2, 2) and np.all((probs >= 0) & (probs <= 1))


@needs("torch", "transformers")
@pytest.mark.integration
def test_a_failing_rank_fails_the_job_and_is_named(setup):
    root, model, data = setup
    proc = torchrun("train", "teacher", "--data", str(data), "--out", str(root / "bad"),
                    "--model", str(model), "--seeds", "1,2", "--ddp", cwd=root,
                    check=False)  # fmt: skip
    assert proc.returncode != 0
    assert "error: rank 1: --ddp: trains one model: give exactly one seed" in proc.stderr
    assert not (root / "bad").exists()


def test_readme_torchrun_commands_parse():
    import re
    import shlex

    from janitr.cli import build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^torchrun .*?-m janitr (.*?)$", readme.replace("\\\n", " "), re.M)
    assert len(commands) >= 4
    for args in commands:
        parsed = build_parser().parse_args(shlex.split(args))
        assert parsed.distributed, args
