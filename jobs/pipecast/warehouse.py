"""Connections to the warehouse: a DuckDB file (the embedded default) or PostgreSQL.

``PIPECAST_TARGET`` picks the warehouse of record. dbt and Great Expectations talk to either
directly. The Python steps (ingest, forecast, report) compute in DuckDB either way: on DuckDB they
open the file itself; on PostgreSQL they work in a DuckDB workspace that holds the tables they
read, pulled from PostgreSQL, and push the rows they wrote back in one PostgreSQL transaction
(``workspace``; the copies are pipecast.pg_transfer's).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipecast.config import Settings

log = logging.getLogger(__name__)

SCHEMAS = ("raw", "ml", "audit")

# DuckDB connections inside a ``transaction`` block (by id): nested blocks join the outer one.
_IN_TRANSACTION: set[int] = set()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB transaction: committed when the block ends, rolled back when it raises. Inside
    another ``transaction`` on the same connection the block joins the outer one (DuckDB has no
    nested transactions or savepoints), so the outer block decides what commits."""
    key = id(con)
    if key in _IN_TRANSACTION:
        yield con
        return
    con.execute("BEGIN TRANSACTION")
    _IN_TRANSACTION.add(key)
    try:
        yield con
    except BaseException:
        _IN_TRANSACTION.discard(key)
        con.execute("ROLLBACK")
        raise
    _IN_TRANSACTION.discard(key)
    con.execute("COMMIT")


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the DuckDB warehouse file, creating it and the schemas Python owns if needed.

    DuckDB has a single writer: every step opens, works and closes, so steps never overlap
    (Airflow serialises writers with a one-slot pool).
    """
    path: Path = settings.resolved_warehouse_path
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only, config=duckdb_config(settings))
    try:
        if not read_only:
            for schema in SCHEMAS:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        yield con
    finally:
        con.close()


def duckdb_config(settings: Settings) -> dict[str, str]:
    """The Python steps' DuckDB bounds (settings ``duckdb_memory_limit``, ``duckdb_threads``)."""
    return {"memory_limit": settings.duckdb_memory_limit.strip(), "threads": str(settings.duckdb_threads)}


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class TableRows:
    """A table, or the rows of it that match ``where`` (``$1``-style parameters)."""

    schema: str
    table: str
    where: str = ""
    params: tuple[Any, ...] = ()


@dataclass
class Workspace:
    """A DuckDB connection to work in, and what to publish to the warehouse when done."""

    con: duckdb.DuckDBPyConnection
    target: str
    published: list[TableRows] = field(default_factory=list)

    def publish(self, schema: str, table: str, where: str = "", params: Sequence[Any] = ()) -> None:
        """Mark rows written in the workspace (and already committed there) for the warehouse.

        On DuckDB the workspace is the warehouse: nothing to do. On PostgreSQL the marked rows
        replace the warehouse's rows matching the same ``where`` when the workspace closes, all in
        one transaction, also when the block then raises (what was marked was committed), unless
        the workspace is atomic.
        """
        if self.target == "postgres":
            self.published.append(TableRows(schema, table, where, tuple(params)))


@contextmanager
def workspace(
    settings: Settings, pulls: Sequence[TableRows] = (), atomic: bool = False
) -> Iterator[Workspace]:
    """Where a Python step computes: the DuckDB warehouse itself, or (target postgres) an
    in-memory DuckDB holding ``pulls`` (relations PostgreSQL lacks are left out), whose
    published rows go to PostgreSQL on exit.

    ``atomic``: everything the block writes reaches the warehouse in one transaction, or nothing
    does (the block raised, or the process was killed): on DuckDB the block runs in one
    ``transaction`` (blocks inside it, e.g. writeback.replace_night, join it); on PostgreSQL the
    published rows are pushed in one transaction only when the block succeeded."""
    if settings.target == "duckdb":
        with connect(settings) as con:
            if atomic:
                with transaction(con):
                    yield Workspace(con, "duckdb")
            else:
                yield Workspace(con, "duckdb")
        return
    from pipecast.pg_transfer import pg_connect, pull

    temp = settings.state_dir / "tmp"
    temp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:", config={**duckdb_config(settings), "temp_directory": str(temp)})
    work = Workspace(con, "postgres")
    try:
        for schema in SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        if pulls:
            with pg_connect(settings) as pg, pg.cursor() as cursor:
                for rows in pulls:
                    pull(con, cursor, rows.schema, rows.table, rows.where, rows.params)
        succeeded = False
        try:
            yield work
            succeeded = True
        finally:
            if work.published and (succeeded or not atomic):
                _push_published(settings, con, work.published)
    finally:
        con.close()


def _push_published(settings: Settings, con: duckdb.DuckDBPyConnection, published: list[TableRows]) -> None:
    """Every marked table to PostgreSQL in one transaction: a failure or a kill on the way leaves
    the warehouse as it was (PostgreSQL rolls back a transaction whose connection drops)."""
    from pipecast.faults import pause_point
    from pipecast.pg_transfer import pg_connect, push

    with pg_connect(settings) as pg, pg.cursor() as cursor:
        for rows in published:
            push(con, cursor, rows.schema, rows.table, rows.where, rows.params)
            pause_point(f"publish:{rows.schema}.{rows.table}", settings)
    log.info("published %d table(s) to PostgreSQL", len(published))


def execute_on_target(settings: Settings, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Run statements (``$1``-style parameters) on the warehouse in one transaction."""
    if settings.target == "duckdb":
        with connect(settings) as con, transaction(con):
            for sql, params in statements:
                con.execute(sql, list(params))
        return
    from pipecast.pg_transfer import pg_connect

    with pg_connect(settings) as pg, pg.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, tuple(params))


def query_on_target(settings: Settings, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Rows of one query (``$1``-style parameters) on the warehouse."""
    if settings.target == "duckdb":
        with connect(settings) as con:
            return con.execute(sql, list(params)).fetchall()
    from pipecast.pg_transfer import pg_connect

    with pg_connect(settings) as pg, pg.cursor() as cursor:
        cursor.execute(sql, tuple(params))
        return [tuple(r) for r in cursor.fetchall()]
