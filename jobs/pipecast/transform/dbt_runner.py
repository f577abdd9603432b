"""Run dbt in-process (dbtRunner) against the configured target."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pipecast.config import Settings, get_settings
from pipecast.errors import PipecastError

log = logging.getLogger(__name__)


class DbtError(PipecastError):
    """dbt failed: a model did not build or an error-severity test failed."""


@dataclass
class DbtBuildResult:
    success: bool
    statuses: dict[str, Counter] = field(default_factory=dict)  # resource type -> status counts
    failures: list[str] = field(default_factory=list)

    @property
    def models_built(self) -> int:
        return self.statuses.get("model", Counter()).get("success", 0)

    @property
    def tests_passed(self) -> int:
        return self.statuses.get("test", Counter()).get("pass", 0)

    @property
    def tests_failed(self) -> int:
        c = self.statuses.get("test", Counter())
        return c.get("fail", 0) + c.get("error", 0)


def dbt_env(settings: Settings) -> dict[str, str]:
    """The variables profiles.yml reads, from the settings (so a Settings object alone picks the
    warehouse, as it does for the Python steps)."""
    return {
        "PIPECAST_TARGET": settings.target,
        "PIPECAST_WAREHOUSE_PATH": str(settings.resolved_warehouse_path),
        "PIPECAST_PG_HOST": settings.pg_host,
        "PIPECAST_PG_PORT": str(settings.pg_port),
        "PIPECAST_PG_USER": settings.pg_user,
        "PIPECAST_PG_PASSWORD": settings.pg_password,
        "PIPECAST_PG_DATABASE": settings.pg_database,
        "PIPECAST_REPORTING_CURRENCY": settings.reporting_currency,
        "PIPECAST_DBT_DUCKDB_MEMORY_LIMIT": settings.dbt_duckdb_memory_limit.strip(),
        "PIPECAST_DBT_DUCKDB_THREADS": str(settings.dbt_duckdb_threads),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def dbt_invoke(args: list[str], settings: Settings | None = None):
    """Invoke a dbt command in-process with the project, profiles and state folders set."""
    from dbt.cli.main import dbtRunner  # heavy import: only when dbt actually runs

    settings = settings or get_settings()
    project = settings.dbt_project_dir
    dbt_state = settings.state_dir / "dbt"
    full_args = [
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(dbt_state / "target"),
        "--log-path",
        str(dbt_state / "logs"),
    ]
    log.info("dbt %s", " ".join(args))
    with _environment(dbt_env(settings)):
        try:
            return dbtRunner().invoke(full_args)
        finally:
            if settings.target == "duckdb":
                release_duckdb_file()


def release_duckdb_file() -> None:
    """Close the DuckDB database dbt-duckdb keeps open after an in-process run.

    dbt-duckdb caches one environment (and its open database) per process. Left open, the next
    step in the same process (Great Expectations through SQLAlchemy, or a read-only report) cannot
    open the file: DuckDB refuses a second handle with another configuration. Its own
    close_all_connections() only forgets the environment without closing it.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        if environment is not None:
            environment.close()
            DuckDBConnectionManager._ENV = None


def dbt_build(
    settings: Settings | None = None, select: str | None = None, full_refresh: bool = False
) -> DbtBuildResult:
    """`dbt build` (models, snapshots, seeds and tests in DAG order); raise DbtError on failure."""
    args = ["build"]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    res = dbt_invoke(args, settings)
    result = DbtBuildResult(success=bool(res.success))
    if res.exception is not None:
        raise DbtError(f"dbt could not run: {res.exception}") from res.exception
    for node_result in res.result or []:
        node = node_result.node
        status = str(node_result.status)
        result.statuses.setdefault(node.resource_type, Counter())[status] += 1
        if status in ("error", "fail"):
            result.failures.append(f"{node.resource_type} {node.name}: {status}: {node_result.message}")
    if not result.success:
        raise DbtError("dbt build failed:\n  " + "\n  ".join(result.failures))
    return result
