"""Settings are read once, at the entry points, and passed down explicitly.

The entry points are what a user or a scheduler calls: the CLI (pipecast.cli), the public functions
of pipecast.pipeline (which the CLI and the DAG tasks call), the DAG helpers of
pipecast.orchestration.nightly and Airflow's callbacks (pipecast.orchestration.alerts). Only these
read the process's settings (``get_settings()``), and only the first three may default a
``settings`` argument to them (``settings or get_settings()``). Every function below takes
``settings: Settings`` and is given it, so what a step reads is visible in its signature and a test
passes its own settings without touching the environment.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "jobs" / "pipecast"
# Every folder of Python the project runs (tests and scripts too: a test helper that defaults its
# settings hides which warehouse it writes to).
SCANNED = [PACKAGE, ROOT / "expectations", ROOT / "dags", ROOT / "tests", ROOT / "bench"]

# Modules that may read the settings, and the functions that may default a settings argument.
DEFAULTING = {"pipecast.pipeline", "pipecast.orchestration.nightly"}
READERS = {*DEFAULTING, "pipecast.cli", "pipecast.orchestration.alerts"}


def _is_get_settings(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "get_settings") or (
        isinstance(func, ast.Attribute) and func.attr == "get_settings"
    )


def settings_reads(source: str, filename: str = "<source>") -> Iterator[tuple[str, int, bool]]:
    """(enclosing function, line, defaulted) of every ``get_settings()`` call in ``source``;
    ``defaulted``: the call is the right side of an ``or`` (``x or get_settings()``)."""
    tree = ast.parse(source, filename)
    defaults = {
        id(value)
        for node in ast.walk(tree)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or)
        for value in node.values[1:]
    }

    def walk(node: ast.AST, function: str) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield from walk(child, f"{function}.{child.name}" if function else child.name)
                continue
            if _is_get_settings(child):
                yield function or "<module>", child.lineno, id(child) in defaults
            yield from walk(child, function)

    yield from walk(tree, "")


def _module_name(path: Path) -> str:
    if path.is_relative_to(PACKAGE):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        return ".".join(parts).removesuffix(".__init__")
    return str(path.relative_to(ROOT))


@cache
def _all_reads() -> list[tuple[str, str, int, bool]]:
    reads = []
    for folder in SCANNED:
        for path in sorted(folder.rglob("*.py")):
            if any(part.startswith(".") or part in {"node_modules", "__pycache__"} for part in path.parts):
                continue
            module = _module_name(path)
            reads += [(module, f, line, d) for f, line, d in settings_reads(path.read_text(), str(path))]
    return reads


def _is_entry_point(module: str, function: str) -> bool:
    """A public top-level function of a module that may default its settings."""
    return module in DEFAULTING and "." not in function and not function.startswith("_")


def test_no_function_defaults_its_settings_outside_the_entry_points():
    reads = _all_reads()
    defaulted = [(m, f, line) for m, f, line, d in reads if d]
    # the scan sees the entry points' defaults (a scan that finds nothing proves nothing)
    assert ("pipecast.pipeline", "ingest") in {(m, f) for m, f, _ in defaulted}
    outside = [f"{m}:{line} ({f})" for m, f, line in defaulted if not _is_entry_point(m, f)]
    assert not outside, (
        "`settings or get_settings()` outside the entry points: take `settings: Settings` "
        "(required) and let the caller pass it: " + ", ".join(outside)
    )


def test_inside_jobs_only_the_entry_points_read_the_settings():
    reads = [(m, f, line) for m, f, line, _ in _all_reads() if m.startswith("pipecast.")]
    assert {m for m, _, _ in reads} <= READERS | {"pipecast.config"}, sorted(
        f"{m}:{line} ({f})" for m, f, line in reads if m not in READERS | {"pipecast.config"}
    )


def test_the_scan_finds_a_default_and_where_it_is():
    source = (
        "def connect(settings=None):\n"
        "    settings = settings or get_settings()\n"
        "class Job:\n"
        "    def run(self, s=None):\n"
        "        return config.get_settings()\n"
    )
    assert list(settings_reads(source)) == [("connect", 2, True), ("Job.run", 5, False)]
    assert _is_entry_point("pipecast.pipeline", "ingest")
    assert not _is_entry_point("pipecast.pipeline", "_ingest")
    assert not _is_entry_point("pipecast.warehouse", "connect")
