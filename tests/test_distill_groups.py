"""The student's training-only group heads (`DistillConfig.group_weight`, issue #15 lever 3).

Unit tests of the loss and the kinds (fast), then tiny distillations (slow): off by default
and then drawing the same student, kinds carried by obfuscated copies, and a grouped student
that saves, loads, exports and quantizes exactly like a plain one.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from janitr.data.records import Record  # noqa: E402
from janitr.errors import ConfigError  # noqa: E402
from janitr.student.distill import (  # noqa: E402
    DistillConfig,
    distill_loss,
    group_kinds,
    group_loss,
    group_targets,
)
from tiny_student import make_records  # noqa: E402


def _rec(i: int, labels: tuple[str, ...]) -> Record:
    return Record(id=f"r{i}", text=f"text {i}", labels=labels, path="t", line=i + 1)


def test_group_weight_validation_names_the_key():
    assert DistillConfig().group_weight == 0.0
    for bad in (-0.5, math.nan):
        with pytest.raises(ConfigError, match="group_weight: must be >= 0"):
            DistillConfig(group_weight=bad)


def test_pipeline_names_the_section_key_and_a_default_weight_leaves_the_identity_alone():
    from janitr.pipeline.config import PipelineConfig

    with pytest.raises(ConfigError, match=r"distill\.group_weight"):
        PipelineConfig().with_overrides(["distill.group_weight=-1"])
    # Stage identities hash `section_dict`: a run made before the option existed keeps its
    # distill stage (and `janitr sweep` reuses it) as long as the weight stays 0.
    assert "group_weight" not in PipelineConfig().section_dict("distill")
    changed = PipelineConfig().with_overrides(["distill.group_weight=0.5"])
    assert changed.section_dict("distill")["group_weight"] == 0.5


def test_group_kinds_are_the_kinds_that_occur_in_taxonomy_order():
    rows = [_rec(0, ("promo",)), _rec(1, ("topic_crypto",)), _rec(2, ("scam", "spam"))]
    assert group_kinds(rows) == ("fraud", "spam_promo")
    assert group_kinds(rows[:2]) == ("spam_promo",)
    expected = np.array([[0, 1], [0, 0], [1, 1]], dtype=np.float32)
    np.testing.assert_array_equal(group_targets(rows, ("fraud", "spam_promo")), expected)
    with pytest.raises(ConfigError, match="group_weight > 0 needs scam rows"):
        group_kinds([_rec(1, ("topic_crypto",))])


def test_group_loss_leaves_unlabeled_rows_out():
    torch.manual_seed(0)
    logits = torch.randn(6, 2, requires_grad=True)
    y = torch.tensor([[1.0, 0], [0, 1], [0, 0], [1, 1], [0, 0], [1, 0]])
    pos = torch.tensor([2.0, 3.0])
    everyone = torch.ones(6, dtype=torch.bool)
    assert torch.allclose(
        group_loss(logits, y, pos_weight=pos, labeled=everyone),
        group_loss(logits, y, pos_weight=pos),
    )
    mask = torch.tensor([True, True, True, False, False, False])
    masked = group_loss(logits, y, pos_weight=pos, labeled=mask)
    flipped = y.clone()
    flipped[3:] = 1 - flipped[3:]
    assert torch.allclose(masked, group_loss(logits, flipped, pos_weight=pos, labeled=mask))
    assert torch.allclose(masked, group_loss(logits[:3], y[:3], pos_weight=pos))
    masked.backward()
    assert torch.all(logits.grad[3:] == 0) and torch.any(logits.grad[:3] != 0)
    none = torch.zeros(6, dtype=torch.bool)
    assert group_loss(logits, y, labeled=none).item() == 0.0


def test_distill_loss_adds_the_weighted_group_loss():
    torch.manual_seed(1)
    s, st = torch.randn(4, 2), torch.randn(4)
    t, tt = torch.randn(4, 2), torch.randn(4)
    y, yt = torch.tensor([0, 1, 1, 0]), torch.tensor([1.0, 0, 1, 0])
    grp = group_loss(torch.randn(4, 2), torch.tensor([[1.0, 0], [0, 1], [0, 0], [1, 1]]))
    kw = {"temperature": 2.0, "alpha": 0.5}
    plain = distill_loss(s, st, t, tt, y, yt, **kw)
    grouped = distill_loss(s, st, t, tt, y, yt, group=grp, group_weight=0.25, **kw)
    assert plain.group is None and grouped.group is grp
    assert torch.allclose(grouped.total, plain.total + 0.25 * grp)
    off = distill_loss(s, st, t, tt, y, yt, group=grp, group_weight=0.0, **kw)
    assert torch.equal(off.total, plain.total)


# --- tiny distillations -----------------------------------------------------------------------


def _with_kinds(records):
    """Tiny records with both scam kinds: every other scam row becomes spam/promo."""
    out = []
    for i, r in enumerate(records):
        labels = r.labels
        if labels == ("scam",) and i % 2:
            labels = ("promo",)
        out.append(replace(r, labels=labels))
    return out


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    from tiny_student import distill_tiny

    root = tmp_path_factory.mktemp("grouped")
    train, valid = _with_kinds(make_records("train", 90)), _with_kinds(make_records("valid", 45))
    config, result = distill_tiny(root, train, valid, epochs=2, max_steps=6, group_weight=1.0)
    return {"root": root, "train": train, "valid": valid, "config": config, "result": result}


@pytest.mark.slow
def test_default_run_has_no_groups_and_draws_the_same_student(grouped, tmp_path):
    from janitr.student.distill import _setup
    from janitr.student.model import load_student
    from tiny_student import distill_tiny

    _, result = distill_tiny(tmp_path, grouped["train"], grouped["valid"], epochs=2, max_steps=6)
    student = tmp_path / "student"
    assert "group_heads" not in json.loads((student / "distill_config.json").read_text())
    assert "group_heads" not in json.loads((student / "distill_report.json").read_text())
    assert all("group" not in h["train"] and "group_ap" not in h["valid"] for h in result.history)
    # The group head is built after the student and projections: with and without groups,
    # training starts from the same weights (and the same saved tensors' names).
    runs = {}
    for weight in (0.0, 1.0):
        config = DistillConfig(group_weight=weight, progress=False, augment_kinds=())
        data = _grouped_data(grouped, config)
        runs[weight] = _setup(data, grouped["config"], config)
    assert runs[0.0].group_head is None and runs[1.0].group_kinds == ("fraud", "spam_promo")
    plain, with_groups = runs[0.0].model.state_dict(), runs[1.0].model.state_dict()
    assert plain.keys() == with_groups.keys()
    assert all(torch.equal(plain[k], with_groups[k]) for k in plain)
    saved = load_student(grouped["root"] / "student").state_dict()
    assert saved.keys() == load_student(student).state_dict().keys()


def _grouped_data(grouped, config):
    """The distillation data (`_load_data`) of the fixture's train and valid rows."""
    from janitr.data.normalize import NormalizationConfig
    from janitr.student.distill import _load_data

    return _load_data(
        {"train": grouped["train"], "valid": grouped["valid"]},
        {"train": grouped["root"] / "cache", "valid": grouped["root"] / "cache"},
        tokenizer_path=grouped["root"] / "tok",
        student_config=grouped["config"],
        config=config,
        normalization=NormalizationConfig(),
    )


@pytest.mark.slow
def test_obfuscated_copies_carry_their_source_kinds(grouped):
    from janitr.data.obfuscate import augment_copies

    config = DistillConfig(group_weight=1.0, progress=False)
    data = _grouped_data(grouped, config)
    n = len(grouped["train"])
    gold = group_targets(grouped["train"], data.kinds)
    src = [i for i, _ in augment_copies(grouped["train"], kinds=config.augment_kinds, seed=42)]
    assert data.augmented == len(src) > 0 and gold[:, 1].sum() > 0
    np.testing.assert_array_equal(data.train.y_groups[:n], gold)
    np.testing.assert_array_equal(data.train.y_groups[n:], gold[src])
    np.testing.assert_array_equal(data.valid.y_groups, group_targets(grouped["valid"], data.kinds))


@pytest.mark.slow
def test_grouped_student_records_groups_and_exports_like_a_plain_one(grouped):
    import onnx

    from janitr.student.export import export_onnx
    from janitr.student.quantize import quantize_onnx
    from tiny_student import parity_texts

    root, student = grouped["root"], grouped["root"] / "student"
    written = json.loads((student / "distill_config.json").read_text())
    assert written["distill"]["group_weight"] == 1.0
    assert written["group_heads"] == {"kinds": ["fraud", "spam_promo"], "saved": False}
    history = grouped["result"].history
    assert all(h["train"]["group"] > 0 for h in history)
    valid = history[-1]["valid"]
    assert set(valid["group_ap"]) == {"fraud", "spam_promo"}
    assert 0.0 < valid["group_or_scam_ap"] <= 1.0
    texts = parity_texts()
    fp32 = export_onnx(
        student_dir=student, out_path=root / "onnx" / "model.onnx", parity_texts=texts
    )
    int8 = quantize_onnx(
        fp32_path=root / "onnx" / "model.onnx",
        out_path=root / "onnx" / "model.int8.onnx",
        tokenizer_path=student,
        parity_texts=texts,
        calibration_texts=[r.norm_text for r in grouped["train"]],
        student_dir=student,
    )
    assert fp32.passed and int8.passed and int8.extra["vs_torch"]["passed"]
    for path in (root / "onnx" / "model.onnx", root / "onnx" / "model.int8.onnx"):
        graph = onnx.load(str(path)).graph
        assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
        assert [o.name for o in graph.output] == ["p_scam", "p_topic"]
