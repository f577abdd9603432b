"""What a scheduled night does around the pipeline steps: it works on its own export date.

The CLI's `pipecast ingest` loads every pending export and forecasts as of the newest one. A
nightly run (and each run of a backfill) instead loads only the pending exports up to its export
date, oldest first, and forecasts as of that date, so a backfill over a month rebuilds the month
night by night, in order, each night seeing only what was known then.
"""

from __future__ import annotations

import logging
from datetime import date

from pipecast.config import Settings, get_settings

log = logging.getLogger(__name__)


def ingest_through(export_date: date, settings: Settings | None = None) -> list[date]:
    """Load the pending complete exports dated up to export_date, oldest first (not validated:
    the DAG validates in its own task). Returns the dates to validate: those loaded now, and
    those loaded earlier but never validated."""
    from pipecast import pipeline
    from pipecast.ingest.schedule import LOAD, plan

    settings = settings or get_settings()
    pipeline.finish_quarantines(settings, through=export_date)
    todo = plan(settings, through=export_date)
    if not todo:
        log.info("no pending export up to %s: nothing to load", export_date)
    for day, action in todo:
        # An export loaded by an earlier run and not validated yet is returned without loading
        # it again: the validate_raw task validates it (the export lifecycle resumes).
        if action == LOAD:
            pipeline.ingest(day, settings, validate=False)
    return [day for day, _ in todo]


def forecast_as_of(export_date: date, settings: Settings | None = None) -> date:
    """The as-of date for the night's forecast: its export date if loaded, else the newest loaded
    export before it (the export may be missing or was quarantined)."""
    from pipecast import pipeline

    settings = settings or get_settings()
    loaded = [d for d in pipeline.loaded_export_dates(settings) if d <= export_date]
    if not loaded:
        raise RuntimeError(f"no export loaded on or before {export_date}: nothing to forecast from")
    return max(loaded)
