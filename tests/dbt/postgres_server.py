"""A throwaway PostgreSQL server for the cross-database tests, run by pytest-postgresql's executor.

PostgreSQL refuses to run as root (initdb and postgres both exit), and CI runs the suite as root in
a clean clone. So when the tests run as root, pg_ctl is called through a small wrapper that drops
to the unprivileged ``postgres`` account (created by the PostgreSQL server package) with
``runuser``, and the data directory lives in a fresh folder that account owns. As any other user
pg_ctl runs directly. Nothing is installed or configured outside the temporary folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

PG_BIN = Path(os.environ.get("PIPECAST_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"  # the unprivileged account the server runs as when we are root
DATABASE = "pipecast"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    database: str

    @property
    def env(self) -> dict[str, str]:
        """The PIPECAST_PG_* variables profiles.yml reads for the postgres target."""
        return {
            "PIPECAST_TARGET": "postgres",
            "PIPECAST_PG_HOST": self.host,
            "PIPECAST_PG_PORT": str(self.port),
            "PIPECAST_PG_USER": self.user,
            "PIPECAST_PG_PASSWORD": "",
            "PIPECAST_PG_DATABASE": self.database,
        }

    @property
    def settings_fields(self) -> dict[str, str | int]:
        """The same warehouse as pipecast Settings fields."""
        return {
            "pg_host": self.host,
            "pg_port": self.port,
            "pg_user": self.user,
            "pg_password": "",
            "pg_database": self.database,
        }

    def connect(self):
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=self.database, autocommit=True
        )

    def url(self, dbname: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """A new empty database on this server; its name."""
        with self.connect() as admin:
            admin.execute(f'create database "{name}"')
        return name

    def with_database(self, name: str) -> PostgresServer:
        """This server with a new empty database of its own as the one its settings point at."""
        return replace(self, database=self.create_database(name))

    def query(self, dbname: str, sql: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=self.user, dbname=dbname) as c:
            return c.execute(sql).fetchall()


def unavailable_reason() -> str | None:
    """Why a server cannot be started here, or None when it can."""
    if not (PG_BIN / "pg_ctl").exists():
        return f"no PostgreSQL server binaries in {PG_BIN} (set PIPECAST_TEST_PG_BIN)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser to start PostgreSQL as another user"
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} account to run PostgreSQL as"
    return None


def postgres_or_skip(cluster: PostgresServer | None) -> PostgresServer:
    """The session's server (tests/conftest.py ``postgres_cluster``); the test skips where no
    PostgreSQL server can start."""
    if cluster is None:
        import pytest

        pytest.skip(unavailable_reason())
    return cluster


def _pg_ctl_wrapper(folder: Path) -> Path:
    """pg_ctl as the unprivileged account (when root), passing every argument through."""
    wrapper = folder / "pg_ctl"
    real = PG_BIN / "pg_ctl"
    if os.geteuid() == 0:
        body = f'exec runuser -u {SERVER_USER} -- "{real}" "$@"\n'
    else:
        body = f'exec "{real}" "$@"\n'
    wrapper.write_text("#!/bin/sh\n" + body)
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return wrapper


@contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start a fresh server on a free port with a ``pipecast`` database; stop and delete it after."""
    from port_for import get_port
    from pytest_postgresql.executors import PostgreSQLExecutor
    from pytest_postgresql.janitor import DatabaseJanitor

    folder = Path(tempfile.mkdtemp(prefix="pipecast-pg-"))
    try:
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(folder, account.pw_uid, account.pw_gid)
        port = get_port(None)
        executor = PostgreSQLExecutor(
            executable=str(_pg_ctl_wrapper(folder)),
            host="127.0.0.1",
            port=port,
            datadir=str(folder / "data"),
            unixsocketdir=str(folder),
            logfile=str(folder / "postgresql.log"),
            startparams="-w",
            dbname=DATABASE,
            user=SERVER_USER,
            # fsync off: a throwaway server, and dbt's many small DDL transactions stay fast; more
            # connections: one server serves the whole session (tests/conftest.py postgres_cluster)
            postgres_options=(
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
            ),
        )
        executor.start()
        try:
            janitor = DatabaseJanitor(
                user=SERVER_USER, host="127.0.0.1", port=port, dbname=DATABASE, version=executor.version
            )
            janitor.init()
            yield PostgresServer("127.0.0.1", port, SERVER_USER, DATABASE)
        finally:
            executor.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
