"""Forecast charts: titles name the night by its date."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pandas as pd
import pytest
from pipecast.forecast import charts
from pipecast.forecast.writeback import ensure_ml_tables


@pytest.mark.parametrize(
    "value",
    [date(2026, 11, 28), datetime(2026, 11, 28, 0, 0), pd.Timestamp("2026-11-28 00:00:00"), "2026-11-28"],
)
def test_a_night_is_shown_as_its_date_not_a_timestamp(value):
    assert charts.day_text(value) == "2026-11-28"


def test_the_backtest_revenue_chart_title_carries_the_nights_date(tmp_path, monkeypatch):
    con = duckdb.connect()
    ensure_ml_tables(con)
    for forecaster, expected in (("model", 100.0), ("stage_weighted", 90.0)):
        con.execute(
            "insert into ml.forecast_ledger (as_of, period, period_start, horizon, forecaster, expected, "
            "p10, p90, actual) values ('2026-11-28', '2026-Q3', '2026-07-01', 'next', ?, ?, 80, 120, 105)",
            [forecaster, expected],
        )
    titles: list[str] = []
    plt = charts._pyplot()
    original = plt.Axes.set_title
    monkeypatch.setattr(
        plt.Axes, "set_title", lambda ax, text, *a, **k: titles.append(text) or original(ax, text, *a, **k)
    )
    assert charts._period_accuracy(con, tmp_path / "forecast_accuracy.png")
    assert titles == ["Revenue forecast at each period's start vs actual (backtest as of 2026-11-28)"]
    assert (tmp_path / "forecast_accuracy.png").stat().st_size > 5_000
