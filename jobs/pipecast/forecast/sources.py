"""Where the forecast reads each entity: the dbt staging view if it is there, else the newest raw
export, else nothing (optional entities: a CRM without line items, leads or targets).

The forecast's SQL uses the staging column names below; a raw fallback renames to them, so a
warehouse built before a staging model existed still feeds the same features.
"""

from __future__ import annotations

import logging

import duckdb

from pipecast.mapped_features import FEATURE_SOURCES
from pipecast.warehouse import TableRows, table_exists

log = logging.getLogger(__name__)

# entity -> (staging view, {staging column: raw column}, empty-relation column types)
OPTIONAL_ENTITIES: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "accounts": (
        "stg_crm__accounts",
        {
            "account_id": "account_id",
            "industry": "industry",
            "segment": "segment",
            "employees": "employees",
            "annual_revenue": "annual_revenue",
            "created_at": "created_at",
        },
        {
            "account_id": "VARCHAR",
            "industry": "VARCHAR",
            "segment": "VARCHAR",
            "employees": "INTEGER",
            "annual_revenue": "DOUBLE",
            "created_at": "TIMESTAMP",
        },
    ),
    "owners": (
        "stg_crm__owners",
        {"owner_id": "owner_id", "team": "team", "region": "region"},
        {"owner_id": "VARCHAR", "team": "VARCHAR", "region": "VARCHAR"},
    ),
    "products": (
        "stg_crm__products",
        {"product_id": "product_id", "product_family": "family", "list_price": "list_price"},
        {"product_id": "VARCHAR", "product_family": "VARCHAR", "list_price": "DOUBLE"},
    ),
    "line_items": (
        "stg_crm__line_items",
        {
            "opportunity_id": "opportunity_id",
            "product_id": "product_id",
            "quantity": "quantity",
            "unit_price": "unit_price",
        },
        {"opportunity_id": "VARCHAR", "product_id": "VARCHAR", "quantity": "DOUBLE", "unit_price": "DOUBLE"},
    ),
    "leads": (
        "stg_crm__leads",
        {
            "lead_id": "lead_id",
            "created_at": "created_at",
            "lead_source": "source",
            "campaign": "campaign",
            "status": "status",
            "converted_at": "converted_at",
            "converted_opportunity_id": "converted_opportunity_id",
            "owner_id": "owner_id",
        },
        {
            "lead_id": "VARCHAR",
            "created_at": "TIMESTAMP",
            "lead_source": "VARCHAR",
            "campaign": "VARCHAR",
            "status": "VARCHAR",
            "converted_at": "TIMESTAMP",
            "converted_opportunity_id": "VARCHAR",
            "owner_id": "VARCHAR",
        },
    ),
    "targets": (
        "stg_crm__targets",
        {
            "period_start": "period_start",
            "period_end": "period_end",
            "owner_id": "owner_id",
            "target_amount": "amount",
        },
        {"period_start": "DATE", "period_end": "DATE", "owner_id": "VARCHAR", "target_amount": "DOUBLE"},
    ),
}


# The opportunity row as each export showed it (dbt snapshot): close dates as of a cut-off.
SNAPSHOT_VERSIONS = ("snapshots", "snp_crm__opportunities")

# What the forecast job reads from the warehouse (pulled into its DuckDB workspace when the
# warehouse is PostgreSQL): the staging views, the classified change history, and the model
# registry's rows, and the mapping-declared features (pipecast.mapped_features). The job's other
# ml.* tables are written, not read.
SOURCES: tuple[TableRows, ...] = (
    TableRows("staging", "stg_crm__opportunities"),
    TableRows("staging", "stg_crm__stages"),
    *(TableRows("staging", view) for view, _, _ in OPTIONAL_ENTITIES.values()),
    TableRows("intermediate", "int_opportunity_changes_classified"),
    TableRows(*SNAPSHOT_VERSIONS),
    TableRows("ml", "model_runs"),
    # the backtests' ledger (backtest_ledger)
    TableRows("ml", "backtest_predictions"),
    TableRows("ml", "backtest_revenue_periods"),
    *(rows for rows in FEATURE_SOURCES if (rows.schema, rows.table) != SNAPSHOT_VERSIONS),
)


def opportunity_versions(con: duckdb.DuckDBPyConnection) -> str:
    """A SQL relation (opportunity_id, close_date, valid_from, valid_to): the close date each
    export showed on the opportunity row, and from when to when (the start of the export's date
    to the start of the next change's; null for the current one). From the dbt snapshot where it
    is built, else from the newest export (valid from its date on)."""
    if table_exists(con, *SNAPSHOT_VERSIONS):
        schema, table = SNAPSHOT_VERSIONS
        return (
            f"(select opportunity_id, close_date, dbt_valid_from as valid_from, dbt_valid_to as valid_to "
            f"from {schema}.{table})"
        )
    return (
        "(select opportunity_id, close_date, cast(export_date as timestamp) as valid_from, "
        "cast(null as timestamp) as valid_to from staging.stg_crm__opportunities)"
    )


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


def relation(con: duckdb.DuckDBPyConnection, entity: str) -> str:
    """A SQL relation (in parentheses) with the entity's staging columns; empty when absent."""
    view, mapping, types = OPTIONAL_ENTITIES[entity]
    wanted = list(mapping)
    if table_exists(con, "staging", view) and set(wanted) <= _columns(con, "staging", view):
        return f"(select {', '.join(wanted)} from staging.{view})"
    if table_exists(con, "raw", entity) and set(mapping.values()) <= _columns(con, "raw", entity):
        select = ", ".join(f"{raw} as {name}" for name, raw in mapping.items())
        return (
            f"(select {select} from raw.{entity} "
            f"where _export_date = (select max(_export_date) from raw.{entity}))"
        )
    log.info("no %s in the warehouse: features that need them are left empty", entity)
    empty = ", ".join(f"cast(null as {t}) as {c}" for c, t in types.items())
    return f"(select {empty} where false)"


def has_rows(con: duckdb.DuckDBPyConnection, entity: str) -> bool:
    return bool(con.execute(f"select count(*) from {relation(con, entity)}").fetchone()[0])
