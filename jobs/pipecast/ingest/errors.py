"""Errors raised by ingest: each names the file, and where known the line and column."""

from __future__ import annotations

from pipecast.errors import InputError


class IngestError(InputError):
    """A bad export: it is quarantined and nothing loaded earlier is replaced."""
