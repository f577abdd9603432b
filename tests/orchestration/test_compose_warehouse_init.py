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
    with connect(postgres_server, "superset", dbname="superset") as superset:
        superset.execute("create table app_state (x int)")  # Superset owns its own database
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        connect(postgres_server, "superset")  # but may not connect to the warehouse


def test_each_service_role_is_unprivileged_and_reaches_only_its_database(postgres_server, compose_warehouse):
    services = ("airflow", "pipecast", "bi_reader", "superset")
    with connect(postgres_server, postgres_server.user, dbname="postgres") as superuser:
        flags = superuser.execute(
            "select rolname, rolsuper or rolcreatedb or rolcreaterole from pg_roles where rolname = any(%s)",
            [list(services)],
        ).fetchall()
    assert dict(flags) == dict.fromkeys(services, False)
    connect(postgres_server, "airflow", dbname="airflow").close()  # Airflow's own metadata database
    for user, dbname in (("airflow", "warehouse"), ("pipecast", "airflow"), ("bi_reader", "airflow")):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            connect(postgres_server, user, dbname=dbname)
    with connect(postgres_server, "pipecast") as owner:  # the published marts are views
        owner.execute("create view marts.published_later as select 3 as x")
    with connect(postgres_server, "bi_reader") as bi:
        assert bi.execute("select x from marts.published_later").fetchone() == (3,)
