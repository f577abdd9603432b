"""An export's lifecycle: landed -> loaded -> validated -> published, or quarantined (or failed).

Every step is a row of ``audit.export_lifecycle`` (export date, state, time, reason, the content
hash of the files it was taken from); an export's state is its newest row. The rules:

- ``loaded`` is written in the same transaction as the export's raw rows (on PostgreSQL, pushed
  in the same transaction), so raw never holds an export the lifecycle does not know.
- Only ``validated`` and ``published`` exports are served: dbt's staging reads the newest export
  in one of those states (macro ``latest_export``), never a loaded-but-unvalidated one.
- ``schedule.pending`` treats only validated, published and finished quarantines as done: a run
  killed between load and validation, or a validation that died, is resumed by the next run (it
  validates a loaded export whose files have not changed, and reloads anything else).
- ``quarantined`` is written (with the raw rows taken out again) before the folder is moved; a
  run killed in between finishes the move.
- ``failed`` is an environment failure (disk full, connection lost): the export stays in the
  landing zone and the next run resumes it. ``published``: dbt built the marts from it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb

from pipecast.config import Settings
from pipecast.warehouse import TableRows, execute_on_target, table_exists, workspace

log = logging.getLogger(__name__)

TABLE = "export_lifecycle"

LANDED = "landed"
LOADED = "loaded"
VALIDATED = "validated"
PUBLISHED = "published"
QUARANTINED = "quarantined"
FAILED = "failed"
STATES = (LANDED, LOADED, VALIDATED, PUBLISHED, QUARANTINED, FAILED)
# What dbt's staging may read (dbt_project/macros/latest_export.sql says the same).
SERVABLE = (VALIDATED, PUBLISHED)

_COLUMNS = ("export_date", "state", "changed_at", "reason", "content_hash", "stat_fingerprint", "location")
# The newest row per export date ($1-style SQL, alike on DuckDB and PostgreSQL).
CURRENT_SQL = (
    "select export_date, state, changed_at, reason, content_hash, stat_fingerprint, location from ("
    " select *, row_number() over (partition by export_date order by changed_at desc) as _n"
    " from audit.export_lifecycle) as steps where _n = 1"
)


@dataclass(frozen=True)
class Step:
    """One row of audit.export_lifecycle."""

    export_date: date
    state: str
    changed_at: datetime
    reason: str = ""
    content_hash: str | None = None
    stat_fingerprint: str | None = None
    location: str | None = None

    @property
    def servable(self) -> bool:
        return self.state in SERVABLE


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def step(
    export_date: date,
    state: str,
    reason: str = "",
    *,
    content_hash: str | None = None,
    stat_fingerprint: str | None = None,
    location: str | None = None,
    at: datetime | None = None,
) -> Step:
    if state not in STATES:
        raise ValueError(f"unknown lifecycle state {state!r} (one of {', '.join(STATES)})")
    return Step(export_date, state, at or now(), reason, content_hash, stat_fingerprint, location)


def record(con: duckdb.DuckDBPyConnection, s: Step) -> None:
    """Append a step in a DuckDB connection (the warehouse, or a workspace that publishes it)."""
    con.execute(
        f"INSERT INTO audit.{TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})",
        [getattr(s, c) for c in _COLUMNS],
    )
    _log(s)


def insert_statement(s: Step) -> tuple[str, list]:
    """The step as one ``$1``-style statement, for ``execute_on_target`` with other statements."""
    marks = ", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))
    return f"insert into audit.{TABLE} ({', '.join(_COLUMNS)}) values ({marks})", [
        getattr(s, c) for c in _COLUMNS
    ]


def record_on_target(settings: Settings, s: Step, also: Sequence[tuple[str, Sequence]] = ()) -> None:
    """Append a step in the warehouse, in one transaction with the statements ``also``."""
    execute_on_target(settings, [*also, insert_statement(s)])
    _log(s)


def _log(s: Step) -> None:
    level = logging.ERROR if s.state in (QUARANTINED, FAILED) else logging.INFO
    log.log(level, "export %s: %s%s", s.export_date, s.state, f" ({s.reason})" if s.reason else "")


def current(con: duckdb.DuckDBPyConnection) -> dict[date, Step]:
    """Each export's newest step (empty when nothing was ever recorded)."""
    if not table_exists(con, "audit", TABLE):
        return {}
    return {r[0]: Step(*r) for r in con.execute(CURRENT_SQL).fetchall()}


def current_on_target(settings: Settings) -> dict[date, Step]:
    with workspace(settings, pulls=[TableRows("audit", TABLE)]) as ws:
        return current(ws.con)


def history(con: duckdb.DuckDBPyConnection, export_date: date) -> list[Step]:
    """Every step of one export, oldest first."""
    if not table_exists(con, "audit", TABLE):
        return []
    rows = con.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM audit.{TABLE} WHERE export_date = ? ORDER BY changed_at",
        [export_date],
    ).fetchall()
    return [Step(*r) for r in rows]


def history_on_target(settings: Settings, export_date: date) -> list[Step]:
    pulls = [TableRows("audit", TABLE, "where export_date = $1", (export_date,))]
    with workspace(settings, pulls=pulls) as ws:
        return history(ws.con, export_date)


def newest_servable(steps: dict[date, Step]) -> date | None:
    served = [d for d, s in steps.items() if s.servable]
    return max(served) if served else None
