"""Fixtures of the fault tests."""

from __future__ import annotations

import pytest

from tests.dbt.postgres_server import postgres_or_skip


@pytest.fixture(scope="module")
def postgres(postgres_cluster, request):
    """The session's PostgreSQL server (tests/conftest.py) on a fresh database for the module's
    tests (skipped where no server can start)."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return postgres_or_skip(postgres_cluster).with_database(f"faults_{module}")
