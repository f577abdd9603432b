"""Load one export into raw.*: find its layout and files, map them onto the canonical model,
insert every entity in one transaction.

An export loads whole or not at all: every entity of the date is deleted and re-inserted inside
one transaction, so a re-run of a date replaces it and a failure leaves what was loaded before.
DuckDB parses every file (one streaming INSERT per entity, see ``compiler``); Python only
plans. A bad export is quarantined with an error naming file, line and column (``diagnose``);
a broken mapping file is a configuration error: reported and audited, but the export stays in
the landing zone to load once the mapping is fixed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipecast.canonical import ENTITIES
from pipecast.config import Settings
from pipecast.faults import pause_point
from pipecast.ingest import audit, declared_features, lifecycle
from pipecast.ingest.compiler import (
    MAIN,
    EntityCompiler,
    SourceFiles,
    collapsed_warning,
    condition_sql,
    entity_select,
    uncollapsed_count,
)
from pipecast.ingest.diagnose import diagnose
from pipecast.ingest.errors import IngestError, WarehouseError
from pipecast.ingest.formats import (
    FileFormat,
    error_line,
    first_line,
    missing_field,
    reader_error_message,
    reader_sql,
)
from pipecast.ingest.landing import Export, LandingZone, archive_export, quarantine_export, quarantine_target
from pipecast.ingest.layouts import detect_layout
from pipecast.ingest.mapping import EntitySpec, Layout, MappingError
from pipecast.ingest.plan import ExportPlan, plan_export, readers
from pipecast.ingest.sql import ident, insertion_order
from pipecast.pg_transfer import PushFailed
from pipecast.warehouse import TableRows, Workspace, workspace

log = logging.getLogger(__name__)

MAX_ENCODING_RETRIES = 3
# DuckDB errors that bad input causes. Any other (binder, catalog, ...) is a bug in pipecast or
# its mappings: raised as is, and the export stays in the landing zone.
DATA_ERRORS = (
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.IOException,
    duckdb.OutOfRangeException,
)


@dataclass
class IngestResult:
    export_date: date
    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    layout: str = ""


class _CheckFailed(Exception):
    def __init__(self, kind: str, **detail: Any) -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


class _RetryEncoding(Exception):
    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.source = source


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create or evolve raw.* and ingest's audit.* tables."""
    audit.ensure_tables(con)


# -- loading ---------------------------------------------------------------------------------


def _check_lookups(con: duckdb.DuckDBPyConnection, compiled) -> None:
    for alias, sql, params, _keys in compiled.lookup_checks:
        if con.execute(sql, params).fetchone():
            raise _CheckFailed("lookup", alias=alias)


def _check_keys(
    con: duckdb.DuckDBPyConnection,
    table: str,
    entity_key: tuple[str, ...],
    export_date: date,
    duplicates: bool,
) -> None:
    keys = [ident(k) for k in entity_key]
    empty = " OR ".join(f"{k} IS NULL" for k in keys)
    row = con.execute(
        f"SELECT count(*) FROM {table} WHERE _export_date = ? AND ({empty})", [export_date]
    ).fetchone()
    if row and row[0]:
        raise _CheckFailed("empty_key")
    if not duplicates:
        return
    dup = con.execute(
        f"SELECT 1 FROM {table} WHERE _export_date = ? GROUP BY {', '.join(keys)} "
        "HAVING count(*) > 1 LIMIT 1",
        [export_date],
    ).fetchone()
    if dup:
        raise _CheckFailed("duplicate_key")


def _check_nul(con: duckdb.DuckDBPyConnection, table: str, entity_name: str, export_date: date) -> None:
    """No text value may hold a NUL byte: PostgreSQL cannot store one (``invalid byte sequence
    ... 0x00``), and a NUL in a CRM export is corruption, so the export fails on both targets."""
    text = [c for c, t in ENTITIES[entity_name].columns.items() if t == "VARCHAR"] + ["_extra"]
    nul = " OR ".join(f"contains({ident(c)}, chr(0))" for c in text)
    if con.execute(
        f"SELECT 1 FROM {table} WHERE _export_date = ? AND ({nul}) LIMIT 1", [export_date]
    ).fetchone():
        raise _CheckFailed("nul")


def _check_unique_by(
    con: duckdb.DuckDBPyConnection, plan: ExportPlan, compiler: EntityCompiler, spec: EntitySpec
) -> None:
    source = plan.sources[spec.from_ or ""]
    for column in spec.unique_by or []:
        if column not in source.fmt.columns:
            raise IngestError(
                f"unique_by column {column!r} is missing", file=source.display, line=1, column=column
            )
    relation, params = reader_sql(source.fmt, source.locations)
    where = [compiler.condition(c) for c in [*source.spec.where, *spec.where]]
    keys = ", ".join(ident(c) for c in spec.unique_by or [])
    sql = f"SELECT 1 FROM {relation} AS src" + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += f" GROUP BY {keys} HAVING count(*) > 1 LIMIT 1"
    if con.execute(sql, params).fetchone():
        raise _CheckFailed("unique_by")


def _excluded_rows(con: duckdb.DuckDBPyConnection, plan: ExportPlan) -> list[str]:
    """Say how many rows each source's own filters (``where``) left out: nothing goes silently."""
    warnings = []
    for source in plan.sources.values():
        if not source.spec.where:
            continue
        relation, params = reader_sql(source.fmt, source.locations)
        keep = " AND ".join(condition_sql(c, MAIN, source) for c in source.spec.where)
        total, kept = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {keep}) FROM {relation} AS src", params
        ).fetchone()
        if total != kept:
            warnings.append(
                f"{source.relatives[0]}: {total - kept} of {total} rows left out by the layout's filter"
            )
    return warnings


def _source_rows(con: duckdb.DuckDBPyConnection, source: SourceFiles, location: str) -> int:
    relation, params = reader_sql(source.fmt, [location])
    return int(con.execute(f"SELECT count(*) FROM {relation}", params).fetchone()[0])


def _load_entity(
    con: duckdb.DuckDBPyConnection,
    plan: ExportPlan,
    entity_name: str,
    spec: EntitySpec,
    loaded_at: datetime,
    file_rows: dict[str, int],
    warnings: list[str],
) -> int:
    entity = ENTITIES[entity_name]
    compiler = EntityCompiler(plan.layout, entity_name, spec, plan.sources, readers(plan))
    compiled = compiler.compile()
    _check_lookups(con, compiled)
    select, params = entity_select(compiled)
    table = f"raw.{ident(entity_name)}"
    source_file = compiled.main.display if compiled.main else str(plan.layout.path or plan.layout.layout)
    row = con.execute(
        f"INSERT INTO {table} BY NAME SELECT *, CAST(? AS DATE) AS _export_date, ? AS _source_file, "
        f"CAST(? AS TIMESTAMP) AS _loaded_at, ? AS _source_layout FROM ({select})",
        [plan.export.export_date, source_file, loaded_at, plan.layout.layout, *params],
    ).fetchone()
    rows = int(row[0]) if row else 0
    _check_nul(con, table, entity_name, plan.export.export_date)
    if spec.latest_by or spec.aggregate:
        count_sql, count_params = uncollapsed_count(compiled)
        total = int(con.execute(count_sql, count_params).fetchone()[0])
        warning = collapsed_warning(compiled, total, rows)
        if warning:
            warnings.append(warning)
    if rows == 0 and entity.required:
        first = compiled.main.locations[0] if compiled.main else None
        raise IngestError("file has no data rows", file=first, line=2)
    # A layout that names the source's own row key (unique_by) checks that instead.
    _check_keys(con, table, entity.key, plan.export.export_date, duplicates=not spec.unique_by)
    if spec.unique_by:
        _check_unique_by(con, plan, compiler, spec)
    simple = (
        compiled.main is not None
        and len(compiled.branches) == 1
        and not spec.distinct
        and not spec.where
        and not compiled.main.spec.where
        and len(compiled.main.locations) == 1
    )
    if simple:
        file_rows[compiled.main.relatives[0]] = rows
    return rows


def _verify_manifest_rows(
    con: duckdb.DuckDBPyConnection, plan: ExportPlan, file_rows: dict[str, int]
) -> None:
    by_name = {
        name: (s, loc)
        for s in plan.sources.values()
        for name, loc in zip(s.relatives, s.locations, strict=True)
    }
    for name, info in plan.manifest_files.items():
        if "rows" not in info or name not in by_name:
            continue
        source, location = by_name[name]
        actual = file_rows.get(name)
        if actual is None:
            actual = _source_rows(con, source, location)
        if actual != int(info["rows"]):
            raise IngestError(
                f"file has {actual} data rows, the manifest says {info['rows']}: truncated or incomplete",
                file=location,
                line=source.fmt.first_data_line + actual,
            )


def _is_encoding_error(exc: BaseException) -> bool:
    return "Invalid unicode" in str(exc) or "not utf-8 encoded" in str(exc)


def _failed_source(
    plan: ExportPlan, entity_name: str, spec: EntitySpec, exc: BaseException
) -> SourceFiles | None:
    text = str(exc)
    names = [spec.from_] if spec.from_ else []
    names += [lookup.source for lookup in spec.lookups.values()]
    for name in names:
        source = plan.sources.get(name or "")
        if source and any(
            location in text or relative in text
            for location, relative in zip(source.locations, source.relatives, strict=True)
        ):
            return source
    return plan.sources.get(spec.from_ or "")


def _reader_error(exc: BaseException) -> bool:
    text = str(exc)
    return any(
        marker in text
        for marker in (
            "CSV Error",
            "Malformed JSON",
            "GZIP",
            "gzip",
            "Invalid unicode",
            "parquet",
            "Parquet",
            "truncated",
        )
    )


def load_export(
    con: duckdb.DuckDBPyConnection,
    export: Export,
    layout: Layout,
    settings: Settings,
    *,
    fingerprint: str | None = None,
    loaded: lifecycle.Step | None = None,
) -> IngestResult:
    """Check and load every entity of one export in one transaction (see the module docstring);
    ``loaded``, the lifecycle's step, is recorded in the same transaction."""
    started = time.perf_counter()
    plan = plan_export(con, export, layout)
    for _attempt in range(MAX_ENCODING_RETRIES + 1):
        try:
            # raw.* has no row order (every reader sorts or keys): DuckDB may append in parallel
            # without keeping the files' order. Set outside the transaction, restored after it
            # (diagnosis, which numbers lines by rowid, keeps the order itself).
            with insertion_order(con, preserve=False):
                result = _load(con, plan, settings, fingerprint, loaded)
            break
        except _RetryEncoding as retry:
            source = plan.sources[retry.source]
            warning = f"{source.relatives[0]}: not valid UTF-8 past its first MiB: read as Latin-1"
            log.warning(warning)
            plan.warnings.append(warning)
            plan.sources[retry.source] = replace(source, fmt=_latin1(source.fmt))
    else:  # pragma: no cover - each retry fixes one source
        raise IngestError("could not settle the files' encodings", file=export.location)
    result.seconds = time.perf_counter() - started
    return result


def _latin1(fmt: FileFormat) -> FileFormat:
    return replace(fmt, encoding="latin-1", encoding_guessed=False)


def _load(
    con: duckdb.DuckDBPyConnection,
    plan: ExportPlan,
    settings: Settings,
    fingerprint: str | None,
    loaded: lifecycle.Step | None = None,
) -> IngestResult:
    export = plan.export
    result = IngestResult(export.export_date, warnings=list(plan.warnings), layout=plan.layout.layout)
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    file_rows: dict[str, int] = {}
    timings: dict[str, float] = {}
    con.execute("BEGIN TRANSACTION")
    current: tuple[str, EntitySpec] | None = None
    try:
        for entity_name in ENTITIES:
            con.execute(f"DELETE FROM raw.{ident(entity_name)} WHERE _export_date = ?", [export.export_date])
        for entity_name, spec in plan.entities.items():
            current = (entity_name, spec)
            started = time.perf_counter()
            result.rows[entity_name] = _load_entity(
                con, plan, entity_name, spec, loaded_at, file_rows, result.warnings
            )
            timings[entity_name] = time.perf_counter() - started
        current = None
        _verify_manifest_rows(con, plan, file_rows)
        result.warnings += _excluded_rows(con, plan)
        result.warnings += _record_drift(con, plan)
        _record_loads(con, plan, result, loaded_at, fingerprint, timings)
        declared_features.record(con, export.export_date, plan.layout, plan.entities)
        if loaded is not None:
            lifecycle.record(con, loaded)
        pause_point("ingest:load-commit", settings)
        con.execute("COMMIT")
    except _CheckFailed as failed:
        con.execute("ROLLBACK")
        assert current is not None
        raise _diagnosed(con, plan, current, failed.kind, failed.detail) from None
    except DATA_ERRORS as exc:
        con.execute("ROLLBACK")
        if environment_error(exc):
            raise WarehouseError(f"the warehouse could not write: {first_line(exc)}", data=False) from exc
        if current is None:
            raise IngestError(f"load failed: {first_line(exc)}", file=export.location) from exc
        entity_name, spec = current
        source = _failed_source(plan, entity_name, spec, exc)
        if _is_encoding_error(exc) and source is not None and source.fmt.encoding_guessed:
            raise _RetryEncoding(source.name) from exc
        if _reader_error(exc):
            raise IngestError(
                reader_error_message(exc),
                file=source.display if source else None,
                line=error_line(exc),
                column=missing_field(exc, source.fmt.columns) if source else None,
            ) from exc
        raise _diagnosed(con, plan, current, "value", {}, exc) from exc
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def _diagnosed(
    con: duckdb.DuckDBPyConnection,
    plan: ExportPlan,
    current: tuple[str, EntitySpec],
    kind: str,
    detail: dict[str, Any],
    exc: BaseException | None = None,
) -> IngestError:
    entity_name, spec = current
    error = diagnose(con, plan.layout, entity_name, spec, plan.sources, kind, detail)
    if error is not None:
        return error
    source = plan.sources.get(spec.from_ or "")
    message = first_line(exc) if exc else f"{entity_name}: {kind.replace('_', ' ')}"
    return IngestError(
        message, file=source.display if source else None, line=error_line(exc) if exc else None
    )


def _record_drift(con: duckdb.DuckDBPyConnection, plan: ExportPlan) -> list[str]:
    """Warn once per new column (the first export it appears in) and record it in audit."""
    if not plan.new_columns:
        return []
    seen = audit.known_drift(con, plan.layout.layout)
    warnings = []
    now = datetime.now(UTC).replace(tzinfo=None)
    for source, column, file in plan.new_columns:
        if (source, column) in seen:
            continue
        warnings.append(f"{file}: new column {column!r} not in layout {plan.layout.layout!r}: kept in _extra")
        audit.insert(
            con,
            "schema_drift",
            {
                "source_layout": plan.layout.layout,
                "source": source,
                "column_name": column,
                "first_export_date": plan.export.export_date,
                "first_file": file,
                "detected_at": now,
            },
        )
    return warnings


def _record_loads(
    con: duckdb.DuckDBPyConnection,
    plan: ExportPlan,
    result: IngestResult,
    loaded_at: datetime,
    fingerprint: str | None,
    timings: dict[str, float],
) -> None:
    con.execute("DELETE FROM audit.loads WHERE export_date = ?", [plan.export.export_date])
    con.execute("DELETE FROM audit.missing_exports WHERE export_date = ?", [plan.export.export_date])
    for entity_name, rows in result.rows.items():
        spec = plan.entities[entity_name]
        source = plan.sources.get(spec.from_ or "")
        audit.insert(
            con,
            "loads",
            {
                "export_date": plan.export.export_date,
                "entity": entity_name,
                "source_file": source.display if source else str(plan.layout.path or plan.layout.layout),
                "row_count": rows,
                "loaded_at": loaded_at,
                "warnings": "; ".join(result.warnings),
                "source_layout": plan.layout.layout,
                "fingerprint": fingerprint,
                "seconds": round(timings.get(entity_name, 0.0), 3),
            },
        )


# -- the step --------------------------------------------------------------------------------

# Signs of a failing environment rather than bad rows (disk full, read-only, connection lost).
_ENVIRONMENT_MARKERS = ("no space left", "disk quota", "read-only file system", "could not write")


def environment_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _ENVIRONMENT_MARKERS)


@dataclass
class _Failure:
    error: IngestError
    state: str  # lifecycle.QUARANTINED or lifecycle.FAILED


def ingest_export(export_date: date, settings: Settings) -> IngestResult:
    """Load the export for export_date (lifecycle: landed -> loaded); on bad input quarantine it
    and raise IngestError.

    Every failure leaves audit rows (audit.ingest_errors, audit.export_lifecycle; quarantines also
    audit.quarantined_exports), written before the folder moves. Bad input (a parser error, a
    NUL byte, a value PostgreSQL refuses) quarantines the export. A broken mapping (MappingError)
    or a failing environment (disk full, a lost connection: WarehouseError with data False) leaves
    the export in the landing zone, state ``failed``, and the next run loads it again.
    """
    started = time.perf_counter()
    zone = LandingZone.from_settings(settings)
    export = zone.export(export_date)
    if not export.exists:
        raise IngestError(f"no export for {export_date} in the landing zone", file=export.location)
    if not export.is_complete:
        raise IngestError("export is incomplete (no completion marker)", file=export.location)
    content_hash = export.content_hash()
    stat = export.stat_fingerprint()

    def step(state: str, reason: str = "", at: datetime | None = None) -> lifecycle.Step:
        return lifecycle.step(
            export_date,
            state,
            reason,
            content_hash=content_hash,
            stat_fingerprint=stat,
            location=export.location,
            at=at,
        )

    run_started = _now()
    failure: _Failure | None = None
    result: IngestResult | None = None
    try:
        with workspace(settings, pulls=[TableRows("audit", "schema_drift")]) as ws:
            con = ws.con
            if not zone.is_local:
                con.register_filesystem(zone.fs)
            ensure_raw_tables(con)
            night = [export_date]
            ws.publish(
                "audit",
                lifecycle.TABLE,
                "where export_date = $1 and changed_at >= $2",
                [export_date, run_started],
            )
            lifecycle.record(con, step(lifecycle.LANDED, at=run_started))
            pause_point("ingest:load", settings)
            try:
                layout = detect_layout(export, settings.source_layout, settings.mappings_dir)
                result = load_export(
                    con, export, layout, settings, fingerprint=content_hash, loaded=step(lifecycle.LOADED)
                )
            except MappingError as exc:
                log.error("mapping error, export %s left in place: %s", export_date, exc)
                failure = _Failure(exc, lifecycle.FAILED)
            except IngestError as exc:
                failure = _Failure(
                    exc,
                    lifecycle.FAILED
                    if isinstance(exc, WarehouseError) and not exc.data
                    else lifecycle.QUARANTINED,
                )
            except OSError as exc:
                failure = _Failure(
                    WarehouseError(f"could not load: {exc}", data=False, file=export.location),
                    lifecycle.FAILED,
                )
            else:
                # Target postgres: tonight's rows of every raw table (an entity absent tonight
                # still gets its table, which dbt's sources need) and of ingest's audit tables.
                for entity_name in ENTITIES:
                    ws.publish("raw", entity_name, "where _export_date = $1", night)
                ws.publish("raw", "declared_features", "where _export_date = $1", night)
                ws.publish("audit", "loads", "where export_date = $1", night)
                ws.publish("audit", "missing_exports", "where export_date = $1", night)
                ws.publish("audit", "schema_drift", "where first_export_date = $1", night)
                pause_point("ingest:publish-load", settings)
    except PushFailed as exc:
        result = None
        error = WarehouseError(
            f"PostgreSQL refused the export's rows: {exc}", data=exc.data_error, file=export.location
        )
        failure = _Failure(error, lifecycle.QUARANTINED if exc.data_error else lifecycle.FAILED)
    if failure is not None:
        _fail(settings, export, failure, step)
        raise failure.error
    assert result is not None
    archive_export(export, settings.archive_dir)
    result.seconds = time.perf_counter() - started
    for warning in result.warnings:
        log.warning(warning)
    total = sum(result.rows.values())
    log.info(
        "loaded export %s (%s layout): %s rows in %.2f s (%.0f rows/s): %s",
        export_date,
        result.layout,
        f"{total:,}",
        result.seconds,
        total / result.seconds if result.seconds else 0,
        result.rows,
    )
    return result


def _fail(settings: Settings, export: Export, failure: _Failure, step) -> None:
    """Record a failed ingest in audit (and the lifecycle), then move a bad export aside."""
    quarantine = failure.state == lifecycle.QUARANTINED
    target = quarantine_target(export.export_date, settings.quarantine_dir) if quarantine else None
    try:
        record_quarantine(settings, export, failure.error, target, step(failure.state, str(failure.error)))
    except Exception as exc:
        # The warehouse may be what failed (a full disk): the export stays where it is, unserved,
        # and the next run tries again; the original error is what the caller raises.
        log.error("could not record the failure of export %s in audit: %s", export.export_date, exc)
        return
    if target is not None:
        quarantine_export(export, settings.quarantine_dir, str(failure.error), target=target)


def record_quarantine(
    settings: Settings,
    export: Export,
    error: IngestError,
    target: Path | None,
    state: lifecycle.Step,
    unload: bool = False,
) -> None:
    """One transaction: the failure's audit rows, the lifecycle step and (``unload``) the export's
    raw rows and loads taken out again. ``target`` None: a failure that leaves the export where
    it is. Written before the folder moves; a run killed in between finishes the move."""
    at = state.changed_at
    with workspace(settings) as ws:
        con = ws.con
        ensure_raw_tables(con)
        con.execute("BEGIN TRANSACTION")
        try:
            if unload:
                for entity_name in ENTITIES:
                    con.execute(
                        f"DELETE FROM raw.{ident(entity_name)} WHERE _export_date = ?", [export.export_date]
                    )
                con.execute("DELETE FROM audit.loads WHERE export_date = ?", [export.export_date])
            audit.record_failure(
                con,
                export.export_date,
                error,
                original=export.location,
                quarantined_to=str(target) if target is not None else None,
                at=at,
            )
            lifecycle.record(con, state)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if unload:
            # An empty workspace table replaces the warehouse's rows of the night: they go.
            for entity_name in ENTITIES:
                ws.publish("raw", entity_name, "where _export_date = $1", [export.export_date])
            ws.publish("audit", "loads", "where export_date = $1", [export.export_date])
        _publish_failure(ws, export.export_date, at)
        ws.publish(
            "audit", lifecycle.TABLE, "where export_date = $1 and changed_at = $2", [export.export_date, at]
        )


def _publish_failure(ws: Workspace, export_date: date, failed_at: datetime) -> None:
    when = "where export_date = $1 and {column} = $2"
    ws.publish("audit", "ingest_errors", when.format(column="failed_at"), [export_date, failed_at])
    ws.publish("audit", "quarantined_exports", when.format(column="quarantined_at"), [export_date, failed_at])


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
