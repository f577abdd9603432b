"""Period revenue: closed-won to date plus a Monte-Carlo range over the open deals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Period:
    label: str
    start: date
    end: date  # inclusive


def quarter_of(day: date, offset: int = 0) -> Period:
    index = (day.year * 4 + (day.month - 1) // 3) + offset
    year, q = divmod(index, 4)
    start = date(year, q * 3 + 1, 1)
    end = (pd.Timestamp(start) + pd.offsets.QuarterEnd(0)).date()
    return Period(f"{year}-Q{q + 1}", start, end)


def simulate_period_revenue(
    amounts: np.ndarray,
    win_probability: np.ndarray,
    draws: int = 2000,
    seed: int = 0,
    chunk: int = 250,
) -> np.ndarray:
    """Revenue totals over `draws` simulated outcomes (each deal won independently)."""
    rng = np.random.default_rng(seed)
    amounts = np.nan_to_num(np.asarray(amounts, dtype=float))
    p = np.asarray(win_probability, dtype=float)
    totals = np.empty(draws)
    for start in range(0, draws, chunk):  # chunks keep memory at chunk x deals
        n = min(chunk, draws - start)
        wins = rng.random((n, len(p))) < p
        totals[start : start + n] = wins @ amounts
    return totals
