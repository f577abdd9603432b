"""The warehouse built night by night on DuckDB: the build and every dbt test pass, every mart is
contracted, keyed and documented, and the marts agree with the exports and with each other."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
from pipecast.transform import manifest

from tests.dbt.conftest import NightlyWarehouse
from tests.dbt.demo_nights import deleted_at_last


def marts_of(warehouse: NightlyWarehouse) -> list[str]:
    """The marts: the dbt project's models/marts, from the manifest the build wrote."""
    return [m.name for m in manifest.marts(warehouse.settings)]


def _manifest(warehouse: NightlyWarehouse) -> dict:
    path = warehouse.settings.state_dir / "dbt" / "target" / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_night_builds_every_model_and_passes_every_test(nightly: NightlyWarehouse):
    marts = marts_of(nightly)
    assert len(marts) >= 18
    statuses = Counter((str(r.node.resource_type), str(r.status)) for r in nightly.build_results)
    assert statuses[("model", "success")] >= len(marts) + 10
    assert statuses[("snapshot", "success")] == 1
    assert statuses[("test", "pass")] >= 100
    unit_tests = {r.node.name for r in nightly.build_results if str(r.node.resource_type) == "unit_test"}
    assert {
        "funnel_conversion_counts_won_deals_through_skipped_stages",
        "waterfall_adds_up_deals_by_segment",
        "velocity_is_pipeline_x_win_rate_x_deal_size_over_cycle",
        "period_pipeline_classifies_every_move_of_the_pipeline",
    } <= unit_tests
    not_ok = [
        (str(r.node.resource_type), r.node.name, str(r.status))
        for r in nightly.build_results
        if str(r.status) not in ("success", "pass")
        and not (str(r.node.resource_type) == "exposure" and str(r.status) == "no-op")  # nothing to run
    ]
    assert not not_ok


def test_every_mart_is_contracted_keyed_and_documented(nightly: NightlyWarehouse):
    marts = marts_of(nightly)
    manifest = _manifest(nightly)
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    built = nightly.query(
        "select table_name, column_name from information_schema.columns where table_schema = 'marts'"
    )
    assert set(built["table_name"]) >= set(marts)
    for mart in marts:
        node = models[mart]
        assert node["config"]["contract"]["enforced"], mart
        assert node["description"].strip(), mart
        columns = set(built.loc[built["table_name"] == mart, "column_name"])
        assert set(node["columns"]) == columns, mart
        for name, column in node["columns"].items():
            assert column["description"].strip() and column["data_type"], f"{mart}.{name}"
        on_mart = [t for t in tests if t["attached_node"] == node["unique_id"]]
        kinds = {(t["test_metadata"]["name"], t.get("column_name")) for t in on_mart if "test_metadata" in t}
        keyed = any(("unique", c) in kinds and ("not_null", c) in kinds for c in columns)
        keyed = keyed or any(k == "unique_combination" for k, _ in kinds)
        assert keyed, f"{mart} has no tested primary key"


def test_pipeline_daily_reproduces_each_nights_open_pipeline_from_the_export(nightly: NightlyWarehouse):
    """The pipeline of each export's day, as the daily mart keeps it, is that export's open deals
    (less those the CRM has deleted since: their history is gone)."""
    for export_date in (nightly.demo.first, nightly.demo.last):
        daily = nightly.query(
            "select opportunity_id, stage, amount, close_date, forecast_category "
            "from marts.fct_pipeline_daily where snapshot_date = ? order by opportunity_id",
            [export_date],
        )
        exported = nightly.query(
            "select opportunity_id, stage, amount, close_date, forecast_category from raw.opportunities "
            "where _export_date = ? and not is_closed and opportunity_id in "
            "(select opportunity_id from raw.opportunities where _export_date = ?) order by opportunity_id",
            [export_date, nightly.demo.last],
        )
        assert len(exported) > 50
        pd.testing.assert_frame_equal(daily, exported, check_dtype=False)


def test_deals_deleted_in_the_crm_leave_every_table(nightly: NightlyWarehouse):
    deleted = nightly.query(
        "select opportunity_id from raw.opportunities where _export_date = ? except "
        "select opportunity_id from raw.opportunities where _export_date = ?",
        [nightly.demo.first, nightly.demo.last],
    )["opportunity_id"]
    assert len(deleted) > 5 and all(deleted_at_last(o) for o in deleted)
    for table in (
        "intermediate.int_opportunity_changes_classified",
        "marts.fct_opportunity_stage_transitions",
        "marts.fct_pipeline_daily",
        "marts.fct_opportunities",
    ):
        left = nightly.query(f"select count(*) as n from {table} where opportunity_id like '%13'")["n"].iloc[
            0
        ]
        assert left == 0, table


def test_waterfall_opens_and_closes_with_the_daily_pipeline(nightly: NightlyWarehouse):
    """Two marts computed differently agree: the current month's waterfall starts with the
    pipeline of the last day of the month before and ends with today's, closing in the month."""
    waterfall = nightly.query(
        "select period_start, sum(open_amount_at_start) as opening, sum(open_amount_at_end) as closing, "
        "sum(open_count_at_start) as opening_deals, sum(open_count_at_end) as closing_deals "
        "from marts.fct_pipeline_waterfall w join marts.dim_periods p using (period_type, period_start) "
        "where w.period_type = 'month' and p.is_current group by period_start"
    ).iloc[0]
    month_start = waterfall["period_start"].date()
    daily = nightly.query(
        "select snapshot_date, sum(amount) as amount, count(*) as deals from marts.fct_pipeline_daily "
        "where close_date between ? and ? + interval 1 month - interval 1 day "
        "and snapshot_date in (? - interval 1 day, ?) group by snapshot_date order by snapshot_date",
        [month_start, month_start, month_start, nightly.demo.last],
    )
    assert len(daily) == 2
    assert waterfall["opening"] == pytest.approx(daily["amount"].iloc[0])
    assert waterfall["opening_deals"] == daily["deals"].iloc[0]
    assert waterfall["closing"] == pytest.approx(daily["amount"].iloc[1])
    assert waterfall["closing_deals"] == daily["deals"].iloc[1]


def test_win_rates_and_product_revenue_add_up_to_the_opportunities(nightly: NightlyWarehouse):
    deals = nightly.query("select * from marts.fct_opportunities where is_closed")
    by_owner = deals.groupby("owner_id")["is_won"].agg(["sum", "count"])
    rates = nightly.query(
        "select dimension_value as owner_id, sum(won_count) as won, sum(closed_count) as closed "
        "from marts.fct_win_rates where dimension = 'owner' and period_type = 'year' group by 1"
    ).set_index("owner_id")
    assert rates["won"].to_dict() == by_owner["sum"].to_dict()
    assert rates["closed"].to_dict() == by_owner["count"].to_dict()
    won = nightly.query(
        "select sum(won_amount) as won from marts.fct_product_performance where period_type = 'quarter'"
    )["won"].iloc[0]
    assert won == pytest.approx(deals.loc[deals["is_won"], "amount"].sum())


def test_owner_hierarchy_and_fiscal_periods(nightly: NightlyWarehouse):
    owners = nightly.query("select * from marts.dim_owners").set_index("owner_id")
    top = owners[owners["manager_id"].isna()]
    assert len(top) == 1 and (top["hierarchy_level"] == 1).all()
    reps = owners[~owners["is_manager"]]
    assert (reps["hierarchy_level"] > 1).all()
    assert reps["hierarchy_path"].str.startswith(top["owner_name"].iloc[0] + " > ").all()
    periods = nightly.query("select * from marts.dim_periods where is_current order by period_type")
    assert list(periods["period_label"]) == ["2026-05", "FY2026-Q2", "FY2026"]
