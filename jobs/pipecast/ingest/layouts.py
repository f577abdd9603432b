"""Which layout an export is in: the built-in generic layout, or a mapping file in mappings/.

Per export folder, in this order: the manifest's ``layout`` (a registered name only: a manifest
is data from outside and never names a file to load), else the configured ``source_layout``
(a name or a mapping file's path), else detection: the layout whose ``detect`` patterns all match
the export's file names (the most specific wins; a tie is an error rather than a guess).
"""

from __future__ import annotations

import fnmatch
import logging
from functools import lru_cache
from pathlib import Path

from pipecast.canonical import ENTITIES
from pipecast.ingest.errors import IngestError
from pipecast.ingest.landing import Export
from pipecast.ingest.mapping import ColumnSpec, EntitySpec, Layout, MappingError, SourceSpec, load_mapping

log = logging.getLogger(__name__)

GENERIC = "generic"
# Formats the generic layout accepts per entity, tried in this order.
_GENERIC_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".jsonl", ".jsonl.gz", ".ndjson")


@lru_cache(maxsize=1)
def generic_layout() -> Layout:
    """The canonical layout of DESIGN.md, built from pipecast.canonical so it never drifts:
    one file per entity named after it, columns named as the canonical ones."""
    sources = {
        name: SourceSpec(file=[f"{name}{suffix}" for suffix in _GENERIC_SUFFIXES], required=entity.required)
        for name, entity in ENTITIES.items()
    }
    entities = {
        name: [
            EntitySpec(
                **{"from": name},
                columns={
                    c: ColumnSpec(column=c, optional=c not in entity.mandatory_columns)
                    for c in entity.columns
                },
            )
        ]
        for name, entity in ENTITIES.items()
    }
    return Layout(
        layout=GENERIC,
        description="pipecast's canonical layout: <entity>.csv per canonical entity",
        detect=[[f"opportunities{suffix}" for suffix in _GENERIC_SUFFIXES]],
        sources=sources,
        entities=entities,
    )


def mapping_files(mappings_dir: Path) -> dict[str, Path]:
    """Mapping files by file stem; files starting with '_' (templates) are not registered."""
    if not mappings_dir.is_dir():
        return {}
    return {
        p.stem: p
        for p in sorted(mappings_dir.glob("*.yml")) + sorted(mappings_dir.glob("*.yaml"))
        if not p.name.startswith("_")
    }


def load_layout(name_or_path: str, mappings_dir: Path) -> Layout:
    """A layout by registered name, or from a mapping file's path (configuration only)."""
    if name_or_path == GENERIC:
        return generic_layout()
    files = mapping_files(mappings_dir)
    if name_or_path in files:
        return _checked(load_mapping(files[name_or_path]), files[name_or_path])
    path = Path(name_or_path)
    if path.suffix in (".yml", ".yaml") and path.is_file():
        return load_mapping(path)
    raise MappingError(
        f"unknown layout {name_or_path!r} (known: {', '.join([GENERIC, *files])}; or a mapping file path)",
        file=str(mappings_dir),
    )


def _checked(layout: Layout, path: Path) -> Layout:
    if layout.layout != path.stem:
        raise MappingError(
            f"layout name {layout.layout!r} differs from the file name {path.stem!r}",
            file=path,
            line=1,
            column="layout",
        )
    return layout


def registered_layouts(mappings_dir: Path) -> list[Layout]:
    return [generic_layout(), *(_checked(load_mapping(p), p) for p in mapping_files(mappings_dir).values())]


def matches(layout: Layout, names: list[str]) -> bool:
    return bool(layout.detect) and all(
        any(fnmatch.filter(names, pattern) for pattern in group) for group in layout.detect
    )


def detect_layout(export: Export, source_layout: str, mappings_dir: Path) -> Layout:
    """The layout of one export (see the module docstring)."""
    manifest_layout = export.manifest().get("layout")
    if manifest_layout is not None:
        known = [GENERIC, *mapping_files(mappings_dir)]
        if not isinstance(manifest_layout, str) or manifest_layout not in known:
            raise IngestError(
                f"manifest names layout {manifest_layout!r}, which is not registered "
                f"(known: {', '.join(known)})",
                file=export.file_location("manifest.json"),
                column="layout",
            )
        return load_layout(manifest_layout, mappings_dir)
    if source_layout != "auto":
        return load_layout(source_layout, mappings_dir)
    names = export.files()
    found = [layout for layout in registered_layouts(mappings_dir) if matches(layout, names)]
    if not found:
        raise IngestError(
            f"no layout recognises this export's files ({', '.join(names) or 'none'}); "
            "set PIPECAST_SOURCE_LAYOUT or add a mapping file with detect patterns",
            file=export.location,
        )
    found.sort(key=lambda layout: -len(layout.detect))
    if len(found) > 1 and len(found[0].detect) == len(found[1].detect):
        raise IngestError(
            f"layouts {found[0].layout!r} and {found[1].layout!r} both recognise this export: "
            "set its manifest's layout or PIPECAST_SOURCE_LAYOUT",
            file=export.location,
        )
    log.info("export %s: layout %s", export.export_date, found[0].layout)
    return found[0]
