"""Fixtures of the fault tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL server for the module's tests (skipped where none can start)."""
    from tests.dbt.postgres_server import running_server, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with running_server() as server:
        yield server
