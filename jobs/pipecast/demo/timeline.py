"""Calendar arithmetic for the simulation, on plain integers so it vectorises.

Timestamps are int64 seconds since 1970-01-01 (naive, the CRM's local time) and dates are int
days since 1970-01-01. The demo company's activity follows a daily intensity: yearly growth,
month-of-year seasonality and quiet weekends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from pipecast.demo import world

DAY = 86_400
HOUR = 3_600
EPOCH = date(1970, 1, 1)


def to_day(d: date) -> int:
    return (d - EPOCH).days


def from_day(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


def years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def month_index(days: np.ndarray) -> np.ndarray:
    """Month of year, 0 = January."""
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months % 12


def month_end(days: np.ndarray) -> np.ndarray:
    """Last day of each day's month."""
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return ((months + 1).astype("datetime64[D]") - 1).astype(np.int64)


def quarter_starts(first_day: int, last_day: int) -> np.ndarray:
    """First days of every calendar quarter overlapping [first_day, last_day], as day numbers."""
    first = from_day(first_day)
    year, quarter = first.year, (first.month - 1) // 3
    starts: list[int] = []
    while True:
        start = to_day(date(year, 3 * quarter + 1, 1))
        if start > last_day:
            break
        starts.append(start)
        quarter += 1
        if quarter == 4:
            year, quarter = year + 1, 0
    return np.array(starts, dtype=np.int64)


def daily_intensity(days: np.ndarray, start_day: int) -> np.ndarray:
    """Relative number of deals created on each day: growth x seasonality x weekday."""
    years = (days - start_day) / 365.25
    return (
        np.exp(np.log1p(world.ANNUAL_GROWTH) * years)
        * world.MONTH_FACTOR[month_index(days)]
        * world.WEEKDAY_FACTOR[weekday(days)]
    )


@dataclass(frozen=True)
class Window:
    """The simulated history: YEARS_OF_HISTORY years ending with as_of (inclusive)."""

    start: date
    as_of: date
    start_day: int = field(init=False)
    end_day: int = field(init=False)
    cdf: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        start_day, end_day = to_day(self.start), to_day(self.as_of)
        days = np.arange(start_day, end_day + 1, dtype=np.int64)
        weights = daily_intensity(days, start_day)
        cdf = np.cumsum(weights)
        object.__setattr__(self, "start_day", start_day)
        object.__setattr__(self, "end_day", end_day)
        object.__setattr__(self, "cdf", cdf / cdf[-1])

    @classmethod
    def ending(cls, as_of: date) -> Window:
        return cls(start=years_before(as_of, world.YEARS_OF_HISTORY) + timedelta(days=1), as_of=as_of)

    @property
    def end_seconds(self) -> int:
        """First second after the window (the end of as_of)."""
        return (self.end_day + 1) * DAY

    def times_at_quantiles(self, q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Creation timestamps for activity quantiles q in [0, 1): the inverse of the intensity
        CDF picks the day, office hours pick the time."""
        day_offset = np.searchsorted(self.cdf, q, side="right")
        day_offset = np.minimum(day_offset, self.cdf.size - 1)
        return (self.start_day + day_offset) * DAY + office_hours(rng, q.size)


def office_hours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the day, between 7:00 and 20:00, mostly around midday."""
    hours = 7.0 + 13.0 * rng.beta(2.5, 2.8, n)
    return (hours * HOUR).astype(np.int64)


def next_business_day(days: np.ndarray) -> np.ndarray:
    wd = weekday(days)
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


def previous_business_day(days: np.ndarray) -> np.ndarray:
    wd = weekday(days)
    return days - np.where(wd == 5, 1, np.where(wd == 6, 2, 0))


def at_business_time(seconds: np.ndarray, not_before: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move timestamps to office hours on a working day, keeping them after not_before."""
    days = next_business_day(seconds // DAY)
    snapped = days * DAY + office_hours(rng, seconds.size)
    return np.maximum(snapped, not_before + HOUR)


def pull_into_quarter_end(
    seconds: np.ndarray, not_before: np.ndarray, qstarts: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Decisions falling in the first days of a quarter are, with some probability, pulled into
    the last working days of the quarter before (the sales team pushes to close in quarter)."""
    days = seconds // DAY
    q = np.searchsorted(qstarts, days, side="right") - 1
    q_start = qstarts[np.clip(q, 0, qstarts.size - 1)]
    n = seconds.size
    pull = (
        (q >= 0)
        & (days - q_start < world.QUARTER_PULL_WINDOW_DAYS)
        & (rng.random(n) < world.QUARTER_PULL_PROBABILITY)
    )
    target_day = previous_business_day(q_start - 1 - rng.integers(0, 3, n))
    pulled = target_day * DAY + office_hours(rng, n)
    ok = pull & (pulled > not_before + HOUR)
    return np.where(ok, pulled, seconds)
