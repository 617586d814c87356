"""MLM pretraining: masking rule, evaluation-overlap refusal, a saved model teachers load."""

from __future__ import annotations

import json

import pytest

from janitr.data.records import Record
from janitr.errors import ConfigError, LeakageError
from janitr.teacher.pretrain import PretrainConfig, check_no_eval_overlap, mask_tokens, pretrain_mlm
from tiny_bert import make_tiny_bert, synthetic_rows


def rec(i, text):
    return Record(id=str(i), text=text, labels=(), path="x", line=1)


def test_mask_tokens_rule():
    torch = pytest.importorskip("torch")
    ids = torch.randint(5, 100, (64, 40))
    ids[:, 0], ids[:, -1] = 2, 3
    mask = torch.ones_like(ids)
    mask[:, 30:] = 0
    masked, labels = mask_tokens(
        ids,
        mask,
        special_ids=[0, 2, 3, 4],
        mask_id=4,
        vocab_size=100,
        probability=0.15,
        generator=torch.Generator().manual_seed(0),
    )
    chosen = labels != -100
    assert not chosen[:, 0].any() and not chosen[:, 30:].any()  # never specials or padding
    assert 0.10 < chosen[:, 1:30].float().mean() < 0.20
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(masked[~chosen], ids[~chosen])
    share_mask = (masked[chosen] == 4).float().mean()
    assert 0.7 < share_mask < 0.9


def test_eval_overlap_refused_or_dropped():
    corpus = [rec(1, "Free  AIRDROP"), rec(2, "gm"), rec(3, "hello")]
    evals = [rec(9, "free airdrop"), rec(2, "other text")]
    with pytest.raises(LeakageError, match="2 pretraining rows"):
        check_no_eval_overlap(corpus, evals, drop=False)
    kept, dropped = check_no_eval_overlap(corpus, evals, drop=True)
    assert [r.id for r in kept] == ["3"] and dropped == 2


def test_config_validation():
    with pytest.raises(ConfigError, match="mlm_probability: must be in"):
        PretrainConfig(mlm_probability=0)


@pytest.mark.integration
def test_pretrain_saves_a_model_the_teacher_can_start_from(tmp_path):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    base = make_tiny_bert(tmp_path / "base")
    corpus = [rec(r["id"], r["text"]) for r in synthetic_rows(40)]
    out = pretrain_mlm(
        corpus=corpus,
        model_name_or_path=str(base),
        out_dir=tmp_path / "mlm",
        config=PretrainConfig(max_steps=2, batch_size=8, progress=False, threads=1),
        exclude=[rec("v1", "never seen in the corpus")],
    )
    manifest = json.loads((out / "pretrain_manifest.json").read_text())
    assert manifest["steps"] == 2 and manifest["rows"] == 40
    encoder = transformers.AutoModel.from_pretrained(out)
    assert encoder.config.hidden_size == 32

    # The pipeline's form: a data directory (train + unlabeled; valid/calib excluded).
    data = tmp_path / "data"
    data.mkdir()
    for name, rows in (
        ("train", synthetic_rows(20)),
        ("valid", synthetic_rows(6, 500)),
        ("unlabeled", synthetic_rows(10, 900)),
    ):
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "valid.jsonl").write_text(
        (data / "valid.jsonl").read_text() + json.dumps(synthetic_rows(1)[0] | {"id": "v"}) + "\n"
    )
    with pytest.raises(LeakageError):
        pretrain_mlm(
            data_dir=data,
            out_dir=tmp_path / "m2",
            model_name_or_path=str(base),
            config=PretrainConfig(max_steps=1, progress=False, threads=1),
        )


def test_corpus_from_dir_reads_train_and_unlabeled_and_excludes_eval_files(tmp_path):
    from janitr.teacher.pretrain import corpus_from_dir

    data = tmp_path / "data"
    data.mkdir()
    row = '{{"id": "{}", "text": "{}", "labels": ["clean"]}}\n'
    (data / "train.jsonl").write_text(row.format("t1", "train text"))
    (data / "valid.jsonl").write_text(row.format("v1", "valid text"))
    (data / "unlabeled.jsonl").write_text('{"id": "u1", "text": "corpus text"}\n')
    extra = tmp_path / "more.jsonl"
    extra.write_text('{"id": "m1", "text": "more corpus"}\n')
    held = tmp_path / "held.jsonl"
    held.write_text('{"id": "h1", "text": "held out"}\n')

    corpus, exclude = corpus_from_dir(data)  # janitr run: the folder's own unlabeled.jsonl
    assert [r.id for r in corpus] == ["t1", "u1"] and [r.id for r in exclude] == ["v1"]
    # janitr pretrain: only the --unlabeled files given, plus --exclude files
    corpus, exclude = corpus_from_dir(data, unlabeled=[extra], exclude_files=[held])
    assert [r.id for r in corpus] == ["t1", "m1"] and [r.id for r in exclude] == ["v1", "h1"]
    corpus, _ = corpus_from_dir(data, unlabeled=[])
    assert [r.id for r in corpus] == ["t1"]
    with pytest.raises(ConfigError, match="no train.jsonl"):
        corpus_from_dir(tmp_path)
