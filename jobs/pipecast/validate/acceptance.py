"""Accepting a flagged export on purpose: ``pipecast accept EXPORT_DATE --by NAME --reason TEXT``.

A drift check that fails quarantines the export (``drift.py``). When the change is real (a
region moved to another CRM, prices changed to cents on purpose), an operator accepts that export:
the drift checks that failed in its last raw validation are recorded in ``audit.accepted_exports``
with who accepted them, when and why, and the export is put back in the landing zone. The next run
loads it and validates it again with exactly those checks downgraded to warnings (their audit rows
and the log say who accepted them); every other check, and those checks on any other export, still
stop the night. Only drift can be accepted: an export that also broke a content rule (a negative
amount, a duplicate key) is refused.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipecast.config import Settings
from pipecast.errors import InputError
from pipecast.validate import drift, target
from pipecast.validate.severity import ERROR

log = logging.getLogger(__name__)

SCHEMA = "audit"
TABLE = f"{SCHEMA}.accepted_exports"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    export_date DATE NOT NULL,
    accepted_at TIMESTAMP NOT NULL,  -- UTC
    accepted_by VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    checks VARCHAR NOT NULL  -- JSON list of the drift check names accepted
)
"""


class AcceptError(InputError, ValueError):
    """The export cannot be accepted (nothing flagged, or errors that are not drift)."""


@dataclass(frozen=True)
class Acceptance:
    export_date: date
    accepted_by: str
    reason: str
    checks: tuple[str, ...]
    restored_to: str | None = None  # the landing folder the quarantined export was moved back to

    @property
    def label(self) -> str:
        return f"by {self.accepted_by}: {self.reason}"


def raw_run_id(export_date: date) -> str:
    return f"raw-{export_date.isoformat()}"


def accept(export_date: date, accepted_by: str, reason: str, settings: Settings) -> Acceptance:
    """Record the acceptance of the drift checks ``export_date`` failed, and put the export back."""
    if not accepted_by.strip() or not reason.strip():
        raise AcceptError("pipecast accept needs --by NAME and --reason TEXT")
    with target.engine(settings) as engine, engine.begin() as conn:
        flagged, other = _failed_errors(conn, export_date)
        if other:
            raise AcceptError(
                f"export {export_date} failed checks that cannot be accepted (not drift): " + "; ".join(other)
            )
        if not flagged:
            raise AcceptError(
                f"export {export_date} has no failed drift check in audit.validation_results "
                f"(run {raw_run_id(export_date)}): nothing to accept"
            )
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        conn.execute(sa.text(DDL))
        conn.execute(
            sa.text(
                f"INSERT INTO {TABLE} (export_date, accepted_at, accepted_by, reason, checks) "
                "VALUES (:d, :at, :by, :reason, :checks)"
            ),
            {
                "d": export_date,
                "at": datetime.now(UTC).replace(tzinfo=None),
                "by": accepted_by.strip(),
                "reason": reason.strip(),
                "checks": json.dumps(sorted(flagged)),
            },
        )
        _mark_landed(conn, export_date, f"accepted by {accepted_by.strip()}: {reason.strip()}")
    restored = _restore(export_date, settings)
    acceptance = Acceptance(
        export_date, accepted_by.strip(), reason.strip(), tuple(sorted(flagged)), restored
    )
    log.warning(
        "export %s accepted %s; drift checks downgraded for this export only: %s%s",
        export_date,
        acceptance.label,
        ", ".join(acceptance.checks),
        f"; moved back to {restored} to load on the next run" if restored else "",
    )
    return acceptance


def accepted_checks(conn: Connection, export_date: date) -> dict[str, str]:
    """Drift check name -> ``by NAME on DATE: REASON``, for every acceptance of ``export_date``."""
    if not target.table_exists(conn, SCHEMA, "accepted_exports"):
        return {}
    rows = conn.execute(
        sa.text(
            f"SELECT accepted_by, accepted_at, reason, checks FROM {TABLE} "
            "WHERE export_date = :d ORDER BY accepted_at"
        ),
        {"d": export_date},
    )
    accepted: dict[str, str] = {}
    for by, at, reason, checks in rows:
        for name in json.loads(checks):
            accepted[name] = f"by {by} on {str(at)[:10]}: {reason}"
    return accepted


def _failed_errors(conn: Connection, export_date: date) -> tuple[set[str], list[str]]:
    """The drift checks, and the descriptions of other checks, that failed as errors in the
    export's last raw validation."""
    if not target.table_exists(conn, "audit", "validation_results"):
        return set(), []
    rows = conn.execute(
        sa.text(
            "SELECT suite, expectation_type, column_name, details FROM audit.validation_results "
            "WHERE run_id = :run AND stage = 'raw' AND severity = :error AND NOT success"
        ),
        {"run": raw_run_id(export_date), "error": ERROR},
    )
    flagged: set[str] = set()
    other: list[str] = []
    for suite, expectation_type, column, details in rows:
        description = (json.loads(details) or {}).get("description")
        name = drift.name_of(description)
        if name:
            flagged.add(name)
        else:
            other.append(f"{suite}: {expectation_type}" + (f"({column})" if column else ""))
    return flagged, sorted(other)


# The export lifecycle (pipecast.ingest.lifecycle), when the warehouse keeps one: a quarantined
# export with unchanged files counts as done there, so the acceptance lands it again.
LIFECYCLE = f"{SCHEMA}.export_lifecycle"
LANDED = "landed"


def _mark_landed(conn: Connection, export_date: date, reason: str) -> None:
    if not target.table_exists(conn, SCHEMA, "export_lifecycle"):
        return
    conn.execute(
        sa.text(
            f"INSERT INTO {LIFECYCLE} (export_date, state, changed_at, reason) "
            "VALUES (:d, :state, :at, :reason)"
        ),
        {"d": export_date, "state": LANDED, "at": datetime.now(UTC).replace(tzinfo=None), "reason": reason},
    )


def _restore(export_date: date, settings: Settings) -> str | None:
    """Move the newest quarantined copy of the export back into a local landing zone."""
    if settings.landing_url:
        return None
    landing = settings.resolved_landing_dir / export_date.isoformat()
    if landing.exists():
        return None
    candidates = sorted(settings.quarantine_dir.glob(f"{export_date.isoformat()}_*"))
    if not candidates:
        return None
    shutil.move(str(candidates[-1]), landing)
    return str(landing)
