"""`janitr audit`: confident learning on out-of-fold scores finds planted label flips, and
writes a review file that `janitr relabel` accepts."""

from __future__ import annotations

import json
import random
import sys

import numpy as np
import pytest

from extras import needs
from janitr.cli import main
from janitr.data.labels import CLASSES
from janitr.errors import MissingDependencyError
from janitr.evaluation.label_audit import audit_labels, class_distribution, planted_recovery
from janitr.pipeline.audit import AuditConfig, audit_records, run_audit

VOCAB = {
    "scam": "claim free airdrop wallet connect giveaway double send reward bonus verify urgent "
    "winner dm link presale whitelist mint drop instant guaranteed",
    "topic_crypto": "bitcoin ethereum price chart halving market etf miners hashrate block "
    "layer fees staking validators liquidity volume onchain protocol upgrade",
    "clean": "dog river coffee weekend garden bread recipe football match concert rain "
    "morning train book museum holiday painting cat walk dinner",
}


def synthetic(n_per_class: int = 50, *, flip_share: float = 0.05, seed: int = 0):
    """Rows whose class is plain from their words, and a set of ids whose label was flipped."""
    rng = random.Random(seed)
    rows = []
    for cls, words in VOCAB.items():
        words = words.split()
        for i in range(n_per_class):
            text = " ".join(rng.sample(words, 8)) + f" number{cls[:2]}{i}"
            rows.append({"id": f"{cls}-{i}", "text": text, "labels": [cls]})
    rng.shuffle(rows)
    flipped = set()
    for row in rng.sample(rows, round(flip_share * len(rows))):
        row["labels"] = [rng.choice([c for c in CLASSES if c != row["labels"][0]])]
        flipped.add(row["id"])
    return rows, flipped


def write_data(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    n = len(rows)
    parts = {"train": rows[: n * 7 // 10], "valid": rows[n * 7 // 10 : n * 9 // 10],
             "calib": rows[n * 9 // 10 :]}  # fmt: skip
    for name, part in parts.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return folder


def test_class_distribution_follows_the_decision_rule():
    heads = np.array([[0.9, 0.8], [0.2, 0.75], [0.1, 0.1]])
    probs = class_distribution(heads)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert [CLASSES[i] for i in probs.argmax(axis=1)] == ["scam", "topic_crypto", "clean"]
    assert probs[1].tolist() == pytest.approx([0.2, 0.8 * 0.75, 0.8 * 0.25])


def test_missing_cleanlab_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cleanlab", None)  # import cleanlab -> ImportError
    probs = class_distribution(np.array([[0.9, 0.9], [0.1, 0.9], [0.1, 0.1]]))
    with pytest.raises(MissingDependencyError, match=r"pip install 'janitr\[audit\]'"):
        audit_labels(["scam", "topic_crypto", "clean"], probs)

    def never(*args, **kwargs):
        raise AssertionError("fitted before checking for cleanlab")

    import janitr.pipeline.crossval

    monkeypatch.setattr(janitr.pipeline.crossval, "out_of_fold_heads", never)
    with pytest.raises(MissingDependencyError, match="cleanlab"):  # before any fitting
        audit_records([], config=AuditConfig(progress=False))


def test_out_of_fold_heads_are_crossvals_scores():
    """The audit's scores come from the same folds and fold models as `janitr crossval`."""
    from janitr.data.records import Record
    from janitr.pipeline.crossval import CrossvalConfig, crossval, out_of_fold_heads

    rows, _ = synthetic(20, seed=4)
    records = [Record(id=r["id"], text=r["text"], labels=tuple(r["labels"]), path="x", line=i)
               for i, r in enumerate(rows)]  # fmt: skip
    config = CrossvalConfig(folds=3, seed=5, robustness=False, n_boot=0)
    oof, fold = out_of_fold_heads(records, config=config)
    pred = crossval(records=records, config=config)["predictions"]
    assert fold.tolist() == pred["fold"]
    assert oof[:, 0].tolist() == pytest.approx(pred["p_scam"], abs=1e-12)
    assert oof[:, 1].tolist() == pytest.approx(pred["p_topic"], abs=1e-12)


@needs("cleanlab", extra="audit")
def test_audit_finds_planted_flips():
    from janitr.data.records import Record

    rows, flipped = synthetic(50, seed=1)
    records = [Record(id=r["id"], text=r["text"], labels=tuple(r["labels"]), path="x", line=i)
               for i, r in enumerate(rows)]  # fmt: skip
    issues = audit_records(records, config=AuditConfig(progress=False, folds=4))
    assert sorted(i.index for i in issues) == list(range(len(records)))
    ranked = [i.index for i in issues]
    planted = {k for k, r in enumerate(rows) if r["id"] in flipped}
    found = planted_recovery(ranked, planted, k=len(planted))
    # the words give every row's class away: the flips are the most suspicious rows
    assert found["recall"] >= 0.85 and found["precision"] >= 0.85, found
    for issue in issues[: len(planted)]:
        if issue.index in planted:  # the suggestion is the class the words say
            true = rows[issue.index]["id"].rsplit("-", 1)[0]
            assert issue.suggested == true and issue.flagged
    flagged = [i for i in issues if i.flagged]
    assert flagged == issues[: len(flagged)]  # flagged first, then by score
    assert [i.score for i in flagged] == sorted(i.score for i in flagged)


@needs("cleanlab", extra="audit")
def test_review_file_schema_and_the_loop_into_relabel(tmp_path, capsys):
    rows, flipped = synthetic(40, seed=2)
    data = write_data(tmp_path / "data", rows)
    review = tmp_path / "review.jsonl"
    summary = run_audit(data_dir=data, out=review,
                        config=AuditConfig(folds=4, top=5, progress=False))  # fmt: skip
    lines = [json.loads(x) for x in review.read_text().splitlines()]
    assert len(lines) == summary["written"] == min(5, summary["flagged"]) > 0
    assert summary["rows"] == len(rows) and set(summary["data"]) == {
        "train.jsonl", "valid.jsonl", "calib.jsonl"}  # fmt: skip
    by_id = {r["id"]: r for r in rows}
    for rank, line in enumerate(lines, start=1):
        assert list(line) == ["format", "rank", "id", "given_labels", "given_class",
                              "suggested", "score", "flagged", "reason", "p", "file", "line",
                              "text", "new_labels", "note"]  # fmt: skip
        assert line["format"] == "janitr-label-review v1" and line["rank"] == rank
        assert line["text"] == by_id[line["id"]]["text"]
        assert line["given_labels"] == by_id[line["id"]]["labels"]
        assert line["suggested"] != line["given_class"] and line["flagged"] is True
        assert line["score"] == pytest.approx(line["p"][line["given_class"]], abs=1e-3)
        assert line["new_labels"] is None and line["reason"].startswith("given ")
        assert (
            (data / line["file"])
            .read_text()
            .splitlines()[line["line"] - 1]
            .startswith(json.dumps({"id": line["id"]})[:-1])
        )
    assert [x["score"] for x in lines] == sorted(x["score"] for x in lines)

    # the reviewer accepts every suggestion; relabel makes the new version
    for line in lines:
        line["new_labels"] = [line["suggested"]]
    review.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert main(["relabel", "--data", str(data), "--changes", str(review),
                 "--out", str(tmp_path / "v2")]) == 0  # fmt: skip
    manifest = json.loads((tmp_path / "v2" / "DATASET.json").read_text())
    assert {c["id"] for c in manifest["changes"]} == {x["id"] for x in lines}


@needs("cleanlab", extra="audit")
def test_cli_audit(tmp_path, capsys):
    rows, _ = synthetic(30, seed=3)
    data = write_data(tmp_path / "data", rows)
    out, summary = tmp_path / "review.jsonl", tmp_path / "audit.json"
    code = main(["audit", "--data", str(data), "--out", str(out), "--folds", "3",
                 "--json", str(summary), "--quiet"])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "labeled rows scored out of fold (linear, 3 folds" in text
    assert "janitr relabel" in text
    assert json.loads(summary.read_text())["format"] == "janitr-audit"
    assert main(["audit", "--data", str(data), "--out", str(out), "--folds", "1"]) == 1
    assert "--folds: must be an integer >= 2, got 1" in capsys.readouterr().err


def test_cli_audit_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["audit", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--data", "--out", "--model", "--folds", "--top", "--filter", "examples:"):
        assert flag in text
    assert "janitr[audit]" in text
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "audit" in top and "relabel" in top
