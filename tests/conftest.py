"""Shared fixtures: isolated settings per test (state, landing zone and warehouse in tmp_path)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# Airflow reads AIRFLOW_HOME at import (and writes its airflow.cfg there): keep tests away from
# ~/airflow and from the demo's .state/airflow, with a home per pytest-xdist worker.
os.environ["AIRFLOW_HOME"] = str(
    Path(tempfile.gettempdir()) / f"pipecast-tests-airflow-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
from pipecast.config import Settings
from pipecast.demo.generator import generate_demo_exports
from pipecast.pipeline import ingest

from tests.browser import browser_context  # noqa: F401 (one headless Chromium per session)
from tests.forecast.conftest import AS_OF, SEED, SIZE, DemoWarehouse, build_warehouse, make_settings
from tests.lifecycle_steps import mark_validated


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scheduler: starts the real Airflow services (api-server, scheduler, dag-processor)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files that hold a test marked ``slow`` first, in their order, then the rest: `make test`
    runs the suite on pytest-xdist workers that take whole files in collection order, and a file
    of several minutes that came last would leave the other workers waiting for it."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: order within a file kept


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        landing_dir=tmp_path / "landing",
        warehouse_path=tmp_path / "state" / "warehouse.duckdb",
    )


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> DemoWarehouse:
    """The small demo warehouse (forecast and report tests): generated, ingested and built once per
    session; tests copy it (``DemoWarehouse.copy``) before writing."""
    state = tmp_path_factory.mktemp("forecast-demo") / "state"
    settings = make_settings(state)
    generate_demo_exports(
        landing_dir=settings.resolved_landing_dir,
        truth_path=settings.ground_truth_path,
        size=SIZE,
        seed=SEED,
        as_of=AS_OF,
        nights=1,
    )
    loaded = ingest(settings=settings, validate=False)
    mark_validated(settings, *(r.export_date for r in loaded))
    build_warehouse(settings)
    return DemoWarehouse(settings)


@pytest.fixture(scope="session")
def forecast_night(demo_warehouse: DemoWarehouse, tmp_path_factory: pytest.TempPathFactory):
    """One forecast night on a copy of the demo warehouse as the pipeline runs it (MLflow tracking,
    the dbt forecast marts, the snapshot recipe competing with the stage chain), once per session:
    ``(settings, result)``. The forecast job's tests and the report, semantic-layer and
    model-registry tests read it (read it only)."""
    from pipecast.forecast.job import run_forecast

    settings = demo_warehouse.copy(
        tmp_path_factory.mktemp("forecast-night") / "state",
        forecast_mlflow=True,
        forecast_build_marts=True,
        forecast_win_candidates=["stage_chain", "snapshot"],
    )
    return settings, run_forecast(AS_OF, settings)


@pytest.fixture(scope="session")
def postgres_cluster():
    """One throwaway PostgreSQL server for the whole session (tests/dbt/postgres_server.py), or
    None where none can start (the fixtures built on it skip or fail, as their tests want). Each
    group of tests works in databases of its own on it (``PostgresServer.with_database``)."""
    from tests.dbt.postgres_server import running_server, unavailable_reason

    if unavailable_reason():
        yield None
        return
    with running_server() as server:
        yield server


@dataclass(frozen=True)
class BuiltWarehouse:
    """A warehouse built once per session: its settings (read it only; copy it to write) and the
    node results of its dbt build."""

    settings: Settings
    build_results: list


@pytest.fixture(scope="session")
def maven_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    """The Maven CRM sample (real data, no stage history) ingested with its mapping and built with
    every dbt test, once per session: the warehouse tests check the marts, the forecast test
    forecasts on a copy."""
    from tests.dbt.dbt_run import run_dbt
    from tests.dbt.maven import EXPORT_DATE, unavailable_reason, write_maven_export

    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("maven")
    write_maven_export(root / "landing")
    settings = Settings(
        state_dir=root, landing_dir=root / "landing", warehouse_path=root / "warehouse.duckdb"
    )
    ingest(export_date=EXPORT_DATE, settings=settings, validate=False)
    mark_validated(settings, EXPORT_DATE)
    return BuiltWarehouse(settings, run_dbt(settings, "build"))
