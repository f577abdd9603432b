"""Weekly retraining: rebuild the warehouse from raw (dbt build --full-refresh), then backtest,
retrain and score as of the newest export, and publish the report.

The nightly DAG keeps the forecast fresh every night; this run rebuilds every table from scratch
once a week, so drift in incremental models cannot accumulate, and retrains on the rebuilt
history. Schedule: PIPECAST_RETRAIN_SCHEDULE (cron, in PIPECAST_SCHEDULE_TIMEZONE). It shares the
duckdb_writer pool with the nightly, so the two never write the warehouse at the same time.
"""

from __future__ import annotations

from airflow.sdk import dag, task
from pipecast.config import get_settings
from pipecast.orchestration import assets, scheduling
from pipecast.orchestration.failures import fail_without_retry

settings = get_settings()


@dag(
    dag_id="pipecast_weekly_retrain",
    description="Full warehouse rebuild and model retraining, weekly",
    schedule=scheduling.timetable(settings.retrain_schedule, settings),
    start_date=scheduling.start_date(settings),
    catchup=False,
    max_active_runs=1,
    tags=["pipecast", "weekly", "forecast"],
    default_args=scheduling.default_args(settings),
    deadline=scheduling.run_deadline(settings),
)
def pipecast_weekly_retrain() -> None:
    @task(outlets=[assets.MARTS])
    @fail_without_retry
    def dbt_full_refresh() -> None:
        from pipecast import pipeline

        pipeline.build(full_refresh=True)

    @task(inlets=[assets.MARTS], outlets=[assets.FORECASTS])
    @fail_without_retry
    def retrain() -> str:
        """A full backtest against the stage-weighted baseline (every cut-off refitted, the
        ledger's entries replaced), retrain and score as of the newest export."""
        from pipecast import pipeline

        return pipeline.forecast(full_backtest=True).model_version

    @task(outlets=[assets.REPORT])
    @fail_without_retry
    def report() -> str:
        from pipecast import pipeline

        return pipeline.report().summary_text

    dbt_full_refresh() >> retrain() >> report()


pipecast_weekly_retrain()
