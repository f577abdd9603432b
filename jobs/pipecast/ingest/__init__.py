"""Ingest: find CRM exports in the landing zone and load them into raw.* with load metadata."""

from pipecast.ingest.errors import IngestError
from pipecast.ingest.landing import Export, find_exports
from pipecast.ingest.loader import IngestResult, ingest_export

__all__ = ["Export", "IngestError", "IngestResult", "find_exports", "ingest_export"]
