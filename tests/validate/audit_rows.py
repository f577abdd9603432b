"""Reading audit.validation_results back in the validation tests."""

from __future__ import annotations

import duckdb
from pipecast.config import Settings

Failure = tuple[str, str, str | None, str]  # (suite, expectation_type, column_name, severity)


def failed(settings: Settings, run_id: str, stage: str | None = None) -> set[Failure]:
    """Every failed expectation of a run, from the audit table."""
    sql = (
        "SELECT suite, expectation_type, column_name, severity FROM audit.validation_results "
        "WHERE run_id = ? AND NOT success" + (" AND stage = ?" if stage else "")
    )
    con = duckdb.connect(str(settings.resolved_warehouse_path), read_only=True)
    try:
        return set(con.execute(sql, [run_id, stage] if stage else [run_id]).fetchall())
    finally:
        con.close()


def audit_count(settings: Settings, run_id: str | None = None, suite: str | None = None) -> int:
    con = duckdb.connect(str(settings.resolved_warehouse_path), read_only=True)
    try:
        sql, params = "SELECT count(*) FROM audit.validation_results WHERE true", []
        if run_id:
            sql, params = sql + " AND run_id = ?", [*params, run_id]
        if suite:
            sql, params = sql + " AND suite = ?", [*params, suite]
        return con.execute(sql, params).fetchone()[0]
    finally:
        con.close()
