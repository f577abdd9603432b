"""The date dimension generated in SQL equals a plain Python calendar, for a calendar fiscal year
and for one starting in April (var fiscal_year_start_month)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from pipecast.config import Settings
from pipecast.warehouse import connect

from tests.dbt.conftest import NightlyWarehouse
from tests.dbt.dbt_run import run_dbt


def python_calendar(first: date, last: date, start_month: int) -> pd.DataFrame:
    rows = []
    day = first
    while day <= last:
        index = (day.month - start_month) % 12  # months into the fiscal year
        year_start = date(day.year - (1 if day.month < start_month else 0), start_month, 1)
        quarter_month = day.month - index % 3
        quarter_start = date(day.year - (1 if quarter_month < 1 else 0), (quarter_month - 1) % 12 + 1, 1)
        fiscal_year = year_start.year + (0 if start_month == 1 else 1)
        rows.append(
            {
                "date_day": day,
                "day_of_week": day.isoweekday(),
                "week_start": day - timedelta(days=day.isoweekday() - 1),
                "month_start": day.replace(day=1),
                "fiscal_year": fiscal_year,
                "fiscal_quarter": index // 3 + 1,
                "fiscal_month": index + 1,
                "fiscal_quarter_start": quarter_start,
                "fiscal_year_start": year_start,
                "fiscal_quarter_label": f"FY{fiscal_year}-Q{index // 3 + 1}",
            }
        )
        day += timedelta(days=1)
    return pd.DataFrame(rows)


def _dim_dates(settings: Settings, columns: list[str]) -> pd.DataFrame:
    with connect(settings) as con:
        frame = con.execute(f"select {', '.join(columns)} from marts.dim_dates order by date_day").df()
    for column in columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.date
    return frame


def test_calendar_fiscal_year_matches_python(nightly: NightlyWarehouse):
    expected = python_calendar(date(2010, 1, 1), date(2035, 12, 31), start_month=1)
    actual = _dim_dates(nightly.settings, list(expected.columns))
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)


@pytest.fixture(scope="module")
def april_calendar(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("april_calendar")
    # the fiscal month from the settings alone (dbt gets it as a var from them)
    settings = Settings(state_dir=root, warehouse_path=root / "warehouse.duckdb", fiscal_year_start_month=4)
    variables = {"calendar_start_date": "2024-11-01", "calendar_end_date": "2027-05-31"}
    only_dim_dates = ["--select", "dim_dates", "--indirect-selection", "cautious"]
    run_dbt(settings, "build", *only_dim_dates, dbt_vars=variables)
    return settings


def test_fiscal_year_starting_in_april_matches_python(april_calendar: Settings):
    expected = python_calendar(date(2024, 11, 1), date(2027, 5, 31), start_month=4)
    actual = _dim_dates(april_calendar, list(expected.columns))
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)
    april = actual.set_index("date_day").loc[date(2026, 4, 1)]
    assert (april["fiscal_year"], april["fiscal_quarter"], april["fiscal_month"]) == (2027, 1, 1)
