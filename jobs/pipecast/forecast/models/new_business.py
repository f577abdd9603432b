"""New business: revenue from deals not created yet (creation rate x won-within-u-days curve), per
period and segment. Backtested and versioned inside the revenue forecast (no ml.model_runs row of
its own). Publishes ``night.new_business``."""

from __future__ import annotations

from pipecast.forecast import new_business
from pipecast.forecast.model_spec import ForecastModel, ModelVersion, Night


class NewBusiness(ForecastModel):
    name = new_business.MODEL_NAME

    def fit(self, night: Night) -> None:
        night.new_business = new_business.forecast_new_business(
            night.con, night.as_of, night.periods, night.ctx.seed
        )

    def version(self, night: Night) -> ModelVersion | None:
        return None
