"""Run dbt in-process (dbtRunner) against the configured target; `dbt_build` publishes the marts
it built atomically (pipecast.transform.publish)."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from pipecast.config import Settings
from pipecast.errors import DbtError

log = logging.getLogger(__name__)


@dataclass
class DbtBuildResult:
    success: bool
    statuses: dict[str, Counter] = field(default_factory=dict)  # resource type -> status counts
    failures: list[str] = field(default_factory=list)
    published: dict[str, str] = field(default_factory=dict)  # unit -> slot schema now serving
    publish_seconds: float = 0.0

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


# The comment that opens the snapshot's rewind (dbt_project/macros/snapshot_rewind.sql).
REWIND_MARK = "pipecast: rewind"


def _pause_after_node(settings: Settings):
    """A dbt event callback: pause (pipecast.faults) when a node named in PIPECAST_FAULT_PAUSE_AT
    as ``dbt:<node>`` has finished (its table committed), or, as ``dbt:<snapshot>:rewound``, once
    a snapshot's rewind pre-hook has run inside its transaction (nothing committed yet), for the
    fault tests."""
    from pipecast.faults import pause_point

    rewinding: set[str] = set()

    def callback(event) -> None:
        name = event.info.name
        if name == "NodeFinished":
            pause_point(f"dbt:{event.data.node_info.node_name}", settings)
        elif name == "SQLQuery" and REWIND_MARK in event.data.sql:
            rewinding.add(event.data.node_info.node_name)
        elif name == "SQLQueryStatus" and event.data.node_info.node_name in rewinding:
            rewinding.discard(event.data.node_info.node_name)
            pause_point(f"dbt:{event.data.node_info.node_name}:rewound", settings)

    return callback


def dbt_vars_of(settings: Settings, dbt_vars: dict | None = None) -> dict:
    """The ``--vars`` of every dbt run: the project vars whose home is the settings, then
    ``dbt_vars`` (a run's own, e.g. the publish schemas)."""
    return {"fiscal_year_start_month": settings.fiscal_year_start_month, **(dbt_vars or {})}


def dbt_invoke(args: list[str], settings: Settings, dbt_vars: dict | None = None):
    """Invoke a dbt command in-process with the project, profiles and state folders set, and
    ``--vars`` from the settings and ``dbt_vars`` (never in ``args``: a second ``--vars`` would
    replace the settings' ones)."""
    from dbt.cli.main import dbtRunner  # heavy import: only when dbt actually runs

    if "--vars" in args:
        raise ValueError("pass dbt vars as dbt_vars, not in args (they would drop the settings' vars)")
    project = settings.dbt_project_dir
    dbt_state = settings.state_dir / "dbt"
    args = [*args, "--vars", json.dumps(dbt_vars_of(settings, dbt_vars), default=str)]
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
            callbacks = [_pause_after_node(settings)] if settings.fault_pause_at.startswith("dbt:") else []
            return dbtRunner(callbacks=callbacks).invoke(full_args)
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
    settings: Settings,
    select: str | None = None,
    full_refresh: bool = False,
    units: Sequence[str] | None = None,
) -> DbtBuildResult:
    """`dbt build` (models, snapshots, seeds and tests in DAG order); raise DbtError on failure.

    The marts of ``units`` (default: every unit, pipecast.transform.publish.UNITS; ``select``
    must then cover each unit whole) are built into their unpublished slot schemas and published
    in one transaction once every model and test has passed and the marts checkpoint has validated
    the slots (publish.check_slots); on any failure nothing is published
    and the previous night's marts keep serving."""
    from pipecast.transform import publish

    units = list(publish.UNITS) if units is None else list(units)
    schemas = publish.next_schemas(settings, units)
    args = ["build"]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    res = dbt_invoke(args, settings, dbt_vars={"publish_schemas": schemas})
    result = DbtBuildResult(success=bool(res.success))
    if res.exception is not None:
        raise DbtError(f"dbt could not run: {res.exception}") from res.exception
    built: dict[str, list[str]] = {unit: [] for unit in units}
    for node_result in res.result or []:
        node = node_result.node
        status = str(node_result.status)
        result.statuses.setdefault(node.resource_type, Counter())[status] += 1
        if status in ("error", "fail"):
            result.failures.append(f"{node.resource_type} {node.name}: {status}: {node_result.message}")
        if node.resource_type == "model" and node.schema in schemas.values():
            built[node.fqn[1]].append(node.alias or node.name)
    if not result.success:
        raise DbtError(
            "dbt build failed (nothing published: the previous night's marts still serve):\n  "
            + "\n  ".join(result.failures)
        )
    to_publish = {unit: (schemas[unit], sorted(models)) for unit, models in built.items() if models}
    if to_publish:
        publish.check_slots(settings, to_publish)  # a mart failing its suite is never published
        result.publish_seconds = publish.publish(settings, to_publish)
        result.published = {unit: schema for unit, (schema, _) in to_publish.items()}
    return result
