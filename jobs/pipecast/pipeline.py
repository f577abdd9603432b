"""The nightly pipeline's steps as plain functions: the CLI and the Airflow DAG both call these.

ingest -> validate raw -> dbt build -> forecast -> report. Each step opens the warehouse, works
and closes it, so steps can run in separate processes (Airflow tasks) one after another.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pipecast.config import Settings, get_settings
from pipecast.errors import InputError
from pipecast.ingest import IngestError, IngestResult, find_exports, ingest_export
from pipecast.ingest.landing import LandingZone, quarantine_export, quarantine_target
from pipecast.ingest.night_lock import night_lock
from pipecast.warehouse import query_on_target

if TYPE_CHECKING:
    from pipecast.demo.shapes import DemoShape

log = logging.getLogger(__name__)


class ValidationFailed(InputError):
    """An error-severity expectation failed: downstream steps must not run."""


class StaleData(RuntimeError):
    """A night with no new export: nothing was rebuilt or retrained, the data served is as old as
    ``since`` (the newest validated export; None when nothing was ever validated)."""

    def __init__(self, message: str, since: date | None) -> None:
        self.since = since
        super().__init__(message)


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
    task); then report the calendar gaps up to ``through`` (default: the newest export).

    Pending exports resume their lifecycle (``ingest.lifecycle``): one loaded but never validated
    (a run killed in between) is validated without loading it again, unless its files changed; a
    quarantine whose folder was not moved yet is finished."""
    settings = settings or get_settings()
    with night_lock(settings, "ingest"):  # planned and worked through by one run at a time
        return _ingest(export_date, settings, validate, through)


def _ingest(
    export_date: date | None, settings: Settings, validate: bool, through: date | None
) -> list[IngestResult]:
    from pipecast.ingest.schedule import LOAD, VALIDATE, plan

    if export_date:
        todo = [(export_date, LOAD)]
    else:
        finish_quarantines(settings, through)
        todo = plan(settings, through)
    if not todo:
        log.warning("no new exports in %s", settings.landing_url or settings.resolved_landing_dir)
    results = []
    for day, action in todo:
        if action == VALIDATE:
            log.info("export %s was loaded but not validated (an earlier run stopped): validating it", day)
            results.append(IngestResult(day, warnings=["loaded by an earlier run: validated now"]))
        else:
            results.append(ingest_export(day, settings))
        if validate:
            validate_raw(day, settings)
    if export_date is None:
        missing_exports(settings, through)
    return results


def finish_quarantines(settings: Settings, through: date | None = None) -> list[date]:
    """Move aside the exports audit says are quarantined but are still in the landing zone with
    the same files (a run stopped between its audit rows and the move)."""
    from pipecast.ingest.schedule import unfinished_quarantines

    moved = []
    for export, step in unfinished_quarantines(settings, through):
        log.warning("export %s was quarantined but not moved aside: moving it now", export.export_date)
        quarantine_export(export, settings.quarantine_dir, step.reason)
        moved.append(export.export_date)
    return moved


def validate_raw(export_date: date, settings: Settings | None = None):
    """Run the raw checkpoint on one loaded export (lifecycle: loaded -> validated); on an error
    take it back out of raw.* and quarantine it, with its audit rows; on a failure of the run
    itself (disk full, a lost connection) record ``failed``: the export stays unserved and the
    next run validates it again."""
    settings = settings or get_settings()
    with night_lock(settings, f"validate export {export_date}"):
        return _validate_raw(export_date, settings)


def _validate_raw(export_date: date, settings: Settings):
    from pipecast.faults import pause_point
    from pipecast.ingest import lifecycle
    from pipecast.ingest.loader import record_quarantine
    from pipecast.validate.runner import validate_raw as run_raw_checkpoint

    loaded = lifecycle.current_on_target(settings).get(export_date)

    def step(state: str, reason: str = "") -> lifecycle.Step:
        return lifecycle.step(
            export_date,
            state,
            reason,
            content_hash=loaded.content_hash if loaded else None,
            stat_fingerprint=loaded.stat_fingerprint if loaded else None,
            location=loaded.location if loaded else None,
        )

    pause_point("ingest:validate", settings)
    try:
        outcome = run_raw_checkpoint(export_date, settings)
    except Exception as exc:
        _record_failed(settings, step(lifecycle.FAILED, f"raw validation could not run: {exc}"))
        raise
    if not outcome.passed_errors:
        from pipecast.ingest.locate import describe_failures, failed_rows

        rows = failed_rows(settings, export_date, outcome.run_id)
        reason = "raw validation failed: " + "; ".join(describe_failures(outcome.failures, rows))
        export = LandingZone.from_settings(settings).export(export_date)
        target = quarantine_target(export_date, settings.quarantine_dir) if export.exists else None
        error = IngestError(reason, file=export.location)
        record_quarantine(settings, export, error, target, step(lifecycle.QUARANTINED, reason), unload=True)
        if target is not None:
            quarantine_export(export, settings.quarantine_dir, reason, target=target)
        raise ValidationFailed(reason)
    pause_point("ingest:validated", settings)
    lifecycle.record_on_target(
        settings,
        step(
            lifecycle.VALIDATED,
            f"{outcome.n_expectations} expectations, {outcome.n_failed_warnings} warnings",
        ),
    )
    return outcome


def _record_failed(settings: Settings, failed) -> None:
    from pipecast.ingest import lifecycle

    try:
        lifecycle.record_on_target(settings, failed)
    except Exception as exc:  # the warehouse itself may be what failed: say so, raise the first error
        log.error("could not record %s for export %s: %s", failed.state, failed.export_date, exc)


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
        [(as_of,)] = query_on_target(settings, "select max(as_of) from ml.revenue_forecast")
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
    """dbt build into the unpublished slots, the marts checkpoint on them, then the switch
    (pipecast.transform.dbt_build): marts that fail their suites are never published."""
    from pipecast.transform import dbt_build

    settings = settings or get_settings()
    with night_lock(settings, "build"):  # the export marked published is the one this build served
        result = dbt_build(settings, full_refresh=full_refresh)
        mark_published(settings)
        return result


def mark_published(settings: Settings) -> date | None:
    """After a successful dbt build: the newest validated export is what the marts show now."""
    from pipecast.ingest import lifecycle

    steps = lifecycle.current_on_target(settings)
    newest = lifecycle.newest_servable(steps)
    if newest is None or steps[newest].state == lifecycle.PUBLISHED:
        return newest
    served = steps[newest]
    lifecycle.record_on_target(
        settings,
        lifecycle.step(
            newest,
            lifecycle.PUBLISHED,
            "dbt build",
            content_hash=served.content_hash,
            stat_fingerprint=served.stat_fingerprint,
            location=served.location,
        ),
    )
    return newest


def forecast(as_of: date | None = None, settings: Settings | None = None, full_backtest: bool = False):
    """The forecast night; ``full_backtest`` refits every backtest cut-off and period instead of
    reusing the ledger's entries (the weekly retrain), and stores them anew."""
    from pipecast.forecast.job import run_forecast

    settings = settings or get_settings()
    with night_lock(settings, "forecast"):
        return run_forecast(as_of, settings, full_backtest=full_backtest)


def report(settings: Settings | None = None, stale: str | None = None):
    from pipecast.report import write_report

    return write_report(settings or get_settings(), stale=stale)


def run_all(settings: Settings | None = None, generate_demo: bool = True):
    """The whole night without a scheduler: the same steps, in the DAG's order.

    A night that validates no new export is stale: nothing is rebuilt or retrained, the report
    says since when the data is stale, and StaleData is raised (the CLI exits 3).

    The whole night holds the warehouse's night lock (pipecast.ingest.night_lock): a second run
    started meanwhile raises NightRunning and does nothing (the CLI exits 4). The marts checkpoint
    runs inside ``build``, on tonight's slots before they are published."""
    settings = settings or get_settings()
    with night_lock(settings, "run"):
        if generate_demo and not find_exports(settings.resolved_landing_dir):
            generate(settings)
        if not ingest(settings=settings):
            _stale(settings)
        build(settings)
        result = forecast(settings=settings)
        validate_predictions(result.as_of, settings)
        return report(settings)


def _stale(settings: Settings) -> None:
    """Say the night is stale (log, report, StaleData): see run_all."""
    from pipecast.ingest import lifecycle

    steps = lifecycle.current_on_target(settings)
    since = lifecycle.newest_servable(steps)
    where = settings.landing_url or settings.resolved_landing_dir
    if since is None:
        message = f"no export in {where} was ever validated: nothing to build"
    else:
        message = (
            f"no new export in {where}; the warehouse serves export {since} "
            f"(validated {steps[since].changed_at:%Y-%m-%d %H:%M} UTC): nothing rebuilt or retrained"
        )
    odd = LandingZone.from_settings(settings).unrecognised()
    if odd:
        message += f"; folders not named by a date, not loaded: {', '.join(odd)}"
    log.error("stale: %s", message)
    try:
        report(settings, stale=message)
    except Exception as exc:  # the stale verdict must reach the operator even without a report
        log.error("could not write the stale report: %s", exc)
    raise StaleData(message, since)
