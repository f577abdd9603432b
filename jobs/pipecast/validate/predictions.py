"""The predictions stage: one night of ml.* as the forecast job wrote it, by one checkpoint.

A prediction table that does not exist, or has no rows for the night, is skipped with a warning.

The deals a night's scores are checked against are that night's rows of marts.fct_opportunities
(``as_of_date``); when the marts hold another night (a backfill), the raw export of that date
stands in, and without either the coverage checks are skipped with a warning.
"""

from __future__ import annotations

import logging
from datetime import date

from pipecast_expectations import prediction_suites
from pipecast_expectations.prediction_suites import OpenDeals
from sqlalchemy.engine import Connection

from pipecast.config import Settings
from pipecast.validate import target
from pipecast.validate.checkpoint import Skipped, StageOutcome, SuiteRun, TableBatch, run_stage

log = logging.getLogger(__name__)

STAGE = "predictions"
# (table, its column dating the deals' state), in order of preference.
DEAL_SOURCES = (("marts", "fct_opportunities", "as_of_date"), ("raw", "opportunities", "_export_date"))


def validate_predictions(
    as_of: date | None, settings: Settings, *, run_id: str | None = None
) -> StageOutcome:
    """Validate the night ``as_of`` of ml.opportunity_scores and ml.revenue_forecast.

    ``as_of`` None: the newest night the forecast job recorded (ml.model_runs, else the prediction
    tables; a night with no open deals writes no scores but does record its run).
    ``run_id`` defaults to ``predictions-<as_of>``: re-validating a night replaces its audit rows.
    """
    schema, day = prediction_suites.SCHEMA, prediction_suites.DAY_COLUMN
    runs: list[SuiteRun] = []
    skipped: list[Skipped] = []
    with target.connection(settings) as conn:
        if as_of is None:
            as_of = _newest_night(conn, schema, day)
        deals = _open_deals(conn, as_of)
        for table in prediction_suites.TABLES:
            name = prediction_suites.suite_name(table)
            columns = target.table_columns(conn, schema, table)
            if not columns:
                skipped.append(Skipped(name, f"{schema}.{table} does not exist"))
                continue
            if not target.scalar(
                conn, f"SELECT count(*) FROM {schema}.{table} WHERE {day} = :d", {"d": as_of}
            ):
                # GX selects a night among the dates a table holds: none here, nothing to validate
                reason = f"{schema}.{table} has no rows for {as_of}"
                if table == prediction_suites.SCORES and deals is not None and _open_count(conn, deals) == 0:
                    reason += f" (no deal was open in {deals.table} that night: nothing to score)"
                skipped.append(Skipped(name, reason))
                continue
            suite = prediction_suites.prediction_suite(table, columns, deals)
            if table == prediction_suites.SCORES and deals is None:
                reason = f"no deals dated {as_of} in " + " or ".join(f"{s}.{t}" for s, t, _ in DEAL_SOURCES)
                skipped.append(Skipped(name, reason, check="one score per open deal"))
            runs.append(SuiteRun(suite, TableBatch(schema, table, day)))
    for s in skipped:
        log.warning("%s: %s skipped: %s", s.suite, s.check or "suite", s.reason)
    return run_stage(
        STAGE,
        runs,
        run_id=run_id or f"predictions-{as_of.isoformat()}",
        settings=settings,
        day=as_of,
        skipped=skipped,
    )


def _open_deals(conn: Connection, as_of: date) -> OpenDeals | None:
    for schema, table, day_column in DEAL_SOURCES:
        if not target.table_exists(conn, schema, table):
            continue
        rows = target.scalar(
            conn, f"SELECT count(*) FROM {schema}.{table} WHERE {day_column} = :d", {"d": as_of}
        )
        if rows:
            return OpenDeals(f"{schema}.{table}", day_column, as_of)
    return None


def _open_count(conn: Connection, deals: OpenDeals) -> int:
    return int(
        target.scalar(
            conn,
            f"SELECT count(*) FROM {deals.table} WHERE {deals.day_column} = :d "
            f"AND {deals.closed_column} IS NOT TRUE",
            {"d": deals.day},
        )
        or 0
    )


NIGHT_SOURCES = ("model_runs", "revenue_forecast")  # written every night, open deals or not


def _newest_night(conn: Connection, schema: str, day: str) -> date:
    for table in (*NIGHT_SOURCES, *prediction_suites.TABLES):
        if target.table_exists(conn, schema, table):
            newest = target.scalar(conn, f"SELECT max({day}) FROM {schema}.{table}")
            if newest is not None:
                return newest if isinstance(newest, date) else date.fromisoformat(str(newest)[:10])
    raise ValueError(f"no forecast night in {schema}.*: run the forecast before validating its predictions")
