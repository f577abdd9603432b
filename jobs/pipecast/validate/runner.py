"""Run Great Expectations checkpoints in the warehouse and audit every result.

``run_checkpoint`` validates one batch (a table, or the rows of it a SQL predicate selects) against
one suite, through GX's SQL datasource: every metric is a query in the warehouse, no table is pulled
into Python. It writes Data Docs into ``<state_dir>/data_docs`` and every expectation result into
``audit.validation_results``. ``validate_raw`` is the raw stage's use of it; later stages (marts,
predictions) call ``run_checkpoint`` with their own suites and batches.

DuckDB has a single writer: GX's engine uses no connection pool and is closed when the checkpoint
is done, and only then are the audit rows written (through ``pipecast.warehouse.connect``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import great_expectations as gx
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    FilesystemStoreBackendDefaults,
    ProgressBarsConfig,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from pipecast.config import Settings, get_settings
from pipecast.validate import audit, gx_duckdb_fix, suites
from pipecast.validate.severity import ERROR, WARNING, severity_of
from pipecast.warehouse import connect, sqlalchemy_url, table_exists

log = logging.getLogger(__name__)
# GX logs routine steps at INFO; keep them out of pipeline logs unless configured otherwise.
_gx_log = logging.getLogger("great_expectations")
if _gx_log.level == logging.NOTSET:
    _gx_log.setLevel(logging.WARNING)

DATA_DOCS_SITE = "pipecast"
_DATASOURCE = "warehouse"


@dataclass(frozen=True)
class SqlBatch:
    """The rows a checkpoint validates: a warehouse table, optionally filtered in SQL.

    ``where`` is SQL text put after WHERE; build it from trusted values only (dates, run ids).
    """

    schema: str
    table: str
    where: str | None = None

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}" + (f" where {self.where}" if self.where else "")

    @property
    def query(self) -> str:
        return f"SELECT * FROM {self.schema}.{self.table}" + (f" WHERE {self.where}" if self.where else "")


@dataclass
class ValidationOutcome:
    run_id: str
    stage: str
    suite: str
    passed_errors: bool  # no error-severity expectation failed
    n_expectations: int
    n_failed_errors: int
    n_failed_warnings: int
    failures: list[str] = field(default_factory=list)


def data_docs_dir(settings: Settings) -> Path:
    return settings.state_dir / "data_docs"


def validate_raw(
    export_date: date,
    settings: Settings | None = None,
    *,
    run_id: str | None = None,
    row_count_tolerance: float | None = None,
) -> ValidationOutcome:
    """Validate one export of raw.opportunities (rows with ``_export_date = export_date``).

    The stage set comes from raw.stages of the same export; the row-count band (a warning) from
    the previous export, when there is one. ``run_id`` defaults to ``raw-<export_date>``, so
    re-validating an export replaces its audit rows.
    """
    settings = settings or get_settings()
    raw_suites = suites.load("raw_suites", settings)
    stages, previous_count = _export_context(export_date, settings)
    tolerance = raw_suites.DEFAULT_ROW_COUNT_TOLERANCE
    suite = raw_suites.raw_opportunities_suite(
        stages=stages,
        previous_row_count=previous_count,
        row_count_tolerance=tolerance if row_count_tolerance is None else row_count_tolerance,
    )
    batch = SqlBatch("raw", "opportunities", where=f"_export_date = DATE '{export_date.isoformat()}'")
    return run_checkpoint(
        "raw", suite, batch, settings=settings, run_id=run_id or f"raw-{export_date.isoformat()}"
    )


def run_checkpoint(
    stage: str,
    suite: gx.ExpectationSuite,
    batch: SqlBatch,
    *,
    run_id: str,
    settings: Settings | None = None,
) -> ValidationOutcome:
    """Validate ``batch`` against ``suite`` in the warehouse and audit every result."""
    settings = settings or get_settings()
    for expectation in suite.expectations:
        severity_of(expectation.meta, f"{suite.name}: {expectation.expectation_type}")
    url = sqlalchemy_url(settings)
    if make_url(url).get_backend_name() == gx_duckdb_fix.DIALECT:
        gx_duckdb_fix.apply()

    context = _context(settings)
    datasource = context.data_sources.add_sql(
        name=_DATASOURCE, connection_string=url, kwargs={"poolclass": NullPool}
    )
    try:
        asset = datasource.add_query_asset(name=batch.name, query=batch.query)
        definition = gx.ValidationDefinition(
            name=f"{stage}.{suite.name}",
            data=asset.add_batch_definition_whole_table("batch"),
            suite=context.suites.add_or_update(suite),
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{stage}.{suite.name}",
                validation_definitions=[context.validation_definitions.add(definition)],
                actions=[UpdateDataDocsAction(name="data_docs", site_names=[DATA_DOCS_SITE])],
                result_format={"result_format": "SUMMARY"},
            )
        )
        result = checkpoint.run(run_id=RunIdentifier(run_name=run_id))
    finally:
        datasource.get_execution_engine().close()

    validated_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        audit.result_row(
            r.to_json_dict(),
            run_id=run_id,
            validated_at=validated_at,
            stage=stage,
            suite=suite.name,
        )
        for validation in result.run_results.values()
        for r in validation.results
    ]
    audit.write(rows, run_id=run_id, stage=stage, suite=suite.name, settings=settings)
    outcome = _outcome(rows, run_id=run_id, stage=stage, suite=suite.name)
    log.info(
        "validated %s against %s: %d expectations, %d error and %d warning failures",
        batch.name,
        suite.name,
        outcome.n_expectations,
        outcome.n_failed_errors,
        outcome.n_failed_warnings,
    )
    return outcome


def _context(settings: Settings) -> gx.data_context.AbstractDataContext:
    """An in-process GX context; suites and validation results are kept under ``state_dir/gx``.

    Those two stores are on disk so that Data Docs keep every stage's and night's results (GX
    drops pages whose source is gone). Datasources, validation definitions and checkpoints are
    rebuilt from code on every run and live only in this process.
    """
    stores = FilesystemStoreBackendDefaults(root_directory=settings.state_dir / "gx")
    for name in (stores.checkpoint_store_name, stores.validation_definition_store_name):
        stores.stores[name]["store_backend"] = {"class_name": "InMemoryStoreBackend"}
    config = DataContextConfig(
        store_backend_defaults=stores,
        data_docs_sites={
            DATA_DOCS_SITE: {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(data_docs_dir(settings)),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _export_context(export_date: date, settings: Settings) -> tuple[list[str], int | None]:
    """Stages listed by raw.stages for the export, and the row count of the previous export."""
    with connect(settings) as con:
        if not table_exists(con, "raw", "opportunities"):
            raise LookupError(f"raw.opportunities does not exist in {settings.resolved_warehouse_path}")
        stages: list[str] = []
        if table_exists(con, "raw", "stages"):
            stages = [
                row[0]
                for row in con.execute(
                    "SELECT DISTINCT stage FROM raw.stages WHERE _export_date = ? AND stage IS NOT NULL",
                    [export_date],
                ).fetchall()
            ]
        previous = con.execute(
            """
            SELECT count(*) FROM raw.opportunities
            WHERE _export_date = (
                SELECT max(_export_date) FROM raw.opportunities WHERE _export_date < ?
            )
            """,
            [export_date],
        ).fetchone()
    return stages, (previous[0] if previous and previous[0] else None)


def _outcome(rows: list[audit.ResultRow], *, run_id: str, stage: str, suite: str) -> ValidationOutcome:
    failed = [r for r in rows if not r.success]
    failed_errors = [r for r in failed if r.severity == ERROR]
    return ValidationOutcome(
        run_id=run_id,
        stage=stage,
        suite=suite,
        passed_errors=not failed_errors,
        n_expectations=len(rows),
        n_failed_errors=len(failed_errors),
        n_failed_warnings=sum(r.severity == WARNING for r in failed),
        failures=[r.describe() for r in sorted(failed, key=lambda r: r.severity != ERROR)],
    )
