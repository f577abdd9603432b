"""How to reach the warehouse: its URLs on each target, from the settings alone.

The bottom layer beside ``config``: ``warehouse`` (DuckDB connections and workspaces),
``pg_transfer`` (ADBC to PostgreSQL), ``validate.target`` (SQLAlchemy for Great Expectations) and
``ingest.night_lock`` all take their addresses from here, and dbt's profile reads the same
PIPECAST_* settings. Nothing here imports another pipecast module but ``config``.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from pipecast.config import Settings


def duckdb_url(settings: Settings) -> str:
    """SQLAlchemy URL of the DuckDB warehouse file."""
    return f"duckdb:///{settings.resolved_warehouse_path}"


def postgres_url(settings: Settings) -> URL:
    """SQLAlchemy URL of the PostgreSQL warehouse from the ``pg_*`` settings (PIPECAST_PG_*, as
    dbt reads them)."""
    return URL.create(
        "postgresql+psycopg2",
        username=settings.pg_user,
        password=settings.pg_password or None,
        host=settings.pg_host,
        port=settings.pg_port,
        database=settings.pg_database,
    )


def libpq_uri(settings: Settings, hide_password: bool = False) -> str:
    """The PostgreSQL warehouse as a libpq URI (ADBC, psycopg2)."""
    return postgres_url(settings).set(drivername="postgresql").render_as_string(hide_password=hide_password)
