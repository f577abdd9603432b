"""Lead conversion: P(a lead becomes an opportunity within 90 days), leads at month-ends; every
open lead scored into ml.lead_scores with its top drivers (declared features by their declared
names), as deals' are in ml.opportunity_scores. Optional: skipped, visibly, without leads."""

from __future__ import annotations

import pandas as pd

from pipecast.forecast import lead_scoring, sources
from pipecast.forecast.model_spec import (
    Night,
    NightlyRetrainedModel,
    SkippedModel,
    binary_metrics,
    empty_metrics,
    last_mature_cutoff,
)
from pipecast.forecast.periods import month_ends
from pipecast.forecast.writeback import ML_TABLES


class LeadConversion(NightlyRetrainedModel):
    name = lead_scoring.MODEL_NAME
    tables = {"lead_scores": ML_TABLES["lead_scores"]}
    optional = True
    independent = True  # reads the warehouse only: runs beside the deal models

    def backtest(self, night: Night) -> pd.DataFrame:
        """Trained at the last month-end whose 90 days have passed, scored on its leads."""
        if not sources.has_rows(night.con, "leads"):
            raise SkippedModel("no leads in the warehouse")
        first_day, as_of, ctx = night.first_day, night.as_of, night.ctx
        self.ends = month_ends(first_day, as_of)
        test_cutoff = last_mature_cutoff(self.ends, lead_scoring.HORIZON_DAYS, as_of)
        self.metric_rows = empty_metrics()
        if test_cutoff is not None:
            train_bt = lead_scoring.lead_rows(
                night.con,
                lead_scoring.training_cutoffs(self.ends, first_day, test_cutoff),
                ctx.max_training_rows,
            )
            test = lead_scoring.lead_rows(night.con, [test_cutoff], ctx.max_training_rows)
            if len(train_bt) and len(test):
                model_bt = lead_scoring.fit(train_bt, ctx.seed)
                self.metric_rows = binary_metrics(
                    self.name,
                    test_cutoff,
                    test["converted_within"].to_numpy(),
                    {
                        "model": model_bt.predict(test),
                        "source_rate": test["source_rate"].to_numpy(),
                        **lead_scoring.without_declared(train_bt, test, ctx.seed),  # declared features' gain
                    },
                )
        return self.metric_rows

    def fit(self, night: Night) -> None:
        rows = lead_scoring.lead_rows(
            night.con,
            lead_scoring.training_cutoffs(self.ends, night.first_day, night.as_of),
            night.ctx.max_training_rows,
        )
        self.retrain(night, rows, lead_scoring.fit, "no lead history to learn from")

    def score(self, night: Night) -> dict[str, pd.DataFrame]:
        leads = lead_scoring.lead_rows(night.con, [night.as_of], open_only=True)
        settings = night.settings
        rows = lead_scoring.scored(
            self.model, leads, settings.forecast_explain_background, settings.forecast_seed
        ).assign(as_of=night.as_of, model_version=night.versions[self.name], run_id=night.run_id)
        return {"lead_scores": rows}

    def feature_names(self) -> list[str]:
        return self.model.features
