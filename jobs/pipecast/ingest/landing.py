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
# Bytes read at a time when hashing an export's files.
HASH_CHUNK = 1 << 20
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

    def unrecognised(self) -> list[str]:
        """Locations of folders in the landing zone whose names are not export dates
        (``20261201``, ``latest``): never loaded, so reported (hidden folders are left alone)."""
        if not self.fs.exists(self.root):
            return []
        found = []
        for entry in self.fs.ls(self.root, detail=True):
            name = posixpath.basename(entry["name"].rstrip("/"))
            if entry["type"] == "directory" and not name.startswith(".") and _parse_date(name) is None:
                found.append(self.join(name))
        return sorted(found)

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

    def _content_names(self) -> list[str]:
        return sorted(self.files() + [n for n in (MANIFEST_FILE,) if self._has(n)])

    def content_hash(self) -> str:
        """SHA-256 over every file's name and bytes: a re-delivered export (a corrected file of
        the same size and time included) has another hash; a touched one keeps its hash."""
        digest = hashlib.sha256()
        for name in self._content_names():
            digest.update(f"{name}\0".encode())
            with self.landing.fs.open(self.file_location(name), "rb") as fh:
                while chunk := fh.read(HASH_CHUNK):
                    digest.update(chunk)
            digest.update(b"\0")
        return digest.hexdigest()

    def stat_fingerprint(self) -> str:
        """A cheap digest of what the filesystem says about the files: names, sizes, times and (on
        a local disk) inode and ctime, which every write changes and no tool can set back. While
        it is unchanged the content hash need not be recomputed."""
        digest = hashlib.sha256()
        for name in self._content_names():
            location = self.file_location(name)
            if self.landing.is_local:
                st = os.stat(location)
                stamp = f"{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0{st.st_dev}"
            else:
                info = self.landing.fs.info(location)
                stamp = "\0".join(
                    str(info.get(k) or "")
                    for k in ("size", "ETag", "LastModified", "mtime", "md5Hash", "crc32c")
                )
            digest.update(f"{name}\0{stamp}\n".encode())
        return digest.hexdigest()

    def fingerprint(self) -> str:
        """The export's identity for re-delivery: its content hash."""
        return self.content_hash()

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

    Local files are copied (a reflink where the filesystem offers one, e.g. btrfs or XFS: no
    second copy of the blocks, yet independent of the landing file), never hard-linked: a file
    rewritten in place in the landing zone (``cp`` over it) must not change the archived original.
    The copy goes to a temporary folder renamed into place, so a killed run leaves no half
    archive under the export's name. Exports in object storage are downloaded.
    """
    target = archive_dir / export.export_date.isoformat()
    partial = archive_dir / f".{export.export_date.isoformat()}.partial-{os.getpid()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if partial.exists():
        shutil.rmtree(partial)
    if export.landing.is_local:
        shutil.copytree(export.path, partial, copy_function=_reflink_or_copy)
    else:
        export.landing.fs.get(export.location.rstrip("/") + "/", str(partial), recursive=True)
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    return target


# Linux's FICLONE ioctl (_IOW(0x94, 9, int)): share the source's blocks copy-on-write.
_FICLONE = 0x40049409


def _reflink_or_copy(source: str, target: str) -> str:
    """Copy one file: a reflink where the filesystem supports it, else a byte copy."""
    if not os.path.islink(source):
        try:
            import fcntl

            with open(source, "rb") as src, open(target, "wb") as dst:
                fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
            shutil.copystat(source, target)
            return target
        except (OSError, ImportError) as exc:
            log.debug("no reflink for %s (%s): copying it", source, exc)
    return shutil.copy2(source, target)


def quarantine_target(export_date: date, quarantine_dir: Path) -> Path:
    """Where an export quarantined now goes (decided before the move, so audit can say it first)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return quarantine_dir / f"{export_date.isoformat()}_{stamp}"


def quarantine_export(export: Export, quarantine_dir: Path, reason: str, target: Path | None = None) -> Path:
    """Move a bad export aside with a reason file, so it is never loaded by accident."""
    target = target or quarantine_target(export.export_date, quarantine_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not export.exists:
        # Another run (or this one, killed after the move) has moved it already.
        log.warning("export %s is not in the landing zone any more: nothing to move", export.location)
        return target
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
