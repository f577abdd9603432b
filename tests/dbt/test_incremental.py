"""Incremental nights: the second night rewrites only what its export changed, and a full refresh
of the same exports gives the same tables."""

from __future__ import annotations

import shutil
from datetime import datetime, time, timedelta

import pandas as pd
import pytest
from pipecast.config import Settings
from pipecast.transform.dbt_runner import dbt_invoke
from pipecast.warehouse import connect

from tests.dbt.conftest import INCREMENTAL_TABLES, LOOKBACK, POINT_IN_TIME_MODELS, NightlyWarehouse
from tests.dbt.dbt_run import run_dbt
from tests.dbt.demo_nights import deleted_at_last
from tests.dbt.frames import BUILD_METADATA, assert_same_rows


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
        ("intermediate.int_opportunity_histories_summarised", ["opportunity_id"]),
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
        *POINT_IN_TIME_MODELS.items(),
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
    assert_same_rows(incremental, rebuilt, keys, drop=BUILD_METADATA)


def test_a_deal_first_exported_tonight_with_an_old_derived_history_is_added_as_a_full_refresh_has_it(
    tmp_path, nightly: NightlyWarehouse, full_refresh: NightlyWarehouse
):
    """int_opportunity_changes_classified finds the deals to recompute where changes are dated,
    not in the whole union. A deal without CRM history that an export shows for the first time
    (created weeks ago) has a derived history dated back to its creation, before the watermark:
    it must still be added. Here one such deal is taken out of the table and its snapshot version
    dated to the last export, as if the CRM had first exported it then; the next incremental run
    adds its rows, equal to the full refresh's."""
    settings = _copy_of(nightly, tmp_path)
    table = "intermediate.int_opportunity_changes_classified"
    with connect(settings) as con:
        [(watermark,)] = con.execute(f"select max(opportunity_last_changed_at) from {table}").fetchall()
        watermark -= LOOKBACK
        [(deal,)] = con.execute(
            f"select opportunity_id from {table} where history_source = 'snapshot' "
            "and opportunity_last_changed_at < ? and opportunity_id in ("
            " select opportunity_id from snapshots.snp_crm__opportunities group by opportunity_id"
            " having count(*) = 1) order by opportunity_id limit 1",
            [watermark],
        ).fetchall()
        con.execute(f"delete from {table} where opportunity_id = ?", [deal])
        con.execute(
            "update snapshots.snp_crm__opportunities set dbt_valid_from = ? where opportunity_id = ?",
            [datetime.combine(nightly.demo.last, time()), deal],
        )
    run_dbt(settings, "run", "--select", "int_opportunity_changes_classified")

    added = NightlyWarehouse(settings, nightly.demo).query(
        f"select * from {table} where opportunity_id = ?", [deal]
    )
    expected = full_refresh.query(f"select * from {table} where opportunity_id = ?", [deal])
    assert len(expected) > 0 and (expected["changed_at"] < watermark).all()
    assert_same_rows(added, expected, ["opportunity_id", "changed_at"], drop=["built_export_date"])


def test_second_night_summarises_the_histories_of_changed_opportunities_only(nightly: NightlyWarehouse):
    """int_opportunity_histories_summarised (one row per deal, joined by fct_opportunities) keeps
    the rows of deals unchanged since its watermark and recomputes the others from all their rows:
    a summary that the first night wrote and the second kept is still that of the deal's history."""
    changes = nightly.first_night["intermediate.int_opportunity_changes_classified"]
    watermark = changes["changed_at"].max() - LOOKBACK
    summaries = nightly.query(
        "select opportunity_id, opportunity_last_changed_at, history_rows "
        "from intermediate.int_opportunity_histories_summarised"
    )
    recounted = nightly.query(
        "select opportunity_id, count(*) as rows from intermediate.int_opportunity_changes_classified "
        "group by opportunity_id"
    )
    merged = summaries.merge(recounted, on="opportunity_id", how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert (merged["history_rows"] == merged["rows"]).all()
    changed = summaries["opportunity_last_changed_at"] > watermark
    assert 0 < changed.sum() < 0.25 * len(summaries)


def test_key_tests_of_incremental_models_read_the_rows_their_newest_build_wrote(
    tmp_path, nightly: NightlyWarehouse
):
    """A key test declared with `where: __latest_build__` (macros/where_subquery.sql) reads the rows
    the model's newest build wrote: a duplicate of one of those fails it, while a duplicate of a
    row an earlier night wrote (and its test passed then) is not read again."""
    settings = _copy_of(nightly, tmp_path)
    table = "marts.fct_pipeline_daily"
    unique_test = ["test", "--select", "fct_pipeline_daily,test_name:unique_combination"]

    def duplicate(night: str) -> None:
        with connect(settings) as con:
            con.execute(
                f"insert into {table} select * from {table} where built_export_date = "
                f"(select {night}(built_export_date) from {table}) limit 1"
            )

    duplicate("min")  # a day the first night built and the second kept
    assert _statuses(settings, unique_test) == ["pass"]
    duplicate("max")
    assert _statuses(settings, unique_test) == ["fail"]


def _statuses(settings: Settings, args: list[str]) -> list[str]:
    result = dbt_invoke(args, settings)
    assert result.exception is None, result.exception
    return [str(r.status) for r in result.result.results]


def _copy_of(warehouse: NightlyWarehouse, root) -> Settings:
    with connect(warehouse.settings) as con:
        con.execute("checkpoint")
    settings = Settings(
        state_dir=root, landing_dir=warehouse.demo.landing, warehouse_path=root / "warehouse.duckdb"
    )
    shutil.copy(warehouse.settings.resolved_warehouse_path, settings.resolved_warehouse_path)
    return settings


EXITS = "intermediate.int_stage_exits_scored"


def test_second_night_recomputes_the_stage_exits_from_the_earliest_changed_one(nightly: NightlyWarehouse):
    """int_stage_exits_scored keeps every exit before the earliest one that differs from its rows
    (recomputed_from) and rewrites the exits from it on. Here the last export deletes old deals
    (demo_nights.deleted_at_last), whose exits no longer count for the later ones: the bound is
    their earliest exit, and the few exits before it are kept."""
    first, last = nightly.demo.first, nightly.demo.last
    exits = nightly.query(f"select exited_at, built_export_date, recomputed_from from {EXITS}")
    built = exits["built_export_date"].dt.date
    rewritten, kept = exits[built == last], exits[built == first]
    assert len(rewritten) + len(kept) == len(exits)
    bounds = rewritten["recomputed_from"].unique()
    assert len(bounds) == 1 and not pd.isna(bounds[0])
    assert (rewritten["exited_at"] >= bounds[0]).all() and (kept["exited_at"] < bounds[0]).all()
    assert len(kept) > 0 and len(rewritten) > 0
    deleted = nightly.query(f"select opportunity_id from {EXITS}")["opportunity_id"].map(deleted_at_last)
    assert not deleted.any()
    # the owners' records recompute from the same moment (not from the start: 1900-01-01)
    table = "intermediate.int_owner_exit_records_accumulated"
    records = nightly.query(
        f"select recomputed_from from {table} "
        f"where built_export_date = (select max(built_export_date) from {table})"
    )
    assert set(records["recomputed_from"]) == {bounds[0]}


def test_an_owner_reassigned_without_a_change_in_history_moves_its_old_exits_as_a_full_refresh_does(
    tmp_path, nightly: NightlyWarehouse
):
    """A CRM can hand a deal to another owner without any stage, amount or close-date change: its
    visits are not recomputed, but its exits (and the owners' records built on them) change owner.
    The next incremental build recomputes the exits and the records from the deal's first exit on:
    the same rows as a full refresh of the same data."""
    settings = _copy_of(nightly, tmp_path)
    with connect(settings) as con:
        # the deal whose first exit is the median deal's: half the history before it is kept
        deal, owner, first_exit = con.execute(
            f"""
            select opportunity_id, any_value(owner_id), min(exited_at) as first_exit
            from {EXITS} group by opportunity_id
            order by first_exit, opportunity_id
            limit 1 offset (select count(distinct opportunity_id) / 2 from {EXITS})
            """
        ).fetchone()
        new_owner = con.execute(
            "select min(owner_id) from raw.owners where owner_id <> ?", [owner]
        ).fetchone()[0]
        con.execute(
            "update raw.opportunities set owner_id = ? where opportunity_id = ? and _export_date = ?",
            [new_owner, deal, nightly.demo.last],
        )
    records = "intermediate.int_owner_exit_records_accumulated"
    models = [
        "--select",
        "int_opportunity_attributes_joined",
        "int_stage_exits_scored",
        "int_owner_exit_records_accumulated",
    ]
    run_dbt(settings, "run", *models)
    moved = NightlyWarehouse(settings, nightly.demo).query(f"select * from {EXITS}")
    moved_records = NightlyWarehouse(settings, nightly.demo).query(f"select * from {records}")
    assert set(moved.loc[moved["opportunity_id"] == deal, "owner_id"]) == {new_owner} != {owner}
    from_it = moved["exited_at"] >= first_exit
    assert (moved.loc[from_it, "recomputed_from"] == first_exit).all()
    assert from_it.any() and (moved.loc[~from_it, "recomputed_from"] != first_exit).all()
    run_dbt(settings, "run", *models, "--full-refresh")
    rebuilt = NightlyWarehouse(settings, nightly.demo).query(f"select * from {EXITS}")
    rebuilt_records = NightlyWarehouse(settings, nightly.demo).query(f"select * from {records}")
    assert_same_rows(moved, rebuilt, ["opportunity_id", "entered_at"], drop=BUILD_METADATA)
    # the old and the new owner's records from the deal's first exit on, as a full refresh has them
    assert_same_rows(moved_records, rebuilt_records, ["owner_id", "t"], drop=BUILD_METADATA)
