"""Fixtures of the report tests: a real night (demo warehouse, forecast with its dbt marts). The
headless Chromium (browser_context) is tests/browser.py's, registered in tests/conftest.py."""

from __future__ import annotations

import pytest
from pipecast.config import Settings

from tests.forecast.conftest import one_thread  # noqa: F401


@pytest.fixture(scope="session")
def night(forecast_night) -> Settings:
    """The session's forecast night with the dbt forecast marts and MLflow, as the pipeline runs it
    (tests/conftest.py; read it only: the report, semantic-layer, model-registry and forecast job
    tests share it)."""
    settings, _ = forecast_night
    return settings
