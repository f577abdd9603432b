"""Shared fixtures: isolated settings per test (state, landing zone and warehouse in tmp_path)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Airflow reads AIRFLOW_HOME at import: keep tests away from ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(Path(tempfile.gettempdir()) / "pipecast-tests-airflow"))
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
