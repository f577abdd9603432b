"""Which exports to load tonight, and which are missing.

Pending: every complete export not loaded yet, or re-delivered since it was loaded (its files'
fingerprint changed), oldest first, so late and out-of-order exports load in date order.
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
from pipecast.ingest import audit
from pipecast.ingest.landing import LandingZone, expected_dates
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


def pending(settings: Settings, through: date | None = None) -> list[date]:
    loaded = loaded_fingerprints(settings)
    dates = []
    for export in LandingZone.from_settings(settings).exports():
        if through is not None and export.export_date > through:
            continue
        if export.export_date not in loaded:
            dates.append(export.export_date)
        elif loaded[export.export_date] and loaded[export.export_date] != export.fingerprint():
            log.info("export %s was re-delivered since it was loaded: loading it again", export.export_date)
            dates.append(export.export_date)
    return dates


def missing(settings: Settings, through: date | None = None, record: bool = True) -> list[MissingExport]:
    """Calendar gaps (see the module docstring); recorded in audit.missing_exports."""
    zone = LandingZone.from_settings(settings)
    present = {e.export_date: e for e in zone.exports(include_incomplete=True)}
    pulls = [TableRows("audit", "loads"), TableRows("audit", "quarantined_exports")]
    with workspace(settings, pulls=pulls) as ws:
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
            audit.ensure_tables(ws.con)
            audit.replace_missing(
                ws.con, [(g.export_date, g.status) for g in gaps], datetime.now(UTC).replace(tzinfo=None)
            )
            ws.publish("audit", "missing_exports")
    return gaps
