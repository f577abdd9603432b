"""Run Great Expectations checkpoints in the warehouse and audit every result.

One checkpoint per stage and night: every suite of the stage is a validation definition of it, run
against its batch through GX's SQL datasource, so every metric is a query in the warehouse (DuckDB
or PostgreSQL) and no table is pulled into Python. The checkpoint's action rebuilds the Data Docs
in ``<state_dir>/data_docs``; afterwards every expectation result, and every suite or check that
could not run, is written to ``audit.validation_results``.

DuckDB has a single writer: GX's engine (one pooled connection, reused by every query) is closed
when the checkpoint is done, and only then are the audit rows written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    FilesystemStoreBackendDefaults,
    ProgressBarsConfig,
)

from pipecast.config import Settings
from pipecast.validate import audit, data_docs_offline, gx_duckdb_fix, target
from pipecast.validate.severity import ERROR, WARNING, Severity, severity_of

log = logging.getLogger(__name__)
# GX has no dialect module for DuckDB and says so at WARNING for every type check; it then checks
# against SQLAlchemy's generic types, which is what the suites' type checks are written against.
logging.getLogger("great_expectations.expectations.type_comparison").setLevel(logging.ERROR)

DATA_DOCS_SITE = "pipecast"
# The Data Docs index lists this many newest validation results (every page stays on disk).
DATA_DOCS_INDEX_LIMIT = 1000
_DATASOURCE = "warehouse"


@dataclass(frozen=True)
class SqlBatch:
    """The rows a query selects: a warehouse table, optionally filtered in SQL.

    ``where`` is SQL text put after WHERE; build it from trusted values only (dates, run ids).
    GX cannot see column types through a query: use TableBatch where a suite checks types.
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

    @property
    def by_day(self) -> bool:
        return False

    def batch_definition(self, datasource: Any, asset_name: str) -> Any:
        asset = datasource.add_query_asset(name=asset_name, query=self.query)
        return asset.add_batch_definition_whole_table("batch")


@dataclass(frozen=True)
class TableBatch:
    """A warehouse table, whole or (``day_column``) the rows of the day the checkpoint runs for."""

    schema: str
    table: str
    day_column: str | None = None

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}" + (f" by {self.day_column}" if self.day_column else "")

    @property
    def by_day(self) -> bool:
        return self.day_column is not None

    def batch_definition(self, datasource: Any, asset_name: str) -> Any:
        asset = datasource.add_table_asset(name=asset_name, table_name=self.table, schema_name=self.schema)
        if self.day_column:
            return asset.add_batch_definition_daily("day", column=self.day_column)
        return asset.add_batch_definition_whole_table("batch")


Batch = SqlBatch | TableBatch


@dataclass(frozen=True)
class SuiteRun:
    """One suite of a checkpoint and the batch it validates."""

    suite: gx.ExpectationSuite
    batch: Batch


@dataclass(frozen=True)
class Skipped:
    """A suite, or one check of a suite, that could not run: recorded as a failed row."""

    suite: str
    reason: str
    check: str | None = None
    columns: tuple[str, ...] = ()
    severity: Severity = WARNING


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
    skipped: bool = False  # the suite did not run (its table is missing); see failures for why


@dataclass
class StageOutcome:
    """Every suite of one stage's checkpoint: the stage passes when no error expectation failed."""

    stage: str
    run_id: str
    outcomes: list[ValidationOutcome] = field(default_factory=list)

    @property
    def passed_errors(self) -> bool:
        return all(o.passed_errors for o in self.outcomes)

    @property
    def n_expectations(self) -> int:
        return sum(o.n_expectations for o in self.outcomes)

    @property
    def n_failed_errors(self) -> int:
        return sum(o.n_failed_errors for o in self.outcomes)

    @property
    def n_failed_warnings(self) -> int:
        return sum(o.n_failed_warnings for o in self.outcomes)

    @property
    def failures(self) -> list[str]:
        """``<suite>: <severity>: ...`` for every failed expectation, errors first."""
        lines = [f"{o.suite}: {f}" for o in self.outcomes for f in o.failures]
        return sorted(lines, key=lambda line: f": {ERROR}: " not in line)

    @property
    def suite(self) -> str:
        """The suites run, comma-separated (a summary line's label)."""
        return ", ".join(o.suite for o in self.outcomes)

    @property
    def suites(self) -> list[str]:
        return [o.suite for o in self.outcomes]

    def outcome(self, suite: str) -> ValidationOutcome:
        for o in self.outcomes:
            if o.suite == suite:
                return o
        raise KeyError(f"no suite {suite!r} in stage {self.stage} (ran: {self.suite})")


def data_docs_dir(settings: Settings) -> Path:
    return settings.state_dir / "data_docs"


def run_checkpoint(
    stage: str,
    suite: gx.ExpectationSuite,
    batch: Batch,
    *,
    run_id: str,
    settings: Settings,
    day: date | None = None,
) -> ValidationOutcome:
    """Validate ``batch`` against ``suite`` in the warehouse and audit every result."""
    return run_stage(stage, [SuiteRun(suite, batch)], run_id=run_id, settings=settings, day=day).outcomes[0]


def run_stage(
    stage: str,
    runs: Sequence[SuiteRun],
    *,
    run_id: str,
    settings: Settings,
    day: date | None = None,
    skipped: Iterable[Skipped] = (),
) -> StageOutcome:
    """Run one checkpoint over ``runs`` and record ``skipped`` beside their results.

    ``day`` selects the rows of every TableBatch with a ``day_column`` (all of a checkpoint's
    batches are by day, or none is). Re-running a (run_id, stage) replaces its suites' audit rows.
    """
    skipped = list(skipped)
    _check(stage, runs, day)
    results = _run_checkpoint(stage, runs, run_id=run_id, settings=settings, day=day) if runs else {}

    validated_at = datetime.now(UTC).replace(tzinfo=None)
    rows: dict[str, list[audit.ResultRow]] = {r.suite.name: [] for r in runs}
    for suite_name, expectation_results in results.items():
        rows[suite_name] = [
            audit.result_row(r, run_id=run_id, validated_at=validated_at, stage=stage, suite=suite_name)
            for r in expectation_results
        ]
    suites_not_run = [s.suite for s in skipped if s.check is None and s.suite not in rows]
    for s in skipped:
        rows.setdefault(s.suite, []).append(
            audit.skipped_row(
                s.reason,
                run_id=run_id,
                validated_at=validated_at,
                stage=stage,
                suite=s.suite,
                check=s.check,
                columns=s.columns,
                severity=s.severity,
            )
        )
    audit.replace(
        [row for suite_rows in rows.values() for row in suite_rows],
        run_id=run_id,
        stage=stage,
        suites=rows,
        settings=settings,
    )
    outcome = StageOutcome(
        stage=stage,
        run_id=run_id,
        outcomes=[
            _outcome(suite_rows, run_id=run_id, stage=stage, suite=name, skipped=name in suites_not_run)
            for name, suite_rows in rows.items()
        ],
    )
    log.info(
        "%s checkpoint %s: %d suites, %d expectations, %d error and %d warning failures",
        stage,
        run_id,
        len(outcome.outcomes),
        outcome.n_expectations,
        outcome.n_failed_errors,
        outcome.n_failed_warnings,
    )
    for line in outcome.failures:
        (log.error if f": {ERROR}: " in line else log.warning)("%s: %s", stage, line)
    return outcome


def _check(stage: str, runs: Sequence[SuiteRun], day: date | None) -> None:
    names = [r.suite.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"{stage}: suite names must be unique within a checkpoint: {names}")
    by_day = {r.batch.by_day for r in runs}
    if len(by_day) > 1:
        raise ValueError(f"{stage}: a checkpoint's batches are all by day or none is")
    if by_day == {True} and day is None:
        raise ValueError(f"{stage}: batches by day need the day to validate")
    for run in runs:
        for expectation in run.suite.expectations:
            severity_of(expectation.meta, f"{run.suite.name}: {expectation.expectation_type}")


def _run_checkpoint(
    stage: str, runs: Sequence[SuiteRun], *, run_id: str, settings: Settings, day: date | None
) -> dict[str, list[dict[str, Any]]]:
    """Expectation results (``to_json_dict()``) per suite name."""
    url = target.warehouse_url(settings)
    if target.dialect(url) == gx_duckdb_fix.DIALECT:
        gx_duckdb_fix.apply()

    context = _context(settings)
    # GX's PostgreSQL datasource is its SQL datasource with PostgreSQL's URL checks.
    add = (
        context.data_sources.add_postgres
        if target.dialect(url) == "postgresql"
        else context.data_sources.add_sql
    )
    datasource = add(name=_DATASOURCE, connection_string=url, kwargs=target.engine_options(settings))
    try:
        definitions = [
            context.validation_definitions.add(
                gx.ValidationDefinition(
                    name=f"{stage}.{run.suite.name}",
                    data=run.batch.batch_definition(datasource, run.suite.name),
                    suite=context.suites.add_or_update(run.suite),
                )
            )
            for run in runs
        ]
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=stage,
                validation_definitions=definitions,
                result_format={"result_format": "SUMMARY"},
            )
        )
        parameters = (
            {"year": day.year, "month": day.month, "day": day.day} if day and runs[0].batch.by_day else None
        )
        result = checkpoint.run(batch_parameters=parameters, run_id=RunIdentifier(run_name=run_id))
    finally:
        # Both of GX's engines (the datasource's, for inspection, and the execution engine's)
        # hold pooled connections: close them, DuckDB allows no other writer meanwhile.
        datasource.get_execution_engine().close()
        datasource.get_engine().dispose()
    # The pages of this checkpoint's results and suites, and the index once (GX's
    # UpdateDataDocsAction rebuilds the index after every suite); then those pages load their CSS and
    # JavaScript from the site itself, not from CDNs (data_docs_offline).
    built_after = time.time() - 2  # file timestamps may lag the clock by a tick
    context.build_data_docs(
        site_names=[DATA_DOCS_SITE],
        resource_identifiers=[
            identifier
            for result_id in result.run_results
            for identifier in (result_id, result_id.expectation_suite_identifier)
        ],
    )
    site = data_docs_dir(settings)
    data_docs_offline.make_offline(site, data_docs_offline.pages_written_since(site, built_after))
    return {
        validation.suite_name: [r.to_json_dict() for r in validation.results]
        for validation in result.run_results.values()
    }


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
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": DATA_DOCS_INDEX_LIMIT,
                    "show_how_to_buttons": False,
                },
            }
        },
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _outcome(
    rows: list[audit.ResultRow], *, run_id: str, stage: str, suite: str, skipped: bool = False
) -> ValidationOutcome:
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
        skipped=skipped,
    )
