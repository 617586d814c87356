"""Functions read in one screen: none in `src/janitr` spans more than `MAX_LINES` lines
(`end_lineno - lineno`, docstring included), except the tables named in `TABLES`.

A long loop becomes setup / epoch / save functions; a long report becomes its pieces.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "janitr"
MAX_LINES = 80
#: Functions allowed to be longer because they are tables, with the reason.
TABLES = {
    "_add_crossval": "the argparse table of `janitr crossval`'s flags (one add_argument each)",
}


def long_functions(src: Path = SRC, max_lines: int = MAX_LINES) -> list[tuple[int, str]]:
    """(length, `file:line name`) of every function longer than `max_lines`, longest first."""
    found = []
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno
                if length > max_lines and node.name not in TABLES:
                    where = f"{path.relative_to(src.parent)}:{node.lineno} {node.name}"
                    found.append((length, where))
    return sorted(found, reverse=True)


def test_no_function_is_longer_than_a_screen():
    found = "\n".join(f"{n:4d} {where}" for n, where in long_functions())
    assert not found, f"functions over {MAX_LINES} lines:\n{found}"


def test_the_check_finds_a_long_function(tmp_path):
    pkg = tmp_path / "janitr"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (pkg / "m.py").write_text(
        f"def short():\n    return 1\n\n\ndef long():\n{body}\n    return 0\n"
    )
    assert [where for _, where in long_functions(pkg)] == ["janitr/m.py:5 long"]
