"""The revenue simulation and its range calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipecast.forecast.revenue import OpenDealDraws, quantiles, simulate_open_deals
from pipecast.forecast.scoring import period_shock


def test_a_deal_is_won_in_one_period_at_most_and_expectations_hold():
    deals = OpenDealDraws(
        segment=np.array([0, 0, 1]),
        amount=np.array([100.0, 50.0, 10.0]),
        p_current=np.array([0.5, 0.2, 1.0]),
        p_next=np.array([0.5, 0.3, 0.0]),
    )
    current, following = simulate_open_deals(deals, 2, draws=20_000, rng=np.random.default_rng(1), chunk=777)
    assert current.shape == following.shape == (20_000, 2)
    # deal 0 is won this period or next, never both and never neither
    assert np.all(current[:, 0] + following[:, 0] >= 100.0)
    assert np.allclose(current[:, 1], 10.0) and np.allclose(following[:, 1], 0.0)
    assert current[:, 0].mean() == np.float64(current[:, 0].mean())
    assert abs(current[:, 0].mean() - (50 + 10)) < 1.5 and abs(following[:, 0].mean() - (50 + 15)) < 1.5


def test_quantiles_are_ordered():
    p10, p50, p90 = quantiles(np.random.default_rng(0).normal(100, 10, 5000))
    assert p10 < p50 < p90 and abs(p50 - 100) < 1


def _ledger(errors: np.ndarray, sd: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "forecaster": "model",
            "expected": 100.0,
            "closed_won_to_date": 0.0,
            "actual": 100.0 + errors,
            "p10": 100 - 1.28155 * sd,
            "p90": 100 + 1.28155 * sd,
        }
    )


def test_the_period_shock_is_what_backtest_errors_show_beyond_the_simulated_spread():
    assert period_shock(_ledger(np.array([5.0, -8.0, 10.0, -11.0, 2.0, 9.0]))) == 0.0  # within the spread
    # errors of 20 around 100 with a simulated sd of 10: sqrt(20^2 - 10^2) / 100 beyond it
    assert period_shock(_ledger(np.array([20.0, -20.0] * 3))) == pytest.approx(np.sqrt(300) / 100, rel=1e-3)
    assert period_shock(_ledger(np.array([30.0, 30.0]))) == 0.0  # too few forecasts to judge
    assert period_shock(_ledger(np.array([500.0, -500.0] * 3))) == 0.5  # bounded
