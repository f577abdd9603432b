"""Validation on a PostgreSQL warehouse: the same checkpoints and audit, in a throwaway server.

The server is pytest-postgresql's executor, started as the unprivileged ``postgres`` account when
the suite runs as root (tests/dbt/postgres_server.py). Every stage runs against tables created
there; GX's SQL datasource and the audit writes go through the same SQLAlchemy URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import pytest
import sqlalchemy as sa
from conftest import install_manifest
from mart_warehouse import AS_OF, create_tables, good_marts, good_predictions
from pipecast.canonical import ENTITIES, LOAD_METADATA_COLUMNS
from pipecast.config import Settings
from pipecast.validate.runner import (
    SqlBatch,
    TableBatch,
    data_docs_dir,
    run_checkpoint,
    validate_marts,
    validate_predictions,
    validate_raw,
)
from pipecast.validate.severity import ERROR, WARNING, tag
from raw_warehouse import EXPORT_DATE, PREVIOUS_EXPORT_DATE, good_export
from test_mart_suites import PLANTED as MART_DEFECTS
from test_mart_suites import SKIPPED
from test_mart_suites import _plant as plant_mart_defects
from test_raw_suites import PLANTED_ERRORS, PLANTED_ERRORS_WARNINGS, _plant_errors

from tests.dbt.postgres_server import PostgresServer, postgres_or_skip

pytestmark = pytest.mark.postgres

_PG_TYPES = {"DOUBLE": "DOUBLE PRECISION"}


@pytest.fixture(scope="module")
def server(postgres_cluster) -> PostgresServer:
    """The session's PostgreSQL server (tests/conftest.py); each test creates its database."""
    return postgres_or_skip(postgres_cluster)


@pytest.fixture
def pg_settings(server: PostgresServer, tmp_path: Path, dbt_manifest: Path) -> Iterator[Settings]:
    """Settings on a fresh database of the server (dropped after the test)."""
    database = f"t_{tmp_path.name.lower().replace('-', '_')[-40:]}"
    admin = sa.create_engine(
        f"postgresql+psycopg2://{server.user}@{server.host}:{server.port}/{server.database}",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    url = f"postgresql+psycopg2://{server.user}@{server.host}:{server.port}/{database}"
    settings = Settings(state_dir=tmp_path, target="postgres", validation_warehouse_url=url)
    yield install_manifest(settings, dbt_manifest)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{database}" WITH (FORCE)'))
    admin.dispose()


def load_pg_export(url: str, export: dict[str, list[dict[str, Any]]], export_date: date) -> None:
    """raw.<entity> tables with the canonical types, as ingest would create them on PostgreSQL."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS raw"))
        for entity in ENTITIES.values():
            columns = entity.columns | LOAD_METADATA_COLUMNS
            ddl = ", ".join(f'"{c}" {_PG_TYPES.get(t, t)}' for c, t in columns.items())
            conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS raw.{entity.name} ({ddl})"))
            rows = [
                {c: row.get(c) for c in entity.columns}
                | {"_export_date": export_date, "_source_file": "test", "_loaded_at": datetime(2026, 3, 2)}
                | {"_row_hash": ""}
                for row in export.get(entity.name, [])
            ]
            if rows:
                quoted = ", ".join(f'"{c}"' for c in columns)
                values = ", ".join(f":{c}" for c in columns)
                conn.execute(sa.text(f"INSERT INTO raw.{entity.name} ({quoted}) VALUES ({values})"), rows)
    engine.dispose()


def audit_failures(url: str, run_id: str) -> set[tuple[str, str, str | None, str]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT suite, expectation_type, column_name, severity FROM audit.validation_results "
                "WHERE run_id = :r AND NOT success"
            ),
            {"r": run_id},
        ).fetchall()
    engine.dispose()
    return {tuple(r) for r in rows}  # type: ignore[misc]


def test_run_checkpoint_and_audit_on_postgres(pg_settings: Settings) -> None:
    url = pg_settings.validation_warehouse_url
    assert url is not None
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE deals AS SELECT 'D' || i AS id, (i % 7) * 10.0 AS amount "
                "FROM generate_series(0, 999) AS t(i)"
            )
        )
    engine.dispose()
    suite = gx.ExpectationSuite(
        name="deals",
        expectations=[
            gxe.ExpectColumnValuesToBeUnique(column="id", **tag(ERROR)),
            gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=50, **tag(WARNING)),
        ],
    )

    outcome = run_checkpoint("adhoc", suite, TableBatch("public", "deals"), run_id="r1", settings=pg_settings)
    again = run_checkpoint(
        "adhoc", suite, SqlBatch("public", "deals", "amount < 60"), run_id="r1", settings=pg_settings
    )

    assert outcome.passed_errors and outcome.n_failed_warnings == 1
    assert outcome.failures == [
        "warning: expect_column_values_to_be_between(amount): 142 unexpected, e.g. [60.0, 60.0, 60.0]"
    ]
    assert again.failures == []  # the SQL filter selected the rows in range; its rows replaced r1's
    assert audit_failures(url, "r1") == set()
    assert (data_docs_dir(pg_settings) / "index.html").is_file()


def test_raw_stage_on_postgres(pg_settings: Settings) -> None:
    url = pg_settings.validation_warehouse_url
    assert url is not None
    load_pg_export(url, good_export(), PREVIOUS_EXPORT_DATE)
    bad = good_export()
    _plant_errors(bad)
    load_pg_export(url, bad, EXPORT_DATE)

    outcome = validate_raw(EXPORT_DATE, pg_settings, today=EXPORT_DATE)

    # exactly the planted defects: PostgreSQL's type names, SQL and row counts all check out; and,
    # against the previous export, the drift they make: OWN-1 renamed OWN-0 orphans half the deals
    assert not outcome.passed_errors
    drift_errors = {("raw.drift", "pipecast_drift", "owner_id", ERROR)}
    assert audit_failures(url, outcome.run_id) == PLANTED_ERRORS | PLANTED_ERRORS_WARNINGS | drift_errors


def test_marts_and_predictions_on_postgres(pg_settings: Settings) -> None:
    url = pg_settings.validation_warehouse_url
    assert url is not None
    marts = good_marts()
    plant_mart_defects(marts)
    create_tables(url, marts | good_predictions())

    mart_outcome = validate_marts(pg_settings, run_id="marts-pg")
    predictions = validate_predictions(AS_OF, pg_settings)

    assert {f for f in audit_failures(url, "marts-pg") if f[1] != SKIPPED} == MART_DEFECTS
    assert not mart_outcome.passed_errors
    # the planted duplicate renamed OPP-1 of the marts to OPP-0: its score is for no deal
    assert predictions.failures == [
        "ml.opportunity_scores: error: unexpected_rows_expectation(opportunity_id) "
        "[Every score is for a deal of that night (marts.fct_opportunities)]: 1 unexpected"
    ]


def test_drift_and_currency_sql_on_postgres(pg_settings: Settings) -> None:
    """drift.py's and currency.py's SQL on PostgreSQL: the same findings as on DuckDB."""
    from pipecast.validate import currency, drift, target

    url = pg_settings.validation_warehouse_url
    assert url is not None
    load_pg_export(url, good_export(40), PREVIOUS_EXPORT_DATE)
    tonight = good_export(40)
    for i, row in enumerate(tonight["opportunities"]):
        row["amount"] *= 100
        row["currency"] = "JPY"
        row["lead_source"] = None
        if i < 5:
            row["account_id"] = "ACC-GONE"
    load_pg_export(url, tonight, EXPORT_DATE)

    with target.connection(pg_settings) as conn:
        findings = drift.check_export(
            conn, EXPORT_DATE, sorted(tonight), drift.Limits.from_settings(pg_settings)
        )
        missing = currency.missing_rates(conn, EXPORT_DATE, "USD")

    assert {f.name for f in findings if not f.success} == {
        "opportunities.amount_unit.amount",
        "opportunities.currency_share.currency",
        "opportunities.column_fill.lead_source",
        "opportunities.orphans.account_id",
    }
    assert [(m.entity, m.currency, m.rows) for m in missing] == [
        ("opportunities", "JPY", 40),
        ("opportunity_stage_history", "JPY", 40),
    ]
