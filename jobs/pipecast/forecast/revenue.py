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


# Random numbers held at once by the simulation (draws x deals, in chunks of draws, over all its
# threads): 20M doubles are 160 MB, so 1M open deals take 20 draws at a time rather than all 2,000
# (16 GB).
SIMULATION_CELLS = 20_000_000
# Draws per random stream: each block of this many draws has its own stream (spawned from the
# generator), so that threads can share the blocks and the result depends on the seed alone.
STREAM_DRAWS = 250


def simulate_open_deals(
    deals: OpenDealDraws, n_segments: int, draws: int, rng: np.random.Generator, chunk: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """(draws, n_segments) revenue this period and next from the open deals.

    Each draw gives each deal one fate (won this period, won next period, or neither), so a deal
    is never counted in both periods; deals are independent given their probabilities. Each block
    of ``STREAM_DRAWS`` draws takes its random numbers from its own stream (``rng.spawn``), the
    blocks shared among the forecast's threads (parallel.allowed_threads): the same seed gives the
    same draws whatever the threads. Within a block the draws are made ``chunk`` at a time, fewer
    when the deals are many (``SIMULATION_CELLS``); the stream is the same whatever the chunk. The
    deals take their random numbers in segment order (each segment's a contiguous block), and a
    period no deal can be won in is not summed.
    """
    n = len(deals.amount)
    current = np.zeros((draws, n_segments))
    following = np.zeros((draws, n_segments))
    if n == 0 or draws == 0:
        return current, following
    order = np.argsort(deals.segment, kind="stable")
    amount = np.nan_to_num(np.asarray(deals.amount, dtype=float))[order]
    p0 = np.clip(np.asarray(deals.p_current, dtype=float), 0, 1)[order]
    p01 = np.maximum(p0, np.clip(p0 + np.nan_to_num(np.asarray(deals.p_next, dtype=float)[order]), 0, 1))
    bounds = np.searchsorted(np.asarray(deals.segment)[order], np.arange(n_segments + 1))
    segments = [(s, bounds[s], bounds[s + 1]) for s in range(n_segments) if bounds[s + 1] > bounds[s]]
    this_period, next_period = bool(np.any(p0 > 0)), bool(np.any(p01 > p0))
    starts = list(range(0, draws, STREAM_DRAWS))
    streams = rng.spawn(len(starts))
    threads = min(parallel.allowed_threads(), len(starts))
    chunk = max(1, min(chunk, SIMULATION_CELLS // (n * threads)))

    def simulate_block(block: int) -> None:
        first, stream = starts[block], streams[block]
        for start in range(first, min(first + STREAM_DRAWS, draws), chunk):
            size = min(chunk, first + STREAM_DRAWS - start, draws - start)
            u = stream.random((size, n))
            for s, lo, hi in segments:
                part, weights = u[:, lo:hi], amount[lo:hi]
                won_now = part < p0[lo:hi]
                if this_period:
                    current[start : start + size, s] = won_now.astype(float) @ weights
                if next_period:  # won by the end of next period, not this one
                    won_next = (part < p01[lo:hi]) ^ won_now
                    following[start : start + size, s] = won_next.astype(float) @ weights

    parallel.run_all(simulate_block, range(len(starts)), threads)
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
