"""The marts switch on PostgreSQL, as the compose roles (pipecast builds, bi_reader reads): a process killed
(SIGKILL) inside the switch leaves bi_reader reading the previous slot whole; the next switch
moves every view at once; a view someone built on a mart stops the switch (nothing moves)."""

from __future__ import annotations

import sys

import psycopg
import pytest
from pipecast.config import Settings
from pipecast.transform.publish import PublishError, next_schemas, publish, published

from tests.faults.killing import kill_at

pytestmark = pytest.mark.postgres
MODELS = ["dim_things", "fct_things"]


def _sql(server, database: str, sql: str, user: str = "pipecast") -> list[tuple]:
    with psycopg.connect(
        host=server.host, port=server.port, user=user, dbname=database, autocommit=True
    ) as c:
        cursor = c.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _slot(server, database: str, schema: str, night: int) -> None:
    _sql(server, database, f"create schema if not exists {schema}")
    for model in MODELS:
        _sql(server, database, f"create table {schema}.{model} as select {night} as night")


def test_a_switch_killed_midway_leaves_the_previous_marts_for_bi(
    tmp_path, postgres_server, compose_warehouse
):
    settings = Settings(
        state_dir=tmp_path / "state",
        target="postgres",
        pg_host=postgres_server.host,
        pg_port=postgres_server.port,
        pg_user="pipecast",
        pg_database=compose_warehouse,
    )
    env = {
        "PIPECAST_TARGET": "postgres",
        "PIPECAST_PG_HOST": postgres_server.host,
        "PIPECAST_PG_PORT": str(postgres_server.port),
        "PIPECAST_PG_USER": "pipecast",
        "PIPECAST_PG_DATABASE": compose_warehouse,
    }

    def bi_sees() -> set:
        return {
            _sql(postgres_server, compose_warehouse, f"select night from marts.{m}", "bi_reader")[0][0]
            for m in MODELS
        }

    first = next_schemas(settings, ["marts"])["marts"]
    _slot(postgres_server, compose_warehouse, first, 1)
    publish(settings, {"marts": (first, MODELS)})
    assert bi_sees() == {1}
    serving = published(settings)

    second = next_schemas(settings, ["marts"])["marts"]
    assert second != first
    _slot(postgres_server, compose_warehouse, second, 2)
    switch = [sys.executable, "-m", "tests.faults.switch", second, *MODELS]
    kill_at("publish:swap", switch, settings.state_dir, env, timeout=120)
    assert bi_sees() == {1} and published(settings) == serving
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # BI reads marts, not the slots
        _sql(postgres_server, compose_warehouse, f"select * from {second}.fct_things", "bi_reader")

    _sql(postgres_server, compose_warehouse, "create view audit.on_a_mart as select * from marts.fct_things")
    with pytest.raises(PublishError, match="previous night's serve"):
        publish(settings, {"marts": (second, MODELS)})
    assert bi_sees() == {1}
    _sql(postgres_server, compose_warehouse, "drop view audit.on_a_mart")

    seconds = publish(settings, {"marts": (second, MODELS)})
    assert bi_sees() == {2} and published(settings)["marts"].schema == second
    print(f"switch of {len(MODELS)} views on PostgreSQL: {seconds:.3f} s")
