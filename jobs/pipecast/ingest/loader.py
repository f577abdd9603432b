"""Load one export of the generic canonical layout into raw.* (DuckDB parses; Python only steers).

Every file is parsed into a staging table as text, checked (required columns, types, duplicate
keys) with errors naming file, line and column, then all entities of the export are inserted in
one transaction: an export loads whole or not at all, and a re-run of a date replaces that date.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from pipecast.canonical import ENTITIES, LOAD_METADATA_COLUMNS, Entity
from pipecast.config import Settings, get_settings
from pipecast.ingest.errors import IngestError
from pipecast.ingest.landing import Export, archive_export, get_export, quarantine_export
from pipecast.warehouse import connect

log = logging.getLogger(__name__)

STAGING_TABLE = "_ingest_stage"
# A staged row's line in its file: rowids of a fresh table are consecutive in file order (DuckDB
# preserves insertion order), but inside a transaction they start at an offset, so subtract the
# first one; +2 for the header line and for counting lines from 1.
LINE = f"(rowid - (SELECT min(rowid) FROM {STAGING_TABLE}) + 2)"


@dataclass
class IngestResult:
    export_date: date
    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    for entity in ENTITIES.values():
        cols = {**entity.columns, **LOAD_METADATA_COLUMNS}
        ddl = ", ".join(f"{_q(c)} {t}" for c, t in cols.items())
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.{entity.name} ({ddl})")
    con.execute(
        """CREATE TABLE IF NOT EXISTS audit.loads (
            export_date DATE, entity VARCHAR, source_file VARCHAR, row_count BIGINT,
            loaded_at TIMESTAMP, warnings VARCHAR)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS audit.quarantined_exports (
            export_date DATE, quarantined_at TIMESTAMP, original_path VARCHAR,
            quarantine_path VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR, reason VARCHAR)"""
    )


def _stage_file(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Parse a CSV into the staging table as text; return its header."""
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {STAGING_TABLE} AS "
            "SELECT * FROM read_csv(?, header = true, all_varchar = true, auto_detect = true)",
            [str(path)],
        )
    except duckdb.Error as exc:
        raise IngestError(f"cannot parse CSV: {exc}", file=path) from exc
    return [row[0] for row in con.execute(f"DESCRIBE {STAGING_TABLE}").fetchall()]


def _check_columns(entity: Entity, header: list[str], path: Path) -> list[str]:
    missing = [c for c in entity.mandatory_columns if c not in header]
    if missing:
        raise IngestError(
            f"required column(s) missing: {', '.join(missing)} (header: {', '.join(header)})",
            file=path,
            line=1,
            column=missing[0],
        )
    extra = [c for c in header if c not in entity.columns]
    return [f"{path.name}: unknown column(s) ignored: {', '.join(extra)}"] if extra else []


def _check_types(con: duckdb.DuckDBPyConnection, entity: Entity, header: list[str], path: Path) -> None:
    typed = [c for c in header if c in entity.columns and entity.columns[c] != "VARCHAR"]
    if not typed:
        return
    # One pass over the file: the first bad row of every typed column.
    probes = ", ".join(
        f"min(CASE WHEN {_q(c)} IS NOT NULL AND TRY_CAST({_q(c)} AS {entity.columns[c]}) IS NULL "
        f"THEN {LINE} END)"
        for c in typed
    )
    first_bad = con.execute(f"SELECT {probes} FROM {STAGING_TABLE}").fetchone() or ()
    for column, line in zip(typed, first_bad, strict=True):
        if line is not None:
            value = con.execute(
                f"SELECT {_q(column)} FROM {STAGING_TABLE} WHERE {LINE} = ?", [line]
            ).fetchone()[0]
            raise IngestError(
                f"value {value!r} is not a valid {entity.columns[column]}",
                file=path,
                line=int(line),
                column=column,
            )


def _check_keys(con: duckdb.DuckDBPyConnection, entity: Entity, path: Path) -> None:
    key = ", ".join(_q(c) for c in entity.key)
    null_probe = " OR ".join(f"{_q(c)} IS NULL" for c in entity.key)
    row = con.execute(f"SELECT min({LINE}) FROM {STAGING_TABLE} WHERE {null_probe}").fetchone()
    if row and row[0] is not None:
        raise IngestError(
            f"key column(s) {', '.join(entity.key)} must not be empty",
            file=path,
            line=int(row[0]),
            column=entity.key[0],
        )
    dup = con.execute(
        f"SELECT {key}, list({LINE} ORDER BY rowid) AS lines FROM {STAGING_TABLE} "
        f"GROUP BY {key} HAVING count(*) > 1 ORDER BY min(rowid) LIMIT 1"
    ).fetchone()
    if dup:
        lines = [int(r) for r in dup[-1][:5]]
        raise IngestError(
            f"duplicate key {dict(zip(entity.key, dup[:-1], strict=True))} on lines {lines}",
            file=path,
            line=lines[1],
            column=entity.key[0],
        )


def _insert(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    header: list[str],
    path: Path,
    export_date: date,
    loaded_at: datetime,
) -> int:
    select = [
        f"CAST({_q(c)} AS {t}) AS {_q(c)}" if c in header else f"CAST(NULL AS {t}) AS {_q(c)}"
        for c, t in entity.columns.items()
    ]
    hashed = ", ".join(f"coalesce({_q(c)}, '')" for c in entity.columns if c in header)
    con.execute(f"DELETE FROM raw.{entity.name} WHERE _export_date = ?", [export_date])
    con.execute(
        f"INSERT INTO raw.{entity.name} BY NAME SELECT {', '.join(select)}, "
        f"CAST(? AS DATE) AS _export_date, ? AS _source_file, CAST(? AS TIMESTAMP) AS _loaded_at, "
        f"md5(concat_ws(chr(31), {hashed})) AS _row_hash FROM {STAGING_TABLE}",
        [export_date, str(path), loaded_at],
    )
    return con.execute(f"SELECT count(*) FROM {STAGING_TABLE}").fetchone()[0]


def load_export(con: duckdb.DuckDBPyConnection, export: Export) -> IngestResult:
    """Check and load every entity file of one export in one transaction."""
    result = IngestResult(export.export_date)
    missing = [
        e.file_name for e in ENTITIES.values() if e.required and not (export.path / e.file_name).exists()
    ]
    if missing:
        raise IngestError(f"export is missing required file(s): {', '.join(missing)}", file=export.path)
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        for entity in ENTITIES.values():
            path = export.path / entity.file_name
            if not path.exists():
                continue
            header = _stage_file(con, path)
            result.warnings += _check_columns(entity, header, path)
            _check_types(con, entity, header, path)
            _check_keys(con, entity, path)
            rows = _insert(con, entity, header, path, export.export_date, loaded_at)
            if entity.required and rows == 0:
                raise IngestError("file has no data rows", file=path, line=2)
            result.rows[entity.name] = rows
            con.execute(
                "DELETE FROM audit.loads WHERE export_date = ? AND entity = ?",
                [export.export_date, entity.name],
            )
            con.execute(
                "INSERT INTO audit.loads VALUES (?, ?, ?, ?, ?, ?)",
                [export.export_date, entity.name, str(path), rows, loaded_at, "; ".join(result.warnings)],
            )
        con.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def ingest_export(export_date: date, settings: Settings | None = None) -> IngestResult:
    """Load the export for export_date; on bad input quarantine it and raise IngestError."""
    settings = settings or get_settings()
    export = get_export(settings.resolved_landing_dir, export_date)
    started = datetime.now(UTC)
    if not export.path.exists():
        raise IngestError(f"no export for {export_date} in the landing zone", file=export.path)
    if not export.is_complete:
        raise IngestError("export is incomplete (no completion marker)", file=export.path)
    with connect(settings) as con:
        ensure_raw_tables(con)
        try:
            result = load_export(con, export)
        except IngestError as exc:
            target = quarantine_export(export, settings.quarantine_dir, str(exc))
            con.execute(
                "INSERT INTO audit.quarantined_exports VALUES (?, now(), ?, ?, ?, ?, ?, ?)",
                [export_date, str(export.path), str(target), exc.file, exc.line, exc.column, exc.message],
            )
            raise
    archive_export(export, settings.archive_dir)
    result.seconds = (datetime.now(UTC) - started).total_seconds()
    for warning in result.warnings:
        log.warning(warning)
    log.info("loaded export %s: %s", export_date, result.rows)
    return result
