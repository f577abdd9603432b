"""Model features declared in a mapping, as known at a cut-off: the forecast's one entry point.

A mapping's ``features:`` (see mappings/_template.yml) name source columns as model features of
opportunities and leads. Ingest writes each row's values into raw.<entity>.features (JSON text,
``{"name": value}``: numbers for numeric features, text for categorical ones) and each export's
declarations into raw.declared_features; staging passes the column through and the opportunity
snapshot (snapshots.snp_crm__opportunities) checks it, so every version holds the features as
they stood when that export was taken.

``features_as_of(con, cutoff, entity)`` is the contract for the forecast:

* ``declared``: every feature the entity's layout declared in an export dated on or before the
  cut-off (name, kind ``categorical`` or ``numeric``, source column), the kind from the newest such
  export, ordered by name. Declared but empty at the cut-off still counts, so training and
  scoring see the same columns;
* ``values``: one row per opportunity (or lead) known at the cut-off, indexed by
  ``opportunity_id`` (``lead_id``), one column per declared feature: ``float64`` for numeric ones
  (NaN where empty), pandas ``string`` for categorical ones (<NA> where empty). No outcome is in
  it; the values are the ones the newest export on or before the cut-off showed:
  opportunities from the snapshot version valid at the end of the cut-off date (or, without a
  snapshot, raw.opportunities of that export), leads from raw.leads of that export (raw keeps
  every nightly export; leads have no snapshot);
* ``export_date``: the newest export on or before the cut-off (None: nothing known yet).

``attach(con, frame, entity)`` adds them to a model's rows (one row per cut-off and deal or lead),
each row with the values known at its own cut-off, as columns named ``column_name(feature)``
(``mapped__<name>``, so a declared name never shadows a built-in feature).

It reads the DuckDB connection it is given: the warehouse file, or on PostgreSQL the forecast's
workspace after pulling ``FEATURE_SOURCES``. Nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import duckdb
import pandas as pd

from pipecast.canonical import FEATURE_ENTITIES, FEATURES_COLUMN
from pipecast.warehouse import TableRows, table_exists

log = logging.getLogger(__name__)

SNAPSHOT = ("snapshots", "snp_crm__opportunities")
KEYS = {"opportunities": "opportunity_id", "leads": "lead_id"}
# What a PostgreSQL workspace must pull for features_as_of (the forecast's sources include them):
# raw leads only where a layout declared features (the column is NULL otherwise).
FEATURE_SOURCES: tuple[TableRows, ...] = (
    TableRows("raw", "declared_features"),
    TableRows(*SNAPSHOT),
    TableRows("raw", "leads", f"where {FEATURES_COLUMN} is not null"),
)


@dataclass(frozen=True)
class DeclaredFeature:
    name: str
    kind: Literal["categorical", "numeric"]
    source_column: str


@dataclass
class FeaturesAsOf:
    """The declared features of one entity and their values as known at a cut-off."""

    entity: str
    cutoff: date
    export_date: date | None
    declared: list[DeclaredFeature] = field(default_factory=list)
    values: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.declared if f.kind == "categorical"]

    @property
    def numeric(self) -> list[str]:
        return [f.name for f in self.declared if f.kind == "numeric"]


def _has_column(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? AND column_name = ?",
        [schema, table, column],
    ).fetchone()
    return bool(row and row[0])


def declared_features(con: duckdb.DuckDBPyConnection, cutoff: date, entity: str) -> list[DeclaredFeature]:
    """The features declared for entity in exports dated on or before cutoff (see the module)."""
    if not table_exists(con, "raw", "declared_features"):
        return []
    rows = con.execute(
        "SELECT feature, arg_max(kind, _export_date), arg_max(source_column, _export_date) "
        "FROM raw.declared_features WHERE entity = ? AND _export_date <= ? GROUP BY feature ORDER BY feature",
        [entity, cutoff],
    ).fetchall()
    return [DeclaredFeature(name, kind, source) for name, kind, source in rows]


def _relation(con: duckdb.DuckDBPyConnection, entity: str, cutoff: date) -> tuple[str, list, date | None]:
    """(SQL of key + features as known at cutoff, its parameters, the export date it reflects)."""
    key = KEYS[entity]
    export_date = None
    if table_exists(con, "raw", entity):
        export_date = con.execute(
            f"SELECT max(_export_date) FROM raw.{entity} WHERE _export_date <= ?", [cutoff]
        ).fetchone()[0]
    if entity == "opportunities" and _has_column(con, *SNAPSHOT, FEATURES_COLUMN):
        # The version valid at the end of the cut-off date: versions start at the start of the
        # export date that first showed them (the export of day D is what was known on D).
        sql = (
            f"SELECT {key}, {FEATURES_COLUMN} FROM {SNAPSHOT[0]}.{SNAPSHOT[1]} "
            "WHERE dbt_valid_from <= CAST(? AS TIMESTAMP) "
            "AND (dbt_valid_to IS NULL OR dbt_valid_to > CAST(? AS TIMESTAMP))"
        )
        if export_date is None:
            export_date = con.execute(
                f"SELECT CAST(max(dbt_valid_from) AS DATE) FROM {SNAPSHOT[0]}.{SNAPSHOT[1]} "
                "WHERE dbt_valid_from <= CAST(? AS TIMESTAMP)",
                [cutoff],
            ).fetchone()[0]
        return sql, [cutoff, cutoff], export_date
    if export_date is None or not _has_column(con, "raw", entity, FEATURES_COLUMN):
        return "", [], export_date
    return (
        f"SELECT {key}, {FEATURES_COLUMN} FROM raw.{entity} WHERE _export_date = ?",
        [export_date],
        export_date,
    )


def features_as_of(
    con: duckdb.DuckDBPyConnection,
    cutoff: date,
    entity: str = "opportunities",
    ids: Sequence[str] | None = None,
) -> FeaturesAsOf:
    """The declared features of entity ('opportunities' or 'leads') and their values as known at
    the end of cutoff, optionally only for the given ids (see the module docstring)."""
    if entity not in FEATURE_ENTITIES:
        raise ValueError(f"features are declared on {', '.join(FEATURE_ENTITIES)}, not {entity!r}")
    key = KEYS[entity]
    declared = declared_features(con, cutoff, entity)
    relation, params, export_date = _relation(con, entity, cutoff)
    if not relation:
        empty = pd.DataFrame({f.name: pd.Series(dtype=_dtype(f.kind)) for f in declared})
        empty.index = pd.Index([], name=key, dtype="string")
        return FeaturesAsOf(entity, cutoff, export_date, declared, empty)
    columns = [f"CAST({key} AS VARCHAR) AS {key}"]
    for f in declared:
        path = f"'$.\"{f.name}\"'"
        if f.kind == "numeric":
            columns.append(f'TRY_CAST(json_extract({FEATURES_COLUMN}, {path}) AS DOUBLE) AS "{f.name}"')
        else:
            columns.append(f'json_extract_string({FEATURES_COLUMN}, {path}) AS "{f.name}"')
    sql = f"SELECT {', '.join(columns)} FROM ({relation}) AS known"
    if ids is not None:
        sql += f" WHERE {key} IN (SELECT unnest(CAST(? AS VARCHAR[])))"
        params = [*params, list(ids)]
    frame = con.execute(sql + f" ORDER BY {key}", params).df()
    frame[key] = frame[key].astype("string")
    frame = frame.set_index(key)
    for f in declared:
        frame[f.name] = frame[f.name].astype(_dtype(f.kind))
    log.debug("%s features as of %s: %d rows, %d features", entity, cutoff, len(frame), len(declared))
    return FeaturesAsOf(entity, cutoff, export_date, declared, frame)


COLUMN_PREFIX = "mapped__"


def column_name(feature: str) -> str:
    """The model column of a declared feature."""
    return f"{COLUMN_PREFIX}{feature}"


def feature_name(column: str) -> str | None:
    """The declared name of a model column (None: not a mapped feature)."""
    return column[len(COLUMN_PREFIX) :] if column.startswith(COLUMN_PREFIX) else None


def mapped_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(categorical, numeric) mapped-feature columns of a model frame, by name (float: numeric)."""
    columns = sorted(c for c in frame.columns if feature_name(str(c)) is not None)
    numeric = [c for c in columns if pd.api.types.is_float_dtype(frame[c])]
    return [c for c in columns if c not in numeric], numeric


def attach(
    con: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    entity: str = "opportunities",
    cutoff_column: str = "cutoff",
) -> pd.DataFrame:
    """``frame`` (rows of ``entity`` at cut-offs) with one column per declared feature: each row's
    value as known at the end of its own cut-off (features_as_of), NaN / <NA> where unknown.
    Unchanged when nothing is declared by the newest cut-off (no column added)."""
    key = KEYS[entity]
    if frame.empty or cutoff_column not in frame or key not in frame:
        return frame
    cutoffs = sorted({pd.Timestamp(c).date() for c in frame[cutoff_column].dropna().unique()})
    if not cutoffs:
        return frame
    declared = declared_features(con, cutoffs[-1], entity)
    if not declared:
        return frame
    stamps = pd.to_datetime(frame[cutoff_column]).dt.normalize()
    ids = frame[key].astype("string")
    parts = []
    for cutoff in cutoffs:
        wanted = ids[stamps == pd.Timestamp(cutoff)].dropna().unique().tolist()
        known = features_as_of(con, cutoff, entity, ids=wanted).values
        known = known.reindex(columns=[f.name for f in declared])
        for f in declared:
            known[f.name] = known[f.name].astype(_dtype(f.kind))
        parts.append(known.reset_index().assign(_cutoff=pd.Timestamp(cutoff)))
    values = pd.concat(parts, ignore_index=True).rename(
        columns={f.name: column_name(f.name) for f in declared}
    )
    values[key] = values[key].astype("string")
    lookup = pd.DataFrame({key: ids.to_numpy(), "_cutoff": stamps.to_numpy()})
    joined = lookup.merge(values, on=[key, "_cutoff"], how="left")
    out = frame.copy()
    for f in declared:
        column = joined[column_name(f.name)].to_numpy()
        out[column_name(f.name)] = pd.Series(column, index=frame.index).astype(_dtype(f.kind))
    log.info(
        "%s: %d declared feature(s) attached as of %d cut-off(s): %s",
        entity,
        len(declared),
        len(cutoffs),
        ", ".join(f.name for f in declared),
    )
    return out


def _dtype(kind: str) -> str:
    return "float64" if kind == "numeric" else "string"
