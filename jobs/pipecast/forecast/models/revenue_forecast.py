"""The period revenue forecast: win x timing x amount of every open deal plus new business,
simulated into P10/P50/P90 per segment beside stage-weighted, commit, best case and target; its
backtest forecasts past periods from their start and from each month-end in them (the forecast
ledger). Reads ``night.win``, ``night.scored`` and ``night.new_business``."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from pipecast.forecast import backtests, close_timing, new_business, parallel, revenue, sources, win_models
from pipecast.forecast.model_spec import ForecastModel, ModelVersion, Night, pooled
from pipecast.forecast.periods import Period
from pipecast.forecast.scoring import ALL_SEGMENTS
from pipecast.forecast.writeback import ML_TABLES

log = logging.getLogger(__name__)


class RevenueForecast(ForecastModel):
    name = revenue.MODEL_NAME
    tables = {t: ML_TABLES[t] for t in ("revenue_forecast", "revenue_forecast_segments", "forecast_ledger")}

    def backtest(self, night: Night) -> pd.DataFrame:
        win = night.published("win", self.name)
        settings, ctx = night.settings, night.ctx
        self.periods = backtests.revenue_periods(
            night.as_of, night.first_day, ctx, settings.forecast_backtest_periods, night.hz.warmup_days
        )
        if not self.periods:
            night.notes.add(
                self.name,
                f"no revenue backtest: no complete {night.hz.grain} starts {night.hz.warmup_days} days "
                "after the first deal",
            )
        self.prior = revenue.SpreadPrior(settings.forecast_spread_prior, settings.forecast_spread_min_periods)
        fits_beside = settings.forecast_backtest_fits_beside
        side = parallel.side_thread(settings, "revenue-backtest-fits") if fits_beside else nullcontext()
        with side as beside:
            self.backtest_result = backtests.run_revenue_backtest(
                night.con,
                ctx,
                self.periods,
                win.recipe,
                night.training,
                win.deal_backtest.models,
                win.recipe_name,
                prior=self.prior,
                ledger=backtests.LedgerWriter(
                    night.as_of, night.run_id, night.publish, night.reuse_backtests, night.visits_digests
                ),
                beside=beside,
            )
        night.ledger = self.backtest_result.ledger
        return backtests.revenue_metrics(self.backtest_result)

    def fit(self, night: Night) -> None:
        self.spread = self.prior.apply(self.backtest_result.ledger)
        if self.spread.from_prior:
            night.notes.add(self.name, self.spread.describe())
        elif self.spread.value > 0:
            log.info("revenue ranges: %s", self.spread.describe())
        win_version = night.published("win", self.name).version
        self.model_version = f"{win_version}+{night.versions[close_timing.MODEL_NAME]}"
        night.versions[self.name] = self.model_version

    def score(self, night: Night) -> dict[str, pd.DataFrame]:
        scored = night.published("scored", self.name)
        new = night.published("new_business", self.name)
        rng = np.random.default_rng(night.ctx.seed)
        segments = pd.concat(
            [
                backtests.forecast_with_spread(
                    night.con, night.ctx, scored, night.as_of, name, period, new, rng, self.spread.value
                )
                for name, period in night.periods.items()
            ],
            ignore_index=True,
        )
        segments = with_targets(night.con, segments, night.periods)
        version, run_id, as_of = self.model_version, night.run_id, night.as_of
        night.revenue_rows = revenue_rows(segments, as_of, version, run_id)
        return {
            "revenue_forecast": night.revenue_rows,
            "revenue_forecast_segments": segments.assign(as_of=as_of, model_version=version, run_id=run_id),
            "forecast_ledger": self.backtest_result.ledger.assign(
                run_id=run_id, as_of=as_of, model_version=version
            ),
        }

    def version(self, night: Night) -> ModelVersion:
        metrics = pooled(night.metrics, "revenue_at_period_start", "model")
        return ModelVersion(
            self.name,
            self.model_version,
            "monte_carlo",
            {
                "recipe_id": "monte_carlo",
                "spread": self.spread.value,
                "spread_measured": self.spread.measured,
            },
            [win_models.MODEL_NAME, close_timing.MODEL_NAME, new_business.MODEL_NAME],
            len(night.scored),
            {**metrics, "backtest_periods": float(len(self.periods))},
            metrics.get("wape"),
            "win x timing x amount, simulated (single recipe)",
            self.model_version,
            first_cutoff=self.periods[0].start - timedelta(days=1) if self.periods else None,
            last_cutoff=night.as_of,
        )


def with_targets(
    con: duckdb.DuckDBPyConnection, segments: pd.DataFrame, horizons: dict[str, Period]
) -> pd.DataFrame:
    """Each period's target (owners' quotas prorated by days of overlap), per owner's main segment."""
    targets = sources.relation(con, "targets")
    accounts = sources.relation(con, "accounts")
    rows = []
    for name, period in horizons.items():
        frame = con.execute(
            f"""
            with owner_segment as (
                select o.owner_id, mode(coalesce(a.segment, 'Unknown')) as segment
                from staging.stg_crm__opportunities o left join {accounts} a on o.account_id = a.account_id
                group by o.owner_id
            )
            select coalesce(s.segment, 'Unknown') as segment,
                   sum(t.target_amount
                       * (least(t.period_end, cast(? as date))
                          - greatest(t.period_start, cast(? as date)) + 1)
                       / (t.period_end - t.period_start + 1)) as target
            from {targets} t left join owner_segment s on s.owner_id = t.owner_id
            where t.period_start <= ? and t.period_end >= ? and t.period_end >= t.period_start
            group by 1
            """,
            [period.end, period.start, period.end, period.start],
        ).df()
        frame["horizon"] = name
        rows.append(frame)
    targets_frame = pd.concat(rows, ignore_index=True)
    if targets_frame.empty:
        return segments.assign(target=np.nan)
    totals = targets_frame.groupby("horizon", as_index=False)["target"].sum().assign(segment=ALL_SEGMENTS)
    targets_frame = pd.concat([targets_frame, totals], ignore_index=True)
    return segments.merge(targets_frame, on=["horizon", "segment"], how="left")


def revenue_rows(segments: pd.DataFrame, as_of: date, version: str, run_id: str) -> pd.DataFrame:
    """ml.revenue_forecast: per period, the model's range and the stage-weighted baseline."""
    total = segments[segments["segment"] == ALL_SEGMENTS]
    rows = []
    for r in total.itertuples():
        base = {
            "as_of": as_of,
            "period": r.period,
            "period_start": r.period_start,
            "period_end": r.period_end,
            "horizon": r.horizon,
            "closed_won_to_date": r.closed_won_to_date,
            "open_deals": r.open_deals,
            "target": getattr(r, "target", None),
            "run_id": run_id,
        }
        rows.append(
            {
                **base,
                "method": "model",
                "open_pipeline_expected": r.open_pipeline_expected,
                "new_business_expected": r.new_business_expected,
                "expected": r.expected,
                "p10": r.p10,
                "p50": r.p50,
                "p90": r.p90,
                "model_version": version,
            }
        )
        rows.append(
            {
                **base,
                "method": "stage_weighted",
                "expected": r.stage_weighted,
                "model_version": "crm_stage_probability",
            }
        )
    return pd.DataFrame(rows)
