"""Ingest: find CRM exports in the landing zone, map them onto the canonical model and load
raw.* with load metadata.

Modules: ``landing`` (the landing zone, local or object storage; archive and quarantine),
``schedule`` (pending and missing exports), ``layouts`` (which layout an export is in),
``mapping`` (declarative mapping files), ``formats`` (CSV/Parquet/JSON lines recognition and
DuckDB readers), ``plan`` (an export's files matched to its layout), ``compiler`` (a layout's
entity as one DuckDB SELECT), ``diagnose`` (file, line and column of a bad record), ``audit``
(raw and audit tables), ``declared_features`` (a layout's model features per export),
``mapping_check`` (``pipecast mapping check``), ``loader`` (the step: ``ingest_export``).
"""

from pipecast.ingest.errors import IngestError
from pipecast.ingest.landing import (
    Export,
    LandingZone,
    archive_export,
    find_exports,
    get_export,
    quarantine_export,
)
from pipecast.ingest.loader import IngestResult, ingest_export
from pipecast.ingest.mapping import Layout, MappingError, load_mapping

__all__ = [
    "Export",
    "IngestError",
    "IngestResult",
    "LandingZone",
    "Layout",
    "MappingError",
    "archive_export",
    "find_exports",
    "get_export",
    "ingest_export",
    "load_mapping",
    "quarantine_export",
]
