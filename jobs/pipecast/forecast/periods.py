"""Forecast periods: the current and the next quarter, month or week of a date, fiscal-year aware.

The fiscal year's first month is ``Settings.fiscal_year_start_month``, which dbt gets as its var
``fiscal_year_start_month``, so the forecast's quarters are the marts' quarters. Weeks are ISO
weeks (Monday to Sunday), named ``2026-W48``; which grain a warehouse forecasts in follows its
cycle lengths (horizons).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import pandas as pd

Grain = Literal["quarter", "month", "week"]
GRAINS: tuple[Grain, ...] = ("week", "month", "quarter")  # finest first
HORIZONS = ("current", "next")


@dataclass(frozen=True)
class Period:
    label: str
    start: date
    end: date  # inclusive

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def period_of(day: date, offset: int = 0, grain: Grain = "quarter", fiscal_start_month: int = 1) -> Period:
    """The period containing ``day``, moved by ``offset`` periods. Quarters start on the fiscal
    year's first month; a fiscal year is named by the calendar year it ends in (as the marts do)."""
    if grain == "week":
        monday = day - timedelta(days=day.weekday()) + timedelta(weeks=offset)
        year, week, _ = monday.isocalendar()
        return Period(f"{year}-W{week:02d}", monday, monday + timedelta(days=6))
    months = 3 if grain == "quarter" else 1
    shift = (fiscal_start_month - 1) % months if grain == "quarter" else 0
    index = (day.year * 12 + day.month - 1 - shift) // months + offset
    first_month = index * months + shift
    start = date(first_month // 12, first_month % 12 + 1, 1)
    end = (pd.Timestamp(start) + pd.DateOffset(months=months)).date() - timedelta(days=1)
    return Period(_label(start, grain, fiscal_start_month), start, end)


def _label(start: date, grain: Grain, fiscal_start_month: int) -> str:
    if grain == "month":
        return f"{start:%Y-%m}"
    months_into_year = (start.month - fiscal_start_month) % 12
    fiscal_year = start.year + (1 if fiscal_start_month > 1 and start.month >= fiscal_start_month else 0)
    return f"{'FY' if fiscal_start_month > 1 else ''}{fiscal_year}-Q{months_into_year // 3 + 1}"


def horizons(day: date, grain: Grain = "quarter", fiscal_start_month: int = 1) -> dict[str, Period]:
    """The current and the next period seen from ``day``."""
    return {name: period_of(day, offset, grain, fiscal_start_month) for offset, name in enumerate(HORIZONS)}


def period_ends(first: date, last: date, grain: Grain = "quarter", fiscal_start_month: int = 1) -> list[date]:
    """Last days of the periods ending within [first, last], in order."""
    ends: list[date] = []
    period = period_of(first, 0, grain, fiscal_start_month)
    while period.end <= last:
        if period.end >= first:
            ends.append(period.end)
        period = period_of(period.end + timedelta(days=1), 0, grain, fiscal_start_month)
    return ends


def month_ends(first: date, last: date) -> list[date]:
    """Month-end dates from first to last (inclusive)."""
    return [d.date() for d in pd.date_range(first, last, freq="ME")]
