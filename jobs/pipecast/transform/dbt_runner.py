"""Run dbt in-process (dbtRunner) against the configured target (``dbt_invoke``); the nightly
build that publishes what it built is pipecast.transform.build, one layer up."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipecast.config import Settings

log = logging.getLogger(__name__)


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
    all_vars = json.dumps(dbt_vars_of(settings, dbt_vars), default=str, sort_keys=True)
    args = [*args, "--vars", all_vars]
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
    with _environment(dbt_env(settings)), _partial_parse_for(dbt_state / "target", all_vars):
        try:
            callbacks = [_pause_after_node(settings)] if settings.fault_pause_at.startswith("dbt:") else []
            return dbtRunner(callbacks=callbacks).invoke(full_args)
        finally:
            if settings.target == "duckdb":
                release_duckdb_file()


PARTIAL_PARSE_FILE = "partial_parse.msgpack"  # where dbt reads and writes its parse state


@contextmanager
def _partial_parse_for(target: Path, dbt_vars: str) -> Iterator[None]:
    """Give dbt the parse state it saved the last time it ran with these vars.

    dbt keeps one parse state per target folder and parses the whole project again (3.4 s of a
    20k-deal night's build, against 0.3 s partially) whenever the ``--vars`` differ from the last
    run's. The night's vars alternate (the publish slots a and b of each unit), so every build
    would parse in full. Each vars' state is kept beside dbt's own file, named by a hash of the
    vars, and put in place before dbt runs; dbt still checks it (vars, profile, project files) and
    parses in full when it does not match, so a stale file costs time, never correctness."""
    key = hashlib.sha256(dbt_vars.encode()).hexdigest()[:16]
    live, kept = target / PARTIAL_PARSE_FILE, target / f"partial_parse.{key}.msgpack"
    if kept.exists():
        shutil.copyfile(kept, live)
    try:
        yield
    finally:
        if live.exists():
            shutil.copyfile(live, kept)


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
