"""The package's layout: no module imports another that imports it back, and no module is too long.

Read with ``ast`` from the sources, so function-level (lazy) imports and those
under ``if TYPE_CHECKING:`` count too: a cycle that only closes on first use
is still a cycle for whoever reads the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "proxycache"
MAX_LINES = 450
#: Modules allowed over MAX_LINES, each with the reason. Nothing else may be.
LONG_ALLOWED: set[str] = set()


def _modules() -> dict[str, Path]:
    return {path.stem: path for path in sorted(PACKAGE.glob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules *name* imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y / from . import x
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
            elif node.level == 0 and node.module and node.module.split(".")[0] == "proxycache":
                parts = node.module.split(".")
                if len(parts) > 1:
                    found.add(parts[1])
                else:
                    found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "proxycache" and len(parts) > 1:
                    found.add(parts[1])
    # "from . import x" names a module only when x is one; "__init__" is the package itself.
    return {module for module in found if module in known and module != name and module != "__init__"}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items() if name != "__init__"}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (``a -> b -> a``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_import_graph_is_read() -> None:
    graph = _graph()
    assert "_storage" in graph["_method"]  # a module-level import
    assert "_shared" in graph["_method"]  # a function-level one (loaded by those who pass store=)


def test_no_import_cycle_among_the_modules() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_reports_the_path() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_is_over_the_line_budget() -> None:
    lines = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in _modules().values()}
    over = {name: n for name, n in lines.items() if n > MAX_LINES and name not in LONG_ALLOWED}
    assert not over, f"modules over {MAX_LINES} lines (split them by idea): {over}"
    stale = {name for name in LONG_ALLOWED if lines.get(name, 0) <= MAX_LINES}
    assert not stale, f"{stale} no longer over {MAX_LINES} lines (or gone): drop it from LONG_ALLOWED"
