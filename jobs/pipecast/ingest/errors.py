"""Errors raised by ingest: each names the file, and where known the line and column."""

from __future__ import annotations

from pipecast.errors import InputError


class IngestError(InputError):
    """A bad export: it is quarantined and nothing loaded earlier is replaced."""


class NulByteError(IngestError, ValueError):
    """A NUL byte (0x00) in a name or value: no text column of the warehouse can hold it
    (PostgreSQL refuses it with ``invalid byte sequence ... 0x00``), so the export is quarantined.
    Also a ValueError, as the SQL helpers raised before."""


class WarehouseError(IngestError):
    """The warehouse refused or failed a write of tonight's export (a database error).

    ``data`` says whether the rows are at fault (a value the database cannot store: the export is
    quarantined) or the environment is (disk full, connection lost: the export stays in the
    landing zone and the next run resumes it)."""

    def __init__(
        self, message: str, *, data: bool, file: str | None = None, column: str | None = None
    ) -> None:
        self.data = data
        super().__init__(message, file=file, column=column)
