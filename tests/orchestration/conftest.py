"""A throwaway PostgreSQL 15 server for the server-mode tests, also when the tests run as root.

pytest-postgresql's executor drives pg_ctl, and PostgreSQL refuses to run as root. As root (CI is
a clean clone run as root), the fixture gives the cluster to an unprivileged account (postgres, or
nobody) in a folder that account owns, outside pytest's 0700 temp tree, and hands the executor a
small pg_ctl wrapper that drops privileges with setpriv. As any other user, pg_ctl runs directly.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql.executors import PostgreSQLExecutor

from tests.orchestration.airflow_services import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def url(self, dbname: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as c:
            c.execute(f'create database "{name}"')
        return name

    def query(self, dbname: str, sql: str) -> list[tuple]:
        with psycopg.connect(host=self.host, port=self.port, user=self.user, dbname=dbname) as c:
            return c.execute(sql).fetchall()


def _pg_ctl() -> Path:
    found = PG_BIN / "pg_ctl" if (PG_BIN / "pg_ctl").exists() else shutil.which("pg_ctl")
    if not found:
        pytest.fail(f"PostgreSQL server binaries not found ({PG_BIN} or pg_ctl on PATH)")
    return Path(found)


def _unprivileged_account() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.fail("running as root and neither a postgres nor a nobody account exists")


def _as_unprivileged(pg_ctl: Path, workdir: Path) -> Path:
    """Hand workdir to an unprivileged account; return a pg_ctl wrapper that runs as it."""
    account = _unprivileged_account()
    os.chown(workdir, account.pw_uid, account.pw_gid)
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.fail("running as root needs setpriv (util-linux) to start PostgreSQL as another user")
    wrapper = workdir / "pg_ctl"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'exec {setpriv} --reuid={account.pw_uid} --regid={account.pw_gid} --clear-groups {pg_ctl} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def _wait_accepting(server: PostgresServer, seconds: float = 60) -> None:
    """pg_ctl returns once the port is open; sessions are refused while the server is starting up."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            server.query("postgres", "select 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    pg_ctl = _pg_ctl()
    workdir = Path(tempfile.mkdtemp(prefix="pipecast-pg-"))
    workdir.chmod(0o700)
    executable = _as_unprivileged(pg_ctl, workdir) if os.geteuid() == 0 else pg_ctl
    executor = PostgreSQLExecutor(
        executable=str(executable),
        host="127.0.0.1",
        port=free_port(),
        datadir=str(workdir / "data"),
        unixsocketdir=str(workdir),
        logfile=str(workdir / "postgresql.log"),
        startparams="-w",
        dbname="pipecast_tests",
        user="postgres",
    )
    executor.start()
    try:
        server = PostgresServer(host=executor.host, port=executor.port, user=executor.user)
        _wait_accepting(server)
        yield server
    finally:
        executor.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def compose_warehouse(postgres_server: PostgresServer) -> str:
    """The warehouse database as docker-compose.yml's init script creates it (roles pipecast,
    bi_reader, superset; schemas owned by pipecast), once per session; its name."""
    from tests.orchestration.compose_init import run_init_script

    run_init_script(postgres_server)
    return "warehouse"
