"""Period revenue ranges: a Monte-Carlo over the open deals (win x timing x amount); the deals not
created yet are added by new_business, closed-won to date by scoring.

Given their probabilities the deals are independent, so the simulated spread of a period's revenue
shrinks like 1/sqrt(deals) relative to the revenue. What the models get wrong is shared by every
deal of a period (a quarter whose deals close later than the timing model learnt, win rates that
drift, a creation rate that differs from last year's): it does not shrink with size, so a large
pipeline's range would be too narrow. That shared part is a period-wide random effect:

    revenue = closed to date + F x (open deals + deals not created yet),   E[F] = 1,

with Var(F x to come) = Var(to come) + (c x expected period revenue)^2. ``shared_spread`` measures
c on the backtests (method of moments: each past forecast's squared relative error less its own
simulated variance, averaged per period, then over periods), only from periods that had ended by
the cut-off, widened for having been estimated from few periods (Student's t); ``spread_factor``
turns c into the spread of the log-normal F for one forecast.
The shared error is relative to the period's expected revenue, not to what is still to come: in
the backtests its size stays about the same from the period's start to its last month (it comes
from what closes near the period's end), while the revenue still to come shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pipecast.forecast import parallel

QUANTILES = (10, 50, 90)
Z_P10_P90 = 2.5631  # P90 - P10 of a standard normal
MODEL = "model"  # the forecaster name of the model's rows in a backtest ledger


@dataclass
class OpenDealDraws:
    """What the simulation needs of each open deal."""

    segment: np.ndarray  # index into the segment list
    amount: np.ndarray  # amount if won
    p_current: np.ndarray  # P(won and closed this period)
    p_next: np.ndarray  # P(won and closed next period)


# Random numbers are drawn a tile at a time: STREAM_DRAWS draws x at most TILE_DEALS deals of one
# segment (1 MB of 32-bit numbers, 2 MB as float64), which stays in a core's cache while it is
# compared and summed. Drawing draws x all deals at once streamed every number through memory
# four times (1M deals, 2,000 draws: 10.5 ns a number against 2.2).
TILE_DEALS = 1024
# Draws per random stream: each block of this many draws has its own stream (spawned from the
# generator), so that threads can share the blocks and the result depends on the seed alone.
STREAM_DRAWS = 250
# A deal is won in a draw when its random integer, uniform on [0, 2**31), is below
# round(p x 2**31): p = 0 is never won, p = 1 always, and any p within 2.4e-10.
_SCALE = 2.0**31


def _thresholds(p: np.ndarray) -> np.ndarray:
    return np.round(p * _SCALE).astype(np.uint32)


def simulate_open_deals(
    deals: OpenDealDraws, n_segments: int, draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(draws, n_segments) revenue this period and next from the open deals.

    Each draw gives each deal one fate (won this period, won next period, or neither), so a deal
    is never counted in both periods; deals are independent given their probabilities. Each block
    of ``STREAM_DRAWS`` draws takes its random numbers from its own stream (``rng.spawn``), the
    blocks shared among the forecast's threads (parallel.allowed_threads): the same seed gives the
    same draws whatever the threads. Within a block the deals are drawn a tile at a time
    (``TILE_DEALS`` deals of one segment, in segment order), so memory does not grow with the
    deals. A deal that cannot be won in either period takes no random numbers, and a period no
    deal can be won in is not summed.
    """
    if isinstance(rng.bit_generator, np.random.MT19937):  # its raw draws are 32 bits in 64
        raise ValueError("simulate_open_deals needs a generator of 64-bit raw draws (default_rng)")
    current = np.zeros((draws, n_segments))
    following = np.zeros((draws, n_segments))
    p0 = np.clip(np.asarray(deals.p_current, dtype=float), 0, 1)
    p01 = np.maximum(p0, np.clip(p0 + np.nan_to_num(np.asarray(deals.p_next, dtype=float)), 0, 1))
    segment = np.asarray(deals.segment)
    winnable = np.flatnonzero(p01 > 0)
    if len(winnable) == 0 or draws == 0:
        return current, following
    order = winnable[np.argsort(segment[winnable], kind="stable")]
    amount = np.nan_to_num(np.asarray(deals.amount, dtype=float))[order]
    below_now, below_by_next = _thresholds(p0[order]), _thresholds(p01[order])
    this_period, next_period = bool(np.any(below_now > 0)), bool(np.any(below_by_next > below_now))
    bounds = np.searchsorted(segment[order], np.arange(n_segments + 1))
    tiles = [
        (s, lo, min(lo + TILE_DEALS, bounds[s + 1]))
        for s in range(n_segments)
        for lo in range(bounds[s], bounds[s + 1], TILE_DEALS)
    ]
    starts = list(range(0, draws, STREAM_DRAWS))
    streams = rng.spawn(len(starts))

    def simulate_block(block: int) -> None:
        rows = slice(starts[block], min(starts[block] + STREAM_DRAWS, draws))
        size, bits = rows.stop - rows.start, streams[block].bit_generator
        for s, lo, hi in tiles:
            cells = size * (hi - lo)
            u = bits.random_raw((cells + 1) // 2).view(np.uint32)[:cells].reshape(size, hi - lo)
            u >>= 1  # uniform on [0, 2**31)
            won_now = u < below_now[lo:hi]
            if this_period:
                current[rows, s] += won_now.astype(float) @ amount[lo:hi]
            if next_period:  # won by the end of next period, not this one
                won_next = (u < below_by_next[lo:hi]) ^ won_now
                following[rows, s] += won_next.astype(float) @ amount[lo:hi]

    parallel.run_all(simulate_block, range(len(starts)), min(parallel.allowed_threads(), len(starts)))
    return current, following


def quantiles(totals: np.ndarray) -> tuple[float, float, float]:
    p10, p50, p90 = np.percentile(totals, QUANTILES)
    return float(p10), float(p50), float(p90)


def shared_spread(ledger: pd.DataFrame, minimum_periods: int = 1, predictive: bool = True) -> float:
    """c: the sd of the period-wide error relative to the expected period revenue that the backtest
    forecasts in ``ledger`` (the model's rows; each with the period, expected, actual and its own
    simulated sd ``sd_independent``, else (P90 - P10) / 2.563) show beyond their simulated spread.

    Each forecast gives (actual - expected)^2 / expected^2 - sd^2 / expected^2; the forecasts of
    one period share its outcome, so they are averaged per period first and the periods count
    equally. 0 with fewer than ``minimum_periods`` periods or when the simulated spread explains
    the errors.

    ``predictive``: c is itself estimated from k periods, so a range for a new period uses Student's
    t with k degrees of freedom for the shared part: c times t_k(0.9) / z(0.9) (2.4 from one
    period, 1.5 from two, 1.09 from eight)."""
    if ledger is None or ledger.empty or "forecaster" not in ledger:
        return 0.0
    rows = ledger[(ledger["forecaster"] == MODEL) & ledger["p10"].notna() & ledger["actual"].notna()]
    rows = rows[rows["expected"].astype(float) > 0]
    if rows.empty or rows["period"].nunique() < minimum_periods:
        return 0.0
    expected = rows["expected"].astype(float)
    if "sd_independent" in rows and rows["sd_independent"].notna().all():
        sd = rows["sd_independent"].astype(float)
    else:  # a ledger read back from ml.forecast_ledger: the range as written
        sd = (rows["p90"].astype(float) - rows["p10"].astype(float)) / Z_P10_P90
    excess = ((rows["actual"].astype(float) - expected) ** 2 - sd**2) / expected**2
    per_period = excess.groupby(rows["period"].to_numpy()).mean()
    c2 = float(per_period.mean())
    if c2 <= 0:
        return 0.0
    widen = stats.t.ppf(0.9, len(per_period)) / stats.norm.ppf(0.9) if predictive else 1.0
    return float(np.sqrt(c2) * widen)


def spread_factor(
    spread: float, expected_total: float, to_come: float, sd_to_come: float, most: float = 1.0
) -> float:
    """The sd s of log F (F log-normal, E[F] = 1) on the revenue still to come (mean ``to_come``,
    simulated sd ``sd_to_come``) that adds (spread x expected_total)^2 to its variance:
    Var(F X) = Var(X) (1 + q) + q E[X]^2 with q = exp(s^2) - 1. Bounded by ``most``; 0 when
    nothing is to come."""
    if spread <= 0 or to_come <= 0 or expected_total <= 0:
        return 0.0
    q = (spread * expected_total) ** 2 / (to_come**2 + sd_to_come**2)
    return float(min(np.sqrt(np.log1p(q)), most))


def independent_sd(amount: np.ndarray, p: np.ndarray, other_variance: float = 0.0) -> float:
    """sd of the sum of independent won-or-not deals (amount x Bernoulli(p)) plus another
    independent part's variance (the deals not created yet)."""
    amount = np.nan_to_num(np.asarray(amount, dtype=float))
    p = np.clip(np.nan_to_num(np.asarray(p, dtype=float)), 0, 1)
    return float(np.sqrt(np.sum(amount**2 * p * (1 - p)) + max(other_variance, 0.0)))


MODEL_NAME = "revenue_forecast"  # its row in ml.model_runs


@dataclass(frozen=True)
class Spread:
    """The period-wide spread a night's ranges use, and where it came from."""

    value: float
    measured: float
    periods: int
    prior: float
    min_periods: int

    @property
    def from_prior(self) -> bool:
        return self.periods < self.min_periods and self.prior > self.measured

    def describe(self) -> str:
        if self.from_prior:
            return (
                f"{self.periods} backtest period(s), fewer than {self.min_periods}, cannot measure "
                f"the spread of a period's revenue (measured {100 * self.measured:.1f}%): "
                f"ranges widened to the prior {100 * self.prior:.1f}% (forecast_spread_prior)"
            )
        return (
            f"a period-wide error of {100 * self.value:.1f}% of the expected revenue, measured on "
            f"{self.periods} backtest period(s)"
        )


@dataclass(frozen=True)
class SpreadPrior:
    """With fewer than ``min_periods`` backtest periods the spread is at least ``prior``: a range
    is widened from a stated prior when the data cannot show its width, never left narrow; with
    enough periods the measured spread stands."""

    prior: float = 0.0
    min_periods: int = 1

    def apply(self, ledger: pd.DataFrame | None) -> Spread:
        measured = shared_spread(ledger) if ledger is not None else 0.0
        periods = 0
        if ledger is not None and not ledger.empty and "forecaster" in ledger:
            rows = ledger[(ledger["forecaster"] == MODEL) & ledger["actual"].notna()]
            periods = int(rows["period"].nunique())
        value = max(measured, self.prior) if periods < self.min_periods else measured
        return Spread(value, measured, periods, self.prior, self.min_periods)
