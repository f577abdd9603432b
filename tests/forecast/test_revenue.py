"""The revenue simulation and its range calibration."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from pipecast.forecast import parallel, revenue
from pipecast.forecast.backtests import forecast_with_spread
from pipecast.forecast.new_business import NewBusinessForecast, SegmentNewBusiness
from pipecast.forecast.periods import Period
from pipecast.forecast.revenue import (
    OpenDealDraws,
    independent_sd,
    quantiles,
    shared_spread,
    simulate_open_deals,
    spread_factor,
)
from pipecast.forecast.scoring import ForecastContext


def test_a_deal_is_won_in_one_period_at_most_and_expectations_hold():
    deals = OpenDealDraws(
        segment=np.array([0, 0, 1]),
        amount=np.array([100.0, 50.0, 10.0]),
        p_current=np.array([0.5, 0.2, 1.0]),
        p_next=np.array([0.5, 0.3, 0.0]),
    )
    current, following = simulate_open_deals(deals, 2, draws=20_000, rng=np.random.default_rng(1))
    assert current.shape == following.shape == (20_000, 2)
    # deal 0 is won this period or next, never both and never neither
    assert np.all(current[:, 0] + following[:, 0] >= 100.0)
    assert np.allclose(current[:, 1], 10.0) and np.allclose(following[:, 1], 0.0)
    assert current[:, 0].mean() == np.float64(current[:, 0].mean())
    assert abs(current[:, 0].mean() - (50 + 10)) < 1.5 and abs(following[:, 0].mean() - (50 + 15)) < 1.5


def _recorded(generator: np.random.Generator, sizes: list[int]):
    """A generator whose spawn records how many raw random numbers each call draws."""

    class RecordingBits:
        def __init__(self, inner: np.random.BitGenerator):
            self.inner = inner

        def random_raw(self, size: int) -> np.ndarray:
            sizes.append(size)
            return self.inner.random_raw(size)

    class Recording:
        def __init__(self, inner: np.random.Generator):
            self.bit_generator = RecordingBits(inner.bit_generator)
            self.inner = inner

        def spawn(self, n: int) -> list[Recording]:
            return [Recording(g) for g in self.inner.spawn(n)]

    return Recording(generator)


def _some_deals(n: int = 500) -> OpenDealDraws:
    rng = np.random.default_rng(3)
    return OpenDealDraws(rng.integers(0, 3, n), rng.lognormal(8, 1, n), rng.random(n) / 2, rng.random(n) / 3)


def test_the_random_numbers_held_at_once_do_not_grow_with_the_deals(monkeypatch):
    """Memory and speed: each call draws one tile (a block's draws x at most TILE_DEALS deals of one
    segment), whatever the deals; deals that cannot be won take none."""
    monkeypatch.setattr(parallel, "allowed_threads", lambda: 1)
    monkeypatch.setattr(revenue, "TILE_DEALS", 64)
    deals = _some_deals(2_000)
    deals.p_current[:100] = 0.0
    deals.p_next[:100] = 0.0
    sizes: list[int] = []
    rng = _recorded(np.random.default_rng(9), sizes)
    current, _ = simulate_open_deals(deals, 3, draws=300, rng=rng)
    per_segment = np.bincount(deals.segment[100:], minlength=3)
    tiles = int(np.sum(-(-per_segment // 64)))
    assert len(sizes) == 2 * tiles  # two streams (STREAM_DRAWS = 250) of 250 and 50 draws
    assert max(sizes) == 250 * 64 // 2  # two 32-bit numbers a raw draw
    assert sum(sizes) == sum(-(-draws * n // 2) for draws in (250, 50) for n in _tile_widths(per_segment, 64))
    expected = np.bincount(deals.segment, weights=deals.amount * deals.p_current, minlength=3)
    np.testing.assert_allclose(current.mean(axis=0), expected, rtol=0.05)


def _tile_widths(per_segment: np.ndarray, width: int) -> list[int]:
    return [min(width, n - lo) for n in per_segment for lo in range(0, n, width)]


def test_the_draws_depend_on_the_seed_not_on_the_threads(monkeypatch):
    deals = _some_deals(2_000)
    runs = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(parallel, "allowed_threads", lambda threads=threads: threads)
        runs.append(simulate_open_deals(deals, 3, draws=1_000, rng=np.random.default_rng(9)))
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            np.testing.assert_array_equal(a, b)
    assert runs[0][0][:250].std(axis=0).min() > 0  # the blocks are not one stream repeated
    assert not np.array_equal(runs[0][0][:250], runs[0][0][250:500])


def test_no_draws_give_empty_sums():
    current, following = simulate_open_deals(_some_deals(), 3, draws=0, rng=np.random.default_rng(9))
    assert current.shape == following.shape == (0, 3)


def test_each_worker_thread_runs_one_openmp_thread(monkeypatch):
    """OpenMP's thread count is each thread's own: a worker must cap it itself, or HistGradientBoosting
    inside it runs a team per core beside the other workers."""
    from threadpoolctl import threadpool_info

    def openmp_threads(_):
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"]

    seen = parallel.run_all(openmp_threads, range(4), threads=2)
    assert all(counts and set(counts) == {1} for counts in seen)


def test_quantiles_are_ordered():
    p10, p50, p90 = quantiles(np.random.default_rng(0).normal(100, 10, 5000))
    assert p10 < p50 < p90 and abs(p50 - 100) < 1


def _past(period: str, actual: float, expected: float, sd: float, p10=None, p90=None) -> dict:
    return {
        "forecaster": "model",
        "period": period,
        "expected": expected,
        "actual": actual,
        "p10": expected - 1.28155 * sd if p10 is None else p10,
        "p90": expected + 1.28155 * sd if p90 is None else p90,
        "sd_independent": sd,
    }


def test_the_shared_spread_is_the_relative_error_beyond_the_simulated_spread_with_periods_counting_once():
    within = pd.DataFrame([_past(f"P{i}", 100 + e, 100, 10) for i, e in enumerate([5, -8, 10, -11, 2, 9])])
    assert shared_spread(within) == 0.0
    # period A: two forecasts off by 30 and 10 (sd 0 each); period B: one forecast off by 20
    ledger = pd.DataFrame([_past("A", 130, 100, 0.0), _past("A", 110, 100, 0.0), _past("B", 80, 100, 0.0)])
    per_period = [(0.3**2 + 0.1**2) / 2, 0.2**2]  # each period's mean, then the mean over periods
    assert shared_spread(ledger, predictive=False) == pytest.approx(np.sqrt(np.mean(per_period)))
    # for a new period: widened by Student's t with two degrees of freedom (two periods measured)
    assert shared_spread(ledger) == pytest.approx(np.sqrt(np.mean(per_period)) * 1.8856 / 1.28155, rel=1e-4)
    # relative to the expected period revenue: the same relative errors at 10x the scale agree
    scaled = ledger.assign(expected=ledger["expected"] * 10, actual=ledger["actual"] * 10)
    assert shared_spread(scaled) == pytest.approx(shared_spread(ledger))
    # only the model's rows count, and too few periods give nothing
    assert shared_spread(ledger.assign(forecaster="stage_weighted")) == 0.0
    assert shared_spread(ledger, minimum_periods=3) == 0.0
    assert shared_spread(pd.DataFrame()) == 0.0


def test_the_shared_spread_subtracts_the_independent_spread_not_the_range_that_already_had_a_shock():
    # errors of 20 around 100, deals' own sd 10; the written range (P10-P90) was widened by an
    # earlier shared factor to an sd of 25: measuring against it would find no shared error at all
    rows = [
        _past(f"P{i}", 100 + e, 100, 10.0, p10=100 - 32.0, p90=100 + 32.0) for i, e in enumerate([20, -20])
    ]
    ledger = pd.DataFrame(rows)
    assert shared_spread(ledger, predictive=False) == pytest.approx(np.sqrt(20**2 - 10**2) / 100)
    # read back from ml.forecast_ledger (no sd_independent): the range as written is all it has
    assert shared_spread(ledger.drop(columns="sd_independent")) == 0.0


def test_the_spread_factor_adds_the_shared_variance_relative_to_the_whole_period():
    rng = np.random.default_rng(3)
    to_come = rng.normal(40.0, 4.0, 400_000)  # revenue still to come: mean 40, sd 4
    s = spread_factor(0.1, expected_total=100.0, to_come=40.0, sd_to_come=4.0)
    factor = np.exp(s * rng.standard_normal(to_come.size) - s**2 / 2)
    assert np.mean(factor * to_come) == pytest.approx(40.0, rel=5e-3)  # the expectation is kept
    # variance: the deals' own 4^2 plus (0.1 x the period's 100)^2
    assert np.var(factor * to_come) == pytest.approx(4.0**2 + (0.1 * 100.0) ** 2, rel=0.02)
    assert spread_factor(0.0, 100.0, 40.0, 4.0) == 0.0
    assert spread_factor(0.1, 100.0, 0.0, 0.0) == 0.0  # nothing left to come
    assert spread_factor(0.5, 100.0, 1.0, 0.0) == 1.0  # bounded


def test_the_independent_spread_is_what_the_simulation_draws():
    rng = np.random.default_rng(5)
    amount = rng.lognormal(10, 1, 3000)
    p = rng.uniform(0, 0.7, 3000)
    deals = OpenDealDraws(np.zeros(3000, dtype=int), amount, p, np.zeros(3000))
    current, _ = simulate_open_deals(deals, 1, draws=4000, rng=rng)
    assert independent_sd(amount, p) == pytest.approx(current[:, 0].std(), rel=0.05)
    assert independent_sd(amount, p, other_variance=9e12) == pytest.approx(
        np.sqrt(independent_sd(amount, p) ** 2 + 9e12)
    )


def test_the_new_business_variance_is_what_its_simulation_draws():
    rng = np.random.default_rng(11)
    period = Period("2026-Q1", date(2026, 1, 1), date(2026, 3, 31))
    forecast = NewBusinessForecast(date(2025, 12, 31), {"next": period}, rate_spread=0.2)
    forecast.segments["next"] = {
        "SMB": SegmentNewBusiness("SMB", 50_000.0, 20.0, rng.lognormal(7.5, 0.5, 300)),
        "Enterprise": SegmentNewBusiness("Enterprise", 400_000.0, 5.0, rng.lognormal(11, 0.7, 100)),
    }
    draws = forecast.simulate("next", ["SMB", "Enterprise"], 100_000, rng).sum(axis=1)
    assert draws.mean() == pytest.approx(450_000.0, rel=0.01)
    assert forecast.variance("next") == pytest.approx(draws.var(), rel=0.03)
    assert forecast.variance("current") == 0.0


def _pipeline(rng: np.random.Generator, n: int = 4000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment": rng.choice(["SMB", "Enterprise"], n),
            "amount": rng.lognormal(9, 0.6, n),
            "close_date": pd.Timestamp("2026-02-15"),
            "crm_probability": 0.3,
            "forecast_category": "pipeline",
            "p_won_this_period": 0.0,
            "p_won_next_period": rng.uniform(0.05, 0.6, n),
        }
    ).assign(amount_if_won=lambda d: d["amount"])


def _coverage(spreads: list[float], actuals: list[float], scored: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    ctx = ForecastContext("quarter", 1, seed=0, draws=500, maturity_days=180, max_training_rows=1000)
    period = Period("2026-Q1", date(2026, 1, 1), date(2026, 3, 31))
    rng = np.random.default_rng(0)
    inside, rows = [], []
    for i, (spread, actual) in enumerate(zip(spreads, actuals, strict=True)):
        forecast = forecast_with_spread(
            None, ctx, scored, date(2025, 12, 31), "next", period, None, rng, spread
        )
        total = forecast[forecast["segment"] == "All"].iloc[0]
        inside.append(total["p10"] <= actual <= total["p90"])
        rows.append(
            {**total.to_dict(), "forecaster": "model", "period": f"P{i}", "actual": actual, "horizon": "next"}
        )
    return float(np.mean(inside)), pd.DataFrame(rows)


def test_the_range_carries_the_shared_uncertainty_that_past_periods_showed():
    """Every period shares one factor on its deals' win rates (sd 10%), which the deal scores do not
    know: a range from independent deals alone is far too narrow; one with the spread measured on
    past periods covers about 80% of new periods."""
    rng = np.random.default_rng(21)
    scored = _pipeline(rng)
    p, amount = scored["p_won_next_period"].to_numpy(), scored["amount_if_won"].to_numpy()

    def outcomes(periods: int) -> list[float]:
        shared = np.exp(0.1 * rng.standard_normal(periods) - 0.005)
        return [float(amount @ (rng.random(p.size) < np.clip(p * g, 0, 1))) for g in shared]

    _, past = _coverage([0.0] * 24, outcomes(24), scored)
    spread = shared_spread(past)
    assert 0.06 < spread < 0.14
    future = outcomes(60)
    ignoring, _ = _coverage([0.0] * 60, future, scored)
    with_spread, _ = _coverage([spread] * 60, future, scored)
    assert ignoring < 0.45  # about 0.2-0.3 over seeds
    assert 0.65 <= with_spread <= 0.95  # about 0.7-0.85 over seeds (60 periods: +-5% by chance)


def test_a_deal_without_a_next_period_probability_is_not_won_twice():
    deals = OpenDealDraws(
        segment=np.array([0, 0, 0]),
        amount=np.array([100.0, 10.0, 1.0]),
        p_current=np.array([0.5, 0.5, 0.5]),
        p_next=np.array([np.nan, -0.2, 0.3]),
    )
    current, following = simulate_open_deals(deals, 1, draws=4000, rng=np.random.default_rng(4))
    both = current[:, 0] + following[:, 0]
    assert both.max() <= 111.0  # each deal counted once at most
    assert abs(following[:, 0].mean() - 0.3) < 0.05  # only the third deal can fall next period


def test_a_generator_of_32_bit_raw_draws_is_refused():
    """The simulation reads two 32-bit numbers from each raw draw: MT19937's raw draws hold 32 bits in
    64, so every other number would be 0 and every deal won half the time."""
    with pytest.raises(ValueError, match="64-bit"):
        simulate_open_deals(_some_deals(), 3, draws=10, rng=np.random.Generator(np.random.MT19937(1)))
