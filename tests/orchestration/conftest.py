"""Fixtures of the server-mode tests: the session's throwaway PostgreSQL 15 server
(tests/conftest.py ``postgres_cluster``, started as an unprivileged account when the tests run as
root: CI is a clean clone run as root) and the warehouse database docker-compose.yml's init script
creates on it. These tests need the server: where none can start they fail, they do not skip."""

from __future__ import annotations

import pytest

from tests.dbt.postgres_server import PostgresServer, unavailable_reason

__all__ = ["PostgresServer"]


@pytest.fixture(scope="session")
def postgres_server(postgres_cluster: PostgresServer | None) -> PostgresServer:
    if postgres_cluster is None:
        pytest.fail(f"no PostgreSQL server for the server-mode tests: {unavailable_reason()}")
    return postgres_cluster


@pytest.fixture(scope="session")
def compose_warehouse(postgres_server: PostgresServer) -> str:
    """The warehouse database as docker-compose.yml's init script creates it (roles pipecast,
    bi_reader, superset; schemas owned by pipecast), once per session; its name."""
    from tests.orchestration.compose_init import run_init_script

    run_init_script(postgres_server)
    return "warehouse"
