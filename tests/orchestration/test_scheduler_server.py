"""The real scheduler in server mode: a throwaway PostgreSQL server holds Airflow's metadata and
the warehouse (PIPECAST_TARGET=postgres: ingest, dbt, validation and forecast all land there), the
LocalExecutor, the nightly on its cron schedule in a configured timezone (the scheduler creates the
run by itself); a backfill over the past nights is planned oldest first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.orchestration.airflow_services import (
    RUN_TIMEOUT_SECONDS,
    AirflowServices,
    airflow_env,
    free_port,
    generate_exports,
    pipecast_env,
)
from tests.orchestration.webhook import webhook_receiver

pytestmark = [pytest.mark.scheduler, pytest.mark.postgres, pytest.mark.airflow, pytest.mark.slow]

TIMEZONE = "Europe/Berlin"


def test_scheduler_on_postgres_runs_the_scheduled_night(tmp_path, postgres_server):
    # not "airflow": the compose init test makes that one on the same session server
    metadata_db = postgres_server.create_database("airflow_scheduled")
    warehouse_db = postgres_server.create_database("warehouse_scheduled")
    state = tmp_path / "state"
    port = free_port()
    # The newest export is local yesterday: the run the scheduler creates for its latest 03:00
    # tick (today's, or yesterday's before 03:00) finds its export, or a newer one, in place.
    as_of = datetime.now(ZoneInfo(TIMEZONE)).date() - timedelta(days=1)
    with webhook_receiver() as hook:
        extra = pipecast_env(
            state,
            nightly_schedule="0 3 * * *",
            schedule_timezone=TIMEZONE,
            alert_webhook_url=hook.url,
            target="postgres",
            pg_host=postgres_server.host,
            pg_port=str(postgres_server.port),
            pg_user=postgres_server.user,
            pg_database=warehouse_db,
        )
        env = airflow_env(tmp_path / "airflow", port, postgres_server.url(metadata_db), **extra)
        services = AirflowServices(tmp_path / "airflow", env, port)
        generate_exports(services.env, as_of, nights=2)
        services.cli("db", "migrate")
        services.start()
        try:
            services.wait_ready("pipecast_nightly")
            services.set_pool("duckdb_writer", 1, "single writer of the DuckDB warehouse")
            runs = services.wait_until(
                "the scheduler creates the nightly run",
                lambda: services.api("GET", "/api/v2/dags/pipecast_nightly/dagRuns")["dag_runs"],
                timeout=120,
            )
            [run] = runs
            state_of_run = services.wait_for_run("pipecast_nightly", run["dag_run_id"], RUN_TIMEOUT_SECONDS)
            tasks = services.task_states("pipecast_nightly", run["dag_run_id"])
            window = {"from_date": f"{as_of - timedelta(days=3)}", "to_date": f"{as_of}"}
            plan = services.api("POST", "/api/v2/backfills/dry_run", {"dag_id": "pipecast_nightly", **window})
        finally:
            exit_codes = services.stop()
    assert state_of_run == "success", f"{tasks}\n{services.log_tail()}"
    assert run["run_type"] == "scheduled" and set(tasks.values()) == {"success"}
    assert hook.bodies == []  # no failure alert, no missed deadline
    assert all(code != -9 for code in exit_codes.values()), exit_codes

    # The metadata lives in PostgreSQL.
    [(dag_run_state,)] = postgres_server.query(
        metadata_db, "select state from dag_run where dag_id = 'pipecast_nightly'"
    )
    assert dag_run_state == "success"
    # The scheduled run is for 03:00 Berlin time.
    logical = datetime.fromisoformat(run["logical_date"]).astimezone(ZoneInfo(TIMEZONE))
    assert (logical.hour, logical.minute) == (3, 0)
    # A backfill of the window replays each night's 03:00, oldest first.
    planned = [datetime.fromisoformat(b["logical_date"]) for b in plan["backfills"]]
    assert planned == sorted(planned) and len(planned) >= 3
    assert {p.astimezone(ZoneInfo(TIMEZONE)).hour for p in planned} == {3}

    # The warehouse is PostgreSQL: no DuckDB file was written.
    assert not (state / "warehouse.duckdb").exists()
    [(loaded,)] = postgres_server.query(warehouse_db, "select max(export_date) from audit.loads")
    assert loaded == logical.date() - timedelta(days=1)  # the run's own export, no later one
    [(opportunities,)] = postgres_server.query(warehouse_db, "select count(*) from marts.fct_opportunities")
    assert opportunities > 1000
    [(revenue_rows,)] = postgres_server.query(
        warehouse_db, f"select count(*) from ml.revenue_forecast where as_of = '{loaded}'"
    )
    assert revenue_rows == 4
    [(stages,)] = postgres_server.query(
        warehouse_db, "select count(distinct stage) from audit.validation_results"
    )
    assert stages == 3  # raw, marts and predictions checkpoints ran against PostgreSQL
