"""DAG defaults come from Settings: retries with backoff, alert callback, writer pool, deadline."""

from __future__ import annotations

from datetime import timedelta

from pipecast.orchestration import scheduling
from pipecast.orchestration.alerts import FailureAlert


def test_default_args_follow_settings(settings):
    args = scheduling.default_args(
        settings.model_copy(
            update={"task_retries": 4, "retry_delay_minutes": 1, "max_retry_delay_minutes": 9}
        )
    )
    assert args["retries"] == 4 and args["retry_exponential_backoff"] is True
    assert args["retry_delay"] == timedelta(minutes=1) and args["max_retry_delay"] == timedelta(minutes=9)
    assert args["pool"] == scheduling.DUCKDB_WRITER_POOL
    assert [type(c) for c in args["on_failure_callback"]] == [FailureAlert]


def test_timetable_and_start_date_use_the_configured_timezone(settings):
    berlin = settings.model_copy(update={"schedule_timezone": "Europe/Berlin"})
    table = scheduling.timetable("30 2 * * 1-5", berlin)
    assert (table.expression, str(table.timezone)) == ("30 2 * * 1-5", "Europe/Berlin")
    assert str(scheduling.start_date(berlin).tzinfo) == "Europe/Berlin"


def test_deadline_alert_calls_the_alert_callback_and_can_be_switched_off(settings):
    alert = scheduling.run_deadline(settings.model_copy(update={"run_deadline_minutes": 90}))
    assert alert.interval == timedelta(minutes=90)
    assert alert.callback.path == "pipecast.orchestration.alerts.deadline_missed"
    assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"
    assert scheduling.run_deadline(settings.model_copy(update={"run_deadline_minutes": 0})) is None
