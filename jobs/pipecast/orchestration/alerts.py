"""Alerts for a failed task and a missed deadline: a webhook and/or email, configured in Settings.

Airflow runs two kinds of callbacks: task callbacks (on_failure_callback, in the task's own process,
with the exception in the context) and Deadline Alert callbacks (Airflow 3's successor of the SLA
miss: the scheduler notices the missed deadline and an executor runs the callback with a small
context of the dag run). Both end in send_alert(), which needs only the standard library, so the
DAG files can import this module at parse time.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

from airflow.sdk import BaseNotifier

from pipecast.config import Settings, get_settings

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Alert:
    kind: str  # "task_failed" or "deadline_missed"
    dag_id: str
    run_id: str
    summary: str
    details: str = ""
    task_id: str | None = None
    log_url: str | None = None

    @property
    def subject(self) -> str:
        where = f"{self.dag_id}.{self.task_id}" if self.task_id else self.dag_id
        return f"[pipecast] {self.kind.replace('_', ' ')}: {where} ({self.run_id})"

    @property
    def text(self) -> str:
        lines = [self.subject, self.summary]
        if self.details:
            lines.append(self.details)
        if self.log_url:
            lines.append(f"log: {self.log_url}")
        return "\n".join(lines)


def send_alert(alert: Alert, settings: Settings) -> list[str]:
    """Deliver the alert on every configured channel; return the channels that took it.

    A broken channel is logged, never raised: an alert must not hide the failure it reports, and
    the other channel still gets its chance.
    """
    log.error("%s", alert.text)
    delivered = []
    if settings.alert_webhook_url:
        try:
            post_webhook(settings.alert_webhook_url, alert)
            delivered.append("webhook")
        except Exception:
            log.exception("alert webhook %s failed", settings.alert_webhook_url)
    if settings.alert_email_to:
        try:
            send_email(alert, settings)
            delivered.append("email")
        except Exception:
            log.exception("alert email through %s failed", settings.alert_smtp_host)
    if not (settings.alert_webhook_url or settings.alert_email_to):
        log.warning("no alert channel configured (PIPECAST_ALERT_WEBHOOK_URL, PIPECAST_ALERT_EMAIL_TO)")
    return delivered


def post_webhook(url: str, alert: Alert) -> None:
    """POST {"text": ..., "pipecast": {...}}: chat webhooks show "text", other receivers get the fields."""
    body = json.dumps({"text": alert.text, "pipecast": asdict(alert)}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
        if response.status >= 300:
            raise RuntimeError(f"webhook answered {response.status}")


def send_email(alert: Alert, settings: Settings) -> None:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = settings.alert_email_from
    message["To"] = ", ".join(_recipients(settings.alert_email_to or ""))
    message.set_content(alert.text)
    with smtplib.SMTP(settings.alert_smtp_host, settings.alert_smtp_port, timeout=30) as smtp:
        if settings.alert_smtp_starttls:
            smtp.starttls()
        if settings.alert_smtp_user:
            smtp.login(settings.alert_smtp_user, settings.alert_smtp_password or "")
        smtp.send_message(message)


def _recipients(value: str) -> list[str]:
    return [r.strip() for r in value.split(",") if r.strip()]


def task_failure_alert(context: Mapping[str, Any]) -> Alert:
    """Build the alert from a task callback's context (exception, task instance, run)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exception = context.get("exception")
    try_number = getattr(ti, "try_number", None)
    return Alert(
        kind="task_failed",
        dag_id=getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", "?"),
        run_id=getattr(ti, "run_id", None) or getattr(dag_run, "run_id", "?"),
        task_id=getattr(ti, "task_id", None),
        summary=f"failed on try {try_number}" if try_number else "failed",
        details=f"{type(exception).__name__}: {exception}" if exception else "",
        log_url=_safe_log_url(ti),
    )


def _safe_log_url(ti: Any) -> str | None:
    try:
        return getattr(ti, "log_url", None)
    except Exception:  # the URL needs [api] base_url; an alert without it is still an alert
        return None


class FailureAlert(BaseNotifier):
    """on_failure_callback for every task: sends the failure on the configured channels."""

    def notify(self, context: Mapping[str, Any]) -> None:
        send_alert(task_failure_alert(context), get_settings())


def deadline_missed(context: Mapping[str, Any], **kwargs: Any) -> None:
    """Deadline Alert callback (a SyncCallback path): the run is not done by its deadline.

    The context holds "dag_run" (the REST API's dag-run fields) and "deadline" (its time).
    """
    dag_run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    alert = Alert(
        kind="deadline_missed",
        dag_id=str(dag_run.get("dag_id", kwargs.get("dag_id", "?"))),
        run_id=str(dag_run.get("dag_run_id") or dag_run.get("run_id") or "?"),
        summary=f"not finished by its deadline {deadline.get('deadline_time', '?')}",
        details=f"state {dag_run.get('state', '?')}, queued at {dag_run.get('queued_at', '?')}",
    )
    send_alert(alert, get_settings())
