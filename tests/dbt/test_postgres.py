"""The same project on PostgreSQL: both nights build and every dbt test (contracts, unit tests,
data tests) passes on a throwaway server, and the marts equal DuckDB's row for row."""

from __future__ import annotations

import pytest

from tests.dbt.conftest import POINT_IN_TIME_MODELS, NightlyWarehouse, PostgresWarehouse
from tests.dbt.frames import RUN_STARTED_COLUMNS, assert_same_rows

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

COMPARED = {
    "intermediate.int_opportunity_changes_classified": ["opportunity_id", "changed_at"],
    "marts.fct_opportunities": ["opportunity_id"],
    "marts.fct_opportunity_stage_transitions": ["transition_key"],
    "marts.fct_pipeline_daily": ["snapshot_date", "opportunity_id"],
    "marts.fct_funnel_conversion": ["funnel_conversion_key"],
    "marts.fct_lead_funnel": ["lead_funnel_key"],
    "marts.fct_pipeline_waterfall": ["waterfall_key"],
    "marts.fct_sales_velocity": ["velocity_key"],
    "marts.fct_win_rates": ["win_rate_key"],
    "marts.fct_product_performance": ["product_performance_key"],
    "marts.fct_owner_performance": ["owner_performance_key"],
    "marts.fct_pipeline_coverage": ["coverage_key"],
    "marts.dim_owners": ["owner_id"],
    "marts.dim_dates": ["date_day"],
    "marts.dim_periods": ["period_key"],
    "marts.dim_stages": ["stage_key"],
    # the forecast's point-in-time models (tests/dbt/test_point_in_time_models.py)
    **POINT_IN_TIME_MODELS,
}


def test_both_nights_build_and_test_on_postgres(postgres_nightly: PostgresWarehouse):
    counts = postgres_nightly.query(
        "select table_schema, count(*) as tables from information_schema.tables "
        "where table_schema in ('staging', 'intermediate', 'marts', 'snapshots') group by table_schema"
    ).set_index("table_schema")["tables"]
    assert counts["marts"] >= 18 and counts["snapshots"] == 1


@pytest.mark.parametrize("table, keys", COMPARED.items())
def test_postgres_marts_equal_duckdbs(
    postgres_nightly: PostgresWarehouse, nightly: NightlyWarehouse, table: str, keys: list[str]
):
    on_postgres = postgres_nightly.query(f"select * from {table}")
    on_duckdb = nightly.query(f"select * from {table}")
    assert len(on_duckdb) > 0
    assert_same_rows(on_postgres, on_duckdb, keys, drop=RUN_STARTED_COLUMNS)  # two runs, two start times
