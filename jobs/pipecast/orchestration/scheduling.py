"""Schedules, task defaults and the run deadline shared by the DAGs, built from Settings.

Every DAG gets the same operational contract: explicit retries with exponential backoff, the
failure alert on every task, writers of the DuckDB file in a one-slot pool, and a deadline that
alerts when a run is late.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, DeadlineAlert, DeadlineReference, SyncCallback

from pipecast.config import Settings
from pipecast.orchestration.alerts import FailureAlert, deadline_missed

# DuckDB has a single writer: every task that writes the warehouse takes this pool's one slot.
DUCKDB_WRITER_POOL = "duckdb_writer"
# Tasks that only read files or wait take the default pool.
DEFAULT_POOL = "default_pool"
# No run is scheduled before this date; backfills can start earlier only with catchup-free
# `airflow backfill create`, which ignores it.
START_DATE = (2026, 1, 1)


def timetable(cron: str, settings: Settings) -> CronTriggerTimetable:
    """A cron schedule in the configured timezone (the run's logical date is its trigger time)."""
    return CronTriggerTimetable(cron, timezone=settings.schedule_timezone)


def start_date(settings: Settings) -> datetime:
    return pendulum.datetime(*START_DATE, tz=settings.schedule_timezone)


def default_args(settings: Settings) -> dict[str, Any]:
    return {
        "owner": "pipecast",
        "retries": settings.task_retries,
        "retry_delay": timedelta(minutes=settings.retry_delay_minutes),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=settings.max_retry_delay_minutes),
        "pool": DUCKDB_WRITER_POOL,
        "on_failure_callback": [FailureAlert()],
    }


def run_deadline(settings: Settings) -> DeadlineAlert | None:
    """Alert when a run is not finished run_deadline_minutes after it was queued (queued, not
    logical date: backfill runs have logical dates in the past). None when set to 0: Airflow
    3.3.2's dag.test() (`airflow dags test`) fails after a successful run of a DAG with a
    deadline (DagRun.update_state looks the alerts up by the serialized dicts instead of their ids).
    """
    if not settings.run_deadline_minutes:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=settings.run_deadline_minutes),
        callback=SyncCallback(deadline_missed),
        name="pipecast_run_late",
    )
