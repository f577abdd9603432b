"""The deal amount if won (the won-to-booked ratio learnt from history, a product's typical won
amount for deals without one), and the per-deal scores: win x timing x amount with the win model's
top drivers, into ml.opportunity_scores. Versioned inside the revenue forecast's row (no
ml.model_runs row of its own). Publishes ``night.fitted`` and ``night.scored``."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from pipecast.config import Settings
from pipecast.forecast import explain, win_models
from pipecast.forecast.model_spec import ForecastModel, ModelVersion, Night
from pipecast.forecast.periods import Period
from pipecast.forecast.scoring import score_deals, with_amounts
from pipecast.forecast.writeback import ML_TABLES

MODEL_NAME = "deal_amount"


class DealAmount(ForecastModel):
    name = MODEL_NAME
    tables = {"opportunity_scores": ML_TABLES["opportunity_scores"]}

    def fit(self, night: Night) -> None:
        win = night.published("win", self.name)
        timing = night.published("timing", self.name)
        night.fitted = with_amounts(night.con, night.known_training, night.as_of, win.model, timing)

    def score(self, night: Night) -> dict[str, pd.DataFrame]:
        win = night.published("win", self.name)
        p_win, top = drivers(night.open_deals, win.model, night.settings)
        scored = pd.concat([score_deals(night.open_deals, night.fitted, p_win), top], axis=1)
        night.scored = scored
        return {
            "opportunity_scores": scores_frame(
                scored, night.as_of, night.periods, win.version, night.run_id, night.now
            )
        }

    def version(self, night: Night) -> ModelVersion | None:
        return None


def drivers(
    deals: pd.DataFrame, win: win_models.WinModel, settings: Settings
) -> tuple[np.ndarray, pd.DataFrame]:
    """Each deal's win probability and its top drivers in plain words, from one pass of the model
    where it has one (explain.predict_with_drivers)."""
    if deals.empty:
        return np.array([]), pd.DataFrame(index=deals.index)
    background, seed = settings.forecast_explain_background, settings.forecast_seed
    p_win, effects = explain.predict_with_drivers(win, deals, win.recipe.features, background, seed)
    return p_win, explain.top_drivers(deals, effects)


def scores_frame(
    scored: pd.DataFrame, as_of: date, horizons: dict[str, Period], version: str, run_id: str, now: datetime
) -> pd.DataFrame:
    return scored.assign(
        as_of=as_of,
        this_period=horizons["current"].label,
        next_period=horizons["next"].label,
        model_version=version,
        run_id=run_id,
        scored_at=now,
    )
