"""splits: determinism, stratification bounds, duplicate groups kept together."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from janitr.data.demo import write_demo_dataset
from janitr.data.neardup import duplicate_groups
from janitr.data.normalize import normalize_text
from janitr.data.splits import DEFAULT_RATIOS, parse_ratios, split_dataset
from janitr.errors import ConfigError, DataError, SplitError


def _read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    write_demo_dataset(out, rows=800, seed=3)
    return [out / "train.jsonl", out / "valid.jsonl", out / "calib.jsonl"]


def test_byte_identical_for_same_seed(demo, tmp_path):
    split_dataset(data=demo, out_dir=tmp_path / "a", seed=5)
    split_dataset(data=demo, out_dir=tmp_path / "b", seed=5)
    split_dataset(data=demo, out_dir=tmp_path / "c", seed=6)
    for name in [*DEFAULT_RATIOS, "split_report"]:
        ext = "json" if name == "split_report" else "jsonl"
        a = (tmp_path / "a" / f"{name}.{ext}").read_bytes()
        assert a == (tmp_path / "b" / f"{name}.{ext}").read_bytes()
    assert (tmp_path / "a/holdout.jsonl").read_bytes() != (
        tmp_path / "c/holdout.jsonl"
    ).read_bytes()


def test_every_row_once_groups_together_and_stratified(demo, tmp_path):
    report = split_dataset(data=demo, out_dir=tmp_path, seed=1)
    source = [row for path in demo for row in _read(path)]
    by_split = {name: _read(tmp_path / f"{name}.jsonl") for name in DEFAULT_RATIOS}
    where = {row["id"]: name for name, rows in by_split.items() for row in rows}
    assert sorted(where) == sorted(r["id"] for r in source)
    assert sum(len(v) for v in by_split.values()) == len(source)
    groups = duplicate_groups([normalize_text(r["text"]) for r in source])
    split_of_group: dict[int, set] = {}
    for row, g in zip(source, groups, strict=True):
        split_of_group.setdefault(g, set()).add(where[row["id"]])
    assert report.groups["multi_row"] > 0
    assert all(len(s) == 1 for s in split_of_group.values())
    # sizes follow the ratios and prevalence stays close to the whole
    for name, ratio in DEFAULT_RATIOS.items():
        assert abs(report.rows[name] / len(source) - ratio) < 0.02
    assert report.max_label_delta["train"] <= 0.03
    assert report.max_label_delta["holdout"] <= 0.05
    saved = json.loads((tmp_path / "split_report.json").read_text())
    assert saved["format"] == "janitr-split-report v1" and saved["seed"] == 1


def test_strict_raises_and_writes_nothing(demo, tmp_path):
    with pytest.raises(SplitError, match="prevalence"):
        split_dataset(data=demo, out_dir=tmp_path / "s", max_label_delta=0.0,
                      max_pair_delta=0.0, strict=True)  # fmt: skip
    assert not (tmp_path / "s").exists()


def test_invalid_input_is_refused(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id":"1","text":"x","labels":["clean"]}\n{oops\n')
    with pytest.raises(DataError, match="bad.jsonl:2"):
        split_dataset(data=[bad], out_dir=tmp_path / "out")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("train=0.6,holdout=0.5", "sum to 1"),
        ("train=1.0,holdout=0", "must be > 0"),
        ("train=0.5,train=0.5", "twice"),
        ("train:0.5,holdout=0.5", "NAME=FRACTION"),
        ("train=abc,holdout=0.5", "not a number"),
        ("train=1.0", "at least two"),
    ],
)
def test_parse_ratios_errors_name_the_flag(spec, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_ratios(spec)
    assert str(info.value).startswith("--ratios")


def test_parse_ratios_ok():
    assert parse_ratios("train=0.7, holdout=0.3") == {"train": 0.7, "holdout": 0.3}


_LABELS = [
    ["clean"],
    ["scam", "topic_crypto"],
    ["topic_crypto"],
    ["promo"],
    ["clean", "topic_news"],
]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["alpha beta gamma", "delta epsilon", "zeta eta theta iota",
                                   "kappa lambda mu"]),
                  st.booleans(), st.sampled_from(range(len(_LABELS)))),
        min_size=1, max_size=40,
    ),
    seed=st.integers(0, 2**16),
)  # fmt: skip
def test_split_invariants_property(tmp_path_factory, rows, seed):
    tmp = tmp_path_factory.mktemp("prop")
    data = tmp / "d.jsonl"
    lines = []
    for i, (base, suffix, lab) in enumerate(rows):
        text = base + "!" if suffix else base
        lines.append(json.dumps({"id": f"x{i}", "text": text, "labels": _LABELS[lab]}))
    data.write_text("\n".join(lines) + "\n")
    split_dataset(data=[data], out_dir=tmp / "o", seed=seed)
    where: dict[str, str] = {}
    for name in DEFAULT_RATIOS:
        for row in _read(tmp / "o" / f"{name}.jsonl"):
            assert row["id"] not in where
            where[row["id"]] = name
    assert len(where) == len(rows)
    by_text: dict[str, set] = {}
    for i, (base, _, _) in enumerate(rows):
        by_text.setdefault(base, set()).add(where[f"x{i}"])
    # "base" and "base!" are equal or near-duplicates: one split per base text
    assert all(len(s) == 1 for s in by_text.values())
