"""The export lifecycle under real kills: `pipecast ingest` runs in a process that stops at a
named point (PIPECAST_FAULT_PAUSE_AT) and is killed there with SIGKILL, during the load and during
raw validation, on DuckDB and on PostgreSQL. Each time: nothing unvalidated is served (dbt's
staging reads the last validated export), nothing is lost, the rerun resumes the lifecycle where
it stopped, and the next normal night loads as usual.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pipecast import pipeline
from pipecast.canonical import ENTITIES
from pipecast.config import Settings
from pipecast.ingest import lifecycle
from pipecast.ingest.schedule import LOAD, VALIDATE, plan
from pipecast.warehouse import query_on_target

from tests.faults import killing
from tests.faults.killing import python_module
from tests.ingest.conftest import generic_files, good_tables, put_export
from tests.lifecycle_steps import (
    export_with_amount_of_o2,
    mark_validated,
    raw_opportunity_rows,
    served,
    settings_env,
)
from tests.orchestration.conftest import PostgresServer

DAY1, DAY2, DAY3 = date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)


def kill_at(settings: Settings, point: str, *args: str) -> None:
    """Run `pipecast ingest` until it pauses at ``point`` (pipecast.faults), then SIGKILL it."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    command = python_module("pipecast.cli", "ingest", *args)
    killing.kill_at(point, command, settings.state_dir, settings_env(settings), timeout=600)


def _state(settings: Settings, day: date) -> str | None:
    step = lifecycle.current_on_target(settings).get(day)
    return step.state if step else None


def _scenario(settings: Settings) -> None:
    landing = settings.resolved_landing_dir
    # A good night: day 1 loaded and validated (its validation is not what this tests).
    put_export(landing, DAY1, export_with_amount_of_o2("2500.5"))
    pipeline.ingest(DAY1, settings, validate=False)
    mark_validated(settings, DAY1)

    # Day 2 (O2's amount changed) is killed inside its load transaction: nothing of it committed.
    put_export(landing, DAY2, export_with_amount_of_o2("7777"))
    kill_at(settings, "ingest:load-commit")
    assert raw_opportunity_rows(settings, DAY2) == 0
    assert _state(settings, DAY2) in (None, lifecycle.LANDED)
    assert plan(settings) == [(DAY2, LOAD)]

    # The rerun loads it and is killed before raw validation: loaded, never served.
    kill_at(settings, "ingest:validate")
    assert raw_opportunity_rows(settings, DAY2) == 4
    assert _state(settings, DAY2) == lifecycle.LOADED
    assert plan(settings) == [(DAY2, VALIDATE)]
    serving = served(settings)  # day 1's, not the loaded day 2's
    assert ("O2", 2500.5) in serving and ("O2", 7777.0) not in serving

    # A normal run resumes: validates day 2 without loading it again, and it serves.
    [resumed] = pipeline.ingest(settings=settings)
    assert resumed.export_date == DAY2 and not resumed.rows
    assert _state(settings, DAY2) == lifecycle.VALIDATED
    assert [s.state for s in lifecycle.history_on_target(settings, DAY2)].count(lifecycle.LOADED) == 1
    assert ("O2", 7777.0) in served(settings)
    # Nothing was lost: both nights are in raw, the archive holds day 2's files.
    assert (raw_opportunity_rows(settings, DAY1), raw_opportunity_rows(settings, DAY2)) == (4, 4)
    assert (settings.archive_dir / DAY2.isoformat() / "opportunities.csv").exists()

    # The next normal night.
    put_export(landing, DAY3, export_with_amount_of_o2("8888"))
    assert [r.export_date for r in pipeline.ingest(settings=settings)] == [DAY3]
    assert _state(settings, DAY3) == lifecycle.VALIDATED
    assert plan(settings) == []
    assert raw_opportunity_rows(settings, DAY3) == 4


def test_killed_during_load_and_validation_on_duckdb(settings):
    _scenario(settings)


def _postgres_settings(tmp_path: Path, server: PostgresServer, database: str) -> Settings:
    """Settings on a database of its own on the session's throwaway server."""
    return Settings(
        state_dir=tmp_path / "state",
        landing_dir=tmp_path / "landing",
        target="postgres",
        pg_host=server.host,
        pg_port=server.port,
        pg_user=server.user,
        pg_database=server.create_database(database),
    )


@pytest.mark.postgres
def test_killed_during_load_and_validation_on_postgres(tmp_path, postgres_server: PostgresServer):
    settings = _postgres_settings(tmp_path, postgres_server, "lifecycle_faults")
    _scenario(settings)


@pytest.mark.postgres
def test_postgres_refusing_a_nul_byte_is_a_data_error_naming_the_table(postgres_server: PostgresServer):
    """What jammed the night before: PostgreSQL's ``invalid byte sequence ... 0x00``. Ingest now
    quarantines a NUL before any push (test_lifecycle.py); should one reach a push, the error
    names the table and says the rows are at fault (a quarantine, not a retry)."""
    import duckdb
    from pipecast import pg_transfer

    database = postgres_server.create_database("lifecycle_nul")
    settings = Settings(
        target="postgres",
        pg_host=postgres_server.host,
        pg_port=postgres_server.port,
        pg_user=postgres_server.user,
        pg_database=database,
    )
    duck = duckdb.connect()
    duck.execute("create schema raw")
    duck.execute("create table raw.t as select 'O1' as id, 'bad' || chr(0) || 'name' as name")
    with pytest.raises(pg_transfer.PushFailed) as caught:
        with pg_transfer.pg_connect(settings) as pg, pg.cursor() as cursor:
            pg_transfer.push(duck, cursor, "raw", "t")
    failure = caught.value
    assert (failure.schema, failure.table) == ("raw", "t")
    assert failure.data_error and failure.sqlstate and failure.sqlstate.startswith("22")
    assert "0x00" in str(failure)


@pytest.mark.postgres
def test_a_nul_byte_on_postgres_is_a_quarantine_naming_file_line_and_column(
    tmp_path, postgres_server: PostgresServer
):
    """The jammed night of the issue, end to end on PostgreSQL: the export with a NUL byte is
    quarantined (audit rows in PostgreSQL), and the next export loads."""
    from pipecast.ingest import IngestError

    settings = _postgres_settings(tmp_path, postgres_server, "lifecycle_nul_ingest")
    tables = good_tables()
    tables["opportunities"][2][list(ENTITIES["opportunities"].columns).index("name")] = "Deal\x003"
    put_export(settings.resolved_landing_dir, DAY1, generic_files(tables))
    put_export(settings.resolved_landing_dir, DAY2, generic_files())
    with pytest.raises(IngestError) as caught:
        pipeline.ingest(settings=settings, validate=False)
    assert (caught.value.line, caught.value.column) == (4, "name")
    assert query_on_target(
        settings, "select line, column_name from audit.quarantined_exports where export_date = $1", [DAY1]
    ) == [(4, "name")]
    assert _state(settings, DAY1) == lifecycle.QUARANTINED
    assert not (settings.resolved_landing_dir / DAY1.isoformat()).exists()
    # The night is not jammed: the next run loads the next export.
    assert [r.export_date for r in pipeline.ingest(settings=settings, validate=False)] == [DAY2]
    assert raw_opportunity_rows(settings, DAY2) == 4 and raw_opportunity_rows(settings, DAY1) == 0
