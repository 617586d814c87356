"""The stage runner on its own: generic stages, no run directory around them (`run.py` adds
run.json, configs, bundles and the report; `test_pipeline.py` tests them together)."""

from __future__ import annotations

import pytest

from janitr.errors import PipelineError
from janitr.pipeline.config import load_config
from janitr.pipeline.rundir import read_manifest
from janitr.pipeline.runner import Stage, run_stages


def _stages(calls: list[str], *, fail: bool = False) -> list[Stage]:
    def count(ctx):
        calls.append("count")
        n = len(ctx.data_file("train").read_text().splitlines())
        (ctx.out / "n.txt").write_text(str(n))
        return {"rows": n}

    def double(ctx):
        calls.append("double")
        if fail:
            raise ValueError("boom")
        n = int((ctx.stage("count") / "n.txt").read_text())
        (ctx.out / "n2.txt").write_text(str(2 * n))
        return {"double": 2 * n}

    return [
        Stage("count", count, data=("train",)),
        Stage("off", lambda ctx: None, enabled=lambda config: False),
        Stage("double", double, deps=("count",), sections=("distill",)),
    ]


def test_run_stages_runs_skips_and_reports(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("a\nb\nc\n")
    calls: list[str] = []
    config = load_config()
    kwargs = {"run_dir": tmp_path / "run", "data_dir": data, "config": config, "quiet": True}
    outcomes, finished = run_stages(_stages(calls), **kwargs)
    assert [(o.name, o.status) for o in outcomes] == [
        ("count", "ran"), ("off", "disabled"), ("double", "ran"),
    ]  # fmt: skip
    assert outcomes[2].summary == {"double": 6}
    assert sorted(p.name for p in (tmp_path / "run" / "stages").iterdir()) == [
        "01-count",
        "03-double",
    ]
    assert read_manifest(finished["double"])["outputs"]["n2.txt"]["size"] == 1
    # unchanged: nothing runs; a config section change reruns only the stage that hashes it
    again, _ = run_stages(_stages(calls), **kwargs)
    assert [o.status for o in again] == ["skipped", "disabled", "skipped"]
    kwargs["config"] = config.with_overrides(["distill.temperature=7"])
    third, _ = run_stages(_stages(calls), **kwargs)
    assert [o.status for o in third] == ["skipped", "disabled", "ran"]
    assert calls == ["count", "double", "double"]


def test_a_failing_stage_keeps_the_finished_ones(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("a\n")
    kwargs = {"run_dir": tmp_path / "run", "data_dir": data, "config": load_config()}
    with pytest.raises(PipelineError, match="stage double failed: ValueError: boom"):
        run_stages(_stages([], fail=True), quiet=True, **kwargs)
    stages = tmp_path / "run" / "stages"
    assert [p.name for p in stages.iterdir() if not p.name.startswith(".")] == ["01-count"]
    calls: list[str] = []
    outcomes, _ = run_stages(_stages(calls), quiet=True, **kwargs)
    assert [o.status for o in outcomes] == ["skipped", "disabled", "ran"]
    assert calls == ["double"]
