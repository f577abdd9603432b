"""Declarative layouts: how one CRM's export files map onto the canonical model.

A layout is a YAML file in ``mappings/`` (see ``mappings/_template.yml`` for every option). It
names the export's source files, then says for each canonical entity which source its rows come
from and how each canonical column is computed: a renamed column, a constant, a value map, a date
format, a unit scale, a lookup into another file, or history rows derived from date columns.

Mappings are configuration a data engineer writes, so they are validated strictly before any data
is touched: unknown keys, unknown canonical columns, file patterns that leave the export folder,
and values of the wrong type all fail with the mapping file, its line and the option's path. No
option takes SQL: the compiler quotes every name and binds every value, so a mapping cannot inject
SQL whatever it contains.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipecast.canonical import ENTITIES, FEATURE_ENTITIES
from pipecast.ingest.errors import IngestError

Scalar = str | int | float | bool | None
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Glob characters are allowed in file patterns; path separators only as '/' between safe parts.
_FORBIDDEN_IN_PATTERN = ("\\", "\x00", ":")


class _Loader(yaml.SafeLoader):
    """YAML with only true/false as booleans (YAML 1.2): in YAML 1.1, keys such as `on`, `yes`,
    `no`, `off` turn into booleans, which would silently break `on:` and value maps like
    `{Yes: true, No: false}`."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class MappingError(IngestError):
    """A mapping file is invalid: names the mapping file, the YAML line and the option's path.
    ``problems`` holds every problem found, one line each ("option (line N): message")."""

    problems: list[str]

    def __init__(self, message: str, *args: Any, problems: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        self.problems = problems if problems is not None else [message]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def check_relative_pattern(pattern: str) -> str:
    """A file pattern must stay inside the export folder: relative, no '..', no drive or URL."""
    if not pattern or pattern.strip() != pattern:
        raise ValueError(f"file pattern {pattern!r} is empty or has surrounding spaces")
    if pattern.startswith("/") or any(ch in pattern for ch in _FORBIDDEN_IN_PATTERN):
        raise ValueError(f"file pattern {pattern!r} must be relative to the export folder")
    if any(part in ("", ".", "..") for part in pattern.split("/")):
        raise ValueError(f"file pattern {pattern!r} must not contain '.', '..' or empty path parts")
    return pattern


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class CsvOptions(_Model):
    """How a CSV file is written. ``auto`` values are detected from the file's first bytes."""

    delimiter: str = "auto"
    quote: str = '"'
    escape: str | None = None  # default: same as quote (RFC 4180 doubling)
    encoding: Literal["auto", "utf-8", "latin-1", "utf-16"] = "auto"
    header: bool = True
    column_names: list[str] | None = None  # required when header is false
    skip_rows: int = Field(default=0, ge=0)
    null_values: list[str] = Field(default_factory=lambda: [""])

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if value == "\\t":
            return "\t"
        if value != "auto" and len(value) != 1:
            raise ValueError("delimiter must be one character, '\\t' or 'auto'")
        return value

    @field_validator("quote", "escape")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) > 1:
            raise ValueError("must be at most one character")
        return value

    @model_validator(mode="after")
    def _names_without_header(self) -> CsvOptions:
        if not self.header and not self.column_names:
            raise ValueError("column_names is required when header is false")
        return self


class Condition(_Model):
    """A row filter on one source column, compared as text. Exactly one test per condition."""

    column: str
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    is_null: bool | None = None
    ignore_case: bool = False
    optional: bool = False  # a file without the column keeps every row instead of failing

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [t for t in (self.in_, self.not_in, self.is_null) if t is not None]
        if len(tests) != 1:
            raise ValueError("a condition needs exactly one of: in, not_in, is_null")
        return self


class ColumnSpec(_Model):
    """How one canonical column is computed from the source row.

    Exactly one origin: ``column`` (a source column, or ``<lookup>.<column>``), ``value`` (a
    constant), ``coalesce`` (the first non-empty of several columns), ``concat`` (columns joined
    by ``separator``) or ``export_date`` (the date of the export being loaded). Then, in this
    order: ``trim``, ``case``, ``map``/``otherwise``, ``if_null``, number clean-up
    (``thousands_separator``, ``decimal_separator``), parsing (``format`` for dates and
    timestamps, ``epoch`` for Unix times), ``scale``, and date arithmetic (``plus_days`` or
    ``minus_days``: a days column, or a constant number of days).
    """

    column: str | None = None
    export_date: bool = False  # the export's date (a dateless export's "today")
    lookup: str | None = None
    value: Scalar = None
    coalesce: list[str] | None = None
    concat: list[str] | None = None
    separator: str = " "
    optional: bool = False  # a missing source column gives NULL instead of an error
    trim: bool = False
    case: Literal["lower", "upper"] | None = None
    map: dict[str, Scalar] | None = None
    otherwise: Scalar = None  # value for non-empty inputs the map does not list
    if_null: Scalar = None
    thousands_separator: str | None = None
    decimal_separator: str | None = None
    format: list[str] | None = None  # strptime formats, tried in order
    epoch: Literal["s", "ms"] | None = None
    scale: float | None = None
    # reject: a value that does not parse rejects the export (default); null: it loads as NULL
    # (for free-text fields such as HubSpot's property history values).
    on_error: Literal["reject", "null"] = "reject"
    # Date arithmetic on a date or timestamp: + or - a source column of days (a name; may be
    # fractional) or a constant number of days. An empty days value gives an empty date.
    plus_days: str | float | None = None
    minus_days: str | float | None = None

    @field_validator("format", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys(cls, value: Any) -> Any:
        # YAML reads `true:`/`1:` keys as bool/int; the source value they match is text.
        if isinstance(value, dict):
            return {_text(k): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnSpec:
        origins = [
            name
            for name in ("column", "value", "coalesce", "concat", "export_date")
            if (name == "value" and "value" in self.model_fields_set)
            or (name != "value" and getattr(self, name))
        ]
        if len(origins) != 1:
            raise ValueError("a column needs exactly one of: column, value, coalesce, concat, export_date")
        if self.plus_days is not None and self.minus_days is not None:
            raise ValueError("use either plus_days or minus_days")
        for days in (self.plus_days, self.minus_days):
            if isinstance(days, str) and not days:
                raise ValueError("plus_days/minus_days need a column name or a number of days")
        if self.lookup and not self.column:
            raise ValueError("lookup is only used with column")
        if self.lookup and not IDENTIFIER.match(self.lookup):
            raise ValueError(f"lookup name {self.lookup!r} is not an identifier")
        if "otherwise" in self.model_fields_set and self.map is None:
            raise ValueError("otherwise is only used with map")
        if self.epoch and self.format:
            raise ValueError("use either format or epoch")
        return self

    @property
    def has_otherwise(self) -> bool:
        return "otherwise" in self.model_fields_set

    @property
    def has_if_null(self) -> bool:
        return "if_null" in self.model_fields_set

    @property
    def is_constant(self) -> bool:
        return "value" in self.model_fields_set

    @property
    def days(self) -> tuple[int, str | float] | None:
        """(+1 or -1, days column or constant) of the date arithmetic, if any."""
        if self.plus_days is not None:
            return 1, self.plus_days
        if self.minus_days is not None:
            return -1, self.minus_days
        return None


def _column_spec(value: Any) -> Any:
    return {"column": value} if isinstance(value, str) else value


ColumnRef = Annotated[ColumnSpec, BeforeValidator(_column_spec)]


class SourceSpec(_Model):
    """A file (or several files with one header) of the export, found by name patterns."""

    file: list[str]  # patterns, tried in order; the first that matches any file wins
    required: bool = False
    format: Literal["auto", "csv", "parquet", "jsonl"] = "auto"
    csv: CsvOptions | None = None
    where: list[Condition] = Field(default_factory=list)  # rows kept (e.g. not deleted)
    known_columns: list[str] = Field(default_factory=list)  # unmapped on purpose: no drift warning

    @field_validator("file", mode="before")
    @classmethod
    def _files(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("file")
    @classmethod
    def _safe(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one file pattern is required")
        return [check_relative_pattern(p) for p in value]


class AsOf(_Model):
    """Join the lookup row whose ``lookup_column`` time is the latest at or before ``column``."""

    column: str
    lookup_column: str


class LookupSpec(_Model):
    """A left join of another source on key columns; its columns are ``<name>.<column>``."""

    source: str
    on: dict[str, str]  # main source column -> lookup source column
    asof: AsOf | None = None
    where: list[Condition] = Field(default_factory=list)
    on_multiple: Literal["error", "first"] = "error"

    @field_validator("on")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("a lookup needs at least one key column")
        return value


class EventSpec(_Model):
    """A history row for every source row where ``at`` is present (and ``where`` holds)."""

    at: ColumnRef
    columns: dict[str, ColumnRef] = Field(default_factory=dict)
    where: list[Condition] = Field(default_factory=list)


FeatureKind = Literal["categorical", "numeric"]
FEATURE_KINDS: tuple[str, ...] = ("categorical", "numeric")


class FeatureSpec(ColumnSpec):
    """A source value declared as a model feature: any column spec plus its ``kind``.

    Categorical features load as text, numeric ones as numbers (a value that does not parse
    rejects the export, unless ``on_error: null``). They land in the entity's ``features`` JSON.
    """

    kind: FeatureKind


AggregateKind = Literal["sum", "min", "max", "first", "last", "same"]
AGGREGATE_KINDS: tuple[str, ...] = ("sum", "min", "max", "first", "last", "same")


class AggregateSpec(_Model):
    """Lines that repeat the entity's key combine into one row, column by column.

    ``columns`` says how (``sum``, ``min``, ``max``; ``first``/``last``: the value of the line
    with the smallest/greatest ``order_by``). A column not listed must be the ``same`` on every
    line of a key (empty values aside), else the export is rejected naming the key and lines.
    """

    columns: dict[str, AggregateKind] = Field(default_factory=dict)
    order_by: list[str] = Field(default_factory=list)  # canonical columns (typed), for first/last

    @field_validator("order_by", mode="before")
    @classmethod
    def _order(cls, value: Any) -> Any:
        return _as_list(value)


class EntitySpec(_Model):
    """How the rows of one canonical entity are built.

    Either ``from`` a source (one row per source row, or one per event with ``events``), or
    ``rows``: constant rows written in the mapping (e.g. a stage list the export lacks).
    """

    from_: str | None = Field(default=None, alias="from")
    rows: list[dict[str, Scalar]] | None = None
    columns: dict[str, ColumnRef] = Field(default_factory=dict)
    lookups: dict[str, LookupSpec] = Field(default_factory=dict)
    where: list[Condition] = Field(default_factory=list)
    events: list[EventSpec] | None = None
    # Source columns that identify a row, when the canonical key is not unique in the source
    # (Salesforce's OpportunityHistory has two changes in one second): checked for duplicates.
    unique_by: list[str] | None = None
    # Rows that repeat the canonical key collapse into one: the row with the greatest values of
    # these source columns (compared as text). Counted in the load's warnings.
    latest_by: list[str] | None = None
    # Keep one row per canonical key: the most frequent combination (derive stages from deals).
    distinct: bool = False
    # Lines that repeat the canonical key are parts of one record: combine them per column.
    aggregate: AggregateSpec | None = None
    # Source values declared as model features (opportunities and leads): name -> spec + kind.
    features: dict[str, FeatureSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _origin(self) -> EntitySpec:
        if (self.from_ is None) == (self.rows is None):
            raise ValueError("an entity needs exactly one of: from, rows")
        if self.rows is not None and (self.columns or self.lookups or self.events or self.where):
            raise ValueError("rows cannot be combined with columns, lookups, events or where")
        if self.latest_by is not None and (self.distinct or self.rows is not None or not self.latest_by):
            raise ValueError("latest_by needs source columns, and no distinct or rows")
        if self.aggregate is not None and (self.distinct or self.rows is not None or self.latest_by):
            raise ValueError("aggregate cannot be combined with distinct, rows or latest_by")
        if self.features and (self.rows is not None or self.distinct):
            raise ValueError("features need a source: not with rows or distinct")
        return self


def _entity_alternatives(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


EntityAlternatives = Annotated[list[EntitySpec], BeforeValidator(_entity_alternatives)]


class Layout(_Model):
    """One CRM export layout. ``detect`` patterns recognise its exports (all must match a file;
    an entry that is a list matches when any of its patterns does)."""

    layout: str
    description: str = ""
    detect: list[list[str]] = Field(default_factory=list)
    ignore_files: list[str] = Field(default_factory=list)  # files of the export not loaded, silently
    csv: CsvOptions = Field(default_factory=CsvOptions)
    sources: dict[str, SourceSpec]
    entities: dict[str, EntityAlternatives]
    path: Path | None = Field(default=None, exclude=True)  # the mapping file, for messages

    @field_validator("detect", mode="before")
    @classmethod
    def _detect(cls, value: Any) -> Any:
        return [_as_list(v) for v in value] if isinstance(value, list) else value

    @field_validator("detect")
    @classmethod
    def _detect_safe(cls, value: list[list[str]]) -> list[list[str]]:
        return [[check_relative_pattern(p) for p in group] for group in value]

    @field_validator("ignore_files")
    @classmethod
    def _ignore_safe(cls, value: list[str]) -> list[str]:
        return [check_relative_pattern(p) for p in value]

    @field_validator("layout")
    @classmethod
    def _name(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError(f"layout name {value!r} must be an identifier (letters, digits, _)")
        return value

    def source(self, name: str) -> SourceSpec:
        return self.sources[name]

    def csv_options(self, source: SourceSpec) -> CsvOptions:
        if source.csv is None:
            return self.csv
        # Options set on the source override the layout's defaults one by one.
        return CsvOptions(**{**self.csv.model_dump(), **source.csv.model_dump(exclude_unset=True)})


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def scalar_text(value: Scalar) -> str | None:
    """A mapping scalar as the text a source value is compared with (YAML `true` -> 'true')."""
    return None if value is None else _text(value)


# ---------------------------------------------------------------------------------------------
# Semantic checks: what the pydantic types cannot say (names exist, required columns present).


def semantic_problems(layout: Layout) -> list[tuple[tuple[str | int, ...], str]]:
    """Every cross-reference problem in a layout, as (location, message) pairs."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name in layout.sources:
        if not IDENTIFIER.match(name):
            problems.append((("sources", name), f"source name {name!r} must be an identifier"))
    for entity_name, alternatives in layout.entities.items():
        loc = ("entities", entity_name)
        entity = ENTITIES.get(entity_name)
        if entity is None:
            problems.append((loc, f"unknown canonical entity {entity_name!r} (known: {', '.join(ENTITIES)})"))
            continue
        if not alternatives:
            problems.append((loc, "needs at least one definition"))
        for i, spec in enumerate(alternatives):
            at = (*loc, i) if len(alternatives) > 1 else loc
            problems += _entity_problems(layout, entity_name, spec, at)
    for entity in ENTITIES.values():
        if entity.required and entity.name not in layout.entities:
            problems.append((("entities",), f"the required entity {entity.name!r} is not mapped"))
    return problems


def _entity_problems(
    layout: Layout, entity_name: str, spec: EntitySpec, loc: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str]]:
    entity = ENTITIES[entity_name]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if spec.rows is not None:
        for i, row in enumerate(spec.rows):
            for column, value in row.items():
                if column not in entity.columns:
                    problems.append(
                        ((*loc, "rows", i, column), f"unknown column {column!r} of {entity_name}")
                    )
                elif not _castable(value, entity.columns[column]):
                    problems.append(
                        ((*loc, "rows", i, column), f"{value!r} is not a valid {entity.columns[column]}")
                    )
            missing = [c for c in entity.mandatory_columns if c not in row]
            if missing:
                problems.append(((*loc, "rows", i), f"row lacks required column(s) {', '.join(missing)}"))
        return problems
    if spec.from_ not in layout.sources:
        problems.append(
            ((*loc, "from"), f"unknown source {spec.from_!r} (sources: {', '.join(layout.sources)})")
        )
    for alias, lookup in spec.lookups.items():
        if not IDENTIFIER.match(alias):
            problems.append(((*loc, "lookups", alias), f"lookup name {alias!r} must be an identifier"))
        if lookup.source not in layout.sources:
            problems.append(((*loc, "lookups", alias, "source"), f"unknown source {lookup.source!r}"))
    for column, col in spec.columns.items():
        if column not in entity.columns:
            problems.append(
                (
                    (*loc, "columns", column),
                    f"unknown column {column!r} of {entity_name} (columns: {', '.join(entity.columns)})",
                )
            )
        if col.lookup and col.lookup not in spec.lookups:
            problems.append(((*loc, "columns", column, "lookup"), f"unknown lookup {col.lookup!r}"))
        elif column in entity.columns:
            problems += _days_problems(col, entity.columns[column], (*loc, "columns", column))
    for i, event in enumerate(spec.events or []):
        problems += _days_problems(event.at, "TIMESTAMP", (*loc, "events", i, "at"))
        for column, col in event.columns.items():
            if column in entity.columns:
                problems += _days_problems(col, entity.columns[column], (*loc, "events", i, column))
    problems += _feature_problems(entity_name, spec, loc)
    problems += _aggregate_problems(entity_name, spec, loc)
    provided = set(spec.columns)
    if spec.events is not None:
        if "changed_at" not in entity.columns:
            problems.append(((*loc, "events"), f"events need an entity with changed_at, not {entity_name}"))
        for i, event in enumerate(spec.events):
            for column in event.columns:
                if column not in entity.columns:
                    problems.append(((*loc, "events", i, column), f"unknown column {column!r}"))
            missing = [
                c for c in entity.mandatory_columns if c not in provided | set(event.columns) | {"changed_at"}
            ]
            if missing:
                problems.append(((*loc, "events", i), f"event lacks required column(s) {', '.join(missing)}"))
    else:
        missing = [c for c in entity.mandatory_columns if c not in provided]
        if missing:
            problems.append(((*loc, "columns"), f"required column(s) not mapped: {', '.join(missing)}"))
    return problems


def _days_problems(
    col: ColumnSpec, sql_type: str, loc: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str]]:
    if col.days is not None and sql_type not in ("DATE", "TIMESTAMP"):
        option = "plus_days" if col.plus_days is not None else "minus_days"
        return [((*loc, option), f"date arithmetic needs a date or timestamp column, not {sql_type}")]
    return []


def _feature_problems(
    entity_name: str, spec: EntitySpec, loc: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if spec.features and entity_name not in FEATURE_ENTITIES:
        problems.append(
            (
                (*loc, "features"),
                f"features are declared on {' or '.join(FEATURE_ENTITIES)}, not {entity_name}",
            )
        )
    for name, feature in spec.features.items():
        if not IDENTIFIER.match(name):
            problems.append(((*loc, "features", name), f"feature name {name!r} must be an identifier"))
        if feature.lookup and feature.lookup not in spec.lookups:
            problems.append(((*loc, "features", name, "lookup"), f"unknown lookup {feature.lookup!r}"))
        if feature.days is not None:
            problems.append(((*loc, "features", name), "date arithmetic is for date columns, not features"))
    return problems


def _numeric(entity_name: str, spec: EntitySpec, column: str) -> bool:
    if column in spec.features:
        return spec.features[column].kind == "numeric"
    return ENTITIES[entity_name].columns.get(column) in ("DOUBLE", "INTEGER", "BIGINT")


def _aggregate_problems(
    entity_name: str, spec: EntitySpec, loc: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str]]:
    if spec.aggregate is None:
        return []
    entity = ENTITIES[entity_name]
    at = (*loc, "aggregate")
    problems: list[tuple[tuple[str | int, ...], str]] = []
    mapped = set(spec.columns) | {c for e in spec.events or [] for c in e.columns}
    if spec.events is not None:
        mapped.add("changed_at")
    allowed = sorted((mapped - set(entity.key)) | set(spec.features))
    for column, kind in spec.aggregate.columns.items():
        if column in entity.key:
            problems.append(((*at, "columns", column), f"{column} is the key lines are grouped by"))
        elif column not in mapped and column not in spec.features:
            problems.append(
                (
                    (*at, "columns", column),
                    f"{column!r} is not a mapped column or feature (mapped: {', '.join(allowed)})",
                )
            )
        elif kind == "sum" and not _numeric(entity_name, spec, column):
            problems.append(((*at, "columns", column), f"sum needs a numeric column; {column} is not"))
        elif kind in ("first", "last") and not spec.aggregate.order_by:
            problems.append(
                ((*at, "columns", column), f"{kind} needs aggregate.order_by (columns that order lines)")
            )
    for column in spec.aggregate.order_by:
        if column not in mapped:
            problems.append(
                (
                    (*at, "order_by"),
                    f"{column!r} is not a mapped column (mapped: {', '.join(sorted(mapped))})",
                )
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Loading a mapping file, with YAML line numbers in every error.


def load_mapping(path: Path) -> Layout:
    """Parse and validate a mapping file; raise MappingError naming file, line and option."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"cannot read mapping file: {exc}", file=path) from exc
    return parse_mapping(text, path)


def parse_mapping(text: str, path: Path | None = None) -> Layout:
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise MappingError(f"not valid YAML: {exc}", file=path, line=line) from exc
    if not isinstance(data, dict):
        raise MappingError("a mapping file must be a YAML mapping (layout:, sources:, entities:)", file=path)
    try:
        layout = Layout.model_validate({**data, "path": path})
    except ValidationError as exc:
        problems = [(tuple(e["loc"]), _message(e)) for e in exc.errors()]
        raise _mapping_error(problems, node, path) from exc
    problems = semantic_problems(layout)
    if problems:
        raise _mapping_error(problems, node, path)
    return layout


def _castable(value: Scalar, sql_type: str) -> bool:
    """Whether DuckDB casts the literal to the column's type (constant rows are checked early)."""
    import duckdb

    text = scalar_text(value)
    if text is None or sql_type == "VARCHAR":
        return True
    row = duckdb.execute(f"SELECT TRY_CAST(? AS {sql_type}) IS NOT NULL", [text]).fetchone()
    return bool(row and row[0])


def _mapping_error(
    problems: list[tuple[tuple[str | int, ...], str]], node: yaml.Node | None, path: Path | None
) -> MappingError:
    lines = []
    for loc, message in problems:
        line, where = _yaml_location(node, loc)
        lines.append(
            f"{where or '(top)'} (line {line}): {message}" if line else f"{where or '(top)'}: {message}"
        )
    first_line, first_where = _yaml_location(node, problems[0][0])
    return MappingError(
        "invalid mapping: " + "; ".join(lines),
        file=path,
        line=first_line,
        column=first_where or None,
        problems=lines,
    )


def _message(error: Any) -> str:
    """Pydantic's message, with the allowed options where it names an unknown or missing one."""
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        allowed = allowed_options(loc[:-1])
        return f"unknown option {loc[-1]!r}" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if error["type"] == "missing":
        return "required option missing"
    return str(error["msg"])


def allowed_options(loc: tuple[str | int, ...]) -> list[str]:
    """The option names a mapping allows at loc (a pydantic location), or [] where unknown."""
    tp: Any = Layout
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    model = _model_of(tp)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items() if name != "path"]


def _unwrap(tp: Any) -> list[Any]:
    """The candidate types of an annotation (Annotated and unions opened)."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (Union, UnionType):
        return [t for arg in get_args(tp) for t in _unwrap(arg)]
    return [tp]


def _model_of(tp: Any) -> type[BaseModel] | None:
    for candidate in _unwrap(tp):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _step(tp: Any, part: str | int) -> Any:
    model = _model_of(tp)
    for candidate in _unwrap(tp):
        origin = get_origin(candidate)
        if origin is list and isinstance(part, int):
            return get_args(candidate)[0]
        if origin is dict and isinstance(part, str) and model is None:
            return get_args(candidate)[1]
    if model is not None and isinstance(part, str):
        for name, field in model.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        if part in ("str", "dict", "list") or "[" in part:  # pydantic names a union's member
            return tp
    if isinstance(part, int):  # an entity written without a list: pydantic still counts it
        return tp
    return None


def _yaml_location(node: yaml.Node | None, loc: tuple[str | int, ...]) -> tuple[int | None, str]:
    """(line, dotted path) of the deepest YAML node along loc. Pydantic's locations also name
    types and list positions the YAML does not have (an entity written without a list); those
    parts are skipped."""
    if node is None:
        return None, ".".join(str(p) for p in loc)
    line = node.start_mark.line + 1
    path: list[str] = []
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is not None:
            node = child
            path.append(str(part))
        elif isinstance(part, str) and part not in ("str", "dict", "list") and "[" not in part:
            path.append(part)  # a key the YAML lacks (a missing field): still name it
    return line, ".".join(path)
