"""benchmark: freeze then verify passes; one changed byte fails loudly."""

from __future__ import annotations

import json

import pytest

from janitr.cli import main
from janitr.data.benchmark import freeze_benchmark, verify_benchmark
from janitr.data.demo import write_demo_dataset
from janitr.data.splits import split_dataset
from janitr.errors import BenchmarkError


@pytest.fixture
def splits(tmp_path):
    write_demo_dataset(tmp_path / "demo", rows=120, seed=1)
    out = tmp_path / "splits"
    split_dataset(data=[tmp_path / "demo/train.jsonl", tmp_path / "demo/valid.jsonl"],
                  out_dir=out, seed=9)  # fmt: skip
    return out


def test_freeze_then_verify(splits, tmp_path):
    bench = freeze_benchmark(splits, name="b1", out=tmp_path / "bench")
    manifest = json.loads((bench / "MANIFEST.json").read_text())
    assert manifest["format"] == "janitr-benchmark v1" and manifest["seed"] == 9
    assert set(manifest["splits"]) == {"train", "valid", "calib", "holdout"}
    hold = manifest["splits"]["holdout"]
    ids = (bench / "holdout.ids.txt").read_text().splitlines()
    assert hold["rows"] == len(ids) > 0 and sum(hold["class_support"].values()) == len(ids)
    assert verify_benchmark(bench)["name"] == "b1"
    with pytest.raises(BenchmarkError, match="already exists"):
        freeze_benchmark(splits, name="b1", out=bench)


@pytest.mark.parametrize("target", ["holdout.jsonl", "ids"])
def test_one_changed_byte_fails(splits, tmp_path, target):
    bench = freeze_benchmark(splits, name="b2", out=tmp_path / "bench")
    path = splits / "holdout.jsonl" if target == "holdout.jsonl" else bench / "holdout.ids.txt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BenchmarkError, match="holdout") as info:
        verify_benchmark(bench)
    assert "changed" in str(info.value)


def test_cli_freeze_verify_and_missing(splits, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["benchmark", "freeze", str(splits), "--name", "b3"]) == 0
    assert (tmp_path / "benchmarks/frozen/b3/MANIFEST.json").is_file()
    assert main(["benchmark", "verify", "b3"]) == 0
    assert main(["benchmark", "verify", "nope"]) == 1
    assert "no frozen benchmark" in capsys.readouterr().err
