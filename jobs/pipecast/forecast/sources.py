"""What the forecast reads from the warehouse: dbt's staging views of the CRM entities, the
point-in-time models of the change history (dbt_project/models/intermediate/point_in_time), and
its own ml.* tables. dbt owns every transformation: the column names are staging's, and the
history the features filter by cut-off is computed by the models, not here.
"""

from __future__ import annotations

import duckdb

from pipecast.errors import PipecastError
from pipecast.mapped_features import FEATURE_SOURCES
from pipecast.warehouse import TableRows, table_exists

# entity -> its staging view. The optional ones (a CRM without line items, leads or targets) are
# still built by dbt, empty.
ENTITIES: dict[str, str] = {
    entity: f"stg_crm__{entity}"
    for entity in ("accounts", "owners", "products", "line_items", "leads", "targets")
}

# The dbt models of the forecast's point-in-time history (dbt_project/models/intermediate/
# point_in_time): pipecast.forecast.features and propensity apply their cut-offs to these.
DEALS = "intermediate.int_opportunity_attributes_joined"
CHANGES = "intermediate.int_opportunity_changes_accumulated"
CLOSE_DATES = "intermediate.int_opportunity_close_dates_versioned"
VISITS = "intermediate.int_stage_visits_sequenced"
EXITS = "intermediate.int_stage_exits_scored"
OWNER_RECORDS = "intermediate.int_owner_exit_records_accumulated"
ACCOUNT_RECORDS = "intermediate.int_account_exit_records_accumulated"
DEAL_PRODUCTS = "intermediate.int_opportunity_products_resolved"
POINT_IN_TIME = (DEALS, CHANGES, CLOSE_DATES, VISITS, EXITS, OWNER_RECORDS, ACCOUNT_RECORDS, DEAL_PRODUCTS)

# What the forecast job reads from the warehouse (pulled into its DuckDB workspace when the
# warehouse is PostgreSQL): the staging views, the point-in-time models, the model registry's
# rows, the backtests' ledger, and the mapping-declared features (pipecast.mapped_features). The
# job's other ml.* tables are written, not read.
SOURCES: tuple[TableRows, ...] = (
    TableRows("staging", "stg_crm__opportunities"),
    *(TableRows("staging", view) for view in ENTITIES.values()),
    *(TableRows(*name.split(".")) for name in POINT_IN_TIME),
    TableRows("ml", "model_runs"),
    # the backtests' ledger (backtest_ledger)
    TableRows("ml", "backtest_predictions"),
    TableRows("ml", "backtest_revenue_periods"),
    *FEATURE_SOURCES,
)


class MissingModel(PipecastError):
    """A relation the forecast reads is not in the warehouse: dbt has not built it."""


def relation(con: duckdb.DuckDBPyConnection, entity: str) -> str:
    """The entity's staging view, by name; fails when dbt has not built it."""
    view = ENTITIES[entity]
    if not table_exists(con, "staging", view):
        raise MissingModel(f"staging.{view} is not in the warehouse: run `pipecast build` (dbt) first")
    return f"staging.{view}"


def has_rows(con: duckdb.DuckDBPyConnection, entity: str) -> bool:
    return bool(con.execute(f"select count(*) from {relation(con, entity)}").fetchone()[0])
