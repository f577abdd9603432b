"""Forecast periods follow the marts' fiscal calendar."""

from __future__ import annotations

from datetime import date

from pipecast.forecast.periods import horizons, month_ends, period_ends, period_of


def test_calendar_quarters_and_the_next_one():
    h = horizons(date(2026, 11, 27))
    assert (h["current"].label, h["current"].start, h["current"].end) == (
        "2026-Q4",
        date(2026, 10, 1),
        date(2026, 12, 31),
    )
    assert (h["next"].label, h["next"].start, h["next"].end) == (
        "2027-Q1",
        date(2027, 1, 1),
        date(2027, 3, 31),
    )


def test_fiscal_quarters_are_named_by_the_year_they_end_in():
    # a fiscal year starting in February: Feb 2026 - Jan 2027 is FY2027
    q = period_of(date(2026, 3, 15), fiscal_start_month=2)
    assert (q.label, q.start, q.end) == ("FY2027-Q1", date(2026, 2, 1), date(2026, 4, 30))
    assert period_of(date(2027, 1, 10), fiscal_start_month=2).label == "FY2027-Q4"
    assert period_of(date(2026, 1, 31), offset=1, fiscal_start_month=2).label == "FY2027-Q1"


def test_months_and_period_ends():
    m = period_of(date(2024, 2, 10), grain="month")
    assert (m.label, m.end, m.days) == ("2024-02", date(2024, 2, 29), 29)
    assert period_ends(date(2025, 1, 1), date(2025, 12, 31)) == [
        date(2025, 3, 31),
        date(2025, 6, 30),
        date(2025, 9, 30),
        date(2025, 12, 31),
    ]
    assert month_ends(date(2025, 1, 15), date(2025, 3, 31))[-1] == date(2025, 3, 31)
