"""The pipeline runner with cheap fake stages: skipping, resuming, atomicity, progress."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from janitr.artifacts import read_json
from janitr.config import load_config
from janitr.errors import PipelineError
from janitr.pipeline import MANIFEST, Stage, run_pipeline, verify_outputs


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "valid", "calib"):
        rows = [{"id": f"{split}-{i}", "text": f"post {i} of {split}", "labels": ["clean"]}
                for i in range(5)]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


class Calls:
    def __init__(self):
        self.names: list[str] = []
        self.crash_in: str | None = None


def fake_stages(calls: Calls) -> list[Stage]:
    def first(ctx):
        calls.names.append("first")
        text = ctx.data_file("train").read_text()
        (ctx.out / "lines.txt").write_text(str(len(text.splitlines())))
        return {"rows": len(text.splitlines())}

    def second(ctx):
        calls.names.append("second")
        n = int((ctx.stage("first") / "lines.txt").read_text())
        (ctx.out / "sub").mkdir()
        (ctx.out / "sub" / "value.txt").write_text(str(n * ctx.config.distill.temperature))
        if calls.crash_in == "second":
            raise RuntimeError("simulated crash half-way")
        (ctx.out / "done.txt").write_text("ok")

    def third(ctx):
        calls.names.append("third")
        value = (ctx.stage("second") / "sub" / "value.txt").read_text()
        (ctx.out / "final.txt").write_text(f"final {value}")

    return [
        Stage("first", first, data=("train",)),
        Stage("second", second, deps=("first",), sections=("distill",)),
        Stage("third", third, deps=("second",), sections=("report",)),
    ]


def _outputs(run_dir: Path) -> dict[str, str]:
    out = {}
    for stage in sorted((run_dir / "stages").iterdir()):
        out[stage.name] = {k: v["sha256"] for k, v in read_json(stage / MANIFEST)["outputs"].items()}
    return out


def test_rerun_skips_unchanged_stages(tmp_path):
    data, calls = _data(tmp_path), Calls()
    config = load_config()
    first = run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=config, quiet=True,
                         stages=fake_stages(calls))
    assert first.ran == ["first", "second", "third"]
    again = run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=config, quiet=True,
                         stages=fake_stages(calls))
    assert again.skipped == ["first", "second", "third"] and again.ran == []
    assert calls.names == ["first", "second", "third"]


def test_config_change_reruns_only_downstream(tmp_path):
    data, calls = _data(tmp_path), Calls()
    run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=load_config(), quiet=True,
                 stages=fake_stages(calls))
    result = run_pipeline(data_dir=data, out_dir=tmp_path / "run",
                          config=load_config(overrides=["distill.temperature=5"]), quiet=True,
                          stages=fake_stages(calls))
    assert result.skipped == ["first"] and result.ran == ["second", "third"]
    final = (tmp_path / "run" / "stages" / "03-third" / "final.txt").read_text()
    assert final == "final 25.0"


def test_data_change_reruns_everything_that_reads_it(tmp_path):
    data, calls = _data(tmp_path), Calls()
    run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=load_config(), quiet=True,
                 stages=fake_stages(calls))
    with open(data / "train.jsonl", "a") as handle:
        handle.write(json.dumps({"id": "x", "text": "new", "labels": ["clean"]}) + "\n")
    result = run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=load_config(),
                          quiet=True, stages=fake_stages(calls))
    assert result.ran == ["first", "second", "third"]


def test_crash_mid_stage_leaves_no_stage_dir_and_resume_matches(tmp_path):
    data, calls = _data(tmp_path), Calls()
    config = load_config()
    calls.crash_in = "second"
    with pytest.raises(PipelineError, match="stage second failed"):
        run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=config, quiet=True,
                     stages=fake_stages(calls))
    stages = sorted(p.name for p in (tmp_path / "run" / "stages").iterdir())
    assert stages == ["01-first"]  # the half-written stage was never renamed into place
    calls.crash_in = None
    resumed = run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=config, quiet=True,
                           stages=fake_stages(calls))
    assert resumed.skipped == ["first"] and resumed.ran == ["second", "third"]
    clean = run_pipeline(data_dir=data, out_dir=tmp_path / "clean", config=config, quiet=True,
                         stages=fake_stages(Calls()))
    assert _outputs(resumed.run_dir) == _outputs(clean.run_dir)


def test_kill_leftovers_are_discarded(tmp_path):
    """What `kill -9` can leave: a temp dir mid-write, a stage dir without a manifest."""
    data, calls = _data(tmp_path), Calls()
    config = load_config()
    run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=config, quiet=True,
                 stages=fake_stages(calls))
    stages_root = tmp_path / "run" / "stages"
    leftover = stages_root / ".02-second.abc123.tmp"
    leftover.mkdir()
    (leftover / "half.txt").write_text("half")
    (stages_root / "03-third" / MANIFEST).unlink()  # as if killed before the manifest
    result = run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=config, quiet=True,
                          stages=fake_stages(calls))
    assert not leftover.exists()
    assert result.ran == ["third"] and result.skipped == ["first", "second"]


def test_tampered_output_is_not_trusted(tmp_path):
    data, calls = _data(tmp_path), Calls()
    config = load_config()
    run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=config, quiet=True,
                 stages=fake_stages(calls))
    target = tmp_path / "run" / "stages" / "02-second" / "sub" / "value.txt"
    target.write_text("999")
    manifest = read_json(target.parents[1] / MANIFEST)
    assert verify_outputs(target.parents[1], manifest)
    result = run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=config, quiet=True,
                          stages=fake_stages(calls))
    assert "second" in result.ran
    assert target.read_text() == "15.0"  # 5 rows x temperature 3.0


def test_manifest_records_inputs_config_outputs_timings(tmp_path):
    data = _data(tmp_path)
    run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=load_config(), quiet=True,
                 stages=fake_stages(Calls()))
    manifest = read_json(tmp_path / "run" / "stages" / "02-second" / MANIFEST)
    assert manifest["status"] == "complete" and manifest["seconds"] >= 0
    assert "stage:first" in manifest["inputs"]
    assert manifest["config"]["distill"]["temperature"] == 3.0
    assert set(manifest["outputs"]) == {"sub/value.txt", "done.txt"}
    assert all(len(e["sha256"]) == 64 for e in manifest["outputs"].values())
    first = read_json(tmp_path / "run" / "stages" / "01-first" / MANIFEST)
    assert first["inputs"]["data:train"]["sha256"]
    assert (tmp_path / "run" / "config.toml").is_file()
    assert (tmp_path / "run" / "RUN_INFO.json").is_file()


def test_reuse_from_another_run_hardlinks_matching_stages(tmp_path):
    data = _data(tmp_path)
    base = run_pipeline(data_dir=data, out_dir=tmp_path / "base", config=load_config(),
                        quiet=True, stages=fake_stages(Calls()))
    calls = Calls()
    variant = run_pipeline(data_dir=data, out_dir=tmp_path / "variant",
                           config=load_config(overrides=["distill.temperature=2"]), quiet=True,
                           stages=fake_stages(calls), reuse_from=base.run_dir)
    assert calls.names == ["second", "third"]
    assert variant.skipped == ["first"]
    a = tmp_path / "base" / "stages" / "01-first" / "lines.txt"
    b = tmp_path / "variant" / "stages" / "01-first" / "lines.txt"
    assert os.stat(a).st_ino == os.stat(b).st_ino or a.read_bytes() == b.read_bytes()


def test_progress_lines_and_quiet(tmp_path, capsys):
    data = _data(tmp_path)
    run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=load_config(), quiet=False,
                 stages=fake_stages(Calls()))
    err = capsys.readouterr().err
    assert "[ 1/3] first" in err and "ETA" in err and "done in" in err
    run_pipeline(data_dir=data, out_dir=tmp_path / "run", config=load_config(), quiet=True,
                 stages=fake_stages(Calls()))
    assert capsys.readouterr().err == ""


def test_missing_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(PipelineError, match="does not exist"):
        run_pipeline(data_dir=tmp_path / "nope", out_dir=tmp_path / "run", config=load_config(),
                     quiet=True, stages=fake_stages(Calls()))
