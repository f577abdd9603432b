"""Win probability with open deals censored, not lost: discrete-time competing risks per stage.

A deal in open stage k faces, in each interval of its time in the stage, three outcomes: it
advances (to a later open stage, or wins from the last one), it is lost, or it stays. One
classifier over {stay, advance, lose} learns these interval hazards from every stage visit up to
the training date, one row per interval the deal spent in the stage ("person-period" rows, with
the interval's start in days as a feature beside the deal's attributes). A visit still open at the
training date contributes the intervals it has survived as "stay" rows, and nothing else: it is
censored, never counted as lost. The last interval it was seen in counts for the share of the
interval it was observed (the actuarial correction).

Why: an exit-only model (win_models' stage_chain) learns P(advance | the stage was left) from the
exits seen so far. On a short history those are mostly the fast exits; when losses come faster
than wins (or the other way round), the exits seen are not the exits to come, and the slow deals
still open, the ones that will win later, are missing. The hazards use every deal at risk in each
interval, so the estimate of the share advancing does not depend on how many of the slow exits
have happened yet; and a deal that has sat long in a stage is scored with the hazards of its own
interval, not with those of a fresh one.

Prediction for a deal open in stage k for d days:
    A_j(b) = sum_{t >= b} S_j(b, t) h_adv(j, t)       (S: the share still in stage j at interval t)
    P(win) = A_k(interval of d, only the rest of it) x prod_{j > k} A_j(0)
Beyond the last interval edge the hazards are held constant (intervals of the last width repeat),
so the tail contributes S x h_adv / (h_adv + h_lose). Advancing from stage k is taken as entering
k + 1 (as the stage chain assumes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipecast.forecast.estimators import ProbabilityModel, fit_classifier

log = logging.getLogger(__name__)

# Interval edges in days of time in stage (roughly geometric: days-long funnels and
# quarter-long ones both get a few intervals per visit); past the last edge, intervals of
# TAIL_DAYS repeat with the hazards of the last one.
INTERVAL_EDGES = np.array([0.0, 2.0, 5.0, 10.0, 17.0, 27.0, 40.0, 60.0, 90.0, 135.0, 200.0, 300.0])
TAIL_DAYS = 150.0
STAY, ADVANCE, LOSE = 0, 1, 2
CLASSES = [STAY, ADVANCE, LOSE]
# the start of the interval, in days in stage: a deal is scored at each interval ahead of it
TIME_FEATURE = "days_in_stage"
# Person-period rows above this are thinned by deal (a deterministic share of deals, all their rows).
MAX_PERIOD_ROWS = 250_000
# Most rows are a full interval stayed: a recipe's ``stay_share`` below 1 keeps that share of
# them, weighted up by its inverse, to fit faster. Off by default: at 0.3 the short-history test
# (tests/forecast/test_censored_win.py) failed its calibration bounds.
STAY_SHARE = 1.0


def interval_starts() -> np.ndarray:
    return INTERVAL_EDGES


def interval_widths() -> np.ndarray:
    return np.append(np.diff(INTERVAL_EDGES), TAIL_DAYS)


def interval_of(days: np.ndarray) -> np.ndarray:
    """Index of the interval a time in stage falls in (the tail is the last index)."""
    clean = np.nan_to_num(np.asarray(days, dtype=float), nan=0.0)
    return np.searchsorted(INTERVAL_EDGES, np.clip(clean, 0.0, None), side="right") - 1


def person_periods(visits: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """One row per (visit, interval at risk): the visit's columns plus ``interval_start_days``;
    labels (stay / advance / lose in that interval) and weights (1, or the share of its last
    interval a censored visit was observed for).

    ``visits``: features.stage_visits (outcome advanced / lost / open / moved; days_observed).
    A visit that moved back to an earlier stage is censored at the move."""
    if visits.empty:
        return visits.assign(**{TIME_FEATURE: pd.Series(dtype=float)}), np.array([]), np.array([])
    days = np.clip(visits["days_observed"].to_numpy(dtype=float), 0.0, None)
    outcome = visits["outcome"].to_numpy()
    starts = interval_starts()
    widths = interval_widths()
    last_edge = starts[-1]
    # intervals at risk: every regular interval started before the end, plus tail chunks
    regular = np.searchsorted(starts, days, side="right")  # regular intervals begun (>= 1)
    regular = np.where(days >= last_edge, len(starts) - 1, regular)
    tail = np.where(days >= last_edge, np.floor((days - last_edge) / TAIL_DAYS).astype(int) + 1, 0)
    counts = regular + tail
    row_visit = np.repeat(np.arange(len(visits)), counts)
    position = np.arange(len(row_visit)) - np.repeat(np.cumsum(counts) - counts, counts)
    index = np.minimum(position, len(starts) - 1)
    begin = np.where(
        position < len(starts) - 1, starts[index], last_edge + (position - (len(starts) - 1)) * TAIL_DAYS
    )
    is_last = position == counts[row_visit] - 1
    event = np.where(outcome == "advanced", ADVANCE, np.where(outcome == "lost", LOSE, STAY))
    labels = np.where(is_last, event[row_visit], STAY)
    observed = (days[row_visit] - begin) / widths[index]
    censored_last = is_last & (labels == STAY)
    weights = np.where(censored_last, np.clip(observed, 0.0, 1.0), 1.0)
    rows = visits.iloc[row_visit].reset_index(drop=True)
    rows[TIME_FEATURE] = starts[index]
    keep = weights > 0
    return rows[keep].reset_index(drop=True), labels[keep], weights[keep]


def thin_by_deal(rows: pd.DataFrame, limit: int = MAX_PERIOD_ROWS) -> np.ndarray:
    """A deterministic mask keeping about ``limit`` rows, whole deals at a time."""
    if len(rows) <= limit:
        return np.ones(len(rows), dtype=bool)
    share = limit / len(rows)
    bucket = pd.util.hash_pandas_object(rows["opportunity_id"].astype(str), index=False).to_numpy()
    return (bucket % 10_000) < int(share * 10_000)


@dataclass
class StageHazardModel:
    """P(win) from the per-interval hazards of advancing and losing in each remaining stage."""

    recipe: object  # win_models.Recipe (not imported: win_models imports this module)
    hazards: ProbabilityModel
    train_rows: int

    def predict(self, deals: pd.DataFrame) -> np.ndarray:
        if len(deals) == 0:
            return np.array([])
        rank = deals["stage_rank"].to_numpy(dtype=float)
        last = deals["open_stages"].to_numpy(dtype=float)
        known = ~np.isnan(rank) & ~np.isnan(last)
        p = np.zeros(len(deals))
        if known.any():
            p[known] = self._win_from_stage(deals.loc[known])
        fallback = deals["crm_probability"].to_numpy(dtype=float) if "crm_probability" in deals else None
        p[~known] = np.nan_to_num(fallback[~known], nan=0.0) if fallback is not None else 0.0
        return np.clip(p, 0.0, 1.0)

    def _win_from_stage(self, deals: pd.DataFrame) -> np.ndarray:
        n = len(deals)
        rank = deals["stage_rank"].to_numpy(dtype=float).astype(int)
        last = deals["open_stages"].to_numpy(dtype=float).astype(int)
        in_stage = deals["days_in_stage"].to_numpy(dtype=float) if "days_in_stage" in deals else np.zeros(n)
        in_stage = np.clip(np.nan_to_num(in_stage, nan=0.0), 0.0, None)
        starts, widths = interval_starts(), interval_widths()
        k_intervals = len(starts)
        top = int(last.max())
        # hazards for every deal, stage 1..top and interval: one batch through the classifier
        stages = np.arange(1, top + 1)
        wanted = [c for c in self.hazards.features if c in deals and c not in ("stage_rank", TIME_FEATURE)]
        grid = deals[wanted].reset_index(drop=True)
        deal_rows = np.repeat(np.arange(n), len(stages) * k_intervals)
        frame = grid.iloc[deal_rows].reset_index(drop=True)
        frame["stage_rank"] = np.tile(np.repeat(stages, k_intervals), n).astype(float)
        frame[TIME_FEATURE] = np.tile(starts, n * len(stages))
        proba = self.hazards.predict_proba(frame).reshape(n, len(stages), k_intervals, 3)
        h_adv, h_lose = proba[..., ADVANCE], proba[..., LOSE]
        # the current interval: only the part after the deal's time in stage is still ahead
        current = interval_of(in_stage)
        ahead = np.clip((starts[current] + widths[current] - in_stage) / widths[current], 0.0, 1.0)
        ahead = np.where(current == k_intervals - 1, 1.0, ahead)  # the tail repeats: memoryless
        p = np.ones(n)
        for s, stage in enumerate(stages):
            mine = (rank <= stage) & (stage <= last)
            if not mine.any():
                continue
            first = np.where(rank == stage, current, 0)
            scale = np.where(rank == stage, ahead, 1.0)
            p[mine] *= _advance_share(h_adv[mine, s], h_lose[mine, s], first[mine], scale[mine])
        return p


def _advance_share(h_adv: np.ndarray, h_lose: np.ndarray, first: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per deal: the share that eventually advances, starting in interval ``first`` with only
    ``scale`` of it ahead (hazards of that interval scaled down), the tail repeating."""
    n, k = h_adv.shape
    col = np.arange(k)[None, :]
    active = col >= first[:, None]
    partial = col == first[:, None]
    a = np.where(active, np.where(partial, h_adv * scale[:, None], h_adv), 0.0)
    lose = np.where(active, np.where(partial, h_lose * scale[:, None], h_lose), 0.0)
    a_reg, l_reg = a[:, :-1], lose[:, :-1]
    survive_before = np.cumprod(np.hstack([np.ones((n, 1)), 1.0 - a_reg - l_reg]), axis=1)
    share = (survive_before[:, :-1] * a_reg).sum(axis=1)
    tail_a, tail_l = h_adv[:, -1], h_lose[:, -1]
    tail_share = np.where(tail_a + tail_l > 0, tail_a / np.clip(tail_a + tail_l, 1e-12, None), 0.0)
    in_tail = first == k - 1  # a deal already in the tail: its share is the tail's
    return np.where(in_tail, tail_share, share + survive_before[:, -1] * tail_share)


def fit(recipe, visits: pd.DataFrame, seed: int = 0) -> StageHazardModel:
    """Person-period rows of every visit (censored ones included), one calibrated classifier."""
    rows, labels, weights = person_periods(visits)
    keep = thin_by_deal(rows, int(recipe.params.get("max_rows", MAX_PERIOD_ROWS)))
    if not keep.all():
        log.info("stage_hazard: %d person-period rows, keeping %d (whole deals)", len(rows), keep.sum())
    rows, labels, weights = rows[keep], labels[keep], weights[keep]
    share = float(recipe.params.get("stay_share", STAY_SHARE))
    if share < 1:
        full_stay = (labels == STAY) & (weights >= 1)
        drop = full_stay & (np.random.default_rng(seed).random(len(labels)) >= share)
        rows, labels = rows[~drop].reset_index(drop=True), labels[~drop]
        weights = np.where(full_stay[~drop], weights[~drop] / share, weights[~drop])
    params = {k: v for k, v in recipe.params.items() if k not in ("max_rows", "stay_share")}
    hazards = fit_classifier(
        rows,
        labels,
        recipe.categories,
        recipe.numbers,
        CLASSES,
        params,
        sample_weight=weights,
        seed=seed,
        name="stage_hazard",
        groups=rows["opportunity_id"] if len(rows) else None,
    )
    return StageHazardModel(recipe, hazards, len(rows))
