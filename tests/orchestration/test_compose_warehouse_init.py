"""docker-compose.yml's PostgreSQL init script, run natively on a real server as the postgres image
would run it: the warehouse database and schemas belong to pipecast, and bi_reader reads marts,
including tables created later, and nothing else."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.postgres


def connect(server, user: str, dbname: str = "warehouse") -> psycopg.Connection:
    # The throwaway server trusts local connections; the image checks the passwords set above.
    return psycopg.connect(host=server.host, port=server.port, user=user, dbname=dbname, autocommit=True)


def test_bi_reader_reads_marts_and_nothing_else(postgres_server, compose_warehouse):
    with connect(postgres_server, "pipecast") as owner:
        for schema in ("raw", "marts", "ml", "audit"):
            owner.execute(f"create table {schema}.t as select 1 as x")
        owner.execute("create table marts.built_later as select 2 as x")
        owners = dict(owner.execute("select nspname, nspowner::regrole::text from pg_namespace").fetchall())
    assert {owners[s] for s in ("raw", "staging", "intermediate", "marts", "ml", "audit")} == {"pipecast"}

    with connect(postgres_server, "bi_reader") as bi:
        assert bi.execute("select x from marts.t").fetchone() == (1,)
        assert bi.execute("select x from marts.built_later").fetchone() == (2,)
        for forbidden in ("select x from raw.t", "select x from ml.t", "select x from audit.t"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bi.execute(forbidden)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            bi.execute("create table marts.mine (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            bi.execute("create table public.mine (x int)")
    with connect(postgres_server, "metabase", dbname="metabase") as metabase:
        metabase.execute("create table app_state (x int)")  # Metabase owns its own database
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        connect(postgres_server, "metabase")  # but may not connect to the warehouse
