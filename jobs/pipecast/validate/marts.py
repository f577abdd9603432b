"""The marts stage: every mart BI reads, validated by one checkpoint after the dbt build.

The nightly build validates tonight's marts in their slot schemas before the views switch to them
(``tables``: pipecast.transform.publish), so a mart that fails its suite is never published;
``pipecast validate --stage marts`` validates what the views serve.

The marts are the dbt project's (pipecast.transform.manifest); what is checked here is only what
their yml does not declare as dbt tests (expectations/mart_suites.py: the range of every rate).
A mart that does not exist (yet) is skipped with a warning in the audit. An error means the marts
are wrong: the forecast and the report must not run on them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date

from pipecast_expectations import mart_suites
from sqlalchemy.engine import Connection

from pipecast.config import Settings
from pipecast.transform.manifest import marts as dbt_marts
from pipecast.validate import target
from pipecast.validate.checkpoint import Skipped, SqlBatch, StageOutcome, SuiteRun, TableBatch, run_stage
from pipecast.validate.expect import q

log = logging.getLogger(__name__)

STAGE = "marts"


def validate_marts(
    settings: Settings,
    *,
    run_id: str | None = None,
    tables: Mapping[str, str] | None = None,
) -> StageOutcome:
    """Validate every mart of the dbt project that exists; ``run_id`` defaults to
    ``marts-<newest export date>``, so validating the marts of one export again replaces its rows.

    ``tables`` (mart -> schema): validate only these marts, each read from the schema given (a
    slot schema not published yet); the suites and audit rows keep the public names."""
    runs: list[SuiteRun] = []
    skipped: list[Skipped] = []
    specs = mart_suites.specs(dbt_marts(settings))
    with target.connection(settings) as conn:
        for spec in specs:
            if tables is not None and spec.table not in tables:
                continue
            schema = tables[spec.table] if tables is not None else mart_suites.SCHEMA
            columns = target.table_columns(conn, schema, spec.table)
            if not columns:
                skipped.append(Skipped(spec.suite_name, f"{schema}.{spec.table} does not exist"))
                continue
            suite = mart_suites.mart_suite(spec, columns)
            if suite is None:
                continue  # nothing beyond its dbt tests to check
            if spec.latest and spec.latest in columns:
                column = q(spec.latest)
                table = f"{schema}.{spec.table}"
                batch: SqlBatch | TableBatch = SqlBatch(
                    schema, spec.table, where=f"{column} = (SELECT max({column}) FROM {table})"
                )
            else:
                batch = TableBatch(schema, spec.table)
            runs.append(SuiteRun(suite, batch))
        run_id = run_id or f"marts-{_newest_export(conn) or 'unknown'}"
    for s in skipped:
        log.warning("%s: %s skipped: %s", s.suite, s.check or "suite", s.reason)
    return run_stage(STAGE, runs, run_id=run_id, settings=settings, skipped=skipped)


def _newest_export(conn: Connection) -> date | None:
    if not target.table_exists(conn, "raw", "opportunities"):
        return None
    return target.scalar(conn, "SELECT max(_export_date) FROM raw.opportunities")
