"""The nightly DAG: it parses cleanly and fast, and a real run (airflow dags test on SQLite
metadata) takes demo exports all the way to forecasts in the warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
AIRFLOW = Path(sys.executable).with_name("airflow")


def airflow_env(tmp_path: Path, state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PIPECAST_STATE_DIR": str(state),
        "PIPECAST_LANDING_DIR": str(state / "landing"),
        "PIPECAST_WAREHOUSE_PATH": str(state / "warehouse.duckdb"),
        "PIPECAST_DEMO_SIZE": "3000",
    }


def test_dagbag_imports_without_errors_and_tasks_have_retries():
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(DAGS))
    parse_seconds = time.perf_counter() - started
    assert bag.import_errors == {}
    dag = bag.dags.get("pipecast_nightly")
    assert dag is not None
    assert [t.task_id for t in dag.topological_sort()] == [
        "ingest",
        "validate_raw",
        "dbt_build",
        "forecast",
        "report",
    ]
    assert dag.max_active_runs == 1 and dag.catchup is False and "pipecast" in dag.tags
    writers = [t for t in dag.tasks if t.task_id != "report"]
    assert all(t.pool == "duckdb_writer" for t in writers)
    assert all(t.retries >= 2 for t in dag.tasks if t.task_id != "validate_raw")
    print(f"DagBag parse: {parse_seconds:.2f} s")


def test_dag_file_does_no_heavy_imports_at_parse_time():
    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        "heavy = [m for m in ('pipecast.pipeline', 'dbt', 'great_expectations', 'sklearn', 'duckdb', "
        "'pandas') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(DAGS / "pipecast_nightly.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.airflow
def test_airflow_dags_test_runs_the_night_end_to_end(tmp_path):
    state = tmp_path / "state"
    env = airflow_env(tmp_path, state)
    as_of = date(2026, 11, 27)
    subprocess.run(
        [sys.executable, "-m", "pipecast.cli", "generate", "--as-of", as_of.isoformat(), "--nights", "2"],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True)
    run = subprocess.run(
        [str(AIRFLOW), "dags", "test", "pipecast_nightly", "2026-11-28"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    with duckdb.connect(str(state / "warehouse.duckdb"), read_only=True) as con:

        def n(sql: str) -> int:
            return con.execute(sql).fetchone()[0]

        assert n("select count(distinct _export_date) from raw.opportunities") == 2
        assert n("select count(*) from staging.stg_crm__opportunities") > 2000
        assert n("select count(*) from marts.fct_opportunities") == n(
            "select count(*) from staging.stg_crm__opportunities"
        )
        assert n("select count(*) from marts.fct_stage_funnel") > 0
        open_deals = n("select count(*) from marts.fct_opportunities where not is_closed")
        assert n(f"select count(*) from ml.opportunity_scores where as_of = '{as_of}'") == open_deals
        assert n("select count(*) from ml.revenue_forecast") == 4
        assert n("select count(*) from audit.validation_results") > 0
    assert (state / "reports" / "report.md").exists()
