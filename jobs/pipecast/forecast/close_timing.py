"""Close timing: if an open deal is won, does it close this period, next period, or later?

A deal's probability of being won within a period is then P(win) x P(close in that period | won)
(win x timing), which the revenue simulation draws from.

Training rows are deals open at past cut-offs whose next period had ended by the training date,
so "this period" and "next period" are settled for every deal that was won. Label censoring is
handled here: a deal still open at the training date is certainly "later" *if* it is won, but it
may never be; it enters as a "later" row weighted by its win probability at the training date.
Lost deals say nothing about when a won deal closes and are left out. Without that, the deals
still open (the slow ones) would be missing and timing would come out too early.

With too little data for that (fewer than MIN_WON_ROWS won deals to learn from, or one class
only: a young CRM, a short history), timing falls back to the CRM's close date, moved by the
slips seen in the history: for every deal won by the training date and open at a past cut-off,
its actual close date minus the close date the CRM showed then. A deal's chance to close in a
period is the share of those slips that put its close date there (after its cut-off). A deal
without a close date, or past every slip seen, takes the days from cut-off to close of those won
deals instead; with no history at all, the CRM's close date as it is. Never uniform buckets; the
fallback is logged as a warning and named in ``method``.

Features: the deal's stage, time in stage, age, size, close date and its pushes and slips, days
to the close date and to the period's end, the length of the next period, segment, type, source,
product family and region.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pipecast.forecast.estimators import ProbabilityModel, fit_classifier
from pipecast.forecast.periods import Grain, horizons

log = logging.getLogger(__name__)

MODEL_NAME = "close_timing"
CLASSES = [0, 1, 2]  # closes in the current period, in the next one, later
CATEGORIES = [
    "stage",
    "forecast_category",
    "pipeline",
    "segment",
    "opportunity_type",
    "lead_source",
    "product_family",
    "region",
]
NUMBERS = [
    "stage_rank",
    "days_in_stage",
    "age_days",
    "log_amount",
    "close_date_pushes",
    "close_date_slip_days",
    "days_to_close_date",
    "days_left_in_period",
    "close_date_vs_period_end",
    "next_period_days",
    "crm_probability",
    "stage_changes",
    "amount_changes",
]
FEATURES = [*CATEGORIES, *NUMBERS]


def with_periods(frame: pd.DataFrame, grain: Grain, fiscal_start_month: int) -> pd.DataFrame:
    """Add each row's current and next period (from its cut-off) and the timing features."""
    if frame.empty:
        return frame.assign(
            current_start=pd.Series(dtype="datetime64[us]"),
            current_end=pd.Series(dtype="datetime64[us]"),
            next_start=pd.Series(dtype="datetime64[us]"),
            next_end=pd.Series(dtype="datetime64[us]"),
            days_left_in_period=pd.Series(dtype=float),
            next_period_days=pd.Series(dtype=float),
            close_date_vs_period_end=pd.Series(dtype=float),
        )
    bounds = {}
    for cutoff in frame["cutoff"].dropna().unique():
        h = horizons(pd.Timestamp(cutoff).date(), grain, fiscal_start_month)
        bounds[pd.Timestamp(cutoff)] = (h["current"].start, h["current"].end, h["next"].start, h["next"].end)
    table = pd.DataFrame.from_dict(
        bounds, orient="index", columns=["current_start", "current_end", "next_start", "next_end"]
    ).apply(pd.to_datetime)
    out = frame.join(table, on="cutoff")
    out["days_left_in_period"] = (out["current_end"] - out["cutoff"]).dt.days.astype(float)
    out["next_period_days"] = ((out["next_end"] - out["next_start"]).dt.days + 1).astype(float)
    out["close_date_vs_period_end"] = (out["close_date"] - out["current_end"]).dt.days.astype(float)
    return out


def timing_class(close_date: pd.Series, current_end: pd.Series, next_end: pd.Series) -> np.ndarray:
    return np.where(close_date <= current_end, 0, np.where(close_date <= next_end, 1, 2))


def crm_timing(deals: pd.DataFrame) -> np.ndarray:
    """The CRM's view: the deal closes on its close date (overdue ones this period)."""
    cls = timing_class(deals["close_date"], deals["current_end"], deals["next_end"])
    return np.eye(3)[cls]


def training_rows(
    snapshots: pd.DataFrame, known_at: date, open_win_probability: pd.Series
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows, labels and weights for a model trained at ``known_at`` (see the module docstring).

    ``open_win_probability``: P(win) at known_at of the deals open then, by opportunity_id.
    """
    known = pd.Timestamp(known_at)
    rows = snapshots[snapshots["next_end"] <= known]
    closed_by = rows["final_is_closed"] & (rows["final_close_date"] <= known)
    won = rows[closed_by & rows["final_is_won"]]
    still_open = rows[~closed_by]
    weights_open = still_open["opportunity_id"].map(open_win_probability)
    weights_open = weights_open.fillna(open_win_probability.mean() if len(open_win_probability) else 0.3)
    frame = pd.concat([won, still_open], ignore_index=True)
    labels = np.concatenate(
        [
            timing_class(won["final_close_date"], won["current_end"], won["next_end"]),
            np.full(len(still_open), 2),
        ]
    )
    weights = np.concatenate([np.ones(len(won)), weights_open.to_numpy(dtype=float)])
    return frame, labels, weights


# Fewer won deals than this to learn timing from: the CRM close date with the slips seen instead.
MIN_WON_ROWS = 100
CLASSIFIER = "classifier"
CRM_WITH_SLIPS = "crm_close_date_with_slips"
CRM_AS_IS = "crm_close_date"


@dataclass
class SlipTiming:
    """Timing from the CRM close date and the slips seen in the history (see the module doc)."""

    slips: np.ndarray  # sorted days: actual close date - CRM close date at a past cut-off
    remaining: np.ndarray  # sorted days: actual close date - cut-off, same rows

    def predict(self, deals: pd.DataFrame) -> np.ndarray:
        n = len(deals)
        if n == 0:
            return np.empty((0, 3))
        cutoff = pd.to_datetime(deals["cutoff"])
        close = pd.to_datetime(deals["close_date"])
        has_date = close.notna().to_numpy()
        base = close.where(close.notna(), cutoff)  # no close date: days counted from the cut-off
        lo = _days(cutoff - base)
        current = _days(pd.to_datetime(deals["current_end"]) - base)
        following = _days(pd.to_datetime(deals["next_end"]) - base)
        out = np.full((n, 3), np.nan)
        if len(self.slips):
            out[has_date] = _shares(self.slips, lo[has_date], current[has_date], following[has_date])
        todo = np.isnan(out).any(axis=1)  # no close date, or past every slip seen
        if len(self.remaining) and todo.any():
            out[todo] = _shares(
                self.remaining,
                np.zeros(int(todo.sum())),
                _days(pd.to_datetime(deals["current_end"]) - cutoff)[todo],
                _days(pd.to_datetime(deals["next_end"]) - cutoff)[todo],
            )
        todo = np.isnan(out).any(axis=1)
        if todo.any():
            out[todo] = crm_timing(deals[todo])
        return out


def _days(delta: pd.Series) -> np.ndarray:
    return (delta.dt.total_seconds() / 86_400.0).to_numpy(dtype=float)


def _shares(sample: np.ndarray, after: np.ndarray, current: np.ndarray, following: np.ndarray) -> np.ndarray:
    """Per row: the shares of ``sample`` (sorted) in (after, current], (current, following] and
    beyond, among the values > after; NaN rows where none is."""
    valid = len(sample) - np.searchsorted(sample, after, side="right")
    upto_current = np.searchsorted(sample, np.maximum(current, after), side="right")
    upto_next = np.searchsorted(sample, np.maximum(following, np.maximum(current, after)), side="right")
    start = np.searchsorted(sample, after, side="right")
    counts = np.stack([upto_current - start, upto_next - upto_current, len(sample) - upto_next], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts / valid[:, None]
    shares[valid == 0] = np.nan
    return shares


def slip_timing(snapshots: pd.DataFrame, known_at: date) -> SlipTiming:
    """Slips (and days to close) of the deals won by known_at, at every past cut-off."""
    if snapshots.empty:
        return SlipTiming(np.array([]), np.array([]))
    known = pd.Timestamp(known_at)
    won = snapshots[
        (snapshots["cutoff"] <= known)
        & snapshots["final_is_won"]
        & snapshots["final_close_date"].notna()
        & (snapshots["final_close_date"] <= known)
    ]
    dated = won[won["close_date"].notna()]
    slips = np.sort(_days(dated["final_close_date"] - dated["close_date"]))
    remaining = np.sort(_days(won["final_close_date"] - won["cutoff"]))
    return SlipTiming(slips, remaining)


@dataclass
class CloseTimingModel:
    classifier: ProbabilityModel | None
    train_rows: int
    slips: SlipTiming | None = None
    method: str = CLASSIFIER

    def predict(self, deals: pd.DataFrame) -> np.ndarray:
        """(n, 3): P(closes this period / next period / later | won)."""
        if len(deals) == 0:
            return np.empty((0, 3))
        if self.method != CLASSIFIER:
            p = self.slips.predict(deals) if self.slips is not None else crm_timing(deals)
        else:
            p = self.classifier.predict_proba(deals)
        return p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)


def fit(
    snapshots: pd.DataFrame, known_at: date, open_win_probability: pd.Series, seed: int = 0
) -> CloseTimingModel:
    frame, labels, weights = training_rows(snapshots, known_at, open_win_probability)
    keep = weights > 0
    closed_by = frame["final_is_closed"] & (frame["final_close_date"] <= pd.Timestamp(known_at))
    won_rows = int(closed_by.sum())
    if won_rows < MIN_WON_ROWS or len(np.unique(labels[keep])) < 2:
        return _fallback(snapshots, known_at, won_rows)
    classifier = fit_classifier(
        frame[keep],
        labels[keep],
        CATEGORIES,
        NUMBERS,
        CLASSES,
        sample_weight=weights[keep],
        seed=seed,
        name="close_timing",
        groups=frame[keep]["opportunity_id"],
        # one model calibrated on the folds, not the folds' three: three classes x up to 200
        # iterations are 600 trees to predict with, not 1,800 (bench/score_synthetic.py); the
        # deal backtest's accuracy on bench/accuracy_by_dataset.py's cases did not move
        ensemble=False,
    )
    return CloseTimingModel(classifier, int(keep.sum()))


def _fallback(snapshots: pd.DataFrame, known_at: date, won_rows: int) -> CloseTimingModel:
    slips = slip_timing(snapshots, known_at)
    if len(slips.slips) or len(slips.remaining):
        log.warning(
            "close_timing: %d won deals with a settled period to learn from (fewer than %d): using "
            "the CRM close date with the slips of %d won deals (median %+.0f days) instead of a model",
            won_rows,
            MIN_WON_ROWS,
            len(slips.remaining),
            float(np.median(slips.slips)) if len(slips.slips) else float("nan"),
        )
        return CloseTimingModel(None, len(slips.remaining), slips, CRM_WITH_SLIPS)
    log.warning(
        "close_timing: no won deal in the history to learn from: using the CRM close date as it is "
        "(deals without one count as closing later)"
    )
    return CloseTimingModel(None, 0, None, CRM_AS_IS)
