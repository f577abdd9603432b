"""The DAGs: they parse cleanly, fast and without heavy imports; their operational settings come
from PIPECAST_*; a real run (airflow dags test = dag.test() on SQLite metadata) takes demo exports
all the way to forecasts, and a missing export ends in a sensor timeout and an alert."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from pipecast.config import get_settings

from tests.forecast.conftest import BOUNDED, settings_env
from tests.orchestration.webhook import webhook_receiver

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
AIRFLOW = Path(sys.executable).with_name("airflow")
DAG_FILES = sorted(DAGS.glob("*.py"))
NIGHTLY_TASKS = [
    "wait_for_export",
    "ingest",
    "validate_raw",
    "dbt_build",
    "forecast",
    "validate_predictions",
    "report",
]


def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dagbag_imports_every_dag_without_errors():
    bag = dagbag()
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"pipecast_nightly", "pipecast_weekly_retrain"}
    for stat in bag.dagbag_stats:  # parse time per file, for the report (no limit: machines differ)
        print(f"parse {Path(stat.file).name}: {stat.duration.total_seconds():.3f} s, {stat.task_num} tasks")


def test_nightly_dag_is_the_night_in_order_with_its_operational_contract():
    dag = dagbag().dags["pipecast_nightly"]
    assert [t.task_id for t in dag.topological_sort()] == NIGHTLY_TASKS
    assert dag.max_active_runs == 1 and dag.catchup is False and "pipecast" in dag.tags
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 3 * * *", "UTC")
    sensor = dag.get_task("wait_for_export")
    assert sensor.mode == "reschedule" and sensor.timeout == 360 * 60 and sensor.poke_interval == 300
    assert sensor.pool == "default_pool"  # waiting never blocks a warehouse writer
    assert all(dag.get_task(t).pool == "duckdb_writer" for t in NIGHTLY_TASKS[1:])
    outlets = {t.task_id: [a.name for a in t.outlets] for t in dag.tasks if t.outlets}
    assert outlets == {
        "ingest": ["pipecast_raw"],
        "dbt_build": ["pipecast_marts"],
        "forecast": ["pipecast_forecasts"],
        "report": ["pipecast_report"],
    }
    [deadline] = dag.deadline
    assert deadline.interval == timedelta(minutes=240)


def test_every_task_of_every_dag_retries_with_backoff_and_alerts_on_failure():
    for dag in dagbag().dags.values():
        for t in dag.tasks:
            assert t.retries >= 1 and t.retry_exponential_backoff, (dag.dag_id, t.task_id)
            assert [type(c).__name__ for c in t.on_failure_callback] == ["FailureAlert"], t.task_id
        assert dag.max_active_runs == 1


def test_weekly_retrain_rebuilds_then_retrains_in_the_writer_pool():
    dag = dagbag().dags["pipecast_weekly_retrain"]
    assert [t.task_id for t in dag.topological_sort()] == ["dbt_full_refresh", "retrain", "report"]
    assert dag.timetable.expression == "0 5 * * 0"
    assert all(t.pool == "duckdb_writer" for t in dag.tasks)


def test_schedule_timezone_sensor_and_retries_come_from_settings(monkeypatch):
    monkeypatch.setenv("PIPECAST_NIGHTLY_SCHEDULE", "30 1 * * 1-5")
    monkeypatch.setenv("PIPECAST_SCHEDULE_TIMEZONE", "America/New_York")
    monkeypatch.setenv("PIPECAST_SENSOR_TIMEOUT_MINUTES", "90")
    monkeypatch.setenv("PIPECAST_TASK_RETRIES", "5")
    monkeypatch.setenv("PIPECAST_RUN_DEADLINE_MINUTES", "0")
    get_settings.cache_clear()
    try:
        dag = dagbag().dags["pipecast_nightly"]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("30 1 * * 1-5", "America/New_York")
    assert dag.get_task("wait_for_export").timeout == 90 * 60
    assert {t.retries for t in dag.tasks} == {5}
    assert not dag.deadline


PARSE_PROBE = """
import sys, time, runpy
import airflow.sdk, croniter  # Airflow's own imports (croniter runs `file` once at import)
io = []
def audit(event, args):
    path = str(args[0]) if args else ""
    if event == "open" and (path.startswith((sys.prefix, sys.base_prefix)) or path.endswith((".py", ".pyc"))):
        return  # loading modules is importing, not I/O
    if event in ("open", "socket.connect", "subprocess.Popen", "sqlite3.connect"):
        io.append(f"{event} {path}")
sys.addaudithook(audit)
started = time.perf_counter()
runpy.run_path(sys.argv[1])
took = time.perf_counter() - started
heavy = [m for m in ("pipecast.pipeline", "pipecast.warehouse", "dbt", "great_expectations", "sklearn",
                     "duckdb", "pandas") if m in sys.modules]
print(f"{took:.3f}", heavy, io)
sys.exit(1 if heavy or io else 0)
"""


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[f.name for f in DAG_FILES])
def test_dag_file_does_no_heavy_imports_and_no_io_at_parse_time(dag_file, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(dag_file)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    took = result.stdout.strip().splitlines()[-1].split()[0]
    print(f"{dag_file.name}: {took} s to run the file after airflow.sdk is imported")


# --- real runs: airflow dags test (dag.test()) on SQLite metadata --------------------------------


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    """One migrated SQLite metadata database for this module's runs (each run has its own date)."""
    home = tmp_path_factory.mktemp("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True)
    return home


def airflow_env(airflow_home: Path, state: Path, **pipecast: str) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PIPECAST_STATE_DIR": str(state),
        "PIPECAST_LANDING_DIR": str(state / "landing"),
        "PIPECAST_WAREHOUSE_PATH": str(state / "warehouse.duckdb"),
        "PIPECAST_DEMO_SIZE": "2000",
        # Airflow 3.3.2's dag.test() fails after a successful run of a DAG with a deadline.
        "PIPECAST_RUN_DEADLINE_MINUTES": "0",
        # dag.test() honours retry delays: fail fast instead of waiting minutes for a retry.
        "PIPECAST_TASK_RETRIES": "0",
        # Small backtests and simulations; MLflow tracking and the forecast marts as in production.
        **settings_env(BOUNDED),
        **{f"PIPECAST_{k.upper()}": v for k, v in pipecast.items()},
    }


def dags_test(env: dict[str, str], logical_date: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(AIRFLOW), "dags", "test", "pipecast_nightly", logical_date],
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.airflow
def test_airflow_dags_test_runs_the_night_end_to_end(airflow_home, tmp_path):
    state = tmp_path / "state"
    env = airflow_env(airflow_home, state)
    as_of = date(2026, 11, 27)
    subprocess.run(
        [sys.executable, "-m", "pipecast.cli", "generate", "--as-of", as_of.isoformat(), "--nights", "2"],
        env=env,
        check=True,
        capture_output=True,
    )
    run = dags_test(env, "2026-11-28")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    with duckdb.connect(str(state / "warehouse.duckdb"), read_only=True) as con:

        def n(sql: str) -> int:
            return con.execute(sql).fetchone()[0]

        loads = [
            r[0]
            for r in con.execute(
                "select export_date from audit.loads group by export_date order by min(loaded_at)"
            ).fetchall()
        ]
        assert loads == [date(2026, 11, 26), as_of]  # both pending exports, oldest first
        assert n("select count(*) from staging.stg_crm__opportunities") > 1000
        assert n("select count(*) from marts.fct_opportunities") == n(
            "select count(*) from staging.stg_crm__opportunities"
        )
        assert n("select count(*) from marts.fct_stage_funnel") > 0
        open_deals = n("select count(*) from marts.fct_opportunities where not is_closed")
        assert n(f"select count(*) from ml.opportunity_scores where as_of = '{as_of}'") == open_deals
        assert n(f"select count(*) from ml.revenue_forecast where as_of = '{as_of}'") == 4
        assert n("select count(*) from audit.validation_results") > 0
    assert (state / "reports" / "report.md").exists()


@pytest.mark.airflow
def test_a_missing_export_times_out_the_sensor_and_alerts(airflow_home, tmp_path):
    state = tmp_path / "state"
    with webhook_receiver() as hook:
        env = airflow_env(
            airflow_home,
            state,
            alert_webhook_url=hook.url,
            sensor_poke_minutes="0.02",
            sensor_timeout_minutes="0.05",
        )
        run = dags_test(env, "2026-10-15")  # nothing has landed
        assert run.returncode != 0, run.stdout[-3000:]
        alerts = [b["pipecast"] for b in hook.bodies]
    assert [(a["kind"], a["task_id"]) for a in alerts] == [("task_failed", "wait_for_export")], alerts
    assert "AirflowSensorTimeout" in alerts[0]["details"]
    assert not (state / "warehouse.duckdb").exists()  # nothing downstream ran


def test_every_task_fails_at_once_on_bad_input_through_one_wrapper():
    """The DAGs wrap every task with orchestration.failures.fail_without_retry (no copied
    try/except per task)."""
    from pipecast.orchestration.failures import fail_without_retry

    for dag in dagbag().dags.values():
        for t in dag.tasks:
            wrapped = t.python_callable
            assert wrapped.__code__ is fail_without_retry(lambda: None).__code__, (dag.dag_id, t.task_id)
    for dag_file in DAG_FILES:
        assert "AirflowFailException" not in dag_file.read_text(), dag_file
