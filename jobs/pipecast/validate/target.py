"""The warehouse as SQLAlchemy sees it, for DuckDB and PostgreSQL alike.

Great Expectations, the audit writes and the few context queries of the validation stage (which
tables exist, the previous export's row count) all go through one SQLAlchemy URL, so validation
runs unchanged on either target. Engines use no pool and are disposed after each use: DuckDB has a
single writer, and a connection left open would block the next step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from pipecast.config import Settings
from pipecast.targets import duckdb_url, postgres_url


def warehouse_url(settings: Settings) -> str:
    """SQLAlchemy URL of the warehouse the validation stage reads and audits into."""
    if settings.validation_warehouse_url:
        return settings.validation_warehouse_url
    if settings.target == "duckdb":
        return duckdb_url(settings)
    return postgres_url(settings).render_as_string(hide_password=False)


def dialect(url: str) -> str:
    return make_url(url).get_backend_name()


def engine_options(settings: Settings) -> dict[str, Any]:
    """``create_engine`` keyword arguments for the warehouse, GX's datasource and ours alike.

    On DuckDB, the connection's memory_limit (``validation_duckdb_memory_limit``). Every engine of a
    validation run must pass the same options: DuckDB refuses a second connection to an open file
    with another configuration.
    """
    limit = settings.validation_duckdb_memory_limit
    if dialect(warehouse_url(settings)) != "duckdb" or limit is None:
        return {}
    return {"connect_args": {"config": {"memory_limit": limit.strip()}}}


@contextmanager
def engine(settings: Settings) -> Iterator[Engine]:
    """A pool-less engine on the warehouse, disposed on exit."""
    created = sa.create_engine(warehouse_url(settings), poolclass=NullPool, **engine_options(settings))
    try:
        yield created
    finally:
        created.dispose()


@contextmanager
def connection(settings: Settings) -> Iterator[Connection]:
    """One read connection (its transaction is rolled back on exit)."""
    with engine(settings) as created, created.connect() as conn:
        yield conn


def scalar(conn: Connection, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    return conn.execute(sa.text(sql), dict(params or {})).scalar()


def table_exists(conn: Connection, schema: str, table: str) -> bool:
    return bool(
        scalar(
            conn,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = :s AND table_name = :t",
            {"s": schema, "t": table},
        )
    )


def table_columns(conn: Connection, schema: str, table: str) -> dict[str, str]:
    """Column name -> SQL type (as the database spells it), in table order; empty: no such table."""
    rows = conn.execute(
        sa.text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"
        ),
        {"s": schema, "t": table},
    )
    return {r[0]: str(r[1]) for r in rows}
