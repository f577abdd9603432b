"""Alerts reach a real webhook endpoint; email goes through smtplib; a broken channel never raises."""

from __future__ import annotations

import smtplib
from types import SimpleNamespace

import pytest
from pipecast.config import Settings
from pipecast.orchestration import alerts
from pipecast.orchestration.alerts import Alert, FailureAlert, deadline_missed, send_alert, task_failure_alert

from tests.orchestration.webhook import webhook_receiver

ALERT = Alert(
    kind="task_failed", dag_id="pipecast_nightly", run_id="r1", task_id="dbt_build", summary="failed"
)


@pytest.fixture
def use_settings(monkeypatch):
    """Make alerts.get_settings() return the given settings (callbacks read the global settings)."""

    def use(settings: Settings) -> Settings:
        monkeypatch.setattr(alerts, "get_settings", lambda: settings)
        return settings

    return use


def failure_context(exception: Exception) -> dict:
    ti = SimpleNamespace(
        dag_id="pipecast_nightly", run_id="scheduled__2026-11-28", task_id="forecast", try_number=3
    )
    return {"ti": ti, "dag_run": SimpleNamespace(dag_id="pipecast_nightly"), "exception": exception}


def test_webhook_receives_the_alert_as_json_with_a_text_field(settings):
    with webhook_receiver() as hook:
        delivered = send_alert(ALERT, settings.model_copy(update={"alert_webhook_url": hook.url}))
    assert delivered == ["webhook"]
    [body] = hook.bodies
    assert body["text"].startswith("[pipecast] task failed: pipecast_nightly.dbt_build (r1)")
    assert body["pipecast"]["task_id"] == "dbt_build" and body["pipecast"]["kind"] == "task_failed"


def test_a_failing_webhook_is_logged_not_raised_and_email_still_goes_out(settings, monkeypatch, caplog):
    sent = []

    class RecordingSMTP:
        def __init__(self, host, port, timeout):
            sent.append({"host": host, "port": port})

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            sent[-1]["starttls"] = True

        def login(self, user, password):
            sent[-1]["login"] = (user, password)

        def send_message(self, message):
            sent[-1]["message"] = message

    monkeypatch.setattr(smtplib, "SMTP", RecordingSMTP)
    with webhook_receiver(status=500) as hook:
        configured = settings.model_copy(
            update={
                "alert_webhook_url": hook.url,
                "alert_email_to": "revops@example.com, data@example.com",
                "alert_smtp_host": "smtp.example.com",
                "alert_smtp_port": 587,
                "alert_smtp_starttls": True,
                "alert_smtp_user": "bot",
                "alert_smtp_password": "secret",
            }
        )
        delivered = send_alert(ALERT, configured)
    assert delivered == ["email"]
    assert "alert webhook" in caplog.text and len(hook.bodies) == 1
    [mail] = sent
    assert (mail["host"], mail["port"], mail["starttls"], mail["login"]) == (
        "smtp.example.com",
        587,
        True,
        ("bot", "secret"),
    )
    assert mail["message"]["To"] == "revops@example.com, data@example.com"
    assert mail["message"]["Subject"] == ALERT.subject


def test_without_channels_the_alert_is_only_logged(settings, caplog):
    assert send_alert(ALERT, settings) == []
    assert "no alert channel configured" in caplog.text
    assert ALERT.subject in caplog.text


def test_failure_callback_sends_task_run_and_exception(settings, use_settings):
    with webhook_receiver() as hook:
        use_settings(settings.model_copy(update={"alert_webhook_url": hook.url}))
        FailureAlert()(failure_context(ValueError("not enough history to train")))
    [body] = hook.bodies
    fields = body["pipecast"]
    assert (fields["dag_id"], fields["task_id"], fields["run_id"]) == (
        "pipecast_nightly",
        "forecast",
        "scheduled__2026-11-28",
    )
    assert fields["details"] == "ValueError: not enough history to train"
    assert fields["summary"] == "failed on try 3"


def test_failure_alert_survives_a_task_instance_without_log_url():
    class NoBaseUrl(SimpleNamespace):
        @property
        def log_url(self):
            raise RuntimeError("[api] base_url is not set")

    ti = NoBaseUrl(dag_id="d", run_id="r", task_id="t", try_number=1)
    alert = task_failure_alert({"ti": ti, "exception": None})
    assert alert.log_url is None and alert.details == "" and alert.task_id == "t"


def test_deadline_callback_reports_the_late_run(settings, use_settings):
    # The context Airflow's scheduler builds for a missed deadline (models/deadline.py).
    context = {
        "dag_run": {"dag_id": "pipecast_nightly", "dag_run_id": "scheduled__2026-11-28", "state": "running"},
        "deadline": {"id": "x", "deadline_time": "2026-11-28T07:00:00+00:00"},
    }
    with webhook_receiver() as hook:
        use_settings(settings.model_copy(update={"alert_webhook_url": hook.url}))
        deadline_missed(context)
    [body] = hook.bodies
    assert body["pipecast"]["kind"] == "deadline_missed"
    assert body["pipecast"]["run_id"] == "scheduled__2026-11-28"
    assert "2026-11-28T07:00:00+00:00" in body["text"] and "state running" in body["text"]
