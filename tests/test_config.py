"""The pipeline config: TOML + --set overrides, typed coercion, errors that name the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from janitr.errors import ConfigError
from janitr.pipeline.config import (
    coerce,
    config_from_dict,
    load_config,
    load_saved_config,
    save_config,
)

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_and_shipped_configs_load():
    config = load_config()
    assert config.thresholds.scam_target_fpr == 0.02
    fast = load_config(ROOT / "configs" / "fast.toml")
    assert fast.teacher.seeds == (13,) and fast.teacher.force
    default = load_config(ROOT / "configs" / "default.toml")
    assert default.teacher.seeds == (13, 42, 7)
    assert default.student.vocab_size == default.tokenizer.vocab_size


def test_presets_equal_the_shipped_config_files():
    # `janitr run` without --config uses these presets; they must not drift from the files.
    assert (
        load_config(preset="fast").to_dict()
        == load_config(ROOT / "configs" / "fast.toml").to_dict()
    )
    assert (
        load_config(preset="default").to_dict()
        == load_config().to_dict()
        == load_config(ROOT / "configs" / "default.toml").to_dict()
    )
    with pytest.raises(ConfigError, match="preset 'fsat'.*fast"):
        load_config(preset="fsat")


def test_run_names_allow_sweep_variant_names():
    name = "2026-11-23-clever-ferret--temperature-2--alpha-0.5"
    assert load_config(overrides=[f"run.name={name}"]).run.name == name
    for bad in ("Upper", "-lead", "a/b", "a b"):
        with pytest.raises(ConfigError, match="run.name"):
            load_config(overrides=[f"run.name={bad}"])


def test_holdout_fraction_is_checked():
    assert load_config().data.holdout_fraction == 0.2
    assert load_config(overrides=["data.holdout_fraction=0"]).data.holdout_fraction == 0
    for bad in ("0.9", "-0.1", "0.001"):
        with pytest.raises(ConfigError, match="data.holdout_fraction"):
            load_config(overrides=[f"data.holdout_fraction={bad}"])


def test_set_overrides_are_coerced_from_field_types():
    config = load_config(
        overrides=[
            "distill.temperature=2",
            "teacher.seeds=13,42,7",
            "teacher.max_steps=5",
            "teacher.force=true",
            "evaluate.split=valid",
            "cache.layers=1,3",
        ]
    )
    assert config.distill.temperature == 2.0 and isinstance(config.distill.temperature, float)
    assert config.teacher.seeds == (13, 42, 7)
    assert config.teacher.max_steps == 5 and config.teacher.force is True
    assert config.cache.layers == (1, 3)
    assert load_config(overrides=["teacher.max_steps=none"]).teacher.max_steps is None


def test_type_errors_name_the_full_key_and_are_all_reported():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["teacher.lr=abc", "distill.epochs=1.5", "report.enabled=maybe"])
    message = str(info.value)
    assert "teacher.lr: expected a float, found 'abc'" in message
    assert "distill.epochs: expected an integer, found '1.5'" in message
    assert "report.enabled: expected true or false" in message


def test_range_errors_from_stage_configs_name_the_key():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["distill.alpha=2", "thresholds.scam_target_fpr=0", "fasttext.lr=-1"])
    message = str(info.value)
    assert "distill.alpha: must be in [0, 1]" in message
    assert "thresholds.scam_target_fpr: expected a float in (0, 1)" in message
    assert "fasttext.lr: must be > 0" in message


def test_unknown_keys_and_sections_get_a_suggestion(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"distill.temprature: unknown key \(did you mean "
        r"distill.temperature\?\)",
    ):
        load_config(overrides=["distill.temprature=2"])
    toml = tmp_path / "c.toml"
    toml.write_text("[teachr]\nlr = 1e-5\n")
    with pytest.raises(ConfigError, match=r"teachr: unknown section \(did you mean teacher\?\)"):
        load_config(toml)


def test_toml_values_are_checked_too(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[teacher]\nseeds = [13, "x"]\nepochs = 2.5\n')
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    assert "teacher.seeds" in str(info.value) and "teacher.epochs" in str(info.value)
    assert str(toml) in str(info.value)


def test_malformed_set_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="expected section.key=value"):
        load_config(overrides=["temperature"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_cross_section_check_vocab_size():
    with pytest.raises(ConfigError, match=r"student.vocab_size: expected 8192"):
        load_config(overrides=["student.vocab_size=4000"])


def test_saved_config_round_trips(tmp_path):
    config = load_config(overrides=["distill.temperature=2", "teacher.seeds=1,2,3"])
    save_config(config, tmp_path)
    assert load_saved_config(tmp_path).to_dict() == config.to_dict()
    import tomllib

    reparsed = config_from_dict(tomllib.loads((tmp_path / "config.toml").read_text()))
    assert reparsed.to_dict() == config.to_dict()
    assert json.loads((tmp_path / "config.json").read_text())["format_version"] == 1


def test_with_overrides_keeps_the_rest():
    base = load_config(overrides=["teacher.epochs=2"])
    variant = base.with_overrides(["distill.alpha=0.7"])
    assert variant.teacher.epochs == 2 and variant.distill.alpha == 0.7


def test_switches_added_later_enter_stage_identities_only_when_set():
    # `option(identity_default=True)`: a run made before `distill.hard_negatives` existed
    # hashes its distill stage without it, so a config at its default must too (reuse).
    base = load_config()
    section = base.section_dict("distill")
    assert "hard_negatives" not in section and "hard_negative_copies" not in section
    assert "alpha" in section and base.to_dict()["distill"]["hard_negatives"] == 0
    mined = base.with_overrides(["distill.hard_negatives=200"]).section_dict("distill")
    assert mined["hard_negatives"] == 200
    assert {k: v for k, v in mined.items() if k != "hard_negatives"} == section


def test_coerce_examples():
    assert coerce("3", int) == 3
    assert coerce(3, float) == 3.0
    assert coerce("1,2", tuple[int, ...]) == (1, 2)
    with pytest.raises(ValueError, match="expected an integer"):
        coerce(True, int)


def test_loading_a_config_does_not_import_torch():
    code = (
        "import sys; from janitr.pipeline.config import load_config; load_config(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"  # every section's dataclass imports without torch


def test_a_run_saved_before_the_threshold_policy_still_loads(tmp_path):
    """Older runs saved the trainers' tuning keys in [fasttext] and [teacher]."""
    config = load_config()
    save_config(config, tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["fasttext"].update(scam_target_fpr=0.02, topic_target_fpr=None, tune_on="calib")
    data["teacher"]["scam_target_fpr"] = 0.02
    data["thresholds"]["topic_target_fpr"] = 1.0  # the old spelling of "no ceiling"
    (tmp_path / "config.json").write_text(json.dumps(data))
    loaded = load_saved_config(tmp_path)
    assert loaded.fasttext == config.fasttext and loaded.teacher == config.teacher
    assert loaded.thresholds.topic_target_fpr is None
    with pytest.raises(ConfigError, match="thresholds.topic_target_fpr: .*none for no ceiling"):
        load_config(overrides=["thresholds.topic_target_fpr=1.0"])
    with pytest.raises(ConfigError, match=r"fasttext.tune_on: unknown key .*thresholds.tune_on"):
        load_config(overrides=["fasttext.tune_on=calib"])
