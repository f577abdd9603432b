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
