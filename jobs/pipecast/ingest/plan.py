"""Plan one export's load: match the layout's sources to the export's files, recognise their
formats, check the manifest, pick each entity's definition, and list what will not be loaded
(unexpected files, unknown columns). Nothing is written; every check here reads the files' names,
sizes and first bytes only (a manifest's sha256, when it has one, reads the file).
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from typing import Any

import duckdb

from pipecast.canonical import ENTITIES, MANIFEST_FILE
from pipecast.ingest.compiler import Relations, SourceFiles, referenced_columns
from pipecast.ingest.errors import IngestError
from pipecast.ingest.formats import reader_sql, sniff
from pipecast.ingest.landing import Export
from pipecast.ingest.mapping import EntitySpec, Layout


@dataclass
class ExportPlan:
    """What one export holds for its layout: the sources found and each entity's definition."""

    export: Export
    layout: Layout
    sources: dict[str, SourceFiles]
    entities: dict[str, EntitySpec]
    warnings: list[str]
    new_columns: list[tuple[str, str, str]]  # (source, column, file) not known to the layout
    manifest_files: dict[str, dict[str, Any]]


def _manifest_files(export: Export, manifest: dict) -> dict[str, dict[str, Any]]:
    listed = manifest.get("files") or {}
    if isinstance(listed, list):
        listed = {name: {} for name in listed}
    if not isinstance(listed, dict):
        raise IngestError(
            "manifest 'files' must be an object or a list", file=export.file_location(MANIFEST_FILE)
        )
    files: dict[str, dict[str, Any]] = {}
    for name, info in listed.items():
        location = export.resolve(str(name))  # refuses names that leave the export folder
        if not export.landing.fs.exists(location):
            raise IngestError(f"manifest lists {name!r} but the export has no such file", file=location)
        info = info if isinstance(info, dict) else {}
        if "bytes" in info and export.size(location) != int(info["bytes"]):
            raise IngestError(
                f"file has {export.size(location)} bytes, the manifest says {info['bytes']}: truncated?",
                file=location,
            )
        if "sha256" in info:
            digest = hashlib.sha256()
            with export.landing.fs.open(location, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() != str(info["sha256"]).lower():
                raise IngestError(
                    "file's sha256 differs from the manifest's: corrupt or replaced", file=location
                )
        files[str(name)] = info
    return files


def plan_export(con: duckdb.DuckDBPyConnection, export: Export, layout: Layout) -> ExportPlan:
    """Match the layout's sources to the export's files, recognise their formats, pick each
    entity's definition, and list unexpected files and new columns."""
    names = export.files()
    manifest_files = _manifest_files(export, export.manifest())
    sources: dict[str, SourceFiles] = {}
    for source_name, spec in layout.sources.items():
        matched: list[str] = []
        for pattern in spec.file:
            matched = fnmatch.filter(names, pattern)
            if matched:
                break
        if not matched:
            continue
        locations = [export.resolve(name) for name in matched]
        options = layout.csv_options(spec)
        formats = [sniff(con, export.landing.fs, location, spec.format, options) for location in locations]
        for location, fmt in zip(locations[1:], formats[1:], strict=True):
            if fmt.columns != formats[0].columns:
                raise IngestError(
                    f"header differs from {matched[0]}'s; the files of one source must share their columns",
                    file=location,
                    line=1,
                )
        sources[source_name] = SourceFiles(
            source_name, spec, matched, locations, formats[0], export_date=export.export_date
        )

    entities: dict[str, EntitySpec] = {}
    for entity_name, alternatives in layout.entities.items():
        chosen = next((a for a in alternatives if a.rows is not None or a.from_ in sources), None)
        if chosen is None:
            if ENTITIES[entity_name].required:
                wanted = sorted({p for a in alternatives if a.from_ for p in layout.sources[a.from_].file})
                raise IngestError(
                    f"export is missing required file(s) for {entity_name}: none of {', '.join(wanted)}",
                    file=export.location,
                )
            continue
        entities[entity_name] = chosen
    missing = [
        f"{name} ({', '.join(spec.file)})"
        for name, spec in layout.sources.items()
        if spec.required and name not in sources
    ]
    if missing:
        raise IngestError(f"export is missing required file(s): {'; '.join(missing)}", file=export.location)

    # Sources the chosen definitions read; other matched files are archived but not loaded.
    read = {spec.from_ for spec in entities.values() if spec.from_}
    read |= {lookup.source for spec in entities.values() for lookup in spec.lookups.values()}
    sources = {name: source for name, source in sources.items() if name in read}
    used = {name for s in sources.values() for name in s.relatives}
    ignored = {name for pattern in layout.ignore_files for name in fnmatch.filter(names, pattern)}
    warnings = [
        f"{name}: not part of layout {layout.layout!r}, archived but not loaded"
        for name in names
        if name not in used and name not in ignored
    ]
    refs = referenced_columns(layout)
    new_columns = []
    mains = {spec.from_ for spec in entities.values() if spec.from_ and not spec.distinct}
    # Unknown columns of the files rows come from (kept in _extra); lookup-only files are archived.
    for source in (s for s in sources.values() if s.name in mains):
        known = refs.get(source.name, set()) | set(source.spec.known_columns)
        new_columns += [(source.name, c, source.relatives[0]) for c in source.fmt.columns if c not in known]
    return ExportPlan(export, layout, sources, entities, warnings, new_columns, manifest_files)


def readers(plan: ExportPlan) -> Relations:
    """The file readers of a plan's sources, for the compiler."""

    def relation(name: str) -> tuple[str, list[Any]]:
        source = plan.sources[name]
        return reader_sql(source.fmt, source.locations)

    return relation
