"""records: streaming JSONL rows, problems with file and line, duplicate ids."""

from __future__ import annotations

import json

import pytest

from janitr.data.records import dump_row, iter_lines, parse_row, read_records, scan
from janitr.errors import DataError, Problem


def _write(path, lines: list[bytes]) -> str:
    path.write_bytes(b"".join(lines))
    return str(path)


def test_iter_lines_strips_bom_crlf_and_blank_lines(tmp_path):
    p = _write(tmp_path / "a.jsonl", [b'\xef\xbb\xbf{"a":1}\r\n', b"\r\n", b"   \n", b'{"b":2}'])
    assert list(iter_lines(p)) == [(1, b'{"a":1}'), (4, b'{"b":2}')]


def test_parse_row_valid_keeps_unknown_fields():
    rec = parse_row(b'{"id":"1","text":"Hi","labels":["Clean"],"extra":5}', path="f", line=3)
    assert rec.id == "1" and rec.labels == ("clean",) and rec.raw["extra"] == 5
    assert rec.gold == "clean" and rec.norm_text == "hi" and rec.line == 3


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (b"{not json", "<line>"),
        (b"[1,2]", "<line>"),
        (b"\xff\xfe{}", "<line>"),
        (b'{"text":"x","labels":["clean"]}', "id"),
        (b'{"id":"1","labels":["clean"]}', "text"),
        (b'{"id":"1","text":"  \\u200b ","labels":["clean"]}', "text"),
        (b'{"id":"1","text":"x"}', "labels"),
        (b'{"id":"1","text":"x","labels":[]}', "labels"),
        (b'{"id":"1","text":"x","labels":["nope"]}', "labels"),
    ],
)
def test_parse_row_problems_name_the_field(line, field):
    result = parse_row(line, path="f.jsonl", line=7)
    assert isinstance(result, list) and result
    assert result[0].field == field and str(result[0]).startswith("f.jsonl:7: ")


def test_scan_reports_duplicate_ids_across_files(tmp_path):
    a = _write(tmp_path / "a.jsonl", [b'{"id":"1","text":"x","labels":["clean"]}\n'])
    b = _write(tmp_path / "b.jsonl", [b'{"id":"1","text":"y","labels":["clean"]}\n'])
    items = list(scan([a, b]))
    problems = [i for i in items if isinstance(i, Problem)]
    assert len(items) == 2 and len(problems) == 1
    assert problems[0].path == b and "first at" in problems[0].message


def test_read_records_raises_with_every_problem(tmp_path):
    p = _write(tmp_path / "a.jsonl", [b"{bad\n", b'{"id":"2","text":"x"}\n'])
    with pytest.raises(DataError) as info:
        read_records(p)
    assert [pr.line for pr in info.value.problems] == [1, 2]


def test_dump_row_round_trips():
    row = {"id": "é", "text": "🚀 moon", "labels": ["clean"]}
    assert json.loads(dump_row(row)) == row and "🚀" in dump_row(row)
