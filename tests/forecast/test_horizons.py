"""Horizons follow the cycle the warehouse shows: fast funnels get weeks and a short maturity (and a
backtest from eight weeks of history), slow ones quarters; settings win over the data."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pipecast.config import Settings
from pipecast.forecast.horizons import Cycle, derive, grain_for, maturity_for, training_cutoffs
from pipecast.forecast.periods import period_of

AS_OF = date(2026, 11, 29)


def cycle(days: float | None, history_days: int, closed: int = 500) -> Cycle:
    return Cycle(
        closed if days else 0, 0.9, days, days / 2 if days else None, AS_OF - timedelta(history_days), AS_OF
    )


def settings(**overrides) -> Settings:
    return Settings(**{"forecast_backtest_cutoffs": 4, **overrides})


def test_grain_and_maturity_follow_the_cycle():
    assert [grain_for(d) for d in (5, 18, 28, 29, 75, 76, 300)] == [
        "week",
        "week",
        "week",
        "month",
        "month",
        "quarter",
        "quarter",
    ]
    assert [maturity_for(d) for d in (0.5, 7, 18, 96, 1000)] == [7, 7, 21, 98, 365]


def test_eight_weeks_of_a_fast_funnel_get_a_weekly_backtest():
    h = derive(cycle(18, 56), settings())
    assert (h.grain, h.label_maturity_days, h.cutoff_spacing) == ("week", 21, "week")
    assert h.sources["grain"] == h.sources["label_maturity_days"] == "data"
    assert len(h.backtest_cutoffs) >= 2
    assert all(c.weekday() == 6 for c in h.backtest_cutoffs)  # ISO weeks end on Sundays
    assert max(h.backtest_cutoffs) <= AS_OF - timedelta(days=21)
    assert min(h.backtest_cutoffs) >= AS_OF - timedelta(days=56)
    assert h.backtest_window_days == (h.backtest_cutoffs[-1] - h.backtest_cutoffs[0]).days
    assert "weeks (data)" in h.describe()


def test_a_slow_funnel_gets_quarters_and_a_long_maturity():
    h = derive(cycle(150, 3 * 365), settings())
    assert (h.grain, h.label_maturity_days, h.cutoff_spacing) == ("quarter", 154, "quarter")
    assert len(h.backtest_cutoffs) == 4
    assert all(period_of(c, 0, "quarter").end == c for c in h.backtest_cutoffs)


def test_a_window_too_short_for_quarter_ends_uses_finer_cut_offs():
    h = derive(cycle(80, 300), settings())
    assert h.grain == "quarter" and h.cutoff_spacing in ("month", "week")
    assert len(h.backtest_cutoffs) == 4


def test_a_history_shorter_than_warm_up_plus_maturity_starts_the_backtest_early_and_says_so():
    h = derive(cycle(40, 70), settings())
    assert h.backtest_cutoffs and h.warmup_days < h.label_maturity_days
    assert any("shorter than a warm-up" in n for n in h.notes)


def test_no_closed_deal_keeps_the_defaults_with_a_note_and_no_backtest():
    h = derive(cycle(None, 60), settings())
    assert (h.grain, h.label_maturity_days) == ("quarter", 180)
    assert h.sources["grain"] == "default" and h.backtest_cutoffs == []
    assert any("no deal has closed" in n for n in h.notes) and any("no backtest" in n for n in h.notes)


def test_settings_win_over_the_data():
    h = derive(
        cycle(18, 400),
        settings(forecast_period="month", forecast_label_maturity_days=60, forecast_cutoff_spacing="month"),
    )
    assert (h.grain, h.label_maturity_days, h.cutoff_spacing) == ("month", 60, "month")
    assert h.sources == {
        "grain": "setting",
        "label_maturity_days": "setting",
        "warmup_days": "data",
        "cutoff_spacing": "setting",
    }


@pytest.mark.parametrize(("days", "expected"), [(18, "week"), (150, "quarter")])
def test_training_cut_offs_follow_the_grain(days, expected):
    first = AS_OF - timedelta(days=120)
    h = derive(cycle(days, 120), settings())
    cutoffs = training_cutoffs(first, AS_OF, h)
    assert cutoffs and max(cutoffs) <= AS_OF and min(cutoffs) > first
    gaps = {(b - a).days for a, b in zip(cutoffs, cutoffs[1:], strict=False)}
    assert gaps == {7} if expected == "week" else gaps <= {13, 14, 15, 16, 17}
