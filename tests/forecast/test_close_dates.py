"""Close dates where the stage history has none: taken from the opportunity row as each export
showed it (the dbt snapshot), point in time; and the revenue forecast counts those deals."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from pipecast.forecast import close_timing
from pipecast.forecast.scoring import ForecastContext, crm_forecasts, open_deals
from pipecast.warehouse import connect

from tests.forecast.conftest import AS_OF, build_warehouse


@pytest.fixture(scope="module")
def no_history_close_dates(demo_warehouse, tmp_path_factory):
    """The demo warehouse with a stage history that carries no close date (rebuilt by dbt)."""
    settings = demo_warehouse.copy(tmp_path_factory.mktemp("no-close-dates") / "state")
    with connect(settings) as con:
        con.execute("update raw.opportunity_stage_history set close_date = null")
        assert con.execute("select count(*) from raw.opportunity_stage_history").fetchone()[0] > 0
    build_warehouse(settings, "--full-refresh")
    return settings


def _open(settings, cutoff: date) -> pd.DataFrame:
    with connect(settings) as con:
        return open_deals(con, ForecastContext.from_settings(settings), cutoff)


def test_open_deals_take_the_close_date_of_their_opportunity_row(demo_warehouse, no_history_close_dates):
    with connect(no_history_close_dates) as con:
        history_dates = con.execute(
            "select count(close_date) from intermediate.int_opportunity_changes_classified"
        ).fetchone()[0]
        rows = con.execute(
            "select opportunity_id, close_date from staging.stg_crm__opportunities where not is_closed"
        ).df()
    assert history_dates == 0  # the history really has none
    deals = _open(no_history_close_dates, AS_OF)
    assert len(deals) == len(rows) > 100
    assert deals["close_date"].notna().all()
    by_row = deals.set_index("opportunity_id")["close_date"]
    expected = pd.to_datetime(rows.set_index("opportunity_id")["close_date"])
    assert (by_row.sort_index() == expected.sort_index()).all()
    assert deals["days_to_close_date"].notna().all()
    # the demo's own history ends with the same dates: nothing changed for the forecast
    original = _open(demo_warehouse.settings, AS_OF).set_index("opportunity_id")["close_date"]
    assert (original.sort_index() == by_row.sort_index()).all()


def test_the_stage_weighted_forecast_counts_them(no_history_close_dates):
    ctx = ForecastContext.from_settings(no_history_close_dates)
    deals = _open(no_history_close_dates, AS_OF)
    horizons = ctx.horizons(AS_OF)
    counted = sum(
        int(crm_forecasts(deals, name, period)["open_deals_in_period"].sum())
        for name, period in horizons.items()
    )
    assert counted > 0.3 * len(deals)
    timing = close_timing.CloseTimingModel(None, 0, None, close_timing.CRM_AS_IS).predict(deals)
    assert timing[:, :2].sum() > 0.3 * len(deals)


def test_before_the_first_export_no_close_date_is_made_up(no_history_close_dates):
    """The only export is dated AS_OF: at an earlier cut-off no export had shown a close date."""
    deals = _open(no_history_close_dates, date(2026, 9, 30))
    assert len(deals) > 100 and deals["close_date"].isna().all()
