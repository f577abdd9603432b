"""The landing zone: one folder per export, named by its date (YYYY-MM-DD), complete when the
completion marker is present.

The root is a local folder or, when ``PIPECAST_LANDING_URL`` is set, any fsspec URL (s3://,
gs://, memory://, ...): listing, manifests and sniffing go through fsspec, and DuckDB reads the
files through the same filesystem (registered on the connection), so data never passes through
Python. Every file an export names is resolved inside its export folder: names with '..', absolute
paths and symlinks that leave the landing zone are refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from pipecast.canonical import COMPLETION_MARKER, MANIFEST_FILE
from pipecast.ingest.errors import IngestError

log = logging.getLogger(__name__)

QUARANTINE_REASON_FILE = "QUARANTINE_REASON.txt"
# Files of an export folder that are not data.
CONTROL_FILES = frozenset({COMPLETION_MARKER, MANIFEST_FILE, QUARANTINE_REASON_FILE})


@dataclass(frozen=True)
class LandingZone:
    """Where exports arrive: a local folder, or an fsspec URL for object storage."""

    root: str
    fs: Any = field(default_factory=LocalFileSystem, compare=False, repr=False)

    @classmethod
    def local(cls, path: Path) -> LandingZone:
        return cls(str(path))

    @classmethod
    def from_settings(cls, settings: Any) -> LandingZone:
        url = getattr(settings, "landing_url", None)
        if url:
            fs, root = fsspec.core.url_to_fs(
                url, **(getattr(settings, "landing_storage_options", None) or {})
            )
            return cls(root if isinstance(fs, LocalFileSystem) else url.rstrip("/"), fs)
        return cls.local(settings.resolved_landing_dir)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def join(self, *parts: str) -> str:
        if self.is_local:
            return str(Path(self.root, *parts))
        return posixpath.join(self.root, *parts)

    def exists(self, location: str) -> bool:
        return self.fs.exists(location)

    def exports(self, include_incomplete: bool = False) -> list[Export]:
        """Every dated export folder, oldest first."""
        if not self.fs.exists(self.root):
            return []
        found = []
        for entry in self.fs.ls(self.root, detail=True):
            name = posixpath.basename(entry["name"].rstrip("/"))
            export_date = _parse_date(name)
            if entry["type"] != "directory" or export_date is None:
                continue
            export = self.export(export_date)
            if export.is_complete or include_incomplete:
                found.append(export)
            else:
                log.warning("export %s has no %s marker yet: skipped", export.location, COMPLETION_MARKER)
        return sorted(found, key=lambda e: e.export_date)

    def export(self, export_date: date) -> Export:
        location = self.join(export_date.isoformat())
        path = Path(location) if self.is_local else Path(location.split("://", 1)[-1])
        return Export(export_date, path, zone=self)


@dataclass(frozen=True)
class Export:
    """One dated export folder. ``path`` is local; ``location`` is what readers open (a local
    path or a URL of the landing zone's filesystem)."""

    export_date: date
    path: Path
    zone: LandingZone | None = field(default=None, compare=False)

    @property
    def landing(self) -> LandingZone:
        return self.zone or LandingZone.local(self.path.parent)

    @property
    def location(self) -> str:
        return (
            str(self.path) if self.zone is None or self.zone.is_local else self.landing.join(self.path.name)
        )

    @property
    def exists(self) -> bool:
        return self.landing.fs.exists(self.location)

    @property
    def is_complete(self) -> bool:
        return self.landing.fs.exists(self.file_location(COMPLETION_MARKER))

    def file_location(self, relative: str) -> str:
        if self.landing.is_local:
            return str(Path(self.location, relative))
        return posixpath.join(self.location, relative)

    def manifest(self) -> dict:
        """The manifest (an empty dict without one); a malformed manifest is a bad export."""
        location = self.file_location(MANIFEST_FILE)
        if not self.landing.fs.exists(location):
            return {}
        try:
            with self.landing.fs.open(location, "rb") as fh:
                manifest = json.loads(fh.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise IngestError(f"manifest is not valid JSON: {exc}", file=location) from exc
        if not isinstance(manifest, dict):
            raise IngestError("manifest must be a JSON object", file=location)
        return manifest

    def files(self) -> list[str]:
        """Data files of the export, relative to its folder ('/'-separated), sorted."""
        base = self.location.rstrip("/")
        names = []
        for found in self.landing.fs.find(base):
            relative = _relative(found, base, self.landing)
            if relative is None:
                continue
            if relative in CONTROL_FILES or any(part.startswith(".") for part in relative.split("/")):
                continue
            names.append(relative)
        return sorted(names)

    def resolve(self, relative: str) -> str:
        """The location of a file named relative to the export; refuses anything outside it."""
        _check_relative_name(relative, self.location)
        location = self.file_location(relative)
        if self.landing.is_local:
            real = Path(location).resolve()
            root = Path(self.landing.root).resolve()
            folder = Path(self.location).resolve()
            if not (real.is_relative_to(folder) and real.is_relative_to(root)):
                raise IngestError(
                    f"file {relative!r} resolves to {real}, outside the export folder (symlink?)",
                    file=location,
                )
        return location

    def size(self, location: str) -> int:
        return int(self.landing.fs.size(location))

    def fingerprint(self) -> str:
        """A digest of names, sizes and modification times: tells a re-delivered export apart."""
        digest = hashlib.sha256()
        for name in sorted(self.files() + [n for n in (MANIFEST_FILE,) if self._has(n)]):
            info = self.landing.fs.info(self.file_location(name))
            stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or ""
            digest.update(f"{name}\0{info.get('size')}\0{stamp}\n".encode())
        return digest.hexdigest()

    def _has(self, name: str) -> bool:
        return self.landing.fs.exists(self.file_location(name))


def _relative(found: str, base: str, zone: LandingZone) -> str | None:
    if zone.is_local:
        try:
            return Path(found).relative_to(base).as_posix()
        except ValueError:
            return None
    stripped_base = zone.fs._strip_protocol(base).rstrip("/")
    stripped = zone.fs._strip_protocol(found)
    if not stripped.startswith(stripped_base + "/"):
        return None
    return stripped[len(stripped_base) + 1 :]


def _check_relative_name(name: str, where: str) -> None:
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or ":" in parts[0]
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise IngestError(
            f"file name {name!r} leaves the export folder or is not a plain relative name", file=where
        )


def _parse_date(name: str) -> date | None:
    try:
        return date.fromisoformat(name) if len(name) == 10 else None
    except ValueError:
        return None


def find_exports(landing_dir: Path | LandingZone, include_incomplete: bool = False) -> list[Export]:
    """Every dated export folder under the landing zone, oldest first."""
    zone = landing_dir if isinstance(landing_dir, LandingZone) else LandingZone.local(landing_dir)
    return zone.exports(include_incomplete=include_incomplete)


def get_export(landing_dir: Path | LandingZone, export_date: date) -> Export:
    zone = landing_dir if isinstance(landing_dir, LandingZone) else LandingZone.local(landing_dir)
    return zone.export(export_date)


def archive_export(export: Export, archive_dir: Path) -> Path:
    """Keep the export's original files, byte for byte, in the archive (replacing a previous
    archive of the same date).

    A local export on the archive's filesystem is archived by hard links: instant, no second
    copy on disk, and the archived file stays whole when the landing file is deleted or replaced
    (a new file renamed over it, as the demo generator, rsync and object-storage sync tools
    deliver). A file that cannot be linked (another filesystem, a symlink, a filesystem without
    hard links) is copied; exports in object storage are downloaded.
    """
    target = archive_dir / export.export_date.isoformat()
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if export.landing.is_local:
        shutil.copytree(export.path, target, copy_function=_link_or_copy)
    else:
        export.landing.fs.get(export.location.rstrip("/") + "/", str(target), recursive=True)
    return target


def _link_or_copy(source: str, target: str) -> str:
    if not os.path.islink(source):
        try:
            os.link(source, target)
            return target
        except OSError as exc:
            log.debug("cannot hard-link %s into the archive (%s): copying it", source, exc)
    return shutil.copy2(source, target)


def quarantine_export(export: Export, quarantine_dir: Path, reason: str) -> Path:
    """Move a bad export aside with a reason file, so it is never loaded by accident."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = quarantine_dir / f"{export.export_date.isoformat()}_{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if export.landing.is_local:
        shutil.move(str(export.path), target)
    else:
        export.landing.fs.get(export.location.rstrip("/") + "/", str(target), recursive=True)
        export.landing.fs.rm(export.location, recursive=True)
    (target / QUARANTINE_REASON_FILE).write_text(reason + "\n", encoding="utf-8")
    log.error("export %s quarantined to %s: %s", export.location, target, reason)
    return target


def expected_dates(first: date, through: date, interval_days: int = 1) -> Iterator[date]:
    """The export dates a cadence of interval_days expects from first through through."""
    day = first
    while day <= through:
        yield day
        day += timedelta(days=interval_days)
