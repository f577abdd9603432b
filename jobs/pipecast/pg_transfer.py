"""Bulk moves between DuckDB, pipecast's compute engine, and a PostgreSQL warehouse.

With ``PIPECAST_TARGET=postgres`` the warehouse of record is PostgreSQL, but the Python steps keep
computing in DuckDB (parsing exports, building features): they pull the tables they read into a
DuckDB workspace and push back the rows they wrote (see ``pipecast.warehouse.workspace``). Rows
travel as Arrow record batches through ADBC's PostgreSQL driver, which writes with COPY in binary
format, so nothing is converted row by row in Python.

SQL given here uses ``$1, $2, ...`` parameters: DuckDB and PostgreSQL both read that style.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb

from pipecast.config import Settings
from pipecast.targets import libpq_uri

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# DuckDB's type names -> PostgreSQL's (the rest, e.g. BIGINT, DATE, BOOLEAN, are spelled alike).
_PG_TYPES = {
    "VARCHAR": "text",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "HUGEINT": "numeric(38, 0)",
    "UBIGINT": "numeric(20, 0)",
    "UINTEGER": "bigint",
    "USMALLINT": "integer",
    "UTINYINT": "smallint",
    "TINYINT": "smallint",
    "BLOB": "bytea",
    "UUID": "uuid",
}


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def _relation(schema: str, table: str) -> str:
    return f"{_ident(schema)}.{_ident(table)}"


def pg_type(duckdb_type: str) -> str:
    """The PostgreSQL column type for a DuckDB column type."""
    upper = duckdb_type.upper()
    if upper.startswith("DECIMAL"):
        return upper.replace("DECIMAL", "numeric")
    return _PG_TYPES.get(upper, duckdb_type)


@contextmanager
def pg_connect(settings: Settings) -> Iterator[Any]:
    """An ADBC connection to the PostgreSQL warehouse, in a transaction committed on success."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(libpq_uri(settings)) as conn:
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


# The same catalogue query on both sides ($1-style parameters read alike).
_COLUMNS_SQL = (
    "select column_name, data_type from information_schema.columns "
    "where table_schema = $1 and table_name = $2 order by ordinal_position"
)


def pg_columns(cursor: Any, schema: str, table: str) -> dict[str, str]:
    """Column name -> PostgreSQL data type of a table or view, in order; empty when it is absent."""
    cursor.execute(_COLUMNS_SQL, (schema, table))
    return {name: data_type for name, data_type in cursor.fetchall()}


def _duck_columns(duck: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    return {name: data_type for name, data_type in duck.execute(_COLUMNS_SQL, [schema, table]).fetchall()}


def pull(
    duck: duckdb.DuckDBPyConnection,
    cursor: Any,
    schema: str,
    table: str,
    where: str = "",
    params: Sequence[Any] = (),
) -> int | None:
    """Copy a PostgreSQL table or view (the rows matching ``where``) into DuckDB as the table
    ``schema.table``; return its rows, or None when PostgreSQL has no such relation.

    numeric columns arrive as DOUBLE (ADBC hands PostgreSQL's numeric over as text).
    """
    relation = _relation(schema, table)  # refuses anything but plain names, before any SQL
    columns = pg_columns(cursor, schema, table)
    if not columns:
        return None
    select = ", ".join(
        f"{_ident(c)}::double precision as {_ident(c)}" if t == "numeric" else _ident(c)
        for c, t in columns.items()
    )
    cursor.execute(f"select {select} from {relation} {where}", tuple(params))
    rows = cursor.fetch_arrow_table()
    duck.execute(f"create schema if not exists {_ident(schema)}")
    duck.register("_pipecast_pulled", rows)
    try:
        duck.execute(f"create or replace table {_relation(schema, table)} as select * from _pipecast_pulled")
    finally:
        duck.unregister("_pipecast_pulled")
    return rows.num_rows


def ensure_pg_table(cursor: Any, schema: str, table: str, columns: dict[str, str]) -> None:
    """Create ``schema.table`` in PostgreSQL with DuckDB's columns, or add the ones it lacks."""
    cursor.execute(f"create schema if not exists {_ident(schema)}")
    existing = pg_columns(cursor, schema, table)
    if not existing:
        ddl = ", ".join(f"{_ident(c)} {pg_type(t)}" for c, t in columns.items())
        cursor.execute(f"create table if not exists {_relation(schema, table)} ({ddl})")
        return
    for column, duck_type in columns.items():
        if column not in existing:
            cursor.execute(
                f"alter table {_relation(schema, table)} add column if not exists "
                f"{_ident(column)} {pg_type(duck_type)}"
            )


class PushFailed(RuntimeError):
    """PostgreSQL refused or failed a push; names the table and PostgreSQL's SQLSTATE."""

    def __init__(self, schema: str, table: str, message: str, sqlstate: str | None = None) -> None:
        self.schema = schema
        self.table = table
        self.sqlstate = sqlstate
        self.detail = message
        super().__init__(f"{schema}.{table}: {message}" + (f" (SQLSTATE {sqlstate})" if sqlstate else ""))

    @property
    def data_error(self) -> bool:
        """The rows are at fault (SQLSTATE class 22, data exception: e.g. ``invalid byte sequence
        for encoding "UTF8": 0x00``; 23, integrity), not the server or the connection."""
        return bool(self.sqlstate) and self.sqlstate[:2] in ("22", "23")


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    if state:
        return str(state)
    match = re.search(r"SQLSTATE:? ?([0-9A-Z]{5})", str(exc))
    return match.group(1) if match else None


def push(
    duck: duckdb.DuckDBPyConnection,
    cursor: Any,
    schema: str,
    table: str,
    where: str = "",
    params: Sequence[Any] = (),
    batch_rows: int = 250_000,
) -> int:
    """``_push`` (below); a failure of PostgreSQL's side is raised as PushFailed naming the table."""
    import adbc_driver_manager

    try:
        return _push(duck, cursor, schema, table, where, params, batch_rows)
    except adbc_driver_manager.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PushFailed(schema, table, first, _sqlstate(exc)) from exc


def _push(
    duck: duckdb.DuckDBPyConnection,
    cursor: Any,
    schema: str,
    table: str,
    where: str = "",
    params: Sequence[Any] = (),
    batch_rows: int = 250_000,
) -> int:
    """Make PostgreSQL's rows of ``schema.table`` that match ``where`` (all rows when empty) equal
    DuckDB's rows that match it: delete, then COPY in, within the caller's transaction.

    The table is created, or given DuckDB's new columns, first. Rows stream in record batches.
    """
    _relation(schema, table)  # refuses anything but plain names, before any SQL
    columns = _duck_columns(duck, schema, table)
    if not columns:
        raise ValueError(f"{schema}.{table} is not in the DuckDB workspace")
    ensure_pg_table(cursor, schema, table, columns)
    cursor.execute(f"delete from {_relation(schema, table)} {where}", tuple(params))
    names = ", ".join(_ident(c) for c in columns)
    [(count,)] = duck.execute(
        f"select count(*) from {_relation(schema, table)} {where}", list(params)
    ).fetchall()
    if count:
        query = f"select {names} from {_relation(schema, table)} {where}"
        reader = duck.sql(query, params=list(params) or None).to_arrow_reader(batch_rows)
        cursor.adbc_ingest("_pipecast_push", reader, mode="replace", temporary=True)
        cursor.execute(f"insert into {_relation(schema, table)} ({names}) select {names} from _pipecast_push")
        cursor.execute("drop table _pipecast_push")
    log.debug("pushed %s rows to %s.%s %s", count, schema, table, where)
    return int(count)
