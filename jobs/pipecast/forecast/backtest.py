"""Backtests: at past cut-offs, a model trained only on what was known then against the CRM's
stage-weighted baseline (and, on generated data, the true probabilities)."""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd

from pipecast.forecast import win_probability
from pipecast.forecast.metrics import probability_metrics, wape
from pipecast.forecast.revenue import quarter_of

log = logging.getLogger(__name__)


def known_at(frame: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """Training rows a model could have had at `cutoff`: earlier cut-offs, outcome known by then."""
    closed_by = pd.to_datetime(frame["final_close_date"]) <= pd.Timestamp(cutoff)
    return frame[(frame["cutoff"] < pd.Timestamp(cutoff)) & frame["final_is_closed"].astype(bool) & closed_by]


def backtest(
    frame: pd.DataFrame, test_cutoffs: list[date], truth: pd.DataFrame | None = None, random_state: int = 0
) -> pd.DataFrame:
    """Long table: cutoff, scope, forecaster, metric, value, n."""
    rows: list[dict] = []
    pooled: list[pd.DataFrame] = []
    for cutoff in test_cutoffs:
        train = known_at(frame, cutoff)
        test = frame[(frame["cutoff"] == pd.Timestamp(cutoff)) & frame["final_is_closed"].astype(bool)]
        if train["final_is_won"].nunique() < 2 or test.empty:
            log.warning("backtest cut-off %s skipped: not enough known outcomes", cutoff)
            continue
        model = win_probability.fit(train, random_state)
        scored = test.assign(p_model=win_probability.predict(model, test))
        pooled.append(scored)
        rows += _revenue_rows(scored, cutoff)
        log.info("backtest cut-off %s: trained on %d rows, tested on %d", cutoff, len(train), len(test))
    if not pooled:
        return pd.DataFrame(columns=["cutoff", "scope", "forecaster", "metric", "value", "n"])
    scored = pd.concat(pooled, ignore_index=True)
    if truth is not None:
        scored = attach_truth(scored, truth)
    forecasters = {"model": "p_model", "stage_weighted": "crm_probability"}
    if "p_true" in scored:
        forecasters["true_probability"] = "p_true"
    for name, column in forecasters.items():
        valid = scored[column].notna()
        for metric, value in probability_metrics(
            scored.loc[valid, "final_is_won"].astype(int), scored.loc[valid, column]
        ).items():
            if metric != "n":
                rows.append(
                    {
                        "cutoff": None,
                        "scope": "deals_pooled",
                        "forecaster": name,
                        "metric": metric,
                        "value": value,
                        "n": int(valid.sum()),
                    }
                )
    return pd.DataFrame(rows)


def _revenue_rows(scored: pd.DataFrame, cutoff: date) -> list[dict]:
    """Next quarter's revenue from the deals open at the cut-off: forecast vs what they brought."""
    period = quarter_of(cutoff, offset=1)
    close = pd.to_datetime(scored["close_date"])
    in_period = (close >= pd.Timestamp(period.start)) & (close <= pd.Timestamp(period.end))
    final_close = pd.to_datetime(scored["final_close_date"])
    won_in_period = (
        scored["final_is_won"].astype(bool)
        & (final_close >= pd.Timestamp(period.start))
        & (final_close <= pd.Timestamp(period.end))
    )
    actual = float(scored.loc[won_in_period, "final_amount"].sum())
    amount = scored["amount"].fillna(0)
    forecasts = {
        "model": float((amount * scored["p_model"])[in_period].sum()),
        "stage_weighted": float((amount * scored["crm_probability"])[in_period].sum()),
    }
    return [
        {
            "cutoff": cutoff,
            "scope": f"open_pipeline_revenue_{period.label}",
            "forecaster": name,
            "metric": metric,
            "value": value,
            "n": int(in_period.sum()),
        }
        for name, forecast in forecasts.items()
        for metric, value in (
            ("forecast", forecast),
            ("actual", actual),
            ("abs_pct_error", wape(np.array([actual]), np.array([forecast]))),
        )
    ]


def attach_truth(scored: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Join the generator's true win probability for each deal at its stage at the cut-off."""
    stage_columns = [c for c in truth.columns if c.startswith("p_win_")]
    long = truth.melt(
        id_vars=["opportunity_id"], value_vars=stage_columns, var_name="stage_key", value_name="p_true"
    )
    keyed = scored.assign(stage_key="p_win_" + scored["stage"].str.lower().str.replace(" ", "_"))
    return keyed.merge(long, on=["opportunity_id", "stage_key"], how="left")
