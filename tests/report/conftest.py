"""Fixtures of the report tests: a real night (demo warehouse, forecast with its dbt marts). The
headless Chromium (browser_context) is tests/browser.py's, registered in tests/conftest.py."""

from __future__ import annotations

import pytest
from pipecast.config import Settings
from pipecast.forecast.job import run_forecast

from tests.forecast.conftest import AS_OF, DemoWarehouse, one_thread  # noqa: F401


@pytest.fixture(scope="session")
def night(demo_warehouse: DemoWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A forecast night with the dbt forecast marts and MLflow, as the pipeline runs it (read it
    only; the report, semantic-layer and model-registry tests share it)."""
    settings = demo_warehouse.copy(
        tmp_path_factory.mktemp("report-night") / "state", forecast_build_marts=True, forecast_mlflow=True
    )
    run_forecast(AS_OF, settings)
    return settings
