"""Connections to the warehouse (DuckDB file by default)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipecast.config import Settings, get_settings

log = logging.getLogger(__name__)

SCHEMAS = ("raw", "ml", "audit")


@contextmanager
def connect(settings: Settings | None = None, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the DuckDB warehouse file, creating it and the schemas Python owns if needed.

    DuckDB has a single writer: every step opens, works and closes, so steps never overlap
    (Airflow serialises writers with a one-slot pool).
    """
    settings = settings or get_settings()
    path: Path = settings.resolved_warehouse_path
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        if not read_only:
            for schema in SCHEMAS:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        yield con
    finally:
        con.close()


def sqlalchemy_url(settings: Settings | None = None) -> str:
    """SQLAlchemy URL of the warehouse (used by Great Expectations' SQL datasource)."""
    settings = settings or get_settings()
    return f"duckdb:///{settings.resolved_warehouse_path}"


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])
