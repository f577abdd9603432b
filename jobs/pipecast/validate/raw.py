"""The raw stage: every entity of one export, validated by one checkpoint before anything is built.

An error here means the export must not replace the last good one (the pipeline then unloads and
quarantines it); warnings are recorded and reported.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import sqlalchemy as sa
from pipecast_expectations import raw_suites
from sqlalchemy.engine import Connection

from pipecast.canonical import ENTITIES
from pipecast.config import Settings
from pipecast.validate import acceptance, audit, currency, drift, target
from pipecast.validate.checkpoint import (
    Skipped,
    StageOutcome,
    SuiteRun,
    TableBatch,
    ValidationOutcome,
    run_stage,
)
from pipecast.validate.severity import ERROR, WARNING

log = logging.getLogger(__name__)

STAGE = "raw"
SCHEMA = "raw"
EXPORT_DATE_COLUMN = "_export_date"


def validate_raw(
    export_date: date,
    settings: Settings,
    *,
    run_id: str | None = None,
    row_count_tolerance: float | None = None,
    today: date | None = None,
) -> StageOutcome:
    """Validate one export: each canonical entity it holds, against its suite in raw_suites.

    An entity without rows in this export is recorded as an error when it is required, as a
    warning when the previous export had rows of it (it disappeared), and not at all otherwise
    (the source does not export it). The stage set comes from raw.stages
    of the same export, the row-count bands from the previous export. ``today`` (default: the
    UTC date) dates the freshness check. ``run_id`` defaults to ``raw-<export_date>``, so
    re-validating an export replaces its audit rows.
    """
    with target.connection(settings) as conn:
        tables = {e for e in ENTITIES if target.table_exists(conn, SCHEMA, e)}
        if "opportunities" not in tables:
            raise LookupError(f"raw.opportunities does not exist in {target.warehouse_url(settings)}")
        counts = {e: _row_counts(conn, e, export_date) for e in sorted(tables)}
        present = frozenset(e for e, (now, _) in counts.items() if now)
        stages = _stages(conn, export_date) if "stages" in tables else ()
        limits = drift.Limits.from_settings(settings)
        baselines = _baselines(conn, export_date, present, limits)
        accepted = acceptance.accepted_checks(conn, export_date)
    if accepted:
        log.warning(
            "export %s was accepted on purpose: drift checks %s are warnings for this export",
            export_date,
            "; ".join(f"{name} ({who})" for name, who in accepted.items()),
        )

    context = raw_suites.RawContext(
        export_date=export_date,
        stages=stages,
        present=present,
        previous_row_counts={e: previous for e, (_, previous) in counts.items() if previous},
        row_count_tolerance=(
            settings.raw_row_count_tolerance if row_count_tolerance is None else row_count_tolerance
        ),
        today=today or datetime.now(UTC).date(),
        max_export_age_days=settings.raw_export_max_age_days,
        max_staleness_days=settings.raw_max_staleness_days,
        min_date=settings.raw_min_date,
        close_date_horizon_days=settings.raw_close_date_horizon_days,
        max_plausible_amount=settings.raw_max_plausible_amount,
        reporting_currency=settings.reporting_currency,
        drift_baselines=baselines,
        accepted=accepted,
    )
    runs: list[SuiteRun] = []
    skipped: list[Skipped] = []
    for entity, spec in ENTITIES.items():
        if entity not in tables:
            continue
        now, previous = counts[entity]
        if not now:
            # GX selects an export among the dates a table holds: an export without rows of the
            # entity has no batch to validate, so its absence is recorded here.
            if spec.required:
                skipped.append(
                    Skipped(raw_suites.suite_name(entity), "no rows in this export", severity=ERROR)
                )
            elif previous:
                reason = f"no rows in this export ({previous} in the previous one)"
                skipped.append(Skipped(raw_suites.suite_name(entity), reason))
            continue
        batch = TableBatch(SCHEMA, entity, EXPORT_DATE_COLUMN)
        runs.append(SuiteRun(raw_suites.raw_suite(entity, context), batch))
    not_run = sorted(set(ENTITIES) - {r.batch.table for r in runs})
    if not_run:
        log.info("export %s holds no %s", export_date, ", ".join(not_run))
    run_id = run_id or acceptance.raw_run_id(export_date)
    outcome = run_stage(STAGE, runs, run_id=run_id, settings=settings, day=export_date, skipped=skipped)
    with target.connection(settings) as conn:
        findings = drift.check_export(conn, export_date, sorted(present), limits)
        missing = currency.missing_rates(conn, export_date, settings.reporting_currency)
    sql_checks = {
        drift.SUITE: drift.result_rows(findings, run_id=run_id, stage=STAGE, accepted=accepted),
        currency.SUITE: currency.result_rows(
            missing, settings.reporting_currency, run_id=run_id, stage=STAGE
        ),
    }
    for suite, rows in sql_checks.items():
        outcome.outcomes.append(_audited(suite, rows, run_id=run_id, settings=settings))
    return outcome


def _baselines(
    conn: Connection, export_date: date, present: frozenset[str], limits: drift.Limits
) -> dict[str, drift.Baseline]:
    """Drift bounds of every entity this export and a previous one hold (the GX drift checks)."""
    baselines = {}
    for entity in sorted(present):
        previous = drift.previous_export(conn, entity, export_date)
        if previous is not None:
            baselines[entity] = drift.baseline(conn, entity, previous, limits)
    return baselines


def _audited(
    suite: str, rows: list[audit.ResultRow], *, run_id: str, settings: Settings
) -> ValidationOutcome:
    """Write the rows of a SQL check suite (drift.py, currency.py) beside the checkpoint's."""
    audit.write(rows, run_id=run_id, stage=STAGE, suite=suite, settings=settings)
    failed = [r for r in rows if not r.success]
    errors = [r for r in failed if r.severity == ERROR]
    for r in failed:
        (log.error if r.severity == ERROR else log.warning)("%s: %s: %s", STAGE, suite, r.describe())
    return ValidationOutcome(
        run_id=run_id,
        stage=STAGE,
        suite=suite,
        passed_errors=not errors,
        n_expectations=len(rows),
        n_failed_errors=len(errors),
        n_failed_warnings=sum(r.severity == WARNING for r in failed),
        failures=[r.describe() for r in sorted(failed, key=lambda r: r.severity != ERROR)],
    )


def _row_counts(conn: Connection, entity: str, export_date: date) -> tuple[int, int | None]:
    """Rows of this export, and of the previous export (None when there is none)."""
    table = f"{SCHEMA}.{entity}"
    previous_date = target.scalar(
        conn,
        f"SELECT max({EXPORT_DATE_COLUMN}) FROM {table} WHERE {EXPORT_DATE_COLUMN} < :d",
        {"d": export_date},
    )
    count = f"SELECT count(*) FROM {table} WHERE {EXPORT_DATE_COLUMN} = :d"
    now = int(target.scalar(conn, count, {"d": export_date}))
    previous = int(target.scalar(conn, count, {"d": previous_date})) if previous_date else None
    return now, previous


def _stages(conn: Connection, export_date: date) -> tuple[str, ...]:
    rows = conn.execute(
        sa.text(
            f"SELECT DISTINCT stage FROM {SCHEMA}.stages "
            f"WHERE {EXPORT_DATE_COLUMN} = :d AND stage IS NOT NULL"
        ),
        {"d": export_date},
    )
    return tuple(sorted(r[0] for r in rows))
