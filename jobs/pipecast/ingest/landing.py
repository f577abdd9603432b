"""The landing zone: one folder per export, named by its date (YYYY-MM-DD), complete when the
completion marker is present."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from pipecast.canonical import COMPLETION_MARKER, MANIFEST_FILE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Export:
    export_date: date
    path: Path

    @property
    def is_complete(self) -> bool:
        return (self.path / COMPLETION_MARKER).exists()

    def manifest(self) -> dict:
        manifest_path = self.path / MANIFEST_FILE
        if not manifest_path.exists():
            return {}
        return json.loads(manifest_path.read_text(encoding="utf-8"))


def _parse_date(name: str) -> date | None:
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def find_exports(landing_dir: Path, include_incomplete: bool = False) -> list[Export]:
    """Every dated export folder under landing_dir, oldest first."""
    if not landing_dir.exists():
        return []
    exports = []
    for child in landing_dir.iterdir():
        export_date = _parse_date(child.name)
        if child.is_dir() and export_date is not None:
            export = Export(export_date, child)
            if export.is_complete or include_incomplete:
                exports.append(export)
            else:
                log.warning("export %s has no %s marker yet: skipped", child, COMPLETION_MARKER)
    return sorted(exports, key=lambda e: e.export_date)


def get_export(landing_dir: Path, export_date: date) -> Export:
    return Export(export_date, landing_dir / export_date.isoformat())


def archive_export(export: Export, archive_dir: Path) -> Path:
    """Copy the export's original files, unchanged, into the archive."""
    target = archive_dir / export.export_date.isoformat()
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(export.path, target)
    return target


def quarantine_export(export: Export, quarantine_dir: Path, reason: str) -> Path:
    """Move a bad export aside with a reason file, so it is never loaded by accident."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = quarantine_dir / f"{export.export_date.isoformat()}_{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(export.path), target)
    (target / "QUARANTINE_REASON.txt").write_text(reason + "\n", encoding="utf-8")
    log.error("export %s quarantined to %s: %s", export.path, target, reason)
    return target
