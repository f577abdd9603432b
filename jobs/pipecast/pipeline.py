"""The nightly pipeline's steps as plain functions: the CLI and the Airflow DAG both call these.

ingest -> validate raw -> dbt build -> forecast -> report. Each step opens the warehouse, works
and closes it, so steps can run in separate processes (Airflow tasks) one after another.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pipecast.canonical import ENTITIES
from pipecast.config import Settings, get_settings
from pipecast.errors import InputError
from pipecast.ingest import IngestResult, find_exports, ingest_export
from pipecast.ingest.landing import get_export, quarantine_export
from pipecast.warehouse import execute_on_target, query_on_target

if TYPE_CHECKING:
    from pipecast.demo.shapes import DemoShape

log = logging.getLogger(__name__)


class ValidationFailed(InputError):
    """An error-severity expectation failed: downstream steps must not run."""


@dataclass
class GenerateSummary:
    export_dates: list[date]
    rows: dict[str, int]


def generate(
    settings: Settings | None = None,
    size: int | None = None,
    seed: int | None = None,
    as_of: date | None = None,
    nights: int | None = None,
    shape: DemoShape | None = None,
) -> GenerateSummary:
    """Write the demo's exports; shape (pipecast.demo.shapes) for other CRM shapes."""
    from pipecast.demo.generator import generate_demo_exports

    settings = settings or get_settings()
    summary = generate_demo_exports(
        landing_dir=settings.resolved_landing_dir,
        truth_path=settings.ground_truth_path,
        size=size or settings.demo_size,
        seed=settings.demo_seed if seed is None else seed,
        as_of=as_of,
        nights=nights or settings.demo_nights,
        shape=shape,
    )
    return GenerateSummary(summary.export_dates, summary.rows)


def loaded_export_dates(settings: Settings) -> set[date]:
    """Export dates loaded into raw.* (as audit.loads records them)."""
    from pipecast.ingest.schedule import loaded_fingerprints

    return set(loaded_fingerprints(settings))


def pending_exports(settings: Settings | None = None, through: date | None = None) -> list[date]:
    """Complete exports not loaded yet (or re-delivered since), oldest first: late and
    out-of-order exports load in date order."""
    from pipecast.ingest.schedule import pending

    return pending(settings or get_settings(), through)


def missing_exports(settings: Settings | None = None, through: date | None = None):
    """Dates the export cadence expects but no export was loaded for (missing, incomplete or
    quarantined): logged as errors and recorded in audit.missing_exports, never skipped silently."""
    from pipecast.ingest.schedule import missing

    return missing(settings or get_settings(), through)


def ingest(
    export_date: date | None = None,
    settings: Settings | None = None,
    validate: bool = True,
    through: date | None = None,
) -> list[IngestResult]:
    """Load one export (export_date; a re-run replaces that date) or every pending one in date
    order, each validated after loading unless validate is False (the DAG validates in its own
    task); then report the calendar gaps up to ``through`` (default: the newest export)."""
    settings = settings or get_settings()
    dates = [export_date] if export_date else pending_exports(settings, through)
    if not dates:
        log.info("no new exports in %s", settings.landing_url or settings.resolved_landing_dir)
    results = []
    for day in dates:
        results.append(ingest_export(day, settings))
        if validate:
            validate_raw(day, settings)
    if export_date is None:
        missing_exports(settings, through)
    return results


def _unload_export(settings: Settings, export_date: date) -> None:
    """Take a bad export back out of raw.* (ingest created every raw table): the previous good
    export serves again."""
    statements: list[tuple[str, list]] = [
        (f"delete from raw.{entity} where _export_date = $1", [export_date]) for entity in ENTITIES
    ]
    statements.append(("delete from audit.loads where export_date = $1", [export_date]))
    execute_on_target(settings, statements)


def validate_raw(export_date: date, settings: Settings | None = None):
    """Run the raw checkpoint on one export; on an error unload and quarantine it."""
    from pipecast.validate.runner import validate_raw as run_raw_checkpoint

    settings = settings or get_settings()
    outcome = run_raw_checkpoint(export_date, settings)
    if not outcome.passed_errors:
        _unload_export(settings, export_date)
        export = get_export(settings.resolved_landing_dir, export_date)
        reason = "raw validation failed: " + "; ".join(outcome.failures)
        if export.path.exists():
            quarantine_export(export, settings.quarantine_dir, reason)
        raise ValidationFailed(reason)
    return outcome


def _stop_on_errors(outcome, stage: str):
    """Warnings are recorded and reported; an error stops the steps downstream."""
    if not outcome.passed_errors:
        raise ValidationFailed(f"{stage} validation failed: " + "; ".join(outcome.failures))
    return outcome


def validate_marts(settings: Settings | None = None):
    """The marts checkpoint (after dbt build): keys, rates, funnel and waterfall rules."""
    from pipecast.validate.runner import validate_marts as run_marts_checkpoint

    return _stop_on_errors(run_marts_checkpoint(settings or get_settings()), "marts")


def validate_predictions(as_of: date | None = None, settings: Settings | None = None):
    """The predictions checkpoint (after forecast) for the night as_of (default: the newest)."""
    from pipecast.validate.runner import validate_predictions as run_predictions_checkpoint

    settings = settings or get_settings()
    if as_of is None:
        [(as_of,)] = query_on_target(settings, "select max(as_of) from ml.opportunity_scores")
    _require_forecast_of(as_of, settings)
    return _stop_on_errors(run_predictions_checkpoint(as_of, settings), "predictions")


def _require_forecast_of(as_of: date | None, settings: Settings) -> None:
    """A night whose forecast is not in ml.* (it failed or was killed before its one commit) fails
    the predictions stage: the previous night's forecast is never passed off as tonight's."""
    newest = None
    if query_on_target(
        settings,
        "select count(*) from information_schema.tables where table_schema = 'ml' "
        "and table_name = 'revenue_forecast'",
    ) != [(0,)]:
        [(newest, rows)] = query_on_target(
            settings,
            "select max(as_of), sum(case when as_of = $1 then 1 else 0 end) from ml.revenue_forecast",
            [as_of],
        )
        if rows:
            return
    raise ValidationFailed(
        f"predictions validation failed: no forecast for {as_of} in ml.revenue_forecast "
        f"(the newest is {newest or 'none'}): that night's forecast did not complete"
    )


def build(settings: Settings | None = None, full_refresh: bool = False):
    from pipecast.transform import dbt_build

    return dbt_build(settings or get_settings(), full_refresh=full_refresh)


def forecast(as_of: date | None = None, settings: Settings | None = None):
    from pipecast.forecast.job import run_forecast

    return run_forecast(as_of, settings or get_settings())


def report(settings: Settings | None = None):
    from pipecast.report import write_report

    return write_report(settings or get_settings())


def run_all(settings: Settings | None = None, generate_demo: bool = True):
    """The whole night without a scheduler: the same steps, in the DAG's order."""
    settings = settings or get_settings()
    if generate_demo and not find_exports(settings.resolved_landing_dir):
        generate(settings)
    ingest(settings=settings)
    build(settings)
    validate_marts(settings)
    result = forecast(settings=settings)
    validate_predictions(result.as_of, settings)
    return report(settings)
