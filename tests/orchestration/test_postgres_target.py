"""One setting, PIPECAST_TARGET=postgres, moves the whole night to PostgreSQL.

On a throwaway server prepared by docker-compose.yml's init script, the night runs as the
``pipecast`` role: ingest lands raw.* and audit.* in PostgreSQL, dbt builds there, every
checkpoint validates there, the forecast writes ml.* there and the report reads from there; no
DuckDB warehouse file is written. A bad export is quarantined with its failure recorded in
PostgreSQL, and the read-only bi_reader role reads the marts the night built and nothing else.
The Arrow copies underneath (pipecast.pg_transfer) are pinned first.
"""

from __future__ import annotations

import csv
import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import psycopg
import pytest
from pipecast import pg_transfer, pipeline
from pipecast.config import Settings
from pipecast.ingest.errors import IngestError

from tests.forecast.conftest import BOUNDED
from tests.orchestration.conftest import PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

AS_OF = date(2026, 11, 28)


def _settings(tmp: Path, server: PostgresServer, database: str, user: str) -> Settings:
    return Settings(
        state_dir=tmp / "state",
        target="postgres",
        pg_host=server.host,
        pg_port=server.port,
        pg_user=user,
        pg_database=database,
        demo_size=3000,
        demo_nights=2,
        forecast_mlflow=False,
        **BOUNDED,  # small backtests: the night's place is tested here, tests/forecast the forecast
    )


def _rows(server: PostgresServer, database: str, sql: str, user: str = "pipecast") -> list[tuple]:
    with psycopg.connect(host=server.host, port=server.port, user=user, dbname=database) as conn:
        return conn.execute(sql).fetchall()


# -- the Arrow copies ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def transfer_settings(tmp_path_factory, postgres_server: PostgresServer) -> Settings:
    database = postgres_server.create_database("transfer")
    return _settings(tmp_path_factory.mktemp("transfer"), postgres_server, database, postgres_server.user)


def test_push_replaces_only_the_matching_rows_and_pull_reads_them_back(transfer_settings):
    duck = duckdb.connect()
    duck.execute("create schema ml")
    duck.execute(
        """create table ml.t as select * from (values
            (date '2026-11-27', 'a', 1.5::double, 10::bigint, '2026-11-27 03:00'::timestamp, true, 1.25),
            (date '2026-11-28', 'b', null, 20, '2026-11-28 03:00:00.5'::timestamp, false, 2.5)
        ) v(as_of, name, score, n, changed_at, flag, amount)"""
    )
    duck.execute("alter table ml.t alter amount type decimal(9, 2)")
    with pg_transfer.pg_connect(transfer_settings) as pg, pg.cursor() as cursor:
        assert pg_transfer.push(duck, cursor, "ml", "t") == 2
    # A re-run of one night: that night's rows are replaced, the other night's stay.
    duck.execute("delete from ml.t where as_of = date '2026-11-28'")
    duck.execute(
        "insert into ml.t values (date '2026-11-28', 'c', 3.0, 30, timestamp '2026-11-28 04:00:00', true, 3)"
    )
    duck.execute("alter table ml.t add column note varchar")  # a new column reaches PostgreSQL too
    duck.execute("update ml.t set note = 'new' where name = 'c'")
    with pg_transfer.pg_connect(transfer_settings) as pg, pg.cursor() as cursor:
        assert pg_transfer.push(duck, cursor, "ml", "t", "where as_of = $1", [date(2026, 11, 28)]) == 1

    back = duckdb.connect()
    with pg_transfer.pg_connect(transfer_settings) as pg, pg.cursor() as cursor:
        assert pg_transfer.pull(back, cursor, "ml", "t") == 2
        assert pg_transfer.pull(back, cursor, "ml", "no_such_table") is None
        types = pg_transfer.pg_columns(cursor, "ml", "t")
    assert types["amount"] == "numeric" and types["score"] == "double precision" and types["note"] == "text"
    rows = back.execute(
        "select as_of, name, score, n, changed_at, flag, amount, note from ml.t order by as_of"
    ).fetchall()
    assert rows == [
        (date(2026, 11, 27), "a", 1.5, 10, datetime(2026, 11, 27, 3), True, 1.25, None),
        (date(2026, 11, 28), "c", 3.0, 30, datetime(2026, 11, 28, 4), True, 3.0, "new"),
    ]
    amount_type = back.execute(
        "select data_type from information_schema.columns where table_name = 't' and column_name = 'amount'"
    ).fetchone()
    assert amount_type == ("DOUBLE",)  # numeric arrives as DOUBLE


def test_names_that_are_not_plain_identifiers_are_refused(transfer_settings):
    duck = duckdb.connect()
    with pg_transfer.pg_connect(transfer_settings) as pg, pg.cursor() as cursor:
        with pytest.raises(ValueError, match="identifier"):
            pg_transfer.pull(duck, cursor, "ml", 't"; drop schema ml; --')


# -- the whole night -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_night(tmp_path_factory, postgres_server: PostgresServer, compose_warehouse: str) -> Settings:
    """Two demo nights through every step with the warehouse on PostgreSQL, as role pipecast."""
    settings = _settings(tmp_path_factory.mktemp("pg_night"), postgres_server, compose_warehouse, "pipecast")
    pipeline.generate(settings, as_of=AS_OF)
    pipeline.run_all(settings, generate_demo=False)
    return settings


def test_the_night_lands_everything_in_postgres(postgres_night, postgres_server, compose_warehouse):
    settings = postgres_night
    assert not settings.resolved_warehouse_path.exists()  # no DuckDB warehouse was written

    def rows(sql: str) -> list[tuple]:
        return _rows(postgres_server, compose_warehouse, sql)

    assert rows("select _export_date, count(*) from raw.opportunities group by 1 order by 1") == [
        (date(2026, 11, 27), 3000),
        (date(2026, 11, 28), 3000),
    ]
    assert rows("select count(distinct export_date) from audit.loads") == [(2,)]
    assert rows("select count(*) from marts.fct_opportunities") == [(3000,)]
    [(open_deals,)] = rows("select count(*) from marts.fct_opportunities where not is_closed")
    assert rows("select as_of, count(*) from ml.opportunity_scores group by 1") == [(AS_OF, open_deals)]
    assert rows("select count(*) from ml.revenue_forecast where as_of = '2026-11-28'") == [(4,)]
    assert rows("select count(*) from marts.fct_opportunity_scores") == [(open_deals,)]
    stages = {r[0] for r in rows("select distinct stage from audit.validation_results")}
    assert {"raw", "marts", "predictions"} <= stages
    assert "postgresql://pipecast@" in (settings.reports_dir / "report.md").read_text()

    # Re-running the night's forecast replaces its rows, never adds to them.
    pipeline.forecast(AS_OF, settings)
    assert rows("select as_of, count(*) from ml.opportunity_scores group by 1") == [(AS_OF, open_deals)]
    assert rows("select count(*) from ml.revenue_forecast") == [(4,)]
    assert rows("select count(*) from ml.model_runs where is_current") != [(0,)]


def test_a_bad_export_is_quarantined_and_recorded_in_postgres(
    postgres_night, postgres_server, compose_warehouse
):
    settings = postgres_night
    landing = settings.resolved_landing_dir
    bad_day = date(2026, 11, 29)
    shutil.copytree(landing / AS_OF.isoformat(), landing / bad_day.isoformat())
    opportunities = landing / bad_day.isoformat() / "opportunities.csv"
    with opportunities.open(newline="", encoding="utf-8") as fh:
        records = list(csv.reader(fh))
    records[5][records[0].index("created_at")] = "not-a-date"  # line 6 of the file
    with opportunities.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(records)

    with pytest.raises(IngestError) as failure:
        pipeline.ingest(bad_day, settings)
    assert "created_at" in str(failure.value)

    [(file, line, column)] = _rows(
        postgres_server,
        compose_warehouse,
        "select file, line, column_name from audit.quarantined_exports where export_date = '2026-11-29'",
    )
    assert file.endswith("opportunities.csv") and line == 6 and column == "created_at"
    [moved] = settings.quarantine_dir.glob(f"{bad_day.isoformat()}_*")  # moved aside, with a reason
    assert (moved / "opportunities.csv").exists()
    # The last good export keeps serving.
    assert _rows(postgres_server, compose_warehouse, "select max(_export_date) from raw.opportunities") == [
        (AS_OF,)
    ]


def test_bi_reader_reads_the_nights_marts_and_nothing_else(
    postgres_night, postgres_server, compose_warehouse
):
    def as_bi(sql: str) -> list[tuple]:
        return _rows(postgres_server, compose_warehouse, sql, user="bi_reader")

    assert as_bi("select count(*) from marts.fct_opportunities") == [(3000,)]
    assert as_bi("select count(*) from marts.fct_forecast") != [(0,)]
    for internal in (
        "raw.opportunities",
        "staging.stg_crm__opportunities",
        "ml.opportunity_scores",
        "audit.loads",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_bi(f"select count(*) from {internal}")
