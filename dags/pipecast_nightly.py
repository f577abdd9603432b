"""The nightly pipeline: wait for the export -> ingest -> validate raw -> dbt build -> forecast -> report.

A thin DAG file: no heavy imports or I/O at parse time; every task calls into the `pipecast`
package (jobs/), where the same steps also run from the `pipecast` CLI. One task per pipeline step,
so a new step is one more task in the chain (the marts checkpoint is part of `dbt_build`: it runs
on tonight's marts before they are published, not on the published views after). Every task is
wrapped in fail_without_retry: bad input or configuration fails it at once, the rest is retried.

Each run works on one export date (its logical date in the schedule's timezone minus
PIPECAST_EXPORT_LAG_DAYS): it loads only exports up to that date and forecasts as of it, so
`airflow backfill create` replays history night by night, in date order (max_active_runs=1).
Schedule, timezone, sensor timeout, retries, deadline and alert channels: PIPECAST_* settings.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import PokeReturnValue, dag, task
from pipecast.config import get_settings
from pipecast.orchestration import assets, scheduling
from pipecast.orchestration.failures import fail_without_retry

settings = get_settings()


@dag(
    dag_id="pipecast_nightly",
    description="CRM exports to warehouse marts and forecasts, every night",
    schedule=scheduling.timetable(settings.nightly_schedule, settings),
    start_date=scheduling.start_date(settings),
    catchup=False,
    max_active_runs=1,
    tags=["pipecast", "nightly"],
    default_args=scheduling.default_args(settings),
    deadline=scheduling.run_deadline(settings),
)
def pipecast_nightly() -> None:
    @task.sensor(
        pool=scheduling.DEFAULT_POOL,
        mode="reschedule",
        poke_interval=timedelta(minutes=settings.sensor_poke_minutes),
        timeout=timedelta(minutes=settings.sensor_timeout_minutes),
    )
    @fail_without_retry
    def wait_for_export(**context) -> PokeReturnValue:
        """Done when the run's export has its _SUCCESS marker (or a newer export has landed)."""
        from pipecast.ingest.landing import LandingZone
        from pipecast.orchestration.exports import export_date_for, export_landed, run_time_of

        s = get_settings()
        wanted = export_date_for(run_time_of(context), s.schedule_timezone, s.export_lag_days)
        landed = export_landed(LandingZone.from_settings(s), wanted)
        return PokeReturnValue(is_done=landed, xcom_value=wanted.isoformat())

    @task(outlets=[assets.RAW])
    @fail_without_retry
    def ingest(export_date: str) -> list[str]:
        """Load the pending exports up to the run's export date, oldest first."""
        from datetime import date

        from pipecast.orchestration.nightly import ingest_through

        return [str(d) for d in ingest_through(date.fromisoformat(export_date))]

    @task
    @fail_without_retry
    def validate_raw(export_dates: list[str]) -> None:
        """Raw checkpoint per export: an error unloads and quarantines that export and fails the run
        without retrying (a retry cannot make bad data good); other errors are retried."""
        from datetime import date

        from pipecast import pipeline

        for day in export_dates:
            pipeline.validate_raw(date.fromisoformat(day))

    @task(outlets=[assets.MARTS])
    @fail_without_retry
    def dbt_build() -> None:
        """One `dbt build` (models and tests in dependency order; see README for Cosmos vs one
        task), then the marts checkpoint on tonight's slots before they are published: a mart that
        fails its suite stops the night with the previous night's marts still serving."""
        from pipecast import pipeline

        pipeline.build()

    @task(outlets=[assets.FORECASTS])
    @fail_without_retry
    def forecast(export_date: str) -> str:
        from datetime import date

        from pipecast import pipeline
        from pipecast.orchestration.nightly import forecast_as_of

        return pipeline.forecast(forecast_as_of(date.fromisoformat(export_date))).model_version

    @task
    @fail_without_retry
    def validate_predictions(export_date: str) -> None:
        """Predictions checkpoint: probabilities in [0, 1], one score per open deal, P10<=P50<=P90."""
        from datetime import date

        from pipecast import pipeline
        from pipecast.orchestration.nightly import forecast_as_of

        pipeline.validate_predictions(forecast_as_of(date.fromisoformat(export_date)))

    @task(outlets=[assets.REPORT])
    @fail_without_retry
    def report() -> str:
        """Publish the morning report. In the writer pool too: DuckDB locks the file for any
        process that opens it, readers included."""
        from pipecast import pipeline

        return pipeline.report().summary_text

    export_date = wait_for_export()
    validated = validate_raw(ingest(export_date))
    (
        validated
        >> dbt_build()
        >> forecast(export_date)
        >> validate_predictions(export_date)
        >> report()
    )


pipecast_nightly()
