"""The patch that makes GX's SQL datasource work on DuckDB, and the upstream fault it fixes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pytest
import sqlalchemy as sa
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from pipecast.validate import gx_duckdb_fix
from pipecast.validate.gx_duckdb_fix import GxDuckDBFixError
from sqlalchemy.pool import NullPool

UPSTREAM_FIXED = (
    "UPSTREAM FIXED: Great Expectations on DuckDB no longer loses query results without "
    "pipecast's patch. Delete jobs/pipecast/validate/gx_duckdb_fix.py, its apply() call in "
    "runner.py, this test file and the fact in ../shared/DESIGN.md."
)


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    path = tmp_path / "fix.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE deals AS SELECT 'D' || i AS id, (i % 7) * 10.0 AS amount FROM range(1000) t(i)")
    con.close()
    return f"duckdb:///{path}"


@pytest.fixture
def fix_applied() -> Iterator[None]:
    gx_duckdb_fix.apply()
    yield
    gx_duckdb_fix.apply()


# GX's default engine (a connection pool, as in the fault report) and the runner's (no pool),
# each with the error the upstream fault raises under it.
POOLS = {
    "default pool": ({}, "IndexError"),
    "NullPool (runner)": ({"poolclass": NullPool}, "No open result set"),
}


def validate_deals(url: str, engine_kwargs: dict[str, Any]) -> ExpectationSuiteValidationResult:
    """A 4-expectation suite on the DuckDB table, through GX's SQL datasource (in-database)."""
    context = gx.get_context(mode="ephemeral")
    datasource = context.data_sources.add_sql(name="duck", connection_string=url, kwargs=engine_kwargs)
    batch = datasource.add_table_asset(name="deals", table_name="deals").add_batch_definition_whole_table(
        "all"
    )
    suite = gx.ExpectationSuite(
        name="deals",
        expectations=[
            gxe.ExpectTableRowCountToBeBetween(min_value=1000, max_value=1000),
            gxe.ExpectColumnValuesToNotBeNull(column="id"),
            gxe.ExpectColumnValuesToBeUnique(column="id"),
            gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=60),
        ],
    )
    try:
        return batch.get_batch().validate(suite)
    finally:
        datasource.get_execution_engine().close()
        datasource.get_engine().dispose()


def raised_messages(result: ExpectationSuiteValidationResult) -> str:
    return " ".join(str(r.exception_info) for r in result.results if not r.success)


@pytest.mark.parametrize("pool", list(POOLS))
def test_suite_on_duckdb_passes_in_database_with_the_fix(
    pool: str, duckdb_url: str, fix_applied: None
) -> None:
    result = validate_deals(duckdb_url, POOLS[pool][0])

    assert result.success, raised_messages(result)
    assert result.statistics["successful_expectations"] == 4


@pytest.mark.parametrize("pool", list(POOLS))
def test_pins_upstream_fault_the_fix_exists_for(pool: str, duckdb_url: str) -> None:
    """PINS AN UPSTREAM FAULT: when this fails, GX/duckdb-engine fixed it; remove the patch.

    Needs no apply(), so it still tells on a GX version the patch refuses to run on.
    """
    engine_kwargs, error = POOLS[pool]
    with gx_duckdb_fix.removed():
        assert not gx_duckdb_fix.is_applied()
        result = validate_deals(duckdb_url, engine_kwargs)

    assert not result.success, UPSTREAM_FIXED
    assert result.statistics["successful_expectations"] == 0, UPSTREAM_FIXED
    assert error in raised_messages(result), UPSTREAM_FIXED


def test_pins_duckdb_dropping_rows_of_a_released_connection(duckdb_url: str) -> None:
    """PINS THE CAUSE: rows read after their (pooled) connection was released are gone."""
    engine = sa.create_engine(duckdb_url)
    with engine.connect() as connection:
        result = connection.execute(sa.text("SELECT count(*) FROM deals"))
    rows = result.fetchall()
    engine.dispose()

    assert rows == [], UPSTREAM_FIXED


def test_buffer_is_bounded_and_reading_past_it_fails_loudly(duckdb_url: str) -> None:
    engine = sa.create_engine(duckdb_url)
    with engine.connect() as connection:
        result = connection.execute(sa.text("SELECT id, amount FROM deals ORDER BY amount, id"))
        copy = gx_duckdb_fix.buffered(result, 10)
        assert result.closed
    engine.dispose()

    assert list(copy.keys()) == ["id", "amount"]
    head = copy.fetchmany(10)
    assert [row.id for row in head[:3]] == ["D0", "D105", "D112"]
    with pytest.raises(GxDuckDBFixError, match="more than the 10 rows"):
        copy.fetchone()


def test_a_result_within_the_buffer_replays_whole(duckdb_url: str) -> None:
    engine = sa.create_engine(duckdb_url)
    with engine.connect() as connection:
        copy = gx_duckdb_fix.buffered(connection.execute(sa.text("SELECT count(*) AS n FROM deals")), 10)
    engine.dispose()

    assert copy.mappings().all() == [{"n": 1000}]


def test_unexpected_rows_beyond_the_buffer_are_counted_not_read(
    duckdb_url: str, fix_applied: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GX reads at most 200 rows of an unexpected-rows query: a 1000-row result needs no more."""
    monkeypatch.setattr(gx_duckdb_fix, "BUFFERED_ROWS", 250)
    context = gx.get_context(mode="ephemeral")
    datasource = context.data_sources.add_sql(name="duck", connection_string=duckdb_url)
    asset = datasource.add_table_asset(name="deals", table_name="deals")
    suite = gx.ExpectationSuite(
        name="rows",
        expectations=[gxe.UnexpectedRowsExpectation(unexpected_rows_query="SELECT * FROM {batch}")],
    )
    try:
        result = asset.add_batch_definition_whole_table("all").get_batch().validate(suite)
    finally:
        datasource.get_execution_engine().close()
        datasource.get_engine().dispose()

    assert not result.success
    assert result.results[0].result["observed_value"] == 1000, raised_messages(result)


def test_apply_is_idempotent(fix_applied: None) -> None:
    gx_duckdb_fix.apply()
    gx_duckdb_fix.apply()

    patched = SqlAlchemyExecutionEngine.__dict__["_execute_query_with_recovery"].__func__
    assert getattr(patched, "__pipecast_duckdb_fix__", False)
    assert not getattr(patched.__wrapped__, "__pipecast_duckdb_fix__", False)


def test_other_dialects_get_the_upstream_result(fix_applied: None) -> None:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        result = SqlAlchemyExecutionEngine._execute_query_with_recovery(connection, sa.text("SELECT 1"))
        assert isinstance(result, sa.CursorResult)
        assert result.scalar() == 1


@pytest.fixture
def fix_removed(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Upstream code without the patch; monkeypatch undoes the test's changes first."""
    with gx_duckdb_fix.removed():
        with monkeypatch.context() as patch:
            yield patch


def test_unverified_gx_version_fails_loudly(fix_removed: pytest.MonkeyPatch) -> None:
    fix_removed.setattr(gx, "__version__", "1.99.0")
    with pytest.raises(GxDuckDBFixError, match="1.99.0 is not a version"):
        gx_duckdb_fix.apply()


def test_missing_upstream_function_fails_loudly(fix_removed: pytest.MonkeyPatch) -> None:
    fix_removed.delattr(SqlAlchemyExecutionEngine, "_execute_query_with_recovery")
    with pytest.raises(GxDuckDBFixError, match="missing"):
        gx_duckdb_fix.apply()


def test_changed_signature_fails_loudly(fix_removed: pytest.MonkeyPatch) -> None:
    def changed(connection: Any, query: Any, retries: int = 1) -> None:
        return None

    fix_removed.setattr(SqlAlchemyExecutionEngine, "_execute_query_with_recovery", staticmethod(changed))
    with pytest.raises(GxDuckDBFixError, match="signature changed"):
        gx_duckdb_fix.apply()


def test_bypassed_upstream_function_fails_loudly(fix_removed: pytest.MonkeyPatch) -> None:
    def execute_query(self: SqlAlchemyExecutionEngine, query: Any) -> Any:
        with self.get_connection() as connection:
            return connection.execute(query)

    fix_removed.setattr(SqlAlchemyExecutionEngine, "execute_query", execute_query)
    with pytest.raises(GxDuckDBFixError, match="no longer runs queries through"):
        gx_duckdb_fix.apply()
