"""The real Airflow services as subprocesses for tests: api-server, scheduler and dag-processor on one
AIRFLOW_HOME, with LocalExecutor, on SQLite or PostgreSQL metadata; REST calls to trigger and watch.

Each service runs in its own session (process group), so stopping it also ends the task processes
the executor started; stop() sends SIGTERM, waits, and only then kills.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tests.forecast.conftest import FAST, settings_env

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SERVICES = ("api-server", "scheduler", "dag-processor")
# How long the services get to stop on SIGTERM before they are killed (and the test fails): a bound
# on waiting, not a performance limit. 60 s was once not enough for the scheduler at the end of the
# whole suite on a 2-core machine (killed; the same test alone passed).
STOP_GRACE_SECONDS = 180
RUN_TIMEOUT_SECONDS = 600  # a bound on waiting for a run, not a performance limit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow_env(home: Path, port: int, sql_alchemy_conn: str | None = None, **extra: str) -> dict[str, str]:
    """The configuration the services share (what docker-compose.yml sets for its containers)."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        # Task processes call the api-server; on a busy two-core machine with SQLite the default
        # 5 s read timeout fails tasks before they start.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_PROXY": "*",
        **extra,
    }
    if sql_alchemy_conn:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = sql_alchemy_conn
        if sql_alchemy_conn.startswith("postgresql"):
            # Airflow 3 also opens an async engine; derived from the URL it wants asyncpg, which is
            # not installed: psycopg 3 serves the async side (as in docker-compose.yml).
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = (
                "postgresql+psycopg://" + sql_alchemy_conn.split("://", 1)[1]
            )
    return env


def pipecast_env(state: Path, **settings: str) -> dict[str, str]:
    """PIPECAST_* for the services (the task processes inherit them): small demo, one quick retry,
    a bounded forecast (small backtests, no MLflow, no forecast marts: these tests are about the
    scheduler; tests/forecast and tests/report check the forecast itself)."""
    values = {
        "state_dir": str(state),
        "landing_dir": str(state / "landing"),
        "warehouse_path": str(state / "warehouse.duckdb"),
        "demo_size": "2000",
        # The test triggers its run; schedules that never fire (Feb 29 at 03:00, last in 2024,
        # before the DAGs' start date) keep the scheduler from adding runs of its own.
        "nightly_schedule": "0 3 29 2 *",
        "retrain_schedule": "0 3 29 2 *",
        # One quick retry: a task that fails on a hiccup of the busy machine gets a second chance.
        "task_retries": "1",
        "retry_delay_minutes": "0.1",
        **settings,
    }
    return settings_env(FAST) | {f"PIPECAST_{k.upper()}": v for k, v in values.items()}


def generate_exports(env: dict[str, str], as_of: date, nights: int) -> None:
    """Demo exports into the landing zone env points at (the CLI, as an operator would)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipecast.cli",
            "generate",
            "--as-of",
            as_of.isoformat(),
            "--nights",
            str(nights),
        ],
        env=env,
        check=True,
        capture_output=True,
    )


@dataclass
class AirflowServices:
    home: Path
    env: dict[str, str]
    port: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        run = subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
            )
        return run.stdout

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            out = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
            self.processes[name] = subprocess.Popen(
                [AIRFLOW, name], env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            out.close()

    def stop(self) -> dict[str, int]:
        """SIGTERM every service's process group, wait for all, kill what is left after the grace."""
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, proc in self.processes.items():
            try:
                self.exit_codes[name] = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("airflow %s did not stop within %s s: killed", name, STOP_GRACE_SECONDS)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                self.exit_codes[name] = -signal.SIGKILL
            try:  # children left behind in the group (task processes) go too
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.exit_codes

    def log_tail(self, chars: int = 3000) -> str:
        parts = []
        for name in SERVICES:
            path = self.home / f"{name}.log"
            if path.exists():
                parts.append(f"--- {name} ---\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"airflow services exited: {dead}\n{self.log_tail()}")

    # --- REST API (simple auth manager with all_admins: no token needed) ---------------------------

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def wait_until(self, what: str, check, timeout: float, every: float = 1.0):
        """Poll check() until it returns a truthy value; fail with the services' logs on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                value = check()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout} s\n{self.log_tail()}")
            time.sleep(every)

    def wait_ready(self, dag_id: str, timeout: float = 180) -> None:
        self.wait_until("api-server up", lambda: self.api("GET", "/api/v2/version"), timeout)
        self.wait_until("dag parsed", lambda: self.api("GET", f"/api/v2/dags/{dag_id}"), timeout)

    def set_pool(self, name: str, slots: int, description: str = "") -> None:
        body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
        try:
            self.api("POST", "/api/v2/pools", body)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
            self.api("PATCH", f"/api/v2/pools/{name}", body)

    def trigger(self, dag_id: str, logical_date: str) -> str:
        run = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": logical_date})
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id)}")["state"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        return self.wait_until(
            f"{dag_id} {run_id} finished",
            lambda: (state := self.run_state(dag_id, run_id)) in ("success", "failed") and state,
            timeout,
            every=1,
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id)}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
