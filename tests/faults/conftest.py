"""Fixtures of the fault tests."""

from __future__ import annotations

import pytest
from pipecast.config import Settings

from tests.dbt.postgres_server import postgres_or_skip


@pytest.fixture(scope="module")
def postgres(postgres_cluster, request):
    """The session's PostgreSQL server (tests/conftest.py) on a fresh database for the module's
    tests (skipped where no server can start)."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return postgres_or_skip(postgres_cluster).with_database(f"faults_{module}")


@pytest.fixture
def postgres_settings(postgres, tmp_path) -> Settings:
    """Settings of a test's own state and landing folders on the module's PostgreSQL database."""
    return Settings(
        state_dir=tmp_path / "state",
        landing_dir=tmp_path / "landing",
        target="postgres",
        **postgres.settings_fields,
    )
