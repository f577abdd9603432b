"""Product propensity: P(an account buys a product within 180 days), account x product pairs at
quarter-ends; each account's top products into ml.product_propensity. Optional: skipped, visibly,
when there is no account x product history."""

from __future__ import annotations

import pandas as pd

from pipecast.forecast import propensity
from pipecast.forecast.model_spec import (
    Night,
    NightlyRetrainedModel,
    binary_metrics,
    empty_metrics,
    last_mature_cutoff,
)
from pipecast.forecast.periods import period_ends
from pipecast.forecast.writeback import ML_TABLES


class ProductPropensity(NightlyRetrainedModel):
    name = propensity.MODEL_NAME
    tables = {"product_propensity": ML_TABLES["product_propensity"]}
    optional = True
    independent = True  # reads the warehouse only: runs beside the deal models

    def backtest(self, night: Night) -> pd.DataFrame:
        """Trained at the last quarter-end whose 180 days have passed, scored on its pairs."""
        first_day, as_of, ctx = night.first_day, night.as_of, night.ctx
        self.quarter_ends = period_ends(first_day, as_of, "quarter", ctx.fiscal_start_month)
        test_cutoff = last_mature_cutoff(self.quarter_ends, propensity.HORIZON_DAYS, as_of)
        self.metric_rows = empty_metrics()
        if test_cutoff is not None:
            train_bt = propensity.account_product_pairs(
                night.con,
                propensity.training_cutoffs(first_day, test_cutoff, self.quarter_ends),
                ctx.max_training_rows,
            )
            test = propensity.account_product_pairs(night.con, [test_cutoff], ctx.max_training_rows)
            if len(train_bt) and len(test):
                model_bt = propensity.fit(train_bt, ctx.seed)
                self.metric_rows = binary_metrics(
                    self.name,
                    test_cutoff,
                    test["bought"].to_numpy(),
                    {"model": model_bt.predict(test), "segment_base_rate": model_bt.baseline(test)},
                )
        return self.metric_rows

    def fit(self, night: Night) -> None:
        rows = propensity.account_product_pairs(
            night.con,
            propensity.training_cutoffs(night.first_day, night.as_of, self.quarter_ends),
            night.ctx.max_training_rows,
        )
        self.retrain(night, rows, propensity.fit, "no account x product history to learn from")

    def score(self, night: Night) -> dict[str, pd.DataFrame]:
        pairs = propensity.account_product_pairs(night.con, [night.as_of])
        pairs = pairs.assign(
            propensity=self.model.predict(pairs), segment_baseline=self.model.baseline(pairs)
        )
        pairs["propensity_rank"] = pairs.groupby("account_id")["propensity"].rank(
            method="first", ascending=False
        )
        top = pairs[pairs["propensity_rank"] <= night.settings.forecast_propensity_top_k]
        version = night.versions[self.name]
        return {
            "product_propensity": top.assign(as_of=night.as_of, model_version=version, run_id=night.run_id)
        }

    def feature_names(self) -> list[str]:
        return propensity.FEATURES
