"""Forecast horizons from the data: how long to wait for labels, how far apart the cut-offs are,
how far back the backtest reaches and which periods the forecast speaks of.

A CRM whose deals close in days and one whose deals take quarters cannot share fixed horizons: a
180-day label maturity leaves a four-month history without a single backtest, and quarters are
too coarse for a funnel that turns over weekly. So every horizon follows the cycle length the
warehouse shows, point in time (only deals created and closed by the night's date count):

* the cycle: the ``forecast_cycle_quantile`` (P90 by default) of created-to-closed days of the
  deals closed by the night;
* label maturity: that cycle, rounded up to whole weeks (at least a week): a cut-off that old has
  most of its deals' outcomes known;
* the forecast periods (and close timing's "this / next period / later" buckets): weeks when the
  cycle is at most four weeks, months when it is at most 75 days, fiscal quarters beyond;
* the cut-offs: training rows at week-ends (weekly periods) or month-ends and mid-months; the
  deal backtest at period-ends, or at the next finer period-ends when the window holds fewer than
  ``forecast_backtest_cutoffs`` of them (a history of eight weeks of a fast funnel gets weekly
  cut-offs);
* the backtest window: from a warm-up (one cycle after the first deal, so a model at the first
  cut-off has seen a whole cycle; shortened to one spacing when the history is too short for
  both) to the night less the maturity.

Each value can be fixed in settings (``forecast_period``, ``forecast_label_maturity_days``,
``forecast_cutoff_spacing``, ``forecast_backtest_warmup_days``); without closed deals the
defaults (quarters, 180 days) stand and a note says so. The job logs the horizons and stores
them in ml.model_runs.horizons.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb

from pipecast.config import Settings
from pipecast.forecast.periods import GRAINS, Grain, month_ends, period_ends

log = logging.getLogger(__name__)

DEFAULT_GRAIN: Grain = "quarter"
DEFAULT_MATURITY_DAYS = 180
MIN_MATURITY_DAYS = 7
MAX_MATURITY_DAYS = 365
# The longest cycle (days) each forecast grain serves; longer cycles: quarters.
GRAIN_LIMITS: tuple[tuple[Grain, int], ...] = (("week", 28), ("month", 75))
TRAINING_DAYS_OF_MONTH = (15,)  # besides month-ends: timing sees more "days left in period"


@dataclass(frozen=True)
class Cycle:
    """Created-to-closed days of the deals closed by a night (point in time)."""

    closed_deals: int
    quantile: float
    days: float | None  # the quantile; None without closed deals
    median_days: float | None
    first_day: date
    as_of: date

    @property
    def history_days(self) -> int:
        return (self.as_of - self.first_day).days


@dataclass(frozen=True)
class Horizons:
    grain: Grain
    label_maturity_days: int
    cutoff_spacing: Grain  # the deal backtest's cut-offs are the ends of these periods
    warmup_days: int
    backtest_cutoffs: list[date]
    cycle_days: float | None
    cycle_median_days: float | None
    cycle_quantile: float
    closed_deals: int
    history_days: int
    sources: dict[str, str] = field(default_factory=dict)  # each horizon: "data", "setting", "default"
    notes: list[str] = field(default_factory=list)  # degenerate inputs, for the report

    @property
    def backtest_window_days(self) -> int:
        if not self.backtest_cutoffs:
            return 0
        return (self.backtest_cutoffs[-1] - self.backtest_cutoffs[0]).days

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["backtest_cutoffs"] = [d.isoformat() for d in self.backtest_cutoffs]
        values["backtest_window_days"] = self.backtest_window_days
        return values

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    def describe(self) -> str:
        cycle = (
            f"P{100 * self.cycle_quantile:.0f} created-to-closed {self.cycle_days:.0f} days "
            f"(median {self.cycle_median_days:.0f}) over {self.closed_deals:,} closed deals"
            if self.cycle_days is not None
            else "no closed deals yet"
        )
        cutoffs = (
            f"{len(self.backtest_cutoffs)} backtest cut-offs "
            f"{self.backtest_cutoffs[0]} .. {self.backtest_cutoffs[-1]}"
            if self.backtest_cutoffs
            else "no backtest cut-off"
        )
        return (
            f"{cycle}; {self.history_days} days of history; "
            f"periods: {self.grain}s ({self.sources['grain']}); "
            f"label maturity {self.label_maturity_days} days ({self.sources['label_maturity_days']}); "
            f"{cutoffs} at {self.cutoff_spacing}-ends, warm-up {self.warmup_days} days"
        )


def observed_cycle(con: duckdb.DuckDBPyConnection, as_of: date, quantile: float = 0.9) -> Cycle:
    """Created-to-closed days of the deals created and closed by the end of ``as_of``."""
    first, closed, q, median = con.execute(
        """
        with deals as (
            select cast(created_at as date) as created, close_date, is_closed
            from staging.stg_crm__opportunities
            where created_at < cast(? as date) + interval 1 day
        )
        select min(created),
               count(*) filter (where is_closed and close_date <= ?),
               quantile_cont(date_diff('day', created, close_date), ?)
                   filter (where is_closed and close_date <= ? and close_date >= created),
               median(date_diff('day', created, close_date))
                   filter (where is_closed and close_date <= ? and close_date >= created)
        from deals
        """,
        [as_of, as_of, quantile, as_of, as_of],
    ).fetchone()
    return Cycle(
        int(closed or 0),
        quantile,
        float(q) if q is not None else None,
        float(median) if median is not None else None,
        first or as_of,
        as_of,
    )


def grain_for(cycle_days: float) -> Grain:
    for grain, limit in GRAIN_LIMITS:
        if cycle_days <= limit:
            return grain
    return "quarter"


def maturity_for(cycle_days: float) -> int:
    weeks = math.ceil(max(cycle_days, 1.0) / 7)
    return int(min(max(7 * weeks, MIN_MATURITY_DAYS), MAX_MATURITY_DAYS))


def _ends(first: date, last: date, spacing: Grain, fiscal_start_month: int) -> list[date]:
    if last < first:
        return []
    return period_ends(first, last, spacing, fiscal_start_month)


def _finer(grain: Grain) -> list[Grain]:
    """``grain`` and the finer grains, coarsest first."""
    return list(reversed(GRAINS[: GRAINS.index(grain) + 1]))


def derive(
    cycle: Cycle,
    settings: Settings,
    fiscal_start_month: int = 1,
) -> Horizons:
    """The horizons of a night from its observed cycle; settings that are set win."""
    sources: dict[str, str] = {}
    notes: list[str] = []
    from_data = cycle.days is not None
    if not from_data:
        notes.append(
            f"no deal has closed by {cycle.as_of}: horizons are the defaults "
            f"({DEFAULT_GRAIN}s, {DEFAULT_MATURITY_DAYS}-day label maturity)"
        )

    def pick(name: str, setting: Any, observed: Any, default: Any) -> Any:
        if setting is not None:
            sources[name] = "setting"
            return setting
        sources[name] = "data" if from_data else "default"
        return observed if from_data else default

    grain: Grain = pick(
        "grain", settings.forecast_period, grain_for(cycle.days) if from_data else None, DEFAULT_GRAIN
    )
    maturity = int(
        pick(
            "label_maturity_days",
            settings.forecast_label_maturity_days,
            maturity_for(cycle.days) if from_data else None,
            DEFAULT_MATURITY_DAYS,
        )
    )
    warmup = int(pick("warmup_days", settings.forecast_backtest_warmup_days, maturity, maturity))
    count = settings.forecast_backtest_cutoffs
    mature = cycle.as_of - timedelta(days=maturity)
    spacings = [settings.forecast_cutoff_spacing] if settings.forecast_cutoff_spacing else _finer(grain)
    sources["cutoff_spacing"] = "setting" if settings.forecast_cutoff_spacing else sources["grain"]

    def window(warm: int) -> tuple[Grain, list[date]]:
        best: tuple[Grain, list[date]] = (spacings[0], [])
        for spacing in spacings:
            ends = _ends(cycle.first_day + timedelta(days=warm), mature, spacing, fiscal_start_month)
            if len(ends) > len(best[1]):
                best = (spacing, ends)
            if len(ends) >= count:
                return spacing, ends[-count:]
        return best[0], best[1][-count:]

    spacing, cutoffs = window(warmup)
    if not cutoffs and settings.forecast_backtest_warmup_days is None:
        short = 7 if spacings[-1] == "week" else 28
        spacing, cutoffs = window(short)
        if cutoffs:
            notes.append(
                f"history of {cycle.history_days} days is shorter than a warm-up of {warmup} days plus "
                f"the {maturity}-day label maturity: the backtest starts {short} days into the history"
            )
            warmup = short
    if not cutoffs:
        notes.append(
            f"no backtest: {cycle.history_days} days of history hold no {spacing}-end at least "
            f"{warmup} days after the first deal and {maturity} days before {cycle.as_of}"
        )
    return Horizons(
        grain=grain,
        label_maturity_days=maturity,
        cutoff_spacing=spacing,
        warmup_days=warmup,
        backtest_cutoffs=cutoffs,
        cycle_days=cycle.days,
        cycle_median_days=cycle.median_days,
        cycle_quantile=cycle.quantile,
        closed_deals=cycle.closed_deals,
        history_days=cycle.history_days,
        sources=sources,
        notes=notes,
    )


def training_cutoffs(first_day: date, as_of: date, horizons: Horizons) -> list[date]:
    """The cut-offs of the point-in-time training rows: week-ends for weekly periods, else
    month-ends and mid-months; from a week (weekly) or a month into the history up to as_of."""
    if horizons.grain == "week":
        start = first_day + timedelta(days=7)
        return [d for d in period_ends(start, as_of, "week") if d <= as_of]
    ends = month_ends(first_day, as_of)
    mids = [d.replace(day=day) for d in ends for day in TRAINING_DAYS_OF_MONTH]
    return sorted(c for c in {*ends, *mids} if first_day + timedelta(days=30) <= c <= as_of)


def of_night(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings, fiscal_start_month: int
) -> Horizons:
    """Observe the cycle and derive the night's horizons; logged."""
    found = derive(observed_cycle(con, as_of, settings.forecast_cycle_quantile), settings, fiscal_start_month)
    log.info("forecast horizons as of %s: %s", as_of, found.describe())
    return found
