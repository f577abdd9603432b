"""Period revenue ranges: a Monte-Carlo over the open deals (win x timing x amount); the deals not
created yet are added by new_business, closed-won to date by scoring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUANTILES = (10, 50, 90)


@dataclass
class OpenDealDraws:
    """What the simulation needs of each open deal."""

    segment: np.ndarray  # index into the segment list
    amount: np.ndarray  # amount if won
    p_current: np.ndarray  # P(won and closed this period)
    p_next: np.ndarray  # P(won and closed next period)


def simulate_open_deals(
    deals: OpenDealDraws, n_segments: int, draws: int, rng: np.random.Generator, chunk: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """(draws, n_segments) revenue this period and next from the open deals.

    Each draw gives each deal one fate (won this period, won next period, or neither), so a deal
    is never counted in both periods; deals are independent given their probabilities.
    """
    n = len(deals.amount)
    current = np.zeros((draws, n_segments))
    following = np.zeros((draws, n_segments))
    if n == 0:
        return current, following
    by_segment = np.zeros((n, n_segments))
    by_segment[np.arange(n), deals.segment] = np.nan_to_num(deals.amount)
    p0 = np.clip(deals.p_current, 0, 1)
    p01 = np.clip(p0 + deals.p_next, 0, 1)
    for start in range(0, draws, chunk):  # memory: chunk x deals
        size = min(chunk, draws - start)
        u = rng.random((size, n))
        current[start : start + size] = (u < p0) @ by_segment
        following[start : start + size] = ((u >= p0) & (u < p01)) @ by_segment
    return current, following


def quantiles(totals: np.ndarray) -> tuple[float, float, float]:
    p10, p50, p90 = np.percentile(totals, QUANTILES)
    return float(p10), float(p50), float(p90)
