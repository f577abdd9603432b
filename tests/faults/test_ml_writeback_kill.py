"""A forecast night reaches ml.* whole or not at all: a process killed between two tables of the
write-back leaves every ml table on the previous nights (DuckDB: one transaction; PostgreSQL: one
pushed transaction), and the next normal night writes them all."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from pipecast.config import Settings
from pipecast.forecast.writeback import ML_TABLES

from tests.faults.killing import kill_at, python_module

LAST_NIGHT, TONIGHT = date(2026, 11, 27), date(2026, 11, 28)
WRITER = "tests.faults.night_writer"
# Killed after the fourth of eight tables (and, on PostgreSQL, while pushing the fourth).
MIDWAY = list(ML_TABLES)[3]


def _nights(rows: list[tuple]) -> dict[str, list[tuple]]:
    nights: dict[str, list[tuple]] = {table: [] for table in ML_TABLES}
    for table, as_of, run_id in rows:
        nights[table].append((as_of, run_id))
    return {t: sorted(v) for t, v in nights.items()}


def _duckdb_nights(settings: Settings) -> dict[str, list[tuple]]:
    with duckdb.connect(str(settings.resolved_warehouse_path), read_only=True) as con:
        sql = " union all ".join(f"select '{t}', as_of, run_id from ml.{t}" for t in ML_TABLES)
        return _nights(con.execute(sql).fetchall())


def _env(settings: Settings) -> dict[str, str]:
    return {"PIPECAST_WAREHOUSE_PATH": str(settings.resolved_warehouse_path)}


def test_duckdb_killed_midway_keeps_last_night_and_recovers(settings):
    from tests.faults.night_writer import write_night

    write_night(LAST_NIGHT, "last", settings)
    before = _duckdb_nights(settings)
    assert all(v == [(LAST_NIGHT, "last")] for v in before.values())

    output = kill_at(
        f"writeback:{MIDWAY}",
        python_module(WRITER, TONIGHT.isoformat(), "killed"),
        settings.state_dir,
        _env(settings),
        timeout=120,
    )
    assert f"paused at writeback:{MIDWAY}" in output
    assert _duckdb_nights(settings) == before  # no table on tonight, none lost

    write_night(TONIGHT, "tonight", settings)  # the next normal run
    after = _duckdb_nights(settings)
    assert all(v == [(LAST_NIGHT, "last"), (TONIGHT, "tonight")] for v in after.values()), after


def _postgres_nights(server) -> dict[str, list[tuple]]:
    sql = " union all ".join(f"select '{t}', as_of, run_id from ml.{t}" for t in ML_TABLES)
    with server.connect() as pg, pg.cursor() as cursor:
        cursor.execute(sql)
        return _nights(cursor.fetchall())


@pytest.mark.postgres
def test_postgres_killed_while_pushing_keeps_last_night_and_recovers(tmp_path, postgres):
    from tests.faults.night_writer import write_night

    settings = Settings(state_dir=tmp_path / "state", target="postgres", **postgres.settings_fields)
    write_night(LAST_NIGHT, "last", settings)
    before = _postgres_nights(postgres)
    assert all(v == [(LAST_NIGHT, "last")] for v in before.values())

    kill_at(
        f"publish:ml.{MIDWAY}",
        python_module(WRITER, TONIGHT.isoformat(), "killed"),
        settings.state_dir,
        postgres.env,
        timeout=120,
    )
    assert _postgres_nights(postgres) == before

    write_night(TONIGHT, "tonight", settings)
    after = _postgres_nights(postgres)
    assert all(v == [(LAST_NIGHT, "last"), (TONIGHT, "tonight")] for v in after.values()), after
