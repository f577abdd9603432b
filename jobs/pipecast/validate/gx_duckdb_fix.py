"""Make Great Expectations' SQL datasource work on DuckDB (duckdb-engine).

The fault: with a SQL datasource on a DuckDB file, every expectation errors with ``IndexError`` in
``SqlAlchemyExecutionEngine.resolve_metric_bundle``. ``SqlAlchemyExecutionEngine.execute_query``
runs the query inside ``with self.get_connection() as connection:`` and returns the cursor result
*after* the block has closed the connection. Closing a SQLAlchemy connection rolls back its
(auto-begun) transaction; DuckDB then drops the pending rows, so ``fetchall()`` returns ``[]``.
PostgreSQL's driver fetches every row at execute time, which is why the fault never shows there.

The fix: wrap ``SqlAlchemyExecutionEngine._execute_query_with_recovery`` (the one place through
which ``execute_query`` and ``execute_query_in_transaction`` run a query while the connection is
still open) so that, on the ``duckdb`` dialect only, a row-returning result is read into a buffer
before the connection closes. That is what PostgreSQL's driver does anyway; results of other
dialects are returned untouched.

The buffer is bounded (``BUFFERED_ROWS``), so memory never grows with table size: GX's aggregate
metrics return a handful of rows, its value samples are LIMITed in SQL, and the one open-ended query
(``UnexpectedRowsExpectation``'s rows, read with ``fetchmany(MAX_RESULT_RECORDS)``) only ever reads
its first rows; DuckDB streams, so the rows past the buffer are never produced. A caller that reads
past the buffer of a longer result gets ``GxDuckDBFixError``, never a silently truncated result.
(``Result.freeze()``, the first version of this fix, copied every row: 5 GB for a 20M-row query.)

``apply()`` is idempotent and fails loudly (``GxDuckDBFixError``) if the installed GX version is not
one this was verified against, or if the function it wraps is missing, changed signature or is no
longer what ``execute_query`` calls. ``tests/validate/test_gx_duckdb_fix.py`` pins the upstream
fault: when it starts failing, GX or duckdb-engine has fixed the fault and this module can go.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import great_expectations
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData

log = logging.getLogger(__name__)

DIALECT = "duckdb"
# Versions on which the fault was reproduced and this fix verified (tests/validate/...).
VERIFIED_GX_VERSIONS: frozenset[str] = frozenset({"1.24.1"})

# Rows of one result kept while its connection is open: far above what GX reads of any result
# (MAX_RESULT_RECORDS), small enough to bound memory whatever the table size.
BUFFERED_ROWS = 10_000
assert BUFFERED_ROWS >= MAX_RESULT_RECORDS

_TARGET = "_execute_query_with_recovery"
_TARGET_PARAMETERS = ("connection", "query")
# The public methods that must run their query through _TARGET for the fix to take effect.
_CALLERS = ("execute_query", "execute_query_in_transaction")
_MARKER = "__pipecast_duckdb_fix__"

_ExecuteFn = Callable[[Any, Any], Any]


class GxDuckDBFixError(RuntimeError):
    """The upstream code this fix patches is not what it was verified against."""


def apply() -> None:
    """Install the fix (once; later calls are no-ops). Raises GxDuckDBFixError on any mismatch."""
    if is_applied():
        return
    original = _verified_target()
    setattr(SqlAlchemyExecutionEngine, _TARGET, staticmethod(_buffering(original)))
    log.debug("gx_duckdb_fix applied to SqlAlchemyExecutionEngine.%s", _TARGET)


def is_applied() -> bool:
    return getattr(_current_target(), _MARKER, False)


def remove() -> None:
    """Restore the upstream function (used by the test that pins the upstream fault)."""
    current = _current_target()
    if getattr(current, _MARKER, False):
        setattr(SqlAlchemyExecutionEngine, _TARGET, staticmethod(current.__wrapped__))


@contextmanager
def removed() -> Iterator[None]:
    """Run a block with upstream behaviour, re-applying the fix afterwards if it was applied."""
    was_applied = is_applied()
    remove()
    try:
        yield
    finally:
        if was_applied:
            apply()


def _current_target() -> Any:
    attr = SqlAlchemyExecutionEngine.__dict__.get(_TARGET)
    return attr.__func__ if isinstance(attr, staticmethod) else attr


def _verified_target() -> _ExecuteFn:
    version = great_expectations.__version__
    if version not in VERIFIED_GX_VERSIONS:
        raise GxDuckDBFixError(
            f"great-expectations {version} is not a version gx_duckdb_fix was verified against "
            f"({', '.join(sorted(VERIFIED_GX_VERSIONS))}). Run tests/validate/"
            "test_gx_duckdb_fix.py on it: if the upstream-fault tests fail, the fault is fixed "
            "and the patch can go; otherwise re-verify it and add the version to "
            "VERIFIED_GX_VERSIONS."
        )
    attr = SqlAlchemyExecutionEngine.__dict__.get(_TARGET)
    if not isinstance(attr, staticmethod):
        raise GxDuckDBFixError(
            f"SqlAlchemyExecutionEngine.{_TARGET} is missing or no longer a staticmethod; "
            "gx_duckdb_fix cannot be applied."
        )
    params = tuple(inspect.signature(attr.__func__).parameters)
    if params != _TARGET_PARAMETERS:
        raise GxDuckDBFixError(
            f"SqlAlchemyExecutionEngine.{_TARGET} signature changed: {params}, expected "
            f"{_TARGET_PARAMETERS}; gx_duckdb_fix cannot be applied."
        )
    for caller in _CALLERS:
        fn = getattr(SqlAlchemyExecutionEngine, caller, None)
        if fn is None or _TARGET not in fn.__code__.co_names:
            raise GxDuckDBFixError(
                f"SqlAlchemyExecutionEngine.{caller} no longer runs queries through {_TARGET}; "
                "gx_duckdb_fix would have no effect."
            )
    return attr.__func__


def _buffering(original: _ExecuteFn) -> _ExecuteFn:
    @functools.wraps(original)
    def execute_buffered(connection: Any, query: Any) -> Any:
        result = original(connection, query)
        if connection.dialect.name != DIALECT or not result.returns_rows:
            return result
        # Read the rows while the connection is still open; the copy replays them afterwards.
        return buffered(result, BUFFERED_ROWS)

    setattr(execute_buffered, _MARKER, True)
    return execute_buffered


def buffered(result: Any, limit: int) -> IteratorResult:
    """A detached copy of ``result``'s first ``limit`` rows; reading past them raises.

    Only ``limit + 1`` rows are fetched, whatever the query would return, and ``result`` is closed.
    """
    keys = list(result.keys())
    head = [tuple(row) for row in result.fetchmany(limit + 1)]
    result.close()
    truncated = len(head) > limit
    del head[limit:]

    def replay() -> Iterator[tuple[Any, ...]]:
        yield from head
        if truncated:
            raise GxDuckDBFixError(
                f"a query returned more than the {limit} rows gx_duckdb_fix buffers per DuckDB result "
                "and its caller read past them; GX reads at most "
                f"{MAX_RESULT_RECORDS} rows of a result, so a GX change reads whole results now. "
                "Re-verify the fix (tests/validate/test_gx_duckdb_fix.py)."
            )

    return IteratorResult(SimpleResultMetaData(keys), replay())
