"""The architecture as a test: layers import only layers below them, no cycles, no private
names across modules, and the runtime never reaches torch.

Every `import` statement of `src/janitr` counts, also those inside functions (a function-level
import is still a dependency; it only defers it). See docs/ARCHITECTURE.md for the diagram.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "janitr"

#: Bottom to top. A module may import its own layer and the layers below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "artifacts", "config"),
    ("data",),
    ("runtime",),
    ("evaluation",),
    ("baselines", "teacher", "student"),
    ("pipeline",),
    ("cli", "__init__", "__main__"),
)
#: Packages the runtime must never import, not even through another janitr module.
TRAINING_ONLY = ("torch", "transformers", "safetensors", "sentencepiece", "matplotlib")


def _module_name(path: Path, src: Path = SRC) -> str:
    parts = path.relative_to(src.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, src: Path = SRC) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) of every import statement in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path, src)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            out.append((module, [a.name for a in node.names], node.lineno))
    return out


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for index, members in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


def _janitr_target(module: str, names: list[str], modules=MODULES) -> list[str]:
    """The janitr modules an import statement depends on (a `from pkg import mod` names the
    submodule)."""
    if module != "janitr" and not module.startswith("janitr."):
        return []
    targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
    return targets or [module]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, names, _ in _imports(path):
            graph[module].update(t for t in _janitr_target(target, names) if t != module)
    return graph


def test_every_package_is_in_a_layer():
    for module in MODULES:
        _layer(module)


def upward_imports(src: Path = SRC) -> list[str]:
    """Every import of a module in a higher layer, as `file:line module -> dependency`."""
    modules = {_module_name(p, src): p for p in sorted(src.rglob("*.py"))}
    problems = []
    for module, path in modules.items():
        for target, names, line in _imports(path, src):
            for dep in _janitr_target(target, names, modules):
                if dep in modules and _layer(dep) > _layer(module):
                    problems.append(f"{path.relative_to(src.parent)}:{line} {module} -> {dep}")
    return problems


def test_layers_import_only_layers_below_them():
    problems = upward_imports()
    assert not problems, "imports of a higher layer:\n" + "\n".join(problems)


def test_no_module_imports_another_modules_private_names():
    problems = []
    for module, path in MODULES.items():
        for target, names, line in _imports(path):
            if target.startswith("janitr") and target != module:
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private:
                    problems.append(f"{path.relative_to(SRC.parent)}:{line} {target}: {private}")
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_runtime_never_reaches_training_packages():
    """Walk everything the runtime imports, transitively: no torch (or other `train` extra)."""
    graph = _graph()
    seen: set[str] = set()
    todo = [m for m in MODULES if m.startswith("janitr.runtime")]
    problems = []
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for target, _, line in _imports(MODULES[module]):
            if target.split(".")[0] in TRAINING_ONLY:
                problems.append(f"{module}:{line} imports {target}")
        todo += [d for d in graph[module] if d in MODULES]
    assert not problems, "\n".join(problems)
    assert not [m for m in seen if _layer(m) > _layer("janitr.runtime")]


def test_the_layer_check_reports_an_upward_import(tmp_path):
    """The check itself can fail: a runtime module importing a stage, even inside a function."""
    root = tmp_path / "janitr"
    (root / "runtime").mkdir(parents=True)
    (root / "pipeline").mkdir()
    for init in (root, root / "runtime", root / "pipeline"):
        (init / "__init__.py").write_text("")
    (root / "pipeline" / "stages.py").write_text("X = 1\n")
    (root / "runtime" / "bundle.py").write_text(
        "def load():\n    from janitr.pipeline import stages\n    return stages.X\n"
    )
    assert upward_imports(root) == [
        "janitr/runtime/bundle.py:2 janitr.runtime.bundle -> janitr.pipeline.stages"
    ]


def test_runtime_serves_fasttext_and_onnx_bundles_itself():
    """`Bundle.scorer()` imports a kind's scorer by name. fastText and ONNX bundles (what
    ships) are scored by the runtime; the teacher, torch-student and linear scorers need
    torch or scikit-learn and live with their trainers: the documented exception, imported
    only when such a bundle is loaded."""
    from janitr.runtime.bundle import KIND_MODULES

    outside = {
        kind
        for kind, module in KIND_MODULES.items()
        if _layer(module) > _layer(SRC.name + ".runtime")
    }
    assert outside == {"teacher", "student-torch", "linear", "embed"}
    assert KIND_MODULES["fasttext"] == "janitr.runtime.fasttext"
    assert KIND_MODULES["onnx"] == "janitr.runtime.onnx"
