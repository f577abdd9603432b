"""pipecast's errors: one base class carrying where the problem is (file, line, column) when known.

- ``InputError``: the data handed to pipecast is bad (an export, a mapping file, a failed check).
  Retrying cannot fix it: Airflow fails the task without retries, the CLI prints one line and
  exits 2.
- ``ConfigurationError``: a setting or the environment is wrong; treated like an input error.
- ``IntegrityError``: something pipecast wrote earlier is not what it recorded (a model file whose
  hash does not match); refused, never used.
- Any other ``PipecastError`` is an operational failure (a database down, dbt failing) that a
  retry may fix.
"""

from __future__ import annotations

from pathlib import Path


class PipecastError(Exception):
    """A failure pipecast explains: ``message``, and the file, line and column where known."""

    def __init__(
        self,
        message: str,
        file: Path | str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.column = column
        super().__init__(str(self))

    def where(self) -> str:
        """``file F, line L, column 'C'``: the parts that are known, or an empty string."""
        parts = []
        if self.file:
            parts.append(f"file {self.file}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


class DbtError(PipecastError):
    """dbt failed: a model did not build or an error-severity test failed."""


class InputError(PipecastError):
    """Bad input (an export, a mapping, data failing an error-severity check): fix it, not retry."""


class ConfigurationError(PipecastError):
    """A setting or the environment is wrong: fix the configuration, not retry."""


class IntegrityError(PipecastError):
    """An artefact pipecast wrote does not match what it recorded (tampered, moved or corrupt)."""


# Errors a retry cannot fix: the DAG fails the task at once, the CLI exits 2 with one line.
NOT_RETRIABLE: tuple[type[PipecastError], ...] = (InputError, ConfigurationError, IntegrityError)
