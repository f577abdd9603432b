"""Which exports to load tonight, and which are missing.

Pending: every complete export whose lifecycle (``lifecycle``) is not done: not loaded yet,
loaded but not validated, stopped by a failure, or re-delivered since (its files' content hash
changed), oldest first, so late and out-of-order exports load in date order.
Missing: every date the export cadence expects between the first known export and ``through``
(default: the newest) that has no loaded export; each is logged as an error and recorded in
audit.missing_exports with why: ``missing`` (no folder), ``incomplete`` (no completion marker) or
``quarantined``. A gap is never skipped silently; it does not stop the night either, because a
lost export cannot be waited for forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb

from pipecast.config import Settings
from pipecast.ingest import audit, lifecycle
from pipecast.ingest.landing import Export, LandingZone, expected_dates
from pipecast.warehouse import TableRows, table_exists, workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MissingExport:
    export_date: date
    status: str  # missing | incomplete | quarantined


def loaded_fingerprints(settings: Settings) -> dict[date, str | None]:
    """Export dates in audit.loads, with the fingerprint of the files they were loaded from."""
    with workspace(settings, pulls=[TableRows("audit", "loads")]) as ws:
        return _loaded_fingerprints(ws.con)


def _loaded_fingerprints(con: duckdb.DuckDBPyConnection) -> dict[date, str | None]:
    if not table_exists(con, "audit", "loads"):
        return {}
    columns = {r[0] for r in con.execute("SELECT * FROM audit.loads LIMIT 0").description}
    if "fingerprint" not in columns:
        rows = con.execute("SELECT DISTINCT export_date, NULL FROM audit.loads").fetchall()
    else:
        rows = con.execute(
            "SELECT export_date, any_value(fingerprint) FROM audit.loads GROUP BY 1"
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def _quarantined_dates(con: duckdb.DuckDBPyConnection) -> set[date]:
    if not table_exists(con, "audit", "quarantined_exports"):
        return set()
    return {
        r[0] for r in con.execute("SELECT DISTINCT export_date FROM audit.quarantined_exports").fetchall()
    }


# What a pending export needs.
LOAD = "load"
VALIDATE = "validate"


def _unchanged(export: Export, step: lifecycle.Step) -> bool:
    """Are the export's files still those of ``step``? The stat fingerprint answers cheaply
    while nothing touched them; otherwise the content hash decides (a touched file keeps it)."""
    if step.stat_fingerprint and export.stat_fingerprint() == step.stat_fingerprint:
        return True
    return bool(step.content_hash) and export.content_hash() == step.content_hash


def plan(settings: Settings, through: date | None = None) -> list[tuple[date, str]]:
    """Every export that needs work, oldest first, with what it needs: LOAD (new, re-delivered,
    or stopped before it was loaded) or VALIDATE (loaded, not validated, files unchanged).

    Done are only validated or published exports whose files are unchanged, and quarantined
    ones (moved aside; see ``unfinished_quarantines`` for one still in the landing zone)."""
    steps = lifecycle.current_on_target(settings)
    todo = []
    for export in LandingZone.from_settings(settings).exports():
        day = export.export_date
        if through is not None and day > through:
            continue
        step = steps.get(day)
        if step is None:
            todo.append((day, LOAD))
        elif step.state in lifecycle.SERVABLE or step.state == lifecycle.QUARANTINED:
            if not _unchanged(export, step):
                log.info("export %s was re-delivered since it was %s: loading it again", day, step.state)
                _warn_if_history_kept(day, steps)
                todo.append((day, LOAD))
        elif step.state == lifecycle.LOADED and _unchanged(export, step):
            todo.append((day, VALIDATE))
        else:
            if step.state != lifecycle.LANDED or step.reason:
                log.warning("export %s stopped at %s (%s): loading it again", day, step.state, step.reason)
            todo.append((day, LOAD))
    return todo


def _warn_if_history_kept(day: date, steps: dict[date, lifecycle.Step]) -> None:
    """A re-delivered export replaces its raw rows; the opportunity snapshot rewinds only the
    export it takes (the newest served, dbt_project/macros/snapshot_rewind.sql). Say so when a newer
    export is served: the history keeps the versions first taken from this one."""
    newer = [d for d, s in steps.items() if d > day and s.servable]
    if newer:
        log.warning(
            "export %s was re-delivered after a newer export (%s) was served: its raw rows are "
            "replaced, but the opportunity history (snapshot) keeps the versions first taken from it",
            day,
            max(newer),
        )


def pending(settings: Settings, through: date | None = None) -> list[date]:
    """The dates of ``plan``: every export to load or validate tonight, oldest first."""
    return [day for day, _ in plan(settings, through)]


def unfinished_quarantines(
    settings: Settings, through: date | None = None
) -> list[tuple[Export, lifecycle.Step]]:
    """Exports audit calls quarantined that are still in the landing zone with the same files."""
    steps = lifecycle.current_on_target(settings)
    found = []
    for export in LandingZone.from_settings(settings).exports(include_incomplete=True):
        step = steps.get(export.export_date)
        if through is not None and export.export_date > through:
            continue
        if step is not None and step.state == lifecycle.QUARANTINED and _unchanged(export, step):
            found.append((export, step))
    return found


def missing(settings: Settings, through: date | None = None, record: bool = True) -> list[MissingExport]:
    """Calendar gaps (see the module docstring); recorded in audit.missing_exports."""
    zone = LandingZone.from_settings(settings)
    present = {e.export_date: e for e in zone.exports(include_incomplete=True)}
    pulls = [TableRows("audit", "loads"), TableRows("audit", "quarantined_exports")]
    with workspace(settings, pulls=pulls) as ws:
        if record:
            audit.ensure_tables(ws.con)
            _record_unrecognised(ws, zone)
        loaded = set(_loaded_fingerprints(ws.con))
        quarantined = _quarantined_dates(ws.con)
        known = set(present) | loaded
        if not known:
            return []
        last = through or max(known)
        gaps = []
        for day in expected_dates(min(known), last, settings.export_interval_days):
            if day in loaded or (day in present and present[day].is_complete):
                continue
            if day in present:
                status = "incomplete"
            elif day in quarantined:
                status = "quarantined"
            else:
                status = "missing"
            gaps.append(MissingExport(day, status))
            log.error(
                "export %s is %s: the days after it load, this one is reported until it arrives", day, status
            )
        if record:
            audit.replace_missing(
                ws.con, [(g.export_date, g.status) for g in gaps], datetime.now(UTC).replace(tzinfo=None)
            )
            ws.publish("audit", "missing_exports")
    return gaps


def _record_unrecognised(ws, zone: LandingZone) -> list[str]:
    """Warn about, and list in audit.unrecognised_folders (the last check's), folders of the
    landing zone whose names are not export dates: they are never loaded."""
    odd = zone.unrecognised()
    for location in odd:
        log.warning("folder %s is not named by an export date (YYYY-MM-DD): not loaded", location)
    at = datetime.now(UTC).replace(tzinfo=None)
    ws.con.execute("DELETE FROM audit.unrecognised_folders")
    for location in odd:
        audit.insert(
            ws.con,
            "unrecognised_folders",
            {"name": location.rstrip("/").rsplit("/", 1)[-1], "location": location, "detected_at": at},
        )
    ws.publish("audit", "unrecognised_folders")
    return odd
