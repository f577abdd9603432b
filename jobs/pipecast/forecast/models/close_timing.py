"""Close timing: P(closes this / next period / later | won), the deals still open weighted by the
win model's scores; with too little data the CRM close date moved by the slips seen (a fallback).
Its backtest is the revenue backtest's won-in-next-period scores (models.revenue_forecast)."""

from __future__ import annotations

import pandas as pd

from pipecast.forecast import close_timing
from pipecast.forecast.model_spec import ForecastModel, ModelVersion, Night, pooled
from pipecast.forecast.scoring import fit_timing


class CloseTiming(ForecastModel):
    name = close_timing.MODEL_NAME

    def fit(self, night: Night) -> None:
        win = night.published("win", self.name)
        timing = fit_timing(night.known_training, night.as_of, win.model, night.open_deals, night.ctx.seed)
        if timing.method != close_timing.CLASSIFIER:
            night.notes.add(
                self.name,
                f"too few won deals to learn close timing ({timing.train_rows} training rows): "
                f"it follows the CRM close date ({timing.method})",
            )
        elif getattr(timing.classifier, "kind", None) == "class_frequencies":
            night.notes.add(
                self.name,
                f"{timing.train_rows} training rows with one outcome or none: "
                "close timing answers with class frequencies",
            )
        night.timing = timing
        night.versions[self.name] = f"{self.name}.{night.as_of:%Y%m%d}"

    def score(self, night: Night) -> dict[str, pd.DataFrame]:
        deals = night.open_deals
        if not deals.empty and deals["close_date"].isna().any():
            night.notes.add(
                self.name,
                f"{int(deals['close_date'].isna().sum())} of {len(deals)} open deals have no close date",
            )
        return {}  # the deals' rows carry win x timing x amount: models.deal_amount writes them

    def version(self, night: Night) -> ModelVersion:
        version = night.versions[self.name]
        metrics = pooled(night.metrics, "deals_won_next_period", "model")
        return ModelVersion(
            self.name,
            version,
            "close_timing",
            {"recipe_id": "close_timing"},
            close_timing.FEATURES,
            night.timing.train_rows if night.timing else 0,
            metrics,
            metrics.get("brier"),
            "retrained nightly (single recipe)",
            version,
            first_cutoff=night.cutoffs[0] if night.cutoffs else None,
            last_cutoff=night.as_of,
            model=night.timing,
        )
