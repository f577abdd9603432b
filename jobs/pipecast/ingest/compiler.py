"""Compile a layout's entity definition into one DuckDB SELECT over the export's files.

Two modes share every expression:

* ``load``: strict casts (``CAST``, ``strptime``) straight over the file readers, streamed into
  raw.* by one INSERT per entity. A bad value makes DuckDB raise, the export's transaction rolls
  back, and the loader switches to
* ``diagnose``: the same expressions in their lenient form (``TRY_CAST``, ``try_strptime``) over
  the sources staged as tables with each record's line number, to name the first bad value's
  file, line and column.

Good exports therefore pay for one pass per file; only a bad export pays for staging.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pipecast.canonical import ENTITIES, FEATURES_COLUMN, Entity
from pipecast.ingest.errors import IngestError
from pipecast.ingest.formats import FileFormat, delimiter_hint
from pipecast.ingest.mapping import (
    ColumnSpec,
    Condition,
    EntitySpec,
    Layout,
    LookupSpec,
    SourceSpec,
    scalar_text,
)
from pipecast.ingest.sql import col, ident, lit, lit_list, sql_type

MAIN = "src"
# SQL type of each kind of declared feature.
FEATURE_TYPES = {"categorical": "VARCHAR", "numeric": "DOUBLE"}
LINE = "_line"
FILE = "_file"
_TEMPORAL = ("DATE", "TIMESTAMP")


@dataclass
class SourceFiles:
    """A source of the layout as found in one export."""

    name: str
    spec: SourceSpec
    relatives: list[str]  # names inside the export folder
    locations: list[str]  # what readers open
    fmt: FileFormat
    export_date: date | None = None  # the export's date, for columns with export_date: true

    @property
    def display(self) -> str:
        return ", ".join(self.locations)


# (source name) -> (relation SQL, parameters)
Relations = Callable[[str], tuple[str, list[Any]]]


@dataclass
class ColumnPlan:
    """One canonical column of one branch."""

    name: str
    sql_type: str
    value: str  # typed expression (strict in load mode, lenient in diagnose mode)
    text: str  # the text before parsing: bad when it is present and value is NULL
    origin: str | None  # alias of the relation the value comes from (for line numbers)
    source_column: str | None  # the file's column name, for messages
    lenient: bool = False  # on_error: null (an unparseable value is NULL, not an error)
    checks: list[ColumnPlan] = field(default_factory=list)  # values parsed on the way (days)


@dataclass
class Branch:
    """One SELECT of an entity: the whole entity, or one derived event."""

    label: str
    columns: list[ColumnPlan]
    from_sql: str
    where: list[str]
    params: list[Any]
    order: list[str] = field(default_factory=list)  # latest_by: text expressions, greatest wins
    features: list[ColumnPlan] = field(default_factory=list)  # declared features, typed by kind


@dataclass
class CompiledEntity:
    entity: Entity
    spec: EntitySpec
    main: SourceFiles | None
    lookups: dict[str, SourceFiles]
    branches: list[Branch]
    extra_columns: list[str]  # main-source columns kept as JSON in _extra
    lookup_checks: list[tuple[str, str, list[Any], list[str]]] = field(default_factory=list)

    @property
    def canonical_columns(self) -> list[str]:
        return [c.name for c in self.branches[0].columns] if self.branches else []


def referenced_columns(layout: Layout) -> dict[str, set[str]]:
    """Per source, every column the layout reads (unreferenced ones are kept in _extra)."""
    refs: dict[str, set[str]] = {name: set() for name in layout.sources}
    for name, source in layout.sources.items():
        refs[name] |= {c.column for c in source.where}
    for alternatives in layout.entities.values():
        for spec in alternatives:
            if spec.from_ is None:
                continue
            main = refs.setdefault(spec.from_, set())
            specs = [*spec.columns.values(), *spec.features.values()]
            for event in spec.events or []:
                specs += [event.at, *event.columns.values()]
                main |= {c.column for c in event.where}
            main |= {c.column for c in spec.where}
            main |= set(spec.unique_by or [])
            for lookup in spec.lookups.values():
                main |= set(lookup.on)
                looked = refs.setdefault(lookup.source, set())
                looked |= set(lookup.on.values()) | {c.column for c in lookup.where}
                if lookup.asof:
                    main.add(lookup.asof.column)
                    looked.add(lookup.asof.lookup_column)
            for cs in specs:
                for alias, column in _refs(cs, spec):
                    target = spec.lookups[alias].source if alias != MAIN else spec.from_
                    refs.setdefault(target, set()).add(column)
    return refs


def _refs(cs: ColumnSpec, spec: EntitySpec) -> list[tuple[str, str]]:
    names = [cs.column] if cs.column else list(cs.coalesce or []) + list(cs.concat or [])
    out = []
    days = cs.days
    if days is not None and isinstance(days[1], str):
        out.append(_split_ref(days[1], spec))
    for name in names:
        if name is None:
            continue
        if cs.lookup:
            out.append((cs.lookup, name))
        else:
            out.append(_split_ref(name, spec))
    return out


def _split_ref(name: str, spec: EntitySpec) -> tuple[str, str]:
    """'alias.column' names a lookup's column when alias is one of the entity's lookups."""
    alias, dot, column = name.partition(".")
    if dot and alias in spec.lookups:
        return alias, column
    return MAIN, name


class EntityCompiler:
    """Builds the branches of one entity for one export (see the module docstring)."""

    def __init__(
        self,
        layout: Layout,
        entity_name: str,
        spec: EntitySpec,
        sources: dict[str, SourceFiles],
        relations: Relations,
        *,
        diagnose: bool = False,
    ) -> None:
        self.layout = layout
        self.entity = ENTITIES[entity_name]
        self.spec = spec
        self.sources = sources
        self.relations = relations
        self.diagnose = diagnose
        self.main = sources.get(spec.from_) if spec.from_ else None
        self.lookups = {
            alias: sources[lookup.source]
            for alias, lookup in spec.lookups.items()
            if lookup.source in sources
        }

    # -- names -------------------------------------------------------------------------------

    def _source_of(self, alias: str) -> SourceFiles:
        return self.main if alias == MAIN else self.lookups[alias]  # type: ignore[return-value]

    def _text_ref(self, alias: str, column: str) -> str:
        source = self._source_of(alias)
        ref = col(alias, column)
        return ref if source.fmt.is_text(column) else f"CAST({ref} AS VARCHAR)"

    def _resolve(self, name: str, lookup: str | None, optional: bool) -> tuple[str, str | None, str | None]:
        """(text expression, origin alias, source column) of a column reference."""
        alias, column = (lookup, name) if lookup else _split_ref(name, self.spec)
        if alias != MAIN and alias not in self.lookups:
            # The lookup's source is absent from this export: its columns are NULL.
            if self.layout.sources[self.spec.lookups[alias].source].required:
                raise IngestError(f"lookup {alias!r} needs a file the export lacks")
            return "NULL", None, column
        source = self._source_of(alias)
        if column not in source.fmt.columns:
            if optional:
                return "NULL", None, column
            raise IngestError(
                f"required column {column!r} is missing (columns: {', '.join(source.fmt.columns)})"
                + delimiter_hint(source.fmt),
                file=source.display,
                line=source.fmt.skip_rows + 1 if source.fmt.kind == "csv" else None,
                column=column,
            )
        return self._text_ref(alias, column), alias, column

    # -- one column ----------------------------------------------------------------------------

    def column(self, name: str, cs: ColumnSpec, target: str | None = None) -> ColumnPlan:
        target = target or sql_type(self.entity.columns[name])
        origin: str | None = None
        source_column: str | None = None
        if cs.is_constant:
            text = lit(cs.value)
        elif cs.export_date:
            export_date = self.main.export_date if self.main else None
            if export_date is None:
                raise IngestError(f"{self.entity.name}.{name}: export_date is not known for this load")
            text = lit(export_date.isoformat())
        elif cs.column:
            text, origin, source_column = self._resolve(cs.column, cs.lookup, cs.optional)
        else:
            parts = []
            for ref in cs.coalesce or cs.concat or []:
                part, part_origin, part_column = self._resolve(ref, cs.lookup, cs.optional)
                parts.append(part)
                origin = origin or part_origin
                source_column = source_column or part_column
            if cs.coalesce:
                text = f"coalesce({', '.join(parts)})"
            else:
                text = f"nullif(concat_ws({lit(cs.separator)}, {', '.join(parts)}), '')"
        text = self._text_steps(text, cs)
        value = self._parse(text, cs, target)
        checks: list[ColumnPlan] = []
        if cs.days is not None and target in _TEMPORAL:
            value, checks = self._plus_days(name, cs, value, target)
        plan = ColumnPlan(name, target, value, text, origin, source_column)
        plan.lenient = cs.on_error == "null"
        plan.checks = checks
        return plan

    def _plus_days(self, name: str, cs: ColumnSpec, value: str, target: str) -> tuple[str, list[ColumnPlan]]:
        """value +/- days: a days column (its own parse check, named in errors) or a constant."""
        sign, days = cs.days  # type: ignore[misc]
        checks: list[ColumnPlan] = []
        if isinstance(days, str):
            days_text, origin, source_column = self._resolve(days, None, cs.optional)
            lenient = self.diagnose or cs.on_error == "null"
            days_value = f"{'TRY_CAST' if lenient else 'CAST'}({days_text} AS DOUBLE)"
            check = ColumnPlan(
                f"{name} ({days} days)", "DOUBLE", days_value, days_text, origin, source_column
            )
            check.lenient = cs.on_error == "null"
            checks.append(check)
        else:
            days_value = repr(float(days))
        base = value if target == "TIMESTAMP" else f"CAST({value} AS TIMESTAMP)"
        micros = f"CAST(round({sign} * {days_value} * 86400000000) AS BIGINT)"
        shifted = f"({base} + to_microseconds({micros}))"
        return (shifted if target == "TIMESTAMP" else f"CAST({shifted} AS DATE)"), checks

    def _text_steps(self, text: str, cs: ColumnSpec) -> str:
        if cs.trim:
            text = f"trim({text})"
        if cs.case:
            text = f"{cs.case}({text})"
        if cs.map is not None:
            whens = " ".join(f"WHEN {text} = {lit(k)} THEN {lit(v)}" for k, v in cs.map.items())
            otherwise = lit(cs.otherwise) if cs.has_otherwise else text
            text = f"(CASE WHEN {text} IS NULL THEN NULL {whens} ELSE {otherwise} END)"
        if cs.has_if_null:
            text = f"coalesce({text}, {lit(cs.if_null)})"
        if cs.thousands_separator:
            text = f"replace({text}, {lit(cs.thousands_separator)}, '')"
        if cs.decimal_separator:
            text = f"replace({text}, {lit(cs.decimal_separator)}, '.')"
        return text

    def _parse(self, text: str, cs: ColumnSpec, target: str) -> str:
        lenient = self.diagnose or cs.on_error == "null"
        cast = "TRY_CAST" if lenient else "CAST"
        if cs.format and target in _TEMPORAL:
            fn = "try_strptime" if lenient else "strptime"
            parsed = f"{fn}({text}, {lit_list(cs.format)})"
            return f"CAST({parsed} AS DATE)" if target == "DATE" else parsed
        if cs.epoch and target in _TEMPORAL:
            micros = 1_000_000 if cs.epoch == "s" else 1_000
            parsed = f"make_timestamp(CAST({cast}({text} AS DOUBLE) * {micros} AS BIGINT))"
            return f"CAST({parsed} AS DATE)" if target == "DATE" else parsed
        if cs.scale is not None:
            return f"{cast}({cast}({text} AS DOUBLE) * {float(cs.scale)!r} AS {target})"
        if target == "VARCHAR":
            return text
        return f"{cast}({text} AS {target})"

    # -- rows ----------------------------------------------------------------------------------

    def condition(self, cond: Condition, alias: str | None = None, source: SourceFiles | None = None) -> str:
        """A row filter as SQL. Without alias, the column is the main source's (or
        ``<lookup>.<column>``); with one, it is that relation's column of ``source``."""
        if alias is None:
            alias, column = _split_ref(cond.column, self.spec)
            source = self._source_of(alias) if alias == MAIN or alias in self.lookups else None
            cond = cond.model_copy(update={"column": column})
        source = source or self._source_of(alias)
        return condition_sql(cond, alias, source)

    def _relation(self, name: str, params: list[Any]) -> str:
        sql, rel_params = self.relations(name)
        params.extend(rel_params)
        return sql

    def _lookup_sql(self, alias: str, lookup: LookupSpec, params: list[Any]) -> str:
        source = self.lookups[alias]
        relation = self._relation(source.name, params)
        where = [self.condition(c, alias=alias, source=source) for c in [*source.spec.where, *lookup.where]]
        rows = f"SELECT * FROM {relation} AS {ident(alias)}" + (
            f" WHERE {' AND '.join(where)}" if where else ""
        )
        if lookup.on_multiple == "first":
            keys = ", ".join(ident(c) for c in lookup.on.values())
            order = ", ".join(ident(c) for c in source.fmt.columns)
            rows = f"SELECT DISTINCT ON ({keys}) * FROM ({rows}) ORDER BY {keys}, {order}"
        return rows

    def from_clause(self, params: list[Any]) -> str:
        assert self.main is not None
        sql = f"{self._relation(self.main.name, params)} AS {ident(MAIN)}"
        for alias, lookup in self.spec.lookups.items():
            if alias not in self.lookups:
                continue
            rows = self._lookup_sql(alias, lookup, params)
            keys = [
                f"{self._key(MAIN, main_col)} = {self._key(alias, look_col)}"
                for main_col, look_col in lookup.on.items()
            ]
            if lookup.asof:
                keys.append(
                    f"TRY_CAST({self._key(MAIN, lookup.asof.column)} AS TIMESTAMP) >= "
                    f"TRY_CAST({self._key(alias, lookup.asof.lookup_column)} AS TIMESTAMP)"
                )
                join = "ASOF LEFT JOIN"
            else:
                join = "LEFT JOIN"
            sql += f" {join} ({rows}) AS {ident(alias)} ON {' AND '.join(keys)}"
        return sql

    def _key(self, alias: str, column: str) -> str:
        source = self._source_of(alias)
        if column not in source.fmt.columns:
            raise IngestError(
                f"lookup key column {column!r} is missing",
                file=source.display,
                line=1,
                column=column,
            )
        return self._text_ref(alias, column)

    def lookup_checks(self) -> list[tuple[str, str, list[Any], list[str]]]:
        """(alias, SQL, params, key columns) finding a repeated key in each exact lookup."""
        checks = []
        for alias, lookup in self.spec.lookups.items():
            if alias not in self.lookups or lookup.asof or lookup.on_multiple == "first":
                continue
            params: list[Any] = []
            rows = self._lookup_sql(alias, lookup, params)
            keys = [ident(c) for c in lookup.on.values()]
            sql = f"SELECT {', '.join(keys)}, count(*) FROM ({rows}) GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
            checks.append((alias, sql, params, list(lookup.on.values())))
        return checks

    def compile(self) -> CompiledEntity:
        if self.spec.rows is not None:
            return CompiledEntity(self.entity, self.spec, None, {}, [self._rows_branch()], [])
        assert self.main is not None
        base_where = [self.condition(c) for c in [*self.main.spec.where, *self.spec.where]]
        branches = []
        if self.spec.events is None:
            params: list[Any] = []
            from_sql = self.from_clause(params)
            columns = [self.column(n, cs) for n, cs in self._ordered(self.spec.columns)]
            branches.append(Branch(self.entity.name, columns, from_sql, base_where, params))
        else:
            for i, event in enumerate(self.spec.events):
                params = []
                from_sql = self.from_clause(params)
                specs = {**self.spec.columns, **event.columns, "changed_at": event.at}
                columns = [self.column(n, cs) for n, cs in self._ordered(specs)]
                at = next(c for c in columns if c.name == "changed_at")
                where = [*base_where, *(self.condition(c) for c in event.where), f"({at.text}) IS NOT NULL"]
                branches.append(Branch(f"{self.entity.name} event {i + 1}", columns, from_sql, where, params))
        _align(branches, self.entity)
        for branch in branches:
            branch.order = [self._resolve(c, None, False)[0] for c in self.spec.latest_by or []]
            branch.features = [
                self.column(n, fs, target=FEATURE_TYPES[fs.kind]) for n, fs in self.spec.features.items()
            ]
        compiled = CompiledEntity(
            self.entity, self.spec, self.main, self.lookups, branches, self._extra_columns(branches[0])
        )
        compiled.lookup_checks = self.lookup_checks()
        return compiled

    def _ordered(self, specs: dict[str, ColumnSpec]) -> list[tuple[str, ColumnSpec]]:
        return [(c, specs[c]) for c in self.entity.columns if c in specs]

    def _extra_columns(self, branch: Branch) -> list[str]:
        """Main-source columns whose values no canonical column of this entity carries: kept as
        JSON in _extra (keys and filter columns too: nothing of the row is lost)."""
        if self.spec.distinct or self.main is None:
            return []
        specs = [*self.spec.columns.values(), *self.spec.features.values()]
        for event in self.spec.events or []:
            specs += [event.at, *event.columns.values()]
        carried = {column for cs in specs for alias, column in _refs(cs, self.spec) if alias == MAIN}
        return [c for c in self.main.fmt.columns if c not in carried]

    def _rows_branch(self) -> Branch:
        rows = self.spec.rows or []
        names = [c for c in self.entity.columns if any(c in r for r in rows)]
        selects = []
        for row in rows:
            values = ", ".join(f"{lit(row.get(c))} AS {ident(c)}" for c in names)
            selects.append(f"SELECT {values}")
        from_sql = "(" + " UNION ALL ".join(selects) + f") AS {ident(MAIN)}"
        cast = "TRY_CAST" if self.diagnose else "CAST"
        columns = [
            ColumnPlan(
                c,
                sql_type(self.entity.columns[c]),
                f"{cast}({col(MAIN, c)} AS {self.entity.columns[c]})",
                col(MAIN, c),
                None,
                c,
            )
            for c in names
        ]
        return Branch(f"{self.entity.name} rows", columns, from_sql, [], [])


def condition_sql(cond: Condition, alias: str, source: SourceFiles | None) -> str:
    """A row filter on ``alias``'s column as SQL, comparing text. A missing column is an error,
    or no filter at all for an optional condition."""
    column = cond.column
    if source is not None and column not in source.fmt.columns and cond.optional:
        return "TRUE"
    if source is None or column not in source.fmt.columns:
        raise IngestError(
            f"filter column {column!r} is missing",
            file=source.display if source else None,
            line=1,
            column=column,
        )
    ref = col(alias, column)
    text = ref if source.fmt.is_text(column) else f"CAST({ref} AS VARCHAR)"
    if cond.ignore_case:
        text = f"lower({text})"

    def values(items: list[Any]) -> str:
        texts = [scalar_text(v) for v in items]
        return ", ".join(lit(t.lower() if cond.ignore_case and t is not None else t) for t in texts)

    if cond.is_null is not None:
        return f"({text} IS {'' if cond.is_null else 'NOT '}NULL)"
    if cond.in_ is not None:
        return f"({text} IN ({values(cond.in_)}))" if cond.in_ else "FALSE"
    return f"({text} IS NULL OR {text} NOT IN ({values(cond.not_in or [])}))" if cond.not_in else "TRUE"


def _align(branches: list[Branch], entity: Entity) -> None:
    """Give every branch the same columns, in canonical order (NULL where an event sets none),
    so that branches union by position and hash alike."""
    names = {c.name for b in branches for c in b.columns}
    for branch in branches:
        present = {c.name: c for c in branch.columns}
        branch.columns = [
            present.get(n)
            or ColumnPlan(n, entity.columns[n], f"CAST(NULL AS {entity.columns[n]})", "NULL", None, None)
            for n in entity.columns
            if n in names
        ]


def row_hash(texts: list[str]) -> str:
    """_row_hash: the md5 (32 hex digits) of the row's texts before parsing, joined by the unit
    separator, NULL as ''.

    md5 is a fixed algorithm (RFC 1321), so the hash is stable across runs, machines and DuckDB
    versions, unlike DuckDB's ``hash()`` (its internal hash, which changed between releases).
    ``concat`` skips NULLs, so ``concat(a, sep, b)`` is the text ``concat_ws(sep, coalesce(a, ''),
    coalesce(b, ''))`` gave before (same hashes as earlier loads) with one function call instead of
    one per column.
    """
    return f"md5(concat({', chr(31), '.join(texts)}))"


def hashed_texts(branch: Branch) -> list[str]:
    """The texts _row_hash covers: the canonical columns', then (only when the layout has them,
    so other layouts keep their hashes) the days columns' and the declared features'."""
    texts = [c.text for c in branch.columns]
    texts += [check.text for c in branch.columns for check in c.checks]
    return texts + [f.text for f in branch.features]


def features_json(names: list[str], values: list[str]) -> str:
    """The features column: {"name": value, ...} as JSON text (NULL when none are declared)."""
    if not names:
        return "CAST(NULL AS VARCHAR)"
    pairs = ", ".join(f"{lit(n)}, {v}" for n, v in zip(names, values, strict=True))
    return f"CAST(json_object({pairs}) AS VARCHAR)"


def branch_select(
    branch: Branch, extra_columns: list[str], with_hash: bool = True, features_apart: bool = False
) -> str:
    """The branch as SELECT of the canonical columns (+ _row_hash, _extra, features; with
    features_apart, each feature as its own column _feature_<i> instead of the JSON)."""
    items = [f"{c.value} AS {ident(c.name)}" for c in branch.columns]
    if branch.features and features_apart:
        items += [f"{f.value} AS _feature_{i}" for i, f in enumerate(branch.features)]
    elif branch.features:
        names = [f.name for f in branch.features]
        items.append(f"{features_json(names, [f.value for f in branch.features])} AS {FEATURES_COLUMN}")
    if with_hash:
        items.append(f"{row_hash(hashed_texts(branch))} AS _row_hash")
        if extra_columns:
            pairs = ", ".join(f"{lit(c)}, {col(MAIN, c)}" for c in extra_columns)
            items.append(f"CAST(json_object({pairs}) AS VARCHAR) AS _extra")
        else:
            items.append("CAST(NULL AS VARCHAR) AS _extra")
    items += [f"{expr} AS _order_{i}" for i, expr in enumerate(branch.order)]
    where = f" WHERE {' AND '.join(branch.where)}" if branch.where else ""
    return f"SELECT {', '.join(items)} FROM {branch.from_sql}{where}"


def entity_select(compiled: CompiledEntity) -> tuple[str, list[Any]]:
    """The whole entity as one SELECT (events UNION ALL; distinct keeps one row per key)."""
    params: list[Any] = []
    if compiled.spec.distinct:
        names = [ident(c) for c in compiled.canonical_columns]
        key = ", ".join(ident(c) for c in compiled.entity.key)
        inner = " UNION ALL ".join(branch_select(b, [], with_hash=False) for b in compiled.branches)
        for b in compiled.branches:
            params += b.params
        texts = [f"CAST({n} AS VARCHAR)" for n in names]
        sql = (
            f"SELECT {', '.join(names)}, {row_hash(texts)} AS _row_hash, "
            f"CAST(NULL AS VARCHAR) AS _extra FROM ("
            f"SELECT {', '.join(names)}, count(*) AS _n FROM ({inner}) GROUP BY ALL) "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _n DESC, {', '.join(names)}) = 1"
        )
        return sql, params
    if compiled.spec.aggregate is not None:
        return aggregated_select(compiled)
    selects = []
    for b in compiled.branches:
        selects.append(branch_select(b, compiled.extra_columns))
        params += b.params
    union = " UNION ALL ".join(selects)
    if not compiled.spec.latest_by:
        return union, params
    orders = [f"_order_{i}" for i in range(len(compiled.spec.latest_by))]
    key = ", ".join(ident(c) for c in compiled.entity.key)
    sql = (
        f"SELECT * EXCLUDE ({', '.join(orders)}) FROM ({union}) "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY "
        f"{', '.join(o + ' DESC NULLS LAST' for o in orders)}) = 1"
    )
    return sql, params


AGGREGATES = {"sum": "sum", "min": "min", "max": "max"}


def aggregated_select(compiled: CompiledEntity) -> tuple[str, list[Any]]:
    """Lines repeating the key combined into one row (``aggregate``): each column by its
    function; a column left to ``same`` raises when its lines disagree (the loader then names
    the key, lines and column, see diagnose), _row_hash hashes the lines' hashes, _extra keeps
    every line's extra columns as a JSON array, features are combined like columns."""
    spec = compiled.spec
    assert spec.aggregate is not None
    params: list[Any] = []
    selects = []
    for b in compiled.branches:
        selects.append(branch_select(b, compiled.extra_columns, features_apart=True))
        params += b.params
    union = " UNION ALL ".join(selects)
    key = [ident(k) for k in compiled.entity.key]
    order = ", ".join(f"{ident(c)} NULLS LAST" for c in spec.aggregate.order_by)
    order_desc = ", ".join(f"{ident(c)} DESC NULLS LAST" for c in spec.aggregate.order_by)
    key_text = " || ', ' || ".join(f"CAST({k} AS VARCHAR)" for k in key)

    def combined(name: str, ref: str) -> str:
        kind = spec.aggregate.columns.get(name, "same")  # type: ignore[union-attr]
        if kind in AGGREGATES:
            return f"{AGGREGATES[kind]}({ref})"
        if kind == "first":
            return f"first({ref} ORDER BY {order})"
        if kind == "last":
            return f"first({ref} ORDER BY {order_desc})"
        message = f"concat('aggregate: the lines of key ', {key_text}, ' disagree on {name}')"
        return f"(CASE WHEN count(DISTINCT {ref}) > 1 THEN error({message}) ELSE any_value({ref}) END)"

    branch = compiled.branches[0]
    items = list(key)
    items += [
        f"{combined(c.name, ident(c.name))} AS {ident(c.name)}"
        for c in branch.columns
        if c.name not in compiled.entity.key
    ]
    if branch.features:
        names = [f.name for f in branch.features]
        values = [combined(f.name, f"_feature_{i}") for i, f in enumerate(branch.features)]
        items.append(f"{features_json(names, values)} AS {FEATURES_COLUMN}")
    items.append("md5(string_agg(_row_hash, '' ORDER BY _row_hash)) AS _row_hash")
    items.append("CAST('[' || string_agg(_extra, ',' ORDER BY _row_hash) || ']' AS VARCHAR) AS _extra")
    sql = f"SELECT {', '.join(items)} FROM ({union}) GROUP BY {', '.join(key)}"
    return sql, params


def collapsed_warning(compiled: CompiledEntity, total: int, rows: int) -> str | None:
    """The load warning when latest_by or aggregate made fewer rows than the source lines."""
    if total <= rows:
        return None
    spec, entity = compiled.spec, compiled.entity
    head = f"{entity.name}: {total - rows} of {total} rows repeat a key ({', '.join(entity.key)})"
    if spec.aggregate is not None:
        return f"{head}: combined into {rows} rows by aggregate"
    return f"{head}: kept the latest by {', '.join(spec.latest_by or [])}"


def uncollapsed_count(compiled: CompiledEntity) -> tuple[str, list[Any]]:
    """Rows of the entity before latest_by collapses repeated keys."""
    params: list[Any] = []
    selects = []
    for b in compiled.branches:
        selects.append(branch_select(b, [], with_hash=False))
        params += b.params
    return f"SELECT count(*) FROM ({' UNION ALL '.join(selects)})", params
