"""The core's modules import each other without a cycle, counting imports inside functions (but
not those only type checkers see), and reach the registry without the ``plugnet`` façade."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core"


def _module_name(file: Path) -> str:
    parts = file.relative_to(CORE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement except those under ``if TYPE_CHECKING:``."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            hidden.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in hidden
    ]


def import_graph() -> dict[str, set[str]]:
    """Module → the core modules it imports (``from plugnet import x`` counts as ``plugnet.x``
    when that is a module, else as the package)."""
    files = {_module_name(f): f for f in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, file in files.items():
        for node in _runtime_imports(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name] |= {alias.name for alias in node.names if alias.name in files}
            elif node.level == 0 and node.module in files:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    graph[name].add(sub if sub in files else node.module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_core_has_no_import_cycle() -> None:
    graph = import_graph()
    assert graph.get("plugnet.network")  # the walk found imports
    found = cycles(graph)
    assert not found, "import cycles among core modules: " + "; ".join(
        " ↔ ".join(cycle) for cycle in found
    )


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_core_modules_do_not_use_the_facade() -> None:
    """Inside the core, ``import plugnet`` (to call plugnet.registry() and the like) would make
    every module depend on the package's __init__; they import the module they need."""
    offenders = []
    for file in CORE.rglob("*.py"):
        if file.name == "scaffold.py":  # its templates are a generated plugin's code
            continue
        for node in _runtime_imports(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import) and any(a.name == "plugnet" for a in node.names):
                offenders.append(f"{file.relative_to(CORE)}:{node.lineno}")
    assert not offenders, f"`import plugnet` inside the core: {offenders}"
