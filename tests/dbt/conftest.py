"""Fixtures of the warehouse tests (session-wide: each dbt build is built once and read by many
tests).

- ``demo``: a small demo company's week of exports (demo_nights).
- ``nightly``: a DuckDB warehouse built night by night as the pipeline does: the first export
  ingested and built, then the last one, built incrementally with every dbt test.
- ``full_refresh``: a copy of that warehouse rebuilt from scratch (dbt --full-refresh).
- ``postgres_nightly``: the same two nights on a throwaway PostgreSQL server.
- ``maven``: the Maven CRM sample (real data, no stage history) ingested and built (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pipecast.config import PROJECT_ROOT, Settings
from pipecast.forecast import sources
from pipecast.pipeline import ingest
from pipecast.warehouse import connect

from tests.dbt.dbt_run import WITHOUT_TESTS, run_dbt
from tests.dbt.demo_nights import DemoExports, write_demo_exports
from tests.dbt.postgres_server import PostgresServer, postgres_or_skip
from tests.dbt.raw_copy import copy_raw_to_postgres
from tests.lifecycle_steps import mark_validated

# The tables the incremental runs maintain, with the columns that identify a row.
INCREMENTAL_TABLES = {
    "intermediate.int_opportunity_changes_classified": ["opportunity_id", "changed_at"],
    "marts.fct_opportunity_stage_transitions": ["transition_key"],
    "marts.fct_pipeline_daily": ["snapshot_date", "opportunity_id"],
}
# The forecast's point-in-time models (models/intermediate/point_in_time), with their row keys:
# full refresh = incremental (test_incremental) and PostgreSQL = DuckDB (test_postgres) for each.
POINT_IN_TIME_MODELS = {
    "intermediate.int_opportunity_attributes_joined": ["opportunity_id"],
    sources.CHANGES: ["opportunity_id", "changed_at"],
    "intermediate.int_opportunity_close_dates_versioned": ["opportunity_id", "valid_from"],
    "intermediate.int_stage_visits_sequenced": ["opportunity_id", "entered_at"],
    "intermediate.int_stage_exits_scored": ["opportunity_id", "entered_at"],
    "intermediate.int_owner_exit_records_accumulated": ["owner_id", "t"],
    "intermediate.int_account_exit_records_accumulated": ["account_id", "t"],
    "intermediate.int_opportunity_products_resolved": ["opportunity_id", "product_id"],
}
# How far before the newest change already built an incremental night looks again (the dbt var).
DBT_PROJECT = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
LOOKBACK = timedelta(days=int(DBT_PROJECT["vars"]["incremental_lookback_days"]))


@dataclass
class NightlyWarehouse:
    settings: Settings
    demo: DemoExports | None
    # after the first night: each incremental table's keys with the export that built them
    first_night: dict[str, pd.DataFrame] = field(default_factory=dict)
    build_results: list = field(default_factory=list)  # node results of the last night's build

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with connect(self.settings) as con:
            return con.execute(sql, params or []).df()


def _settings(root: Path, demo: DemoExports, **overrides) -> Settings:
    return Settings(
        state_dir=root,
        landing_dir=demo.landing,
        warehouse_path=root / "warehouse.duckdb",
        **overrides,
    )


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoExports:
    return write_demo_exports(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def nightly(tmp_path_factory: pytest.TempPathFactory, demo: DemoExports) -> NightlyWarehouse:
    settings = _settings(tmp_path_factory.mktemp("nightly"), demo)
    warehouse = NightlyWarehouse(settings, demo)
    ingest(export_date=demo.first, settings=settings, validate=False)
    mark_validated(settings, demo.first)
    run_dbt(settings, "build", *WITHOUT_TESTS)
    for table, keys in INCREMENTAL_TABLES.items():
        warehouse.first_night[table] = warehouse.query(
            f"select {', '.join(keys)}, built_export_date from {table}"
        )
    ingest(export_date=demo.last, settings=settings, validate=False)
    mark_validated(settings, demo.last)
    warehouse.build_results = run_dbt(settings, "build")
    return warehouse


@pytest.fixture(scope="session")
def full_refresh(tmp_path_factory: pytest.TempPathFactory, nightly: NightlyWarehouse) -> NightlyWarehouse:
    """The nightly warehouse copied after its last night and rebuilt from scratch (snapshots are
    kept: dbt never rebuilds them, they are the history)."""
    with connect(nightly.settings) as con:
        con.execute("checkpoint")
    root = tmp_path_factory.mktemp("full_refresh")
    settings = _settings(root, nightly.demo)
    shutil.copy(nightly.settings.resolved_warehouse_path, settings.resolved_warehouse_path)
    run_dbt(settings, "build", "--full-refresh", *WITHOUT_TESTS)
    return NightlyWarehouse(settings, nightly.demo)


@pytest.fixture(scope="session")
def postgres(postgres_cluster) -> PostgresServer:
    """The session's PostgreSQL server (tests/conftest.py), on a database of the warehouse tests."""
    return postgres_or_skip(postgres_cluster).with_database("dbt_warehouse")


@dataclass
class PostgresWarehouse:
    settings: Settings
    server: PostgresServer

    def query(self, sql: str) -> pd.DataFrame:
        with self.server.connect() as pg, pg.cursor() as cursor:
            cursor.execute(sql)
            columns = [d.name for d in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=columns)


@pytest.fixture(scope="session")
def postgres_nightly(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer, nightly: NightlyWarehouse
) -> PostgresWarehouse:
    """The nightly warehouse's two nights on PostgreSQL: raw.* copied from the DuckDB raw export
    by export, dbt building after each (the second with every test)."""
    settings = _settings(
        tmp_path_factory.mktemp("postgres"), nightly.demo, target="postgres", **postgres.settings_fields
    )
    saved = {k: os.environ.get(k) for k in postgres.env}
    os.environ.update(postgres.env)  # profiles.yml reads PIPECAST_PG_* while dbt runs
    try:
        for export_date, build_args in ((nightly.demo.first, WITHOUT_TESTS), (nightly.demo.last, [])):
            _copy_export(nightly, postgres, export_date)
            run_dbt(settings, "build", *build_args)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return PostgresWarehouse(settings, postgres)


def _copy_export(nightly: NightlyWarehouse, postgres: PostgresServer, export_date: date) -> None:
    with connect(nightly.settings) as duck, postgres.connect() as pg:
        copy_raw_to_postgres(duck, pg, [export_date])


@pytest.fixture(scope="session")
def maven(maven_warehouse) -> NightlyWarehouse:
    """The Maven CRM sample ingested with its mapping and built with every dbt test (the session's,
    tests/conftest.py: the forecast test copies the same warehouse)."""
    return NightlyWarehouse(maven_warehouse.settings, demo=None, build_results=maven_warehouse.build_results)
