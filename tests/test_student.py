"""Student config/model, depth mapping and distillation losses (fast unit tests)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from janitr.errors import BundleError, ConfigError  # noqa: E402
from janitr.student.distill import (  # noqa: E402
    DistillConfig,
    distill_loss,
    hidden_loss,
    layer_map,
    mine_hard_negatives,
    soft_loss,
)
from janitr.student.model import (  # noqa: E402
    StudentConfig,
    StudentModel,
    count_parameters,
    load_student,
    read_student_config,
)

TINY = StudentConfig(vocab_size=64, layers=2, hidden=32, heads=4, ffn=64, max_length=16)


def test_config_validation_names_the_key():
    with pytest.raises(ConfigError, match=r"hidden: must be divisible by heads, got 30 and 4"):
        StudentConfig(hidden=30, heads=4)
    with pytest.raises(ConfigError, match="layers: must be a positive integer"):
        StudentConfig(layers=0)
    with pytest.raises(ConfigError, match="layer: unknown key"):
        StudentConfig.from_dict({"layer": 3})
    with pytest.raises(ConfigError, match="alpha: must be in"):
        DistillConfig(alpha=1.5)
    with pytest.raises(ConfigError, match="select_metric: must be one of"):
        DistillConfig(select_metric="accuracy")
    with pytest.raises(ConfigError, match="augment_kinds: unknown mixed"):
        DistillConfig(augment_kinds=["leet", "mixed"])
    assert DistillConfig(augment_kinds=["leet"]).augment_kinds == ("leet",)
    assert DistillConfig().to_dict()["augment_kinds"] == ["leet", "spaced", "tags"]
    with pytest.raises(ConfigError, match="hard_negatives: must be >= 0"):
        DistillConfig(hard_negatives=-1)
    with pytest.raises(ConfigError, match="hard_negative_copies: must be a positive integer"):
        DistillConfig(hard_negatives=10, hard_negative_copies=0)


def test_mine_hard_negatives_takes_the_most_scam_like_labeled_negatives():
    # p_scam of row i is sigmoid(logit[i, 1] - logit[i, 0]); rows 0 and 3 are scams, row 5
    # has no gold labels: neither may be mined, however scam-like their targets.
    margin = [9.0, 1.0, -2.0, 8.0, 3.0, 7.0, 1.0]
    logits = [[0.0, m] for m in margin]
    is_scam = [1, 0, 0, 1, 0, 0, 0]
    labeled = [True, True, True, True, True, False, True]
    assert mine_hard_negatives(logits, is_scam, labeled, 2).tolist() == [4, 1]
    assert mine_hard_negatives(logits, is_scam, labeled, 3).tolist() == [4, 1, 6]  # tie: order
    assert mine_hard_negatives(logits, is_scam, labeled, 99).tolist() == [4, 1, 6, 2]
    assert mine_hard_negatives(logits, is_scam, labeled, 0).tolist() == []


def test_default_student_has_about_3_4m_parameters():
    n = count_parameters(StudentConfig())
    assert 3.3e6 < n < 3.5e6, n


@pytest.mark.parametrize(("student", "teacher", "expected"), [
    (4, 4, [0, 1, 2, 3]),
    (6, 4, [0, 0, 1, 2, 2, 3]),  # the original IndexError case (UPSTREAM.md §12.1)
    (2, 4, [1, 3]),
    (1, 4, [3]),
    (8, 4, [0, 0, 1, 1, 2, 2, 3, 3]),
    (4, 24, [5, 11, 17, 23]),
    (3, 1, [0, 0, 0]),
])  # fmt: skip
def test_layer_map_any_depth(student, teacher, expected):
    mapping = layer_map(student, teacher)
    assert mapping == expected
    assert len(mapping) == student and mapping[-1] == teacher - 1
    assert all(0 <= j < teacher for j in mapping) and mapping == sorted(mapping)


def test_layer_map_rejects_zero():
    with pytest.raises(ConfigError):
        layer_map(0, 4)


@pytest.mark.parametrize(("student_layers", "teacher_layers"), [(6, 4), (2, 4), (1, 4), (4, 4)])
def test_hidden_loss_runs_for_any_depth(student_layers, teacher_layers):
    torch.manual_seed(0)
    cfg = StudentConfig(
        vocab_size=64, layers=student_layers, hidden=16, heads=2, ffn=32, max_length=16
    )
    model = StudentModel(cfg)
    ids = torch.randint(5, 64, (3, 7))
    mask = torch.ones_like(ids)
    scam, topic, layers = model.forward_with_hidden(ids, mask)
    assert scam.shape == (3, 2) and topic.shape == (3,) and layers.shape == (3, student_layers, 16)
    teacher = torch.randn(3, teacher_layers, 24)
    proj = torch.nn.ModuleList(torch.nn.Linear(24, 16) for _ in range(student_layers))
    loss = hidden_loss(layers, teacher, proj, layer_map(student_layers, teacher_layers))
    loss.backward()
    assert torch.isfinite(loss)


def test_soft_loss_is_zero_when_student_equals_teacher():
    logits = torch.tensor([[0.3, -1.0], [2.0, 0.5]])
    topic = torch.tensor([0.4, -2.0])
    kl_part = soft_loss(logits, topic, logits, topic, temperature=3.0)
    # BCE against its own sigmoid is the entropy, not 0; the KL part is 0.
    import torch.nn.functional as F

    entropy = F.binary_cross_entropy_with_logits(topic / 3, torch.sigmoid(topic / 3))
    assert math.isclose(float(kl_part), float(entropy), abs_tol=1e-6)


def test_distill_loss_weights_parts():
    torch.manual_seed(0)
    s, t = torch.randn(4, 2), torch.randn(4, 2)
    st, tt = torch.randn(4), torch.randn(4)
    y, yt = torch.tensor([0, 1, 0, 1]), torch.tensor([1.0, 0.0, 0.0, 1.0])
    hid = torch.tensor(0.7)
    parts = distill_loss(
        s, st, t, tt, y, yt, temperature=2.0, alpha=0.25, hidden=hid, hidden_weight=0.5
    )
    expected = 0.25 * parts.hard + 0.75 * 4.0 * parts.soft + 0.5 * hid
    assert torch.allclose(parts.total, expected)
    only_hard = distill_loss(s, st, t, tt, y, yt, temperature=2.0, alpha=1.0)
    assert torch.allclose(only_hard.total, only_hard.hard)


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = StudentModel(TINY).eval()
    model.save(tmp_path)
    assert read_student_config(tmp_path) == TINY
    back = load_student(tmp_path)
    ids = torch.randint(5, 64, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    with torch.no_grad():
        a, b = model(ids, mask), back(ids, mask)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))


def test_padding_does_not_change_predictions():
    torch.manual_seed(0)
    model = StudentModel(TINY).eval()
    ids = torch.randint(5, 64, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 6, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long)], 1)
    with torch.no_grad():
        a = model(ids, torch.ones_like(ids))
        b = model(padded, mask)
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1], b[1], atol=1e-5)


def test_load_refuses_other_format(tmp_path):
    (tmp_path / "student_config.json").write_text(
        '{"format": "janitr-student", "format_version": 99, "config": {}}'
    )
    with pytest.raises(BundleError, match="v99"):
        read_student_config(tmp_path)


@pytest.mark.parametrize("verb", ["distill", "export", "quantize"])
def test_cli_help_has_examples(verb, capsys):
    from janitr.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"janitr {verb}" in out


def test_hard_loss_mask_leaves_soft_only_rows_out():
    from janitr.student.distill import hard_loss

    torch.manual_seed(0)
    scam, topic = torch.randn(6, 2), torch.randn(6)
    y_scam = torch.tensor([1, 0, 1, 0, 0, 1])
    y_topic = torch.tensor([1.0, 0, 0, 1, 0, 1])
    weights, pos = torch.tensor([0.7, 1.9]), torch.tensor([1.5])
    kw = {"scam_class_weights": weights, "topic_pos_weight": pos}
    everyone = torch.ones(6, dtype=torch.bool)
    assert torch.allclose(
        hard_loss(scam, topic, y_scam, y_topic, labeled=everyone, **kw),
        hard_loss(scam, topic, y_scam, y_topic, **kw),
    )
    mask = torch.tensor([True, True, True, False, False, False])
    flipped_s, flipped_t = y_scam.clone(), y_topic.clone()
    flipped_s[3:], flipped_t[3:] = 1 - flipped_s[3:], 1 - flipped_t[3:]
    masked = hard_loss(scam, topic, y_scam, y_topic, labeled=mask, **kw)
    assert torch.allclose(masked, hard_loss(scam, topic, flipped_s, flipped_t, labeled=mask, **kw))
    assert torch.allclose(masked, hard_loss(scam[:3], topic[:3], y_scam[:3], y_topic[:3], **kw))
    none = torch.zeros(6, dtype=torch.bool)
    assert hard_loss(scam, topic, y_scam, y_topic, labeled=none, **kw).item() == 0.0
