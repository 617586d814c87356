"""`janitr score`: one row per input row in order, bad rows reported, resume after a kill,
and batch-invariant scores under every engine and shard layout (issue #16)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from extras import needs
from janitr.cli import main
from janitr.errors import ConfigError, DataError
from janitr.pipeline.score import RowScorer, ScoreConfig, read_scores, score_corpus
from tiny_fasttext import train_tiny_bundle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return train_tiny_bundle(tmp_path_factory.mktemp("score")).path


def _corpus(path: Path, n: int = 600) -> Path:
    """n rows from the tiny templates (varied lengths), with bad rows mixed in."""
    from tiny_fasttext import CLEAN, COINS, SCAM, TOPIC

    lines = []
    for i in range(n):
        template = (SCAM, TOPIC, CLEAN)[i % 3][i % 4]
        text = template.format(coin=COINS[i % 4], n=i) + " more words" * (i % 7)
        lines.append(json.dumps({"id": f"p{i}", "text": text, "extra": i}))
    lines[10] = ""  # a blank line
    lines[20] = '{"id": "broken", "text": '  # bad JSON
    lines[30] = json.dumps({"id": "empty", "text": " \u200b "})  # nothing visible
    lines[40] = json.dumps({"text": "no id here"})
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(out: Path) -> list[dict]:
    return list(read_scores(out))


def test_one_row_per_input_in_order_with_errors_reported(bundle, tmp_path):
    data = _corpus(tmp_path / "in.jsonl")
    result = score_corpus(
        inputs=[data],
        out=tmp_path / "out",
        model=bundle,
        config=ScoreConfig(workers=1, shard_rows=128, progress=False),
    )
    rows = _rows(tmp_path / "out")
    assert result.rows == len(rows) == 600 and result.shards == 5
    assert result.errors == 4
    assert rows[10] == {"line": 11, "error": "<line>: blank line, expected a JSON row"}
    assert rows[20]["line"] == 21 and rows[20]["error"].startswith("<line>: invalid JSON")
    assert rows[30] == {"line": 31, "id": "empty", "error": "text: empty after normalization"}
    assert rows[40]["error"].startswith("id: expected a non-empty string")
    good = [r for r in rows if "error" not in r]
    expected_ids = [f"p{i}" for i in range(600) if i not in (10, 20, 30, 40)]
    assert [r["id"] for r in good] == expected_ids
    assert {r["bundle"] for r in good} == {result.content_id[:12]}
    assert {r["class"] for r in good} <= {"scam", "topic_crypto", "clean"}
    assert any(str(data) in p and ":21: <line>: invalid JSON" in p for p in result.problems)


def test_batch_invariant_across_workers_shards_batches_and_single_posts(bundle, tmp_path):
    """The same post gets the same score alone, in any batch, shard layout or worker count:
    exact equality (fastText scores each post by itself; the float64 values are written in
    full, so the JSON text is equal too)."""
    data = _corpus(tmp_path / "in.jsonl")
    layouts = {
        "1 worker, 128-row shards, batches of 1024": ScoreConfig(workers=1, shard_rows=128),
        "2 workers, 50-row shards, batches of 7": ScoreConfig(
            workers=2, shard_rows=50, batch_size=7
        ),
        "2 workers, one shard, batches of 1": ScoreConfig(
            workers=2, shard_rows=10_000, batch_size=1
        ),
    }
    outputs = {}
    for name, config in layouts.items():
        out = tmp_path / name.replace(" ", "_").replace(",", "")
        score_corpus(inputs=[data], out=out, model=bundle, config=config)
        outputs[name] = _rows(out)
    first, *others = outputs.values()
    for name, rows in outputs.items():
        assert rows == first, name
    scorer = RowScorer(bundle)
    lines = data.read_bytes().split(b"\n")[:-1]
    for i in range(0, 600, 37):  # each post scored on its own
        ((alone, _),) = scorer.score_lines(str(data), [(i + 1, lines[i])])
        assert json.loads(alone) == first[i]


def test_restart_keeps_finished_parts_and_refuses_another_job(bundle, tmp_path):
    data = _corpus(tmp_path / "in.jsonl")
    out = tmp_path / "out"
    config = ScoreConfig(workers=1, shard_rows=100, progress=False)
    score_corpus(inputs=[data], out=out, model=bundle, config=config)
    reference = _rows(out)
    # A killed job: no manifest, one part missing, one left as a temporary file.
    (out / "manifest.json").unlink()
    (out / "part-00003.jsonl").rename(out / ".part-00003.jsonl.abc.tmp")
    part1 = (out / "part-00001.jsonl").stat().st_mtime_ns
    with pytest.raises(ConfigError, match="no finished scoring job"):
        list(read_scores(out))
    result = score_corpus(inputs=[data], out=out, model=bundle, config=config)
    assert result.reused == 5 and result.shards == 6
    assert _rows(out) == reference
    assert (out / "part-00001.jsonl").stat().st_mtime_ns == part1
    assert not list(out.glob(".*.tmp"))
    # Finished: nothing is redone.
    again = score_corpus(inputs=[data], out=out, model=bundle, config=config)
    assert again.reused == again.shards and again.rows == 600
    # Another shard size or changed input is another job.
    with pytest.raises(ConfigError, match="another scoring job.*shard_rows 100.*--overwrite"):
        score_corpus(
            inputs=[data], out=out, model=bundle, config=ScoreConfig(workers=1, shard_rows=64)
        )
    with data.open("a") as handle:
        handle.write(json.dumps({"id": "new", "text": "one more post"}) + "\n")
    with pytest.raises(ConfigError, match="other inputs or contents"):
        score_corpus(inputs=[data], out=out, model=bundle, config=config)
    result = score_corpus(
        inputs=[data],
        out=out,
        model=bundle,
        config=ScoreConfig(workers=1, shard_rows=100, overwrite=True),
    )
    assert result.rows == 601 and result.reused == 0


def test_bad_inputs_and_settings_are_clear_errors(bundle, tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError) as info:
        score_corpus(
            inputs=[tmp_path / "missing.jsonl", tmp_path / "folder"],
            out=tmp_path / "o",
            model=bundle,
        )
    assert "missing.jsonl:0: <file>: file not found" in str(info.value)
    assert "folder holds no *.jsonl" in str(info.value)
    with pytest.raises(DataError, match="empty.jsonl:0: <file>: no rows"):
        score_corpus(inputs=[tmp_path / "empty.jsonl"], out=tmp_path / "o", model=bundle)
    with pytest.raises(ConfigError, match="shard_rows: must be a positive integer"):
        ScoreConfig(shard_rows=0)
    with pytest.raises(ConfigError, match="address: is for --engine ray"):
        ScoreConfig(address="auto")


def test_folder_input_and_cli(bundle, tmp_path, capsys):
    folder = tmp_path / "corpus"
    folder.mkdir()
    _corpus(folder / "a.jsonl", 90)
    (folder / "b.jsonl").write_text('{"id": "b1", "text": "send 1 eth get 2 back"}')
    (folder / "notes.txt").write_text("not scored")
    code = main(
        [
            "score",
            "--model",
            str(bundle),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--quiet",
            str(folder),
        ]
    )
    assert code == 1  # rows 11, 21, 31, 41 of a.jsonl cannot be scored
    err = capsys.readouterr().err
    assert "scored 91 rows" in err and "4 of 91 row(s) could not be scored" in err
    rows = _rows(tmp_path / "out")
    assert len(rows) == 91 and rows[-1]["id"] == "b1"


@needs("pyarrow")
def test_parquet_rows_score_like_jsonl_rows(bundle, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = ["claim your free eth airdrop now", "lovely lunch in the park", "  "]
    pq.write_table(
        pa.table({"id": ["a", "b", "c"], "text": texts}), tmp_path / "in.parquet", row_group_size=2
    )
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip("abc", texts, strict=True))
    )
    config = ScoreConfig(workers=1, shard_rows=1, progress=False)
    score_corpus(inputs=[tmp_path / "in.parquet"], out=tmp_path / "p", model=bundle, config=config)
    score_corpus(inputs=[jsonl], out=tmp_path / "j", model=bundle, config=config)
    assert _rows(tmp_path / "p") == _rows(tmp_path / "j")


@pytest.mark.integration
def test_kill_9_then_restart_gives_the_uninterrupted_output(bundle, tmp_path):
    """A real `kill -9` of the CLI with its workers mid-job; the rerun completes and equals
    an uninterrupted run (benchmarks/score_kill.py does this 5 times on 1M rows)."""
    data = tmp_path / "in.jsonl"
    _corpus(data, 600)
    lines = data.read_bytes()
    data.write_bytes(lines * 100)  # 60,000 rows, repeated ids do not matter here
    command = [
        sys.executable,
        "-m",
        "janitr",
        "score",
        "--model",
        str(bundle),
        "--quiet",
        "--workers",
        "2",
        "--shard-rows",
        "2000",
        str(data),
        "--out",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([*command, str(tmp_path / "ref")], env=env, check=False, capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [*command, str(out)], env=env, start_new_session=True, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out.glob("part-*.jsonl"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    done = subprocess.run([*command, str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # the corpus has bad rows
    assert "parts from an earlier run" in done.stderr
    for ref in sorted((tmp_path / "ref").glob("part-*.jsonl")):
        assert (out / ref.name).read_bytes() == ref.read_bytes()


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs ray (janitr[ray])")
def test_ray_engine_writes_the_local_engines_output(bundle, tmp_path):
    """Ray Data with a local Ray (2 CPUs, no dashboard) gives byte-identical parts."""
    import ray

    data = _corpus(tmp_path / "in.jsonl", 900)
    local = ScoreConfig(workers=1, shard_rows=256, batch_size=100, progress=False)
    score_corpus(inputs=[data], out=tmp_path / "local", model=bundle, config=local)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = ScoreConfig(engine="ray", workers=2, shard_rows=256, batch_size=64, progress=False)
        result = score_corpus(inputs=[data], out=tmp_path / "ray", model=bundle, config=on_ray)
        parquet = _as_parquet(data, tmp_path / "in.parquet")
        score_corpus(inputs=[parquet], out=tmp_path / "ray-parquet", model=bundle, config=on_ray)
    finally:
        ray.shutdown()
    assert result.rows == 900 and result.errors == 4
    local_parts = sorted((tmp_path / "local").glob("part-*.jsonl"))
    assert [p.name for p in local_parts] == [
        p.name for p in sorted((tmp_path / "ray").glob("part-*.jsonl"))
    ]
    for part in local_parts:
        assert (tmp_path / "ray" / part.name).read_bytes() == part.read_bytes()
    # Parquet rows through Ray: the JSONL rows' answers (a blank or broken JSON line has no
    # Parquet twin; it became a row with no id and no text).
    from_parquet = _rows(tmp_path / "ray-parquet")
    assert len(from_parquet) == 900
    for got, want in zip(from_parquet, _rows(tmp_path / "local"), strict=True):
        if "error" not in want:
            assert got == want


def _as_parquet(jsonl: Path, out: Path) -> Path:
    """The `id` and `text` of each JSONL line (None for what a bad line lacks), 100 rows per
    row group."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids, texts = [], []
    for line in jsonl.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            row = {}
        ids.append(row.get("id"))
        texts.append(row.get("text"))
    pq.write_table(pa.table({"id": ids, "text": texts}), out, row_group_size=100)
    return out
