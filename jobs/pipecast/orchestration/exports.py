"""Which export a nightly run waits for, and whether it has landed.

A run scheduled at time T (in the schedule's timezone) processes the export dated
T.date() - export_lag_days: the CRM exports "yesterday" during the night. A backfill run for an
old date therefore processes that date's export, which is what makes backfills load history in
date order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)


def export_date_for(run_time: datetime, timezone: str, lag_days: int) -> date:
    """The export date a run at run_time processes (a naive run_time is taken as UTC)."""
    if run_time.tzinfo is None:
        run_time = run_time.replace(tzinfo=UTC)
    return run_time.astimezone(ZoneInfo(timezone)).date() - timedelta(days=lag_days)


def run_time_of(context: Mapping[str, Any]) -> datetime:
    """When the run is for: its logical date, or run_after for runs without one (Airflow 3
    manual triggers may have no logical date)."""
    logical = context.get("logical_date")
    if logical is not None:
        return logical
    return context["dag_run"].run_after


def export_landed(landing: Path | Any, wanted: date) -> bool:
    """True when the export dated `wanted` is complete (its _SUCCESS marker is there), or a newer
    complete export has landed: then `wanted` will not come any more (a CRM that skips weekends),
    and waiting for it would only end in a timeout.

    landing: a local folder or a LandingZone (LandingZone.from_settings: also object storage)."""
    from pipecast.ingest.landing import find_exports

    newest = max((e.export_date for e in find_exports(landing)), default=None)
    log.info("waiting for export %s in %s; newest complete: %s", wanted, landing, newest)
    return newest is not None and newest >= wanted
