"""Fuzzing the row reader and `validate` (issue #12): arbitrary bytes, arbitrary JSON values
and row-shaped objects never raise; every problem is a row problem with file, line and
field; and every row that passes can be normalized, encoded and written back."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from janitr.data.normalize import text_problem
from janitr.data.records import Record, dump_row, parse_row
from janitr.data.validate import validate_files
from janitr.errors import Problem

FIELDS = {"<line>", "id", "text", "labels"}

#: Any character, with lone surrogates (hypothesis leaves them out by default), control,
#: format and zero-width characters drawn often: the ones that broke the readers.
ANY_CHAR = st.characters(blacklist_categories=()) | st.sampled_from(
    ["\ud83d", "\ude00", "\udce9", "\x00", "\u200e", "\u00ad", "\u200b", "\ufeff", " ", "\n"]
)
TEXTS = st.lists(ANY_CHAR, max_size=30).map("".join)  # st.text() drops most surrogates
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXTS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXTS, inner, max_size=4),
    max_leaves=12,
)
LABELS = st.sampled_from(["clean", "scam", "topic_crypto", "Scam ", "nope", ""]) | TEXTS
ROWS = st.fixed_dictionaries(
    {},
    optional={
        "id": TEXTS | JSON_VALUES,
        "text": TEXTS | JSON_VALUES,
        "labels": st.lists(LABELS, max_size=3) | JSON_VALUES,
    },
)


def _check(result, *, line: int, require_labels: bool = True) -> None:
    if isinstance(result, Record):
        # What passed is safe downstream: writable as UTF-8, and classifiable.
        dump_row(result.raw).encode("utf-8")
        result.id.encode("utf-8")
        assert text_problem(result.norm_text) is None
        assert result.labels or not require_labels
        return
    assert isinstance(result, list) and result
    for problem in result:
        assert isinstance(problem, Problem)
        assert problem.path == "f.jsonl" and problem.line == line and problem.field in FIELDS
        assert str(problem).startswith(f"f.jsonl:{line}: {problem.field}: ")


#: JSON the parser itself gives up on: nesting past the recursion limit, integers past
#: `sys.get_int_max_str_digits()` digits, as a value and inside a row.
UNREADABLE = st.integers(1000, 100_000).map(lambda n: b"[" * n + b"]" * n) | st.integers(
    4301, 6000
).map(lambda n: b"9" * n)
UNREADABLE_ROWS = UNREADABLE.map(lambda v: b'{"id": "a", "text": "b", "labels": ' + v + b"}")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | UNREADABLE | UNREADABLE_ROWS)
def test_arbitrary_bytes(raw):
    _check(parse_row(raw, path="f.jsonl", line=3), line=3)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_arbitrary_json_values(value, ascii_only):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    _check(parse_row(raw, path="f.jsonl", line=1), line=1)


@settings(max_examples=300, deadline=None)
@given(TEXTS, TEXTS)
def test_arbitrary_text_and_id_in_a_valid_row(text, row_id):
    raw = json.dumps({"id": row_id, "text": text, "labels": ["clean"]}).encode()
    _check(parse_row(raw, path="f.jsonl", line=5), line=5)


@settings(max_examples=300, deadline=None)
@given(ROWS, st.booleans())
def test_row_shaped_objects(row, require_labels):
    raw = json.dumps(row).encode()
    result = parse_row(raw, path="f.jsonl", line=2, require_labels=require_labels)
    _check(result, line=2, require_labels=require_labels)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.binary(max_size=80) | ROWS.map(lambda r: json.dumps(r).encode()), max_size=8))
def test_validate_reports_every_line(tmp_path, lines):
    path = tmp_path / "f.jsonl"
    content = b"\n".join(line.replace(b"\n", b" ") for line in lines)
    path.write_bytes(content)
    report = validate_files([path])
    blank = not any(line.strip() for line in content.removeprefix(b"\xef\xbb\xbf").split(b"\n"))
    assert report.ok == (report.rows > 0 and not report.problems)
    for problem in report.problems:
        assert problem.path == str(path)
        if problem.line == 0:
            assert problem.field == "<file>" and blank
        else:
            assert 1 <= problem.line <= len(lines) and problem.field in FIELDS
