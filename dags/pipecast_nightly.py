"""The nightly pipeline: ingest -> validate raw -> dbt build -> forecast -> report.

A thin DAG file: no heavy imports or I/O at parse time; every task calls into the `pipecast`
package (jobs/), where the same steps also run from the `pipecast` CLI.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

# DuckDB has a single writer: every task that writes the warehouse takes the one slot.
DUCKDB_WRITER_POOL = "duckdb_writer"


@dag(
    dag_id="pipecast_nightly",
    description="CRM exports to warehouse marts and forecasts, every night",
    schedule="0 3 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["pipecast", "nightly"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "pool": DUCKDB_WRITER_POOL,
    },
)
def pipecast_nightly() -> None:
    @task
    def ingest() -> list[str]:
        """Load every complete export not loaded yet, oldest first."""
        from pipecast import pipeline

        return [str(r.export_date) for r in pipeline.ingest(validate=False)]

    @task(retries=0)
    def validate_raw(export_dates: list[str]) -> None:
        """Raw checkpoint per export: an error unloads and quarantines that export."""
        from datetime import date

        from pipecast import pipeline

        for day in export_dates:
            pipeline.validate_raw(date.fromisoformat(day))

    @task
    def dbt_build() -> None:
        from pipecast import pipeline

        pipeline.build()

    @task
    def forecast() -> str:
        from pipecast import pipeline

        return pipeline.forecast().model_version

    @task(pool="default_pool")
    def report() -> str:
        from pipecast import pipeline

        return pipeline.report().summary_text

    validated = validate_raw(ingest())
    built = dbt_build()
    scored = forecast()
    validated >> built >> scored >> report()


pipecast_nightly()
