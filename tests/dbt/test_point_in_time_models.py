"""The forecast's point-in-time models (models/intermediate/point_in_time): an incremental night
rewrites only the opportunities that changed; a full refresh of the same exports gives the same
rows (tests/dbt/test_incremental.py) and PostgreSQL builds the same rows as DuckDB
(tests/dbt/test_postgres.py), both for every model of POINT_IN_TIME_MODELS."""

from __future__ import annotations

from pipecast.forecast import sources

from tests.dbt.conftest import LOOKBACK, POINT_IN_TIME_MODELS, NightlyWarehouse

CHANGES = sources.CHANGES


def test_every_model_the_forecast_reads_is_compared():
    assert set(POINT_IN_TIME_MODELS) == set(sources.POINT_IN_TIME)


def test_second_night_recomputes_only_the_changed_opportunities(nightly: NightlyWarehouse):
    first, last = nightly.demo.first, nightly.demo.last
    rows = nightly.query(
        f"select opportunity_id, built_export_date, opportunity_last_changed_at from {CHANGES}"
    )
    built = rows["built_export_date"].dt.date
    assert set(built) == {first, last}
    rewritten = set(rows.loc[built == last, "opportunity_id"])
    kept = set(rows.loc[built == first, "opportunity_id"])
    assert 0 < len(rewritten) < 0.25 * rows["opportunity_id"].nunique()
    assert kept and not kept & rewritten
    # the first night's watermark: its newest change, less the lookback
    changes = nightly.first_night["intermediate.int_opportunity_changes_classified"]
    watermark = changes["changed_at"].max() - LOOKBACK
    assert (rows.loc[built == first, "opportunity_last_changed_at"] <= watermark).all()
    changed = set(rows.loc[rows["opportunity_last_changed_at"] > watermark, "opportunity_id"])
    assert changed and changed <= rewritten


def test_changes_keep_only_exported_opportunities(nightly: NightlyWarehouse):
    orphans = nightly.query(
        f"select count(*) as n from {CHANGES} c where not exists (select 1 from "
        "staging.stg_crm__opportunities o where o.opportunity_id = c.opportunity_id)"
    )["n"].iloc[0]
    assert orphans == 0
