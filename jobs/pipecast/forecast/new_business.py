"""Revenue from deals not created yet: how much of a period's revenue the open pipeline cannot see.

Learned from history, per segment, with nothing after the forecast date:

* how many deals a day are created: the last 90 days' rate, shaped by last year's seasonality
  (the month's rate a year ago over the rate in the 90 days before that, bounded to 0.5-2);
* what a newly created deal is worth within u days: W(u), the won amount closed within u days of
  creation per deal created, and C(u), the share won within u days, from the deals created a
  year before the forecast horizon (old enough that every such outcome is known);
* so the period's expected revenue from new deals is the sum over its days t of
  rate(t) x (W(end - t) - W(start - t - 1)).

Uncertainty: the number of such wins is Poisson around its mean, times a log-normal factor for
the error of the creation-rate forecast (its spread measured by forecasting past 90-day windows
the same way), and each win's amount is drawn from the won amounts of that cohort.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import numpy as np

from pipecast.forecast import sources
from pipecast.forecast.periods import Period

log = logging.getLogger(__name__)

MODEL_NAME = "new_business"
RATE_WINDOW_DAYS = 90
# Seasonality: the months of the year-ago window as long as the longest forecast horizon.
SEASON_WINDOW_DAYS = 200
COHORT_DAYS = 365
DEFAULT_RATE_SPREAD = 0.15
AMOUNT_SAMPLE = 2000
ALL = "All"


@dataclass
class SegmentNewBusiness:
    segment: str
    expected: float  # revenue
    expected_wins: float
    amounts: np.ndarray  # won amounts to draw from


@dataclass
class NewBusinessForecast:
    """Per period label: per segment expectations, and the rate-forecast spread."""

    known_at: date
    periods: dict[str, Period]
    segments: dict[str, dict[str, SegmentNewBusiness]] = field(default_factory=dict)  # horizon -> seg
    rate_spread: float = DEFAULT_RATE_SPREAD

    def expected(self, horizon: str, segment: str | None = None) -> float:
        items = self.segments.get(horizon, {})
        return float(sum(s.expected for name, s in items.items() if segment in (None, name)))

    def variance(self, horizon: str) -> float:
        """Variance of the simulated revenue from deals not created yet, all segments together:
        per segment a Poisson number of wins (mean lambda) of i.i.d. amounts Y, every segment's
        mean scaled by one log-normal factor F (E[F] = 1): sum lambda E[Y^2] + Var(F) (sum lambda E[Y])^2."""
        poisson, mean = 0.0, 0.0
        for seg in self.segments.get(horizon, {}).values():
            if seg.expected_wins <= 0 or seg.amounts.size == 0 or seg.amounts.mean() <= 0:
                continue
            scale = seg.expected / seg.expected_wins / seg.amounts.mean()
            poisson += seg.expected_wins * float(np.mean((seg.amounts * scale) ** 2))
            mean += seg.expected
        return poisson + float(np.expm1(self.rate_spread**2)) * mean**2

    def simulate(self, horizon: str, segments: list[str], draws: int, rng: np.random.Generator) -> np.ndarray:
        """(draws, len(segments)) revenue from deals not created yet."""
        out = np.zeros((draws, len(segments)))
        factor = np.exp(self.rate_spread * rng.standard_normal(draws) - self.rate_spread**2 / 2)
        for j, name in enumerate(segments):
            seg = self.segments.get(horizon, {}).get(name)
            if seg is None or seg.expected_wins <= 0 or seg.amounts.size == 0:
                continue
            counts = rng.poisson(seg.expected_wins * factor)
            picks = rng.choice(seg.amounts, size=int(counts.sum()))
            scale = seg.expected / seg.expected_wins / seg.amounts.mean() if seg.amounts.mean() > 0 else 0.0
            owners = np.repeat(np.arange(draws), counts)
            out[:, j] = np.bincount(owners, weights=picks * scale, minlength=draws)
        return out


# The deals every query of one forecast reads, copied once into a temporary table of the
# connection: the staging view they come from reads the newest raw export and converts its
# currency on each read, and a forecast asks ~30 questions of it (creation rates, seasonality at
# six anchors, the cohort's cycles): 1.0 s -> 0.2 s per forecast at 1M deals, 25 per night. The
# revenue backtest (24 forecasts at 1M deals) copies them once for all (load_deals): 2.4 s of
# copies less.
DEALS_TABLE = "pipecast_new_business_deals"


def load_deals(con: duckdb.DuckDBPyConnection) -> str:
    """Fill DEALS_TABLE with the deals (segment, creation date, outcome, amount) from the staging
    views; return the query that reads it."""
    accounts = sources.relation(con, "accounts")
    con.execute(
        f"""
        create or replace temp table {DEALS_TABLE} as
        select coalesce(a.segment, 'Unknown') as segment, cast(o.created_at as date) as created,
               o.is_won, o.is_closed, o.close_date, o.amount
        from staging.stg_crm__opportunities o left join {accounts} a on o.account_id = a.account_id
        where o.created_at is not null
        """
    )
    return f"select * from {DEALS_TABLE}"


def forecast_new_business(
    con: duckdb.DuckDBPyConnection,
    known_at: date,
    periods: dict[str, Period],
    seed: int = 0,
    deals: str | None = None,
) -> NewBusinessForecast:
    """Expected revenue, per period and segment, from deals created after ``known_at``. ``deals``:
    the query load_deals returned on this connection, when the caller forecasts several cut-offs
    of one warehouse state; by default the deals are copied afresh."""
    result = NewBusinessForecast(known_at, periods)
    horizon_days = max((p.end - known_at).days for p in periods.values())
    if horizon_days <= 0:
        return result
    deals = deals or load_deals(con)
    k = known_at
    cohort_end = k - timedelta(days=horizon_days)
    cohort_start = cohort_end - timedelta(days=COHORT_DAYS)
    curves = con.execute(
        f"""
        with d as ({deals})
        select segment,
               count(*) as created,
               -- both lists in one order (a parallel aggregate's is arbitrary): the cycles and
               -- amounts stay paired, and the amounts sampled below are the same every run
               list(case when is_won and close_date <= ?
                         then greatest(date_diff('day', created, close_date), 0)
                    end order by created, close_date, amount)
                   filter (where is_won and close_date <= ?) as cycles,
               list(amount order by created, close_date, amount)
                   filter (where is_won and close_date <= ?) as amounts
        from d where created > ? and created <= ?
        group by segment
        -- segments in one order: they draw their amount samples from one generator in turn
        order by segment
        """,
        [k, k, k, cohort_start, cohort_end],
    ).df()
    rates = con.execute(
        f"with d as ({deals}) select segment, count(*) / {RATE_WINDOW_DAYS}.0 as per_day from d "
        "where created > ? and created <= ? group by segment",
        [k - timedelta(days=RATE_WINDOW_DAYS), k],
    ).df()
    if curves.empty or rates.empty:
        log.warning("new business at %s: not enough history (a year before the horizon): left out", k)
        return result
    seasonal = _seasonality(con, deals, k)
    result.rate_spread = _rate_spread(con, deals, k)
    rate_of = dict(zip(rates["segment"], rates["per_day"], strict=True))
    rng = np.random.default_rng(seed)
    for horizon, period in periods.items():
        result.segments[horizon] = {}
        days = [k + timedelta(days=i) for i in range(1, (period.end - k).days + 1)]
        season = np.array([seasonal.get(d.month, 1.0) for d in days])
        for row in curves.itertuples():
            cycles, amounts = _floats(row.cycles), np.nan_to_num(_floats(row.amounts))
            keep = cycles <= horizon_days
            cycles, amounts = cycles[keep], amounts[keep]
            per_day = rate_of.get(row.segment, 0.0) * season
            lo = np.array([(period.start - d).days for d in days], dtype=float)  # cycle > lo - 1
            hi = np.array([(period.end - d).days for d in days], dtype=float)  # cycle <= hi
            inside = (cycles[None, :] >= np.maximum(lo, 0)[:, None]) & (cycles[None, :] <= hi[:, None])
            per_deal_wins = inside.sum(axis=1) / max(row.created, 1)
            per_deal_revenue = (inside * amounts[None, :]).sum(axis=1) / max(row.created, 1)
            sample = (
                amounts
                if amounts.size <= AMOUNT_SAMPLE
                else rng.choice(amounts, AMOUNT_SAMPLE, replace=False)
            )
            result.segments[horizon][row.segment] = SegmentNewBusiness(
                row.segment,
                float(per_day @ per_deal_revenue),
                float(per_day @ per_deal_wins),
                sample,
            )
    return result


def _floats(values: object) -> np.ndarray:
    """A SQL list as floats (an empty list comes back from SQL as NULL)."""
    if isinstance(values, list | tuple | np.ndarray):
        return np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return np.array([], dtype=float)


def _seasonality(con: duckdb.DuckDBPyConnection, deals: str, k: date) -> dict[int, float]:
    """Month -> last year's creation rate in that month over its rate in the 90 days before k - 1y
    (empty when the history is shorter than that: no seasonality)."""
    year_ago = k - timedelta(days=365)
    base_start = year_ago - timedelta(days=RATE_WINDOW_DAYS)
    first = con.execute(f"with d as ({deals}) select min(created) from d").fetchone()[0]
    if first is None or first > base_start:
        return {}
    window_end = year_ago + timedelta(days=SEASON_WINDOW_DAYS)
    counts = dict(
        con.execute(
            f"with d as ({deals}) select month(created), count(*) from d "
            "where created > ? and created <= ? group by 1",
            [year_ago, window_end],
        ).fetchall()
    )
    base = con.execute(
        f"with d as ({deals}) select count(*) / {RATE_WINDOW_DAYS}.0 from d "
        "where created > ? and created <= ?",
        [base_start, year_ago],
    ).fetchone()[0]
    if not base:
        return {}
    days_in_window: dict[int, int] = {}
    for i in range(1, SEASON_WINDOW_DAYS + 1):
        month = (year_ago + timedelta(days=i)).month
        days_in_window[month] = days_in_window.get(month, 0) + 1
    return {
        month: float(np.clip(counts.get(month, 0) / days / base, 0.5, 2.0))
        for month, days in days_in_window.items()
    }


def _rate_spread(con: duckdb.DuckDBPyConnection, deals: str, k: date, anchors: int = 6) -> float:
    """Spread (sd of the log ratio) of past 90-day creation counts against this module's forecast
    of them, at anchors with a year of history before them (so seasonality is in the forecast)."""
    ratios = []
    for j in range(1, anchors + 1):
        anchor = k - timedelta(days=RATE_WINDOW_DAYS * j)
        seasonal = _seasonality(con, deals, anchor)
        if not seasonal:
            break
        before, after = con.execute(
            f"""
            with d as ({deals})
            select count(*) filter (where created > ? and created <= ?) / {RATE_WINDOW_DAYS}.0,
                   count(*) filter (where created > ? and created <= ?)
            from d
            """,
            [
                anchor - timedelta(days=RATE_WINDOW_DAYS),
                anchor,
                anchor,
                anchor + timedelta(days=RATE_WINDOW_DAYS),
            ],
        ).fetchone()
        predicted = sum(
            before * seasonal.get((anchor + timedelta(days=i)).month, 1.0)
            for i in range(1, RATE_WINDOW_DAYS + 1)
        )
        if predicted and after:
            ratios.append(np.log(after / predicted))
    if len(ratios) < 3:
        return DEFAULT_RATE_SPREAD
    return float(max(np.sqrt(np.mean(np.square(ratios))), 0.05))
