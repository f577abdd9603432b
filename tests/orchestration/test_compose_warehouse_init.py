"""docker-compose.yml's PostgreSQL init script, run natively on a real server as the postgres image
would run it: the warehouse database and schemas belong to pipecast, and bi_reader reads marts,
including tables created later, and nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
import yaml

pytestmark = pytest.mark.postgres

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def run_init_script(server) -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    script = spec["configs"]["warehouse-init"]["content"].replace("$$", "$")  # compose's unescaping
    postgres_env = spec["services"]["postgres"]["environment"]
    env = {
        **os.environ,
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "POSTGRES_USER": server.user,  # the superuser, as POSTGRES_USER is in the image
        "POSTGRES_DB": "postgres",
        **{k: f"{k.lower()}-secret" for k in postgres_env if k.endswith("_PASSWORD")},
    }
    assert shutil.which("psql"), "psql (PostgreSQL client) is needed to run the init script"
    subprocess.run(["bash", "-c", script], env=env, check=True, capture_output=True, text=True)


def connect(server, user: str, dbname: str = "warehouse") -> psycopg.Connection:
    # The throwaway server trusts local connections; the image checks the passwords set above.
    return psycopg.connect(host=server.host, port=server.port, user=user, dbname=dbname, autocommit=True)


def test_bi_reader_reads_marts_and_nothing_else(postgres_server):
    run_init_script(postgres_server)
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
