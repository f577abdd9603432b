"""Incremental nights: the second night rewrites only what its export changed, and a full refresh
of the same exports gives the same tables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.dbt.conftest import INCREMENTAL_TABLES, NightlyWarehouse
from tests.dbt.frames import assert_same_rows

LOOKBACK = timedelta(days=3)  # var incremental_lookback_days


def test_second_night_recomputes_only_opportunities_changed_since_the_first(nightly: NightlyWarehouse):
    first, last = nightly.demo.first, nightly.demo.last
    before = nightly.first_night["intermediate.int_opportunity_changes_classified"]
    assert (before["built_export_date"].dt.date == first).all()
    watermark = before["changed_at"].max() - LOOKBACK
    after = nightly.query(
        "select opportunity_id, built_export_date, opportunity_last_changed_at "
        "from intermediate.int_opportunity_changes_classified"
    )
    rewritten = set(after.loc[after["built_export_date"].dt.date == last, "opportunity_id"])
    changed = set(after.loc[after["opportunity_last_changed_at"] > watermark, "opportunity_id"])
    kept = set(after.loc[after["built_export_date"].dt.date == first, "opportunity_id"])
    assert rewritten == changed
    assert 0 < len(rewritten) < 0.25 * after["opportunity_id"].nunique()
    assert kept and not kept & rewritten

    transitions = nightly.query(
        "select opportunity_id, built_export_date from marts.fct_opportunity_stage_transitions"
    )
    assert set(transitions.loc[transitions["built_export_date"].dt.date == last, "opportunity_id"]) == {
        o for o in rewritten if o in set(transitions["opportunity_id"])
    }


def test_second_night_recomputes_the_pipeline_moves_of_changed_opportunities_only(nightly: NightlyWarehouse):
    """int_pipeline_moves_classified keeps the rows of deals unchanged since the first night (no
    period started between the two exports of the demo week) and rewrites those of changed deals."""
    first, last = nightly.demo.first, nightly.demo.last
    changes = nightly.first_night["intermediate.int_opportunity_changes_classified"]
    # its own watermark is the newest change among the deals it has rows for: at most this one
    watermark = changes["changed_at"].max() - LOOKBACK
    moves = nightly.query(
        "select opportunity_id, built_export_date, opportunity_last_changed_at "
        "from intermediate.int_pipeline_moves_classified"
    )
    built = moves["built_export_date"].dt.date
    rewritten = set(moves.loc[built == last, "opportunity_id"])
    kept = set(moves.loc[built == first, "opportunity_id"])
    changed = set(moves.loc[moves["opportunity_last_changed_at"] > watermark, "opportunity_id"])
    assert set(built) == {first, last}
    assert changed and changed <= rewritten
    assert 0 < len(rewritten) < 0.25 * moves["opportunity_id"].nunique()
    assert kept and not kept & rewritten
    assert (moves.loc[built == first, "opportunity_last_changed_at"] <= watermark + LOOKBACK).all()


def test_second_night_adds_its_days_to_the_daily_pipeline(nightly: NightlyWarehouse):
    first, last = nightly.demo.first, nightly.demo.last
    days = nightly.query(
        "select snapshot_date, min(built_export_date) as built_first, max(built_export_date) as built_last, "
        "count(*) as deals from marts.fct_pipeline_daily group by snapshot_date order by snapshot_date"
    )
    days["snapshot_date"] = days["snapshot_date"].dt.date
    rebuilt = days[days["built_first"].dt.date == last]["snapshot_date"]
    assert list(rebuilt) == [first + timedelta(days=i) for i in range((last - first).days + 1)]
    assert (days[days["snapshot_date"] < first]["built_last"].dt.date == first).all()
    # a sliding window: the first night's oldest day has left it
    assert days["snapshot_date"].min() == last - timedelta(days=365)
    assert (days["deals"] > 0).all()


@pytest.mark.parametrize(
    "table, keys",
    [
        *INCREMENTAL_TABLES.items(),
        ("intermediate.int_pipeline_moves_classified", ["opportunity_id", "period_type", "period_start"]),
        ("marts.fct_opportunities", ["opportunity_id"]),
        ("marts.fct_funnel_conversion", ["funnel_conversion_key"]),
        ("marts.fct_stage_funnel", ["funnel_key"]),
        ("marts.fct_lead_funnel", ["lead_funnel_key"]),
        ("marts.fct_pipeline_waterfall", ["waterfall_key"]),
        ("marts.fct_sales_velocity", ["velocity_key"]),
        ("marts.fct_win_rates", ["win_rate_key"]),
        ("marts.fct_product_performance", ["product_performance_key"]),
        ("marts.fct_owner_performance", ["owner_performance_key"]),
        ("marts.fct_pipeline_coverage", ["coverage_key"]),
        ("marts.dim_owners", ["owner_id"]),
        ("marts.dim_periods", ["period_key"]),
    ],
)
def test_full_refresh_gives_the_same_tables(
    nightly: NightlyWarehouse, full_refresh: NightlyWarehouse, table: str, keys: list[str]
):
    incremental = nightly.query(f"select * from {table}")
    rebuilt = full_refresh.query(f"select * from {table}")
    assert len(incremental) > 0
    if "built_export_date" in rebuilt:  # a full refresh stamps every row with the newest export
        assert (rebuilt["built_export_date"].dt.date == nightly.demo.last).all()
    assert_same_rows(incremental, rebuilt, keys, drop=["built_export_date"])
