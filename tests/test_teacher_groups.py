"""The teacher's training-only group head (`TeacherConfig.group_weight`, issue #15 lever 3).

Config checks (fast), then tiny teachers (a 2-layer, hidden-32 BERT, no download): weight 0
trains exactly today's teacher, and a grouped teacher trains a different one that saves the
same tensors (names, shapes) and scores through the same scorer.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from janitr.data.records import Record
from janitr.errors import ConfigError
from janitr.teacher.model import TeacherConfig
from tiny_bert import make_tiny_bert, synthetic_rows

#: Scam rows alternate fraud-only, spam-only and fraud+spam labels (two group kinds).
_SCAM_LABELS = (("scam", "topic_crypto"), ("spam", "topic_crypto"), ("scam", "spam"))


def _records(n: int, offset: int = 0) -> list[Record]:
    out = []
    for i, row in enumerate(synthetic_rows(n, offset=offset)):
        labels = tuple(row["labels"])
        if "scam" in labels:
            labels = _SCAM_LABELS[(i // 3) % len(_SCAM_LABELS)]
        out.append(Record(id=row["id"], text=row["text"], labels=labels, path="t", line=i + 1))
    return out


def test_group_weight_validation_names_the_field():
    assert TeacherConfig().group_weight == 0.0
    for bad in (-0.5, math.nan):
        with pytest.raises(ConfigError, match="group_weight: must be >= 0"):
            TeacherConfig(group_weight=bad)
    with pytest.raises(ConfigError, match="group_weight: is not supported with ddp"):
        TeacherConfig(group_weight=0.5, ddp=True, seeds=(1,))


def test_weight_0_leaves_the_recorded_config_and_the_identity_alone():
    from janitr.pipeline.config import PipelineConfig
    from janitr.pipeline.crossval import CrossvalConfig

    # The teacher id hashes `to_dict`: a default weight records nothing new.
    assert "group_weight" not in TeacherConfig().to_dict()
    assert TeacherConfig(group_weight=0.5).to_dict()["group_weight"] == 0.5
    assert "group_weight" not in PipelineConfig().section_dict("teacher")
    with pytest.raises(ConfigError, match=r"teacher\.group_weight"):
        PipelineConfig().with_overrides(["teacher.group_weight=-1"])
    with pytest.raises(ConfigError, match="teacher_group_weight: must be >= 0"):
        CrossvalConfig(teacher_group_weight=-1.0)


def test_grouped_training_needs_a_scam_row():
    from janitr.teacher.model import Encoded, _with_groups

    enc = Encoded([[1, 2]], np.zeros(1, np.int64), np.zeros(1, np.int64))
    clean = [Record(id="a", text="hello", labels=("clean",), path="t", line=1)]
    assert _with_groups(enc, clean, TeacherConfig()) is enc
    with pytest.raises(ConfigError, match="group_weight > 0 needs scam rows"):
        _with_groups(enc, clean, TeacherConfig(group_weight=1.0))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Tiny teachers at weight 0 (twice: determinism) and 1, the grouped one's group
    losses recorded."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from janitr.teacher.model import fit_teacher

    model = make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))
    train, valid = _records(48), _records(24, offset=1000)
    base = TeacherConfig(
        model_name_or_path=str(model), seeds=(13,), epochs=2, batch_size=8, max_length=32,
        force=True, progress=False, threads=1,
    )  # fmt: skip
    from janitr.teacher import groups

    calls, real = [], groups.group_loss

    def spy(logits, y, **kwargs):
        calls.append((y.detach().cpu().numpy(), kwargs.get("labeled")))
        return real(logits, y, **kwargs)

    out = {"group_calls": calls}
    for name, config in (("plain", base), ("plain_again", base),
                         ("grouped", replace(base, group_weight=1.0))):  # fmt: skip
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(groups, "group_loss", spy)
            out[name] = fit_teacher(
                train=train, valid=valid, config=config, work_dir=tmp_path_factory.mktemp(name)
            )
    return out


def _state(fitted_teacher):
    from safetensors.torch import load_file

    seed = fitted_teacher.config.seeds[0]
    return load_file(str(fitted_teacher.seed_dirs[seed] / "model.safetensors"))


@pytest.mark.slow
def test_weight_0_trains_the_same_teacher(fitted):
    a, b = _state(fitted["plain"]), _state(fitted["plain_again"])
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].equal(b[key]), key
    assert "group_head" not in fitted["plain"].per_seed[0]


@pytest.mark.slow
def test_grouped_teacher_trains_differently_and_saves_the_same_tensors(fitted):
    plain, grouped = _state(fitted["plain"]), _state(fitted["grouped"])
    assert plain.keys() == grouped.keys()  # the group head is not saved
    assert {k: v.shape for k, v in plain.items()} == {k: v.shape for k, v in grouped.items()}
    assert not all(plain[k].equal(grouped[k]) for k in plain if "encoder.layer" in k)
    assert fitted["grouped"].per_seed[0]["group_head"] == {
        "kinds": ["fraud", "spam_promo"],
        "weight": 1.0,
    }
    heads = fitted["grouped"].scorer().predict_heads(["send eth to win", "good morning"])
    assert heads.shape == (2, 2) and np.all((heads >= 0) & (heads <= 1))


@pytest.mark.slow
def test_group_loss_sees_every_training_row_unmasked(fitted):
    """Teacher rows are all labeled: each epoch's group losses cover every training row's
    gold kinds, with no row masked out."""
    from janitr.teacher.groups import group_targets

    calls = fitted["group_calls"]
    assert calls and all(labeled is None for _, labeled in calls)
    seen = np.concatenate([y for y, _ in calls])  # 2 epochs over the 48 rows
    assert len(seen) == 2 * 48
    gold = group_targets(_records(48), ("fraud", "spam_promo"))
    np.testing.assert_array_equal(seen.sum(axis=0), 2 * gold.sum(axis=0))
