"""The raw tables and ingest's audit tables: created on first use, evolved by adding columns.

raw.<entity> holds the canonical columns, the load metadata of DESIGN.md (_export_date,
_source_file, _loaded_at, _row_hash) and the lineage columns (_source_layout, _extra). A column
added to the canonical model later is added to existing tables (ALTER TABLE ... ADD COLUMN IF NOT
EXISTS); nothing is ever dropped or rewritten.

audit.* (ingest's part):
- loads: one row per entity and export loaded (rows, file, layout, warnings, fingerprint);
- quarantined_exports: every export moved aside, with the error's file, line and column;
- ingest_errors: every failed ingest, quarantined or not (a broken mapping leaves the export);
- missing_exports: the calendar gaps found by the last check (date and why: missing,
  incomplete, quarantined);
- schema_drift: the first export in which each unknown source column appeared;
- export_lifecycle: every step of every export's lifecycle (landed, loaded, validated, published,
  quarantined, failed) with its time and reason (``pipecast.ingest.lifecycle``);
- unrecognised_folders: folders of the landing zone whose names are not export dates (last check).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import duckdb

from pipecast.canonical import (
    DECLARED_FEATURES_COLUMNS,
    ENTITIES,
    FEATURE_ENTITIES,
    FEATURES_COLUMN,
    LOAD_LINEAGE_COLUMNS,
    LOAD_METADATA_COLUMNS,
)
from pipecast.ingest.errors import IngestError
from pipecast.ingest.sql import ident

AUDIT_TABLES: dict[str, dict[str, str]] = {
    "loads": {
        "export_date": "DATE",
        "entity": "VARCHAR",
        "source_file": "VARCHAR",
        "row_count": "BIGINT",
        "loaded_at": "TIMESTAMP",
        "warnings": "VARCHAR",
        "source_layout": "VARCHAR",
        "fingerprint": "VARCHAR",
        "seconds": "DOUBLE",
    },
    "quarantined_exports": {
        "export_date": "DATE",
        "quarantined_at": "TIMESTAMP",
        "original_path": "VARCHAR",
        "quarantine_path": "VARCHAR",
        "file": "VARCHAR",
        "line": "BIGINT",
        "column_name": "VARCHAR",
        "reason": "VARCHAR",
    },
    "ingest_errors": {
        "export_date": "DATE",
        "failed_at": "TIMESTAMP",
        "file": "VARCHAR",
        "line": "BIGINT",
        "column_name": "VARCHAR",
        "reason": "VARCHAR",
        "quarantined": "BOOLEAN",
    },
    "missing_exports": {
        "export_date": "DATE",
        "status": "VARCHAR",
        "detected_at": "TIMESTAMP",
    },
    "export_lifecycle": {
        "export_date": "DATE",
        "state": "VARCHAR",
        "changed_at": "TIMESTAMP",
        "reason": "VARCHAR",
        "content_hash": "VARCHAR",
        "stat_fingerprint": "VARCHAR",
        "location": "VARCHAR",
    },
    "unrecognised_folders": {
        "name": "VARCHAR",
        "location": "VARCHAR",
        "detected_at": "TIMESTAMP",
    },
    "schema_drift": {
        "source_layout": "VARCHAR",
        "source": "VARCHAR",
        "column_name": "VARCHAR",
        "first_export_date": "DATE",
        "first_file": "VARCHAR",
        "detected_at": "TIMESTAMP",
    },
}


def _ensure(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> None:
    ddl = ", ".join(f"{ident(c)} {t}" for c, t in columns.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")
    existing = {r[0] for r in con.execute(f"SELECT * FROM {table} LIMIT 0").description}
    for column, sql_type in columns.items():
        if column not in existing:
            con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {ident(column)} {sql_type}")


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create or evolve raw.* and audit.* (idempotent; cheap when nothing changed)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    for entity in ENTITIES.values():
        features = {FEATURES_COLUMN: "VARCHAR"} if entity.name in FEATURE_ENTITIES else {}
        _ensure(
            con,
            f"raw.{ident(entity.name)}",
            {**entity.columns, **LOAD_METADATA_COLUMNS, **LOAD_LINEAGE_COLUMNS, **features},
        )
    _ensure(con, "raw.declared_features", DECLARED_FEATURES_COLUMNS)
    for name, columns in AUDIT_TABLES.items():
        _ensure(con, f"audit.{name}", columns)


def insert(con: duckdb.DuckDBPyConnection, table: str, row: dict) -> None:
    names = ", ".join(ident(c) for c in row)
    marks = ", ".join("?" for _ in row)
    con.execute(f"INSERT INTO audit.{table} ({names}) VALUES ({marks})", list(row.values()))


def record_failure(
    con: duckdb.DuckDBPyConnection,
    export_date: date,
    error: IngestError,
    *,
    original: str,
    quarantined_to: str | None,
    at: datetime,
) -> None:
    insert(
        con,
        "ingest_errors",
        {
            "export_date": export_date,
            "failed_at": at,
            "file": error.file,
            "line": error.line,
            "column_name": error.column,
            "reason": error.message,
            "quarantined": quarantined_to is not None,
        },
    )
    if quarantined_to is not None:
        insert(
            con,
            "quarantined_exports",
            {
                "export_date": export_date,
                "quarantined_at": at,
                "original_path": original,
                "quarantine_path": quarantined_to,
                "file": error.file,
                "line": error.line,
                "column_name": error.column,
                "reason": error.message,
            },
        )


def known_drift(con: duckdb.DuckDBPyConnection, layout: str) -> set[tuple[str, str]]:
    rows = con.execute(
        "SELECT source, column_name FROM audit.schema_drift WHERE source_layout = ?", [layout]
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


def replace_missing(con: duckdb.DuckDBPyConnection, gaps: Iterable[tuple[date, str]], at: datetime) -> None:
    """audit.missing_exports holds the gaps of the latest check, no more."""
    con.execute("DELETE FROM audit.missing_exports")
    for day, status in gaps:
        insert(con, "missing_exports", {"export_date": day, "status": status, "detected_at": at})
