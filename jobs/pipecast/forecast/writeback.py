"""Write forecasts to ml.* : re-running a night replaces that night's rows, never duplicates."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

ML_TABLES: dict[str, str] = {
    "opportunity_scores": """
        opportunity_id VARCHAR, as_of DATE, stage VARCHAR, amount DOUBLE, close_date DATE,
        win_probability DOUBLE, crm_probability DOUBLE, expected_amount DOUBLE,
        model_version VARCHAR, run_id VARCHAR, scored_at TIMESTAMP""",
    "revenue_forecast": """
        as_of DATE, period VARCHAR, period_start DATE, period_end DATE, method VARCHAR,
        closed_won_to_date DOUBLE, open_deals BIGINT, expected DOUBLE, p10 DOUBLE, p50 DOUBLE,
        p90 DOUBLE, model_version VARCHAR, run_id VARCHAR""",
    "model_runs": """
        run_id VARCHAR, as_of DATE, model_name VARCHAR, model_version VARCHAR, trained_at TIMESTAMP,
        train_rows BIGINT, first_cutoff DATE, last_cutoff DATE, features VARCHAR, model_path VARCHAR,
        is_current BOOLEAN""",
    "backtests": """
        run_id VARCHAR, as_of DATE, model_version VARCHAR, cutoff DATE, scope VARCHAR,
        forecaster VARCHAR, metric VARCHAR, value DOUBLE, n BIGINT""",
}


def ensure_ml_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ml")
    for name, ddl in ML_TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS ml.{name} ({ddl})")


def replace_night(con: duckdb.DuckDBPyConnection, table: str, as_of: date, frame: pd.DataFrame) -> int:
    """Delete the night's rows of ml.<table> and insert frame, in one transaction."""
    columns = [c.strip().split()[0] for c in ML_TABLES[table].split(",")]
    frame = frame[columns]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM ml.{table} WHERE as_of = ?", [as_of])
        con.register("_frame", frame)
        con.execute(f"INSERT INTO ml.{table} SELECT * FROM _frame")
        con.unregister("_frame")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(frame)
