"""Layers import downward only: no import circle inside jobs/pipecast, nor through the suites of
expectations/ (the package pipecast_expectations, which imports pipecast and is imported by it).

Every ``import`` and ``from ... import`` of a pipecast module counts, also those inside functions
(deferred imports hide a circle from Python's import machinery, not from a reader) and relative
ones. A package's own ``__init__`` is not an edge from its modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"pipecast": ROOT / "jobs" / "pipecast", "pipecast_expectations": ROOT / "expectations"}


def _modules() -> dict[str, Path]:
    modules = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = (package, *path.relative_to(folder).with_suffix("").parts)
            modules[".".join(parts).removesuffix(".__init__")] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """module -> the pipecast modules it imports (anywhere in its body)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package, up level - 1 packages
                    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}".rstrip(".")
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for target in targets:
                resolved = resolve(target) if target.startswith("pipecast") else None
                if resolved and resolved != name and not name.startswith(f"{resolved}."):
                    graph[name].add(resolved)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_circle_inside_pipecast():
    graph = import_graph()
    assert len(graph) > 50 and any(graph.values())
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_graph_holds_the_suites_and_their_relative_imports():
    graph = import_graph()
    assert "pipecast_expectations.raw_suites" in graph["pipecast.validate.raw"]
    assert {"pipecast_expectations.accepted_values", "pipecast.validate.drift"} <= graph[
        "pipecast_expectations.raw_suites"
    ]


def test_the_circle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_targets_module_sits_at_the_bottom():
    """How to reach the warehouse is declared once, below everything that connects to it."""
    graph = import_graph()
    assert graph["pipecast.targets"] <= {"pipecast.config"}
    for user in ("pipecast.pg_transfer", "pipecast.validate.target"):
        assert "pipecast.targets" in graph[user]
