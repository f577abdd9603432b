"""The Python steps' DuckDB connections carry the settings' memory_limit and threads (issue 14)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from pipecast.config import Settings
from pipecast.warehouse import connect, workspace


def _expected(limit: str) -> str:
    """DuckDB's own rendering of ``limit`` (it reports 1500MB as 1.3 GiB)."""
    with duckdb.connect(config={"memory_limit": limit}) as con:
        return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def _bounds(con: duckdb.DuckDBPyConnection) -> tuple[str, int]:
    row = con.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchall()[0]
    return row[0], int(row[1])


def test_warehouse_connections_carry_the_memory_limit_and_threads(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path, warehouse_path=tmp_path / "w.duckdb", duckdb_memory_limit="96MB", duckdb_threads=1
    )
    with connect(settings) as con:
        assert _bounds(con) == (_expected("96MB"), 1)
    with connect(settings, read_only=True) as con:
        assert _bounds(con) == (_expected("96MB"), 1)
    with workspace(settings) as ws:
        assert _bounds(ws.con) == (_expected("96MB"), 1)
