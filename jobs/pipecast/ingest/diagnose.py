"""Find the first bad record of a failed entity load and name its file, line and column.

Only runs after a load failed (its transaction is rolled back): the entity's sources are staged
as temporary tables with each record's file and line, and the entity's expressions are evaluated
in their lenient form (TRY_CAST, try_strptime) to find where a value does not parse, a key is
empty or repeated. Lines are physical lines: a record after quoted fields that span lines is
reported at the line it starts on, not at its record number.
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb

from pipecast.ingest.compiler import FILE, LINE, MAIN, Branch, ColumnPlan, EntityCompiler, SourceFiles
from pipecast.ingest.errors import IngestError, NulByteError
from pipecast.ingest.formats import error_line, reader_error_message, reader_sql
from pipecast.ingest.mapping import AGGREGATE_KINDS, EntitySpec, Layout
from pipecast.ingest.sql import col, ident, insertion_order

log = logging.getLogger(__name__)


def _staged(name: str) -> str:
    return ident(f"_diag_{name}")


class Diagnosis:
    """Stages the sources one entity reads and answers where its first problem is."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        layout: Layout,
        entity_name: str,
        spec: EntitySpec,
        sources: dict[str, SourceFiles],
    ) -> None:
        self.con = con
        self.layout = layout
        self.sources = sources
        used = {spec.from_} if spec.from_ else set()
        used |= {lookup.source for lookup in spec.lookups.values()}
        self.used = {name: sources[name] for name in used if name in sources}
        for source in self.used.values():
            self._stage(source)
        self.compiled = EntityCompiler(
            layout, entity_name, spec, sources, lambda name: (_staged(name), []), diagnose=True
        ).compile()

    def _stage(self, source: SourceFiles) -> None:
        table = _staged(source.name)
        self.con.execute(f"DROP TABLE IF EXISTS {table}")
        for i, location in enumerate(source.locations):
            sql, params = reader_sql(source.fmt, [location])
            try:
                # Line numbers come from rowids: the table must keep the file's order.
                with insertion_order(self.con, preserve=True):
                    self.con.execute(
                        f"CREATE OR REPLACE TEMP TABLE _diag_file AS SELECT * FROM {sql}", params
                    )
            except duckdb.Error as exc:
                raise IngestError(reader_error_message(exc), file=location, line=error_line(exc)) from exc
            first = source.fmt.first_data_line
            select = (
                f"SELECT *, CAST(? AS VARCHAR) AS {FILE}, "
                f"CAST(rowid - (SELECT min(rowid) FROM _diag_file) + {first} AS BIGINT) AS {LINE} "
                "FROM _diag_file"
            )
            if i == 0:
                self.con.execute(f"CREATE TEMP TABLE {table} AS {select}", [location])
            else:
                self.con.execute(f"INSERT INTO {table} {select}", [location])
        self.con.execute("DROP TABLE IF EXISTS _diag_file")

    def close(self) -> None:
        for name in self.used:
            self.con.execute(f"DROP TABLE IF EXISTS {_staged(name)}")

    # -- where is it -----------------------------------------------------------------------------

    def physical_line(self, source: SourceFiles, file: str, line: int) -> int:
        """The physical line of a record: its record line plus the line breaks inside quoted
        fields of the records before it."""
        if source.fmt.kind != "csv":
            return line
        texts = [c for c in source.fmt.columns]
        if not texts:
            return line
        breaks = " + ".join(
            f"coalesce(length({ident(c)}) - length(replace({ident(c)}, chr(10), '')), 0)" for c in texts
        )
        row = self.con.execute(
            f"SELECT coalesce(sum({breaks}), 0) FROM {_staged(source.name)} WHERE {FILE} = ? AND {LINE} < ?",
            [file, line],
        ).fetchone()
        return line + int(row[0] if row else 0)

    def _origin_source(self, plan: ColumnPlan) -> SourceFiles | None:
        if plan.origin is None:
            return None
        if plan.origin == MAIN:
            return self.compiled.main
        return self.compiled.lookups.get(plan.origin)

    def _error(self, plan: ColumnPlan, file: str, line: int, message: str) -> IngestError:
        source = self._origin_source(plan)
        physical = self.physical_line(source, file, line) if source else line
        return IngestError(message, file=file, line=physical, column=plan.source_column or plan.name)

    def _query(self, branch: Branch, select: list[str], extra_where: str | None = None) -> tuple:
        where = list(branch.where) + ([extra_where] if extra_where else [])
        sql = f"SELECT {', '.join(select)} FROM {branch.from_sql}" + (
            f" WHERE {' AND '.join(where)}" if where else ""
        )
        return self.con.execute(sql, branch.params).fetchone() or ()

    def bad_value(self) -> IngestError | None:
        """The first value that does not parse into its canonical type."""
        found: list[tuple[int, int, ColumnPlan, str, Any]] = []
        for branch in self.compiled.branches:
            # A days column before the date it shifts: a bad days value empties the date too.
            candidates = [*(c for p in branch.columns for c in (*p.checks, p)), *branch.features]
            plans = [p for p in candidates if p.origin is not None and p.value != p.text and not p.lenient]
            if not plans:
                continue
            select = []
            for plan in plans:
                bad = f"(({plan.text}) IS NOT NULL AND ({plan.value}) IS NULL)"
                at = f"CASE WHEN {bad} THEN {col(plan.origin, LINE)} END"
                select += [
                    f"min({at})",
                    f"arg_min({col(plan.origin, FILE)}, {at})",
                    f"arg_min({plan.text}, {at})",
                ]
            row = self._query(branch, select)
            for i, plan in enumerate(plans):
                line, file, value = row[3 * i : 3 * i + 3]
                if line is not None:
                    found.append((int(line), i, plan, file, value))
        if not found:
            return None
        line, _, plan, file, value = min(found, key=lambda f: (f[0], f[1]))
        named = plan.source_column or plan.name
        what = f"not a valid {plan.sql_type}"
        if plan.name != named:
            what += f" (for {self.compiled.entity.name}.{plan.name})"
        return self._error(plan, file, line, f"value {value!r} is {what}")

    def nul_byte(self) -> IngestError | None:
        """The first text value with a NUL byte (0x00), in the sources this entity reads."""
        for source in self.used.values():
            table = _staged(source.name)
            for column in source.fmt.columns:
                if not source.fmt.is_text(column):
                    continue
                row = self.con.execute(
                    f"SELECT {ident(FILE)}, {ident(LINE)} FROM {table} "
                    f"WHERE contains({ident(column)}, chr(0)) ORDER BY {ident(FILE)}, {ident(LINE)} LIMIT 1"
                ).fetchone()
                if row:
                    file, line = row[0], int(row[1])
                    return NulByteError(
                        "value contains a NUL byte (0x00), which no warehouse text column can hold",
                        file=file,
                        line=self.physical_line(source, file, line),
                        column=column,
                    )
        return None

    def _key_plans(self, branch: Branch) -> list[ColumnPlan]:
        by_name = {p.name: p for p in branch.columns}
        return [by_name[k] for k in self.compiled.entity.key if k in by_name]

    def empty_key(self) -> IngestError | None:
        entity = self.compiled.entity
        for branch in self.compiled.branches:
            for plan in self._key_plans(branch):
                if plan.origin is None:
                    continue
                at = f"CASE WHEN ({plan.value}) IS NULL THEN {col(plan.origin, LINE)} END"
                line, file = self._query(branch, [f"min({at})", f"arg_min({col(plan.origin, FILE)}, {at})"])
                if line is not None:
                    return self._error(
                        plan, file, int(line), f"key column(s) {', '.join(entity.key)} must not be empty"
                    )
        return None

    def duplicate_key(self) -> IngestError | None:
        entity = self.compiled.entity
        parts = []
        params: list[Any] = []
        anchor: ColumnPlan | None = None
        for branch in self.compiled.branches:
            plans = self._key_plans(branch)
            if len(plans) != len(entity.key) or plans[0].origin is None:
                continue
            anchor = anchor or plans[0]
            keys = ", ".join(f"{p.value} AS {ident(p.name)}" for p in plans)
            where = f" WHERE {' AND '.join(branch.where)}" if branch.where else ""
            parts.append(
                f"SELECT {keys}, {col(plans[0].origin, LINE)} AS _l, {col(plans[0].origin, FILE)} AS _f "
                f"FROM {branch.from_sql}{where}"
            )
            params += branch.params
        if not parts or anchor is None:
            return None
        keys = ", ".join(ident(k) for k in entity.key)
        rows = self.con.execute(
            f"SELECT {keys}, list(_l ORDER BY _l), list(_f ORDER BY _l), count(*) OVER () "
            f"FROM ({' UNION ALL '.join(parts)}) "
            f"GROUP BY ALL HAVING count(*) > 1 ORDER BY min(_l) LIMIT {SHOWN_KEYS}",
            params,
        ).fetchall()
        if not rows:
            return None
        n = len(entity.key)
        shown_keys = []
        first: tuple[str, int] | None = None
        for row in rows:
            lines, files = row[n], row[n + 1]
            shown = [self._line_of(anchor, files[i], lines[i]) for i in range(min(SHOWN_LINES, len(lines)))]
            first = first or (files[1], shown[1])
            key = dict(zip(entity.key, row[:n], strict=True))
            shown_keys.append(f"{key} on lines {shown}")
        repeating = int(rows[0][n + 2])
        what = "key repeats" if repeating == 1 else "keys repeat"
        assert first is not None
        more = "; ..." if repeating > len(rows) else ""
        return IngestError(
            f"duplicate key: {repeating} {what} ({'; '.join(shown_keys)}{more}). "
            + _duplicate_hint(self.compiled.entity.name),
            file=first[0],
            line=first[1],
            column=anchor.source_column or entity.key[0],
        )

    def aggregate_conflict(self) -> IngestError | None:
        """With ``aggregate``: the first key whose lines disagree on a column left to ``same``."""
        spec = self.compiled.spec
        if spec.aggregate is None:
            return None
        entity = self.compiled.entity
        names = [c.name for c in self.compiled.branches[0].columns if c.name not in entity.key]
        names += [f.name for f in self.compiled.branches[0].features]
        same = [c for c in names if spec.aggregate.columns.get(c, "same") == "same"]
        if not same:
            return None
        parts, params, anchor = [], [], None
        source_columns: dict[str, str | None] = {}
        for branch in self.compiled.branches:
            plans = self._key_plans(branch)
            if len(plans) != len(entity.key) or plans[0].origin is None:
                continue
            anchor = anchor or plans[0]
            by_name = {p.name: p for p in [*branch.columns, *branch.features]}
            for c in same:
                source_columns.setdefault(c, by_name[c].source_column)
            values = ", ".join(f"CAST({by_name[c].value} AS VARCHAR) AS {ident('_v_' + c)}" for c in same)
            keys = ", ".join(f"{p.value} AS {ident(p.name)}" for p in plans)
            where = f" WHERE {' AND '.join(branch.where)}" if branch.where else ""
            parts.append(
                f"SELECT {keys}, {values}, {col(plans[0].origin, LINE)} AS _l, "
                f"{col(plans[0].origin, FILE)} AS _f FROM {branch.from_sql}{where}"
            )
            params += branch.params
        if anchor is None:
            return None
        keys = ", ".join(ident(k) for k in entity.key)
        union = " UNION ALL ".join(parts)
        for column in same:
            v = ident("_v_" + column)
            row = self.con.execute(
                f"SELECT {keys}, list(_l ORDER BY _l), list(_f ORDER BY _l), list({v} ORDER BY _l), "
                f"count(*) OVER () FROM ({union}) GROUP BY {keys} "
                f"HAVING count(DISTINCT {v}) > 1 ORDER BY min(_l) LIMIT 1",
                params,
            ).fetchone()
            if not row:
                continue
            n = len(entity.key)
            key = dict(zip(entity.key, row[:n], strict=True))
            found, files, values_seen, conflicting = row[n], row[n + 1], row[n + 2], int(row[n + 3])
            shown = [self._line_of(anchor, files[i], found[i]) for i in range(min(SHOWN_LINES, len(found)))]
            return IngestError(
                f"aggregate: {conflicting} key(s) have lines that disagree on {column} (first: {key} on "
                f"lines {shown} with {values_seen[:SHOWN_LINES]}). Say how to combine them: "
                f"entities.{entity.name}.aggregate.columns.{column}: one of "
                f"{', '.join(k for k in AGGREGATE_KINDS if k != 'same')}",
                file=files[1],
                line=shown[1],
                column=source_columns.get(column) or column,
            )
        return None

    def _line_of(self, plan: ColumnPlan, file: str, line: int) -> int:
        source = self._origin_source(plan)
        return self.physical_line(source, file, int(line)) if source else int(line)

    def duplicate_rows(
        self, source: SourceFiles, columns: list[str], where: list[str], what: str
    ) -> IngestError:
        """Rows of one staged source that repeat the given columns."""
        keys = ", ".join(ident(c) for c in columns)
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        row = self.con.execute(
            f"SELECT {keys}, list({LINE} ORDER BY {LINE}), list({FILE} ORDER BY {LINE}) "
            f"FROM {_staged(source.name)} AS {ident(MAIN)}{condition} "
            f"GROUP BY ALL HAVING count(*) > 1 ORDER BY min({LINE}) LIMIT 1"
        ).fetchone()
        if not row:
            return IngestError(f"{what}: duplicate rows", file=source.display, column=columns[0])
        lines, files = row[-2], row[-1]
        shown = [self.physical_line(source, files[i], int(lines[i])) for i in range(min(5, len(lines)))]
        key = dict(zip(columns, row[: len(columns)], strict=True))
        return IngestError(
            f"{what}: {key} repeats on lines {shown}", file=files[1], line=shown[1], column=columns[0]
        )


SHOWN_KEYS = 3  # repeated keys a duplicate-key error lists
SHOWN_LINES = 5  # lines listed per key


def _duplicate_hint(entity_name: str) -> str:
    """The options that resolve repeated keys, for the duplicate-key error."""
    at = f"entities.{entity_name}"
    return (
        f"If the lines are parts of one record (order lines of one deal), combine them with "
        f"{at}.aggregate (columns: sum, min, max, first or last); if they are versions of one record, "
        f"keep the newest with {at}.latest_by (source columns, the greatest wins); if the source has "
        f"its own row key, name it in {at}.unique_by"
    )


def diagnose(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    entity_name: str,
    spec: EntitySpec,
    sources: dict[str, SourceFiles],
    kind: str,
    detail: dict[str, Any] | None = None,
) -> IngestError | None:
    """The IngestError for a failed load of one entity (kind: value, empty_key, duplicate_key,
    unique_by, lookup), or None when the staged data shows no problem."""
    detail = detail or {}
    diagnosis = Diagnosis(con, layout, entity_name, spec, sources)
    try:
        if kind == "value":
            return diagnosis.bad_value() or diagnosis.aggregate_conflict()
        if kind == "nul":
            return diagnosis.nul_byte()
        if kind == "empty_key":
            return diagnosis.empty_key() or diagnosis.bad_value()
        if kind == "duplicate_key":
            return diagnosis.duplicate_key()
        if kind == "unique_by":
            main = diagnosis.compiled.main
            assert main is not None and spec.unique_by
            compiler = EntityCompiler(
                layout, entity_name, spec, sources, lambda n: (_staged(n), []), diagnose=True
            )
            where = [compiler.condition(c) for c in [*main.spec.where, *spec.where]]
            return diagnosis.duplicate_rows(
                main, spec.unique_by, where, "duplicate " + ", ".join(spec.unique_by)
            )
        if kind == "lookup":
            alias = detail["alias"]
            lookup = spec.lookups[alias]
            source = sources[lookup.source]
            compiler = EntityCompiler(
                layout, entity_name, spec, sources, lambda n: (_staged(n), []), diagnose=True
            )
            where = [
                compiler.condition(c, alias=MAIN, source=source) for c in [*source.spec.where, *lookup.where]
            ]
            return diagnosis.duplicate_rows(
                source, list(lookup.on.values()), where, f"lookup {alias!r} needs one row per key"
            )
        raise ValueError(kind)
    finally:
        diagnosis.close()
