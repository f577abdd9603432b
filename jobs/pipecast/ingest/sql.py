"""Small SQL-text helpers: every name is quoted and every value is a properly escaped literal.

Mapping files never contribute SQL text, only names and values, and these two functions are the
only way names and values reach a statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipecast.ingest.errors import NulByteError
from pipecast.ingest.mapping import Scalar, scalar_text

# The canonical column types the compiler casts to; nothing else is ever pasted as a type.
SQL_TYPES = frozenset({"VARCHAR", "TIMESTAMP", "DATE", "DOUBLE", "INTEGER", "BIGINT", "BOOLEAN"})


def ident(name: str) -> str:
    """A quoted identifier ("a""b" for a"b)."""
    if "\x00" in name:
        raise NulByteError(f"name {name.replace(chr(0), '<NUL>')!r} contains a NUL byte (0x00)")
    return '"' + name.replace('"', '""') + '"'


def lit(value: Scalar) -> str:
    """A SQL literal: NULL, or a string literal with quotes doubled (DuckDB's standard strings
    have no backslash escapes)."""
    text = scalar_text(value)
    if text is None:
        return "NULL"
    if "\x00" in text:
        raise NulByteError(f"value {text.replace(chr(0), '<NUL>')!r} contains a NUL byte (0x00)")
    return "'" + text.replace("'", "''") + "'"


def lit_list(values: list[str]) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"


def sql_type(name: str) -> str:
    if name not in SQL_TYPES:
        raise ValueError(f"type {name!r} is not a canonical column type")
    return name


def col(alias: str, column: str) -> str:
    return f"{ident(alias)}.{ident(column)}"


@contextmanager
def insertion_order(con: Any, preserve: bool) -> Iterator[None]:
    """Run a block with DuckDB's ``preserve_insertion_order`` set, restoring it afterwards.

    Off, a large INSERT appends in parallel without keeping the source's row order (less CPU and
    memory); on, a table built from a file keeps the file's order in its rowids.
    """
    before = bool(con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0])
    con.execute(f"SET preserve_insertion_order = {'true' if preserve else 'false'}")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")
