"""Write forecasts to ml.*: every row carries as_of, run_id and model_version; re-running a night
replaces that night's rows, never duplicates.

A night is written all at once or not at all: the forecast job runs in an atomic workspace
(pipecast.warehouse.workspace), so every ``replace_night`` of the night joins one transaction on
DuckDB, and on PostgreSQL the night's tables are pushed in one transaction. A kill before the
commit leaves the previous nights exactly as they were.

Tables grow new columns in place (ALTER TABLE ADD COLUMN), so a warehouse written by an older
version keeps its history.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from pipecast.config import Settings
from pipecast.faults import pause_point
from pipecast.warehouse import transaction

# A score's top three drivers in plain words ("name = value"), their log-odds effects, and every
# driver's effect as JSON (pipecast.forecast.explain.top_drivers): deals' and leads' alike.
DRIVER_COLUMNS = """
        driver_1 VARCHAR, driver_1_effect DOUBLE, driver_2 VARCHAR, driver_2_effect DOUBLE,
        driver_3 VARCHAR, driver_3_effect DOUBLE, drivers VARCHAR"""

ML_TABLES: dict[str, str] = {
    "opportunity_scores": f"""
        opportunity_id VARCHAR, as_of DATE, segment VARCHAR, owner_id VARCHAR, account_id VARCHAR,
        stage VARCHAR, forecast_category VARCHAR, amount DOUBLE, close_date DATE,
        win_probability DOUBLE, crm_probability DOUBLE, expected_amount DOUBLE,
        p_close_this_period_if_won DOUBLE, p_close_next_period_if_won DOUBLE,
        p_won_this_period DOUBLE, p_won_next_period DOUBLE, this_period VARCHAR, next_period VARCHAR,
        {DRIVER_COLUMNS.strip()},
        model_version VARCHAR, run_id VARCHAR, scored_at TIMESTAMP""",
    "revenue_forecast": """
        as_of DATE, period VARCHAR, period_start DATE, period_end DATE, horizon VARCHAR, method VARCHAR,
        closed_won_to_date DOUBLE, open_deals BIGINT, open_pipeline_expected DOUBLE,
        new_business_expected DOUBLE, expected DOUBLE, p10 DOUBLE, p50 DOUBLE, p90 DOUBLE,
        target DOUBLE, model_version VARCHAR, run_id VARCHAR""",
    "revenue_forecast_segments": """
        as_of DATE, period VARCHAR, period_start DATE, period_end DATE, horizon VARCHAR, segment VARCHAR,
        closed_won_to_date DOUBLE, open_deals BIGINT, open_pipeline_expected DOUBLE,
        new_business_expected DOUBLE, expected DOUBLE, p10 DOUBLE, p50 DOUBLE, p90 DOUBLE,
        stage_weighted DOUBLE, commit DOUBLE, best_case DOUBLE, target DOUBLE,
        model_version VARCHAR, run_id VARCHAR""",
    "product_propensity": """
        as_of DATE, account_id VARCHAR, product_id VARCHAR, product_family VARCHAR, propensity DOUBLE,
        propensity_rank INTEGER, segment_baseline DOUBLE, model_version VARCHAR, run_id VARCHAR""",
    "lead_scores": f"""
        as_of DATE, lead_id VARCHAR, lead_source VARCHAR, campaign VARCHAR, owner_id VARCHAR,
        created_at TIMESTAMP, age_days INTEGER, conversion_probability DOUBLE, source_baseline DOUBLE,
        model_version VARCHAR, run_id VARCHAR, {DRIVER_COLUMNS.strip()}""",
    "model_runs": """
        run_id VARCHAR, as_of DATE, model_name VARCHAR, model_version VARCHAR, recipe_id VARCHAR,
        recipe VARCHAR, trained_at TIMESTAMP, train_rows BIGINT, first_cutoff DATE, last_cutoff DATE,
        features VARCHAR, metrics VARCHAR, score DOUBLE, decision VARCHAR, current_version VARCHAR,
        model_path VARCHAR, mlflow_run_id VARCHAR, is_current BOOLEAN, model_sha256 VARCHAR,
        fallback_reason VARCHAR, horizons VARCHAR""",
    "backtests": """
        run_id VARCHAR, as_of DATE, model_version VARCHAR, cutoff DATE, period VARCHAR, scope VARCHAR,
        forecaster VARCHAR, metric VARCHAR, value DOUBLE, n BIGINT""",
    "forecast_ledger": """
        run_id VARCHAR, as_of DATE, model_version VARCHAR, cutoff DATE, period VARCHAR,
        period_start DATE, period_end DATE, horizon VARCHAR, segment VARCHAR, forecaster VARCHAR,
        expected DOUBLE, p10 DOUBLE, p50 DOUBLE, p90 DOUBLE, closed_won_to_date DOUBLE, actual DOUBLE,
        abs_error DOUBLE, within_p10_p90 BOOLEAN, sd_independent DOUBLE, shared_spread DOUBLE""",
}


# The prediction tables among them, with the key of a night's rows in each: what the predictions
# checkpoint validates (expectations/prediction_suites.py). The other tables record runs and scores.
PREDICTION_KEYS: dict[str, tuple[str, ...]] = {
    "opportunity_scores": ("opportunity_id",),
    "revenue_forecast": ("period", "method"),
    "revenue_forecast_segments": ("period", "segment"),
    "product_propensity": ("account_id", "product_id"),
    "lead_scores": ("lead_id",),
}
# dbt's documentation of these tables (source ml): generated from ML_TABLES, checked by a test.
SOURCES_YML = "models/forecast/_forecast__sources.yml"


def columns_of(table: str, ddl: str | None = None) -> list[tuple[str, str]]:
    """(column, type) of ml.<table>: ``ddl``, else its entry in ML_TABLES."""
    ddl = ML_TABLES[table] if ddl is None else ddl
    return [tuple(c.split()[:2]) for c in (part.strip() for part in ddl.split(",")) if c]


def table_columns(frame: pd.DataFrame, table: str, ddl: str | None = None) -> list[str]:
    """The columns of ml.<table> (``columns_of``) that ``frame`` has, in the table's order."""
    return [column for column, _ in columns_of(table, ddl) if column in frame.columns]


def ensure_ml_tables(con: duckdb.DuckDBPyConnection, tables: Mapping[str, str] | None = None) -> None:
    """Create (or grow) the ml tables: ML_TABLES, or ``tables`` (name -> columns)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ml")
    for name, ddl in (ML_TABLES if tables is None else tables).items():
        con.execute(f"CREATE TABLE IF NOT EXISTS ml.{name} ({ddl})")
        existing = {
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'ml' and table_name = ?",
                [name],
            ).fetchall()
        }
        for column, sql_type in columns_of(name, ddl):
            if column not in existing:
                con.execute(f"ALTER TABLE ml.{name} ADD COLUMN {column} {sql_type}")


def replace_night(
    con: duckdb.DuckDBPyConnection,
    table: str,
    as_of: date,
    frame: pd.DataFrame,
    ddl: str | None = None,
    *,
    settings: Settings,
) -> int:
    """Delete the night's rows of ml.<table> and insert ``frame`` (its columns of the table; the
    others NULL), in one transaction, or in the caller's when it holds one (``transaction``).
    ``ddl``: the table's columns when it is not one of ML_TABLES (a model's own table).
    ``settings``: the night's (a fault test pauses after each table, pipecast.faults)."""
    columns = table_columns(frame, table, ddl)
    with transaction(con):
        con.execute(f"DELETE FROM ml.{table} WHERE as_of = ?", [as_of])
        if len(frame):
            con.register("_frame", frame[columns])
            names = ", ".join(columns)
            con.execute(f"INSERT INTO ml.{table} ({names}) SELECT {names} FROM _frame")
            con.unregister("_frame")
    pause_point(f"writeback:{table}", settings)
    return len(frame)


def driver_names() -> tuple[str, ...]:
    """The named-driver columns of DRIVER_COLUMNS, strongest first (driver_1, driver_2, ...)."""
    return tuple(c for c, _ in columns_of("", DRIVER_COLUMNS) if c.startswith("driver_") and "_" not in c[7:])


def sources_yml(current: dict) -> dict:
    """The dbt source yml of schema ml (``current``: the file as it is) with every table's columns,
    names and types, from ML_TABLES; descriptions are kept."""
    source = next(s for s in current["sources"] if s["name"] == "ml")
    described = {t["name"]: t for t in source.get("tables", [])}
    source["tables"] = [
        {
            "name": table,
            "description": described.get(table, {}).get("description", ""),
            "columns": [{"name": c, "data_type": t.lower()} for c, t in columns_of(table)],
        }
        for table in ML_TABLES
    ]
    return current


def write_sources_yml(dbt_project_dir: Path) -> Path:
    """Regenerate the ml source yml from ML_TABLES (``python -m pipecast.forecast.writeback``)."""
    path = dbt_project_dir / SOURCES_YML
    generated = sources_yml(yaml.safe_load(path.read_text(encoding="utf-8")))
    header = "# Generated from pipecast.forecast.writeback.ML_TABLES: python -m pipecast.forecast.writeback\n"
    path.write_text(header + yaml.safe_dump(generated, sort_keys=False, width=100), encoding="utf-8")
    return path


if __name__ == "__main__":
    from pipecast.config import PROJECT_ROOT

    write_sources_yml(PROJECT_ROOT / "dbt_project")
