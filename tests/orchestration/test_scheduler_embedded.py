"""The real scheduler, embedded: api-server, scheduler and dag-processor on SQLite metadata with
LocalExecutor run the nightly DAG into the DuckDB warehouse; the run's deadline alert arrives at a
real webhook through the executor; the services stop cleanly."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from tests.dags.test_nightly_dag import NIGHTLY_TASKS
from tests.orchestration.airflow_services import (
    RUN_TIMEOUT_SECONDS,
    AirflowServices,
    airflow_env,
    free_port,
    generate_exports,
    pipecast_env,
)
from tests.orchestration.webhook import webhook_receiver

pytestmark = [pytest.mark.scheduler, pytest.mark.airflow, pytest.mark.slow]


def test_scheduler_runs_the_nightly_on_sqlite_and_duckdb(tmp_path):
    state = tmp_path / "state"
    port = free_port()
    with webhook_receiver() as hook:
        # A deadline of 3 s: the run is late by design, so the missed-deadline alert must arrive.
        extra = pipecast_env(state, alert_webhook_url=hook.url, run_deadline_minutes="0.05")
        services = AirflowServices(
            tmp_path / "airflow", airflow_env(tmp_path / "airflow", port, **extra), port
        )
        generate_exports(services.env, date(2026, 11, 27), nights=2)
        services.cli("db", "migrate")
        services.start()
        try:
            services.wait_ready("pipecast_nightly")
            services.set_pool("duckdb_writer", 1, "single writer of the DuckDB warehouse")
            run_id = services.trigger("pipecast_nightly", "2026-11-28T03:00:00Z")
            state_of_run = services.wait_for_run("pipecast_nightly", run_id, RUN_TIMEOUT_SECONDS)
            tasks = services.task_states("pipecast_nightly", run_id)
            late = hook.wait_for(lambda b: b["pipecast"]["kind"] == "deadline_missed", seconds=60)
        finally:
            exit_codes = services.stop()
    assert state_of_run == "success", f"{tasks}\n{services.log_tail()}"
    assert set(tasks.values()) == {"success"} and sorted(tasks) == sorted(NIGHTLY_TASKS)
    assert [b["pipecast"]["run_id"] for b in late] == [run_id]  # the only run: no scheduled ones
    assert not [b for b in hook.bodies if b["pipecast"]["kind"] == "task_failed"]
    assert all(code != -9 for code in exit_codes.values()), exit_codes  # stopped on SIGTERM, not killed

    with duckdb.connect(str(state / "warehouse.duckdb"), read_only=True) as con:

        def n(sql: str) -> int:
            return con.execute(sql).fetchone()[0]

        assert n("select count(distinct export_date) from audit.loads") == 2
        assert n("select count(*) from marts.fct_opportunities") > 1000
        open_deals = n("select count(*) from marts.fct_opportunities where not is_closed")
        assert n("select count(*) from ml.opportunity_scores where as_of = '2026-11-27'") == open_deals
    assert (state / "reports" / "report.md").exists()
