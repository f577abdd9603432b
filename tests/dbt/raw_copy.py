"""Copy raw.* from a DuckDB warehouse (loaded by pipecast's ingest) into PostgreSQL.

The PostgreSQL tables are created from the canonical model (pipecast.canonical) plus the load
metadata columns, the same contract ingest writes on DuckDB, so the dbt project sees the same
sources on both targets.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import duckdb
from pipecast.canonical import ENTITIES, FEATURE_ENTITIES, FEATURES_COLUMN, LOAD_METADATA_COLUMNS

# canonical.py's types are DuckDB's; PostgreSQL spells two of them differently.
PG_TYPES = {"DOUBLE": "double precision", "VARCHAR": "varchar"}


def copy_raw_to_postgres(duck: duckdb.DuckDBPyConnection, pg, export_dates: Iterable[date]) -> dict[str, int]:
    """Create raw.<entity> in PostgreSQL if needed and copy the rows of the given exports;
    return the rows copied per entity."""
    dates = list(export_dates)
    copied: dict[str, int] = {}
    pg.execute("create schema if not exists raw")
    for entity in ENTITIES.values():
        columns = {**entity.columns, **LOAD_METADATA_COLUMNS}
        if entity.name in FEATURE_ENTITIES:  # declared model features (JSON text), staging reads it
            columns[FEATURES_COLUMN] = "VARCHAR"
        ddl = ", ".join(f'"{c}" {PG_TYPES.get(t, t)}' for c, t in columns.items())
        pg.execute(f"create table if not exists raw.{entity.name} ({ddl})")
        names = ", ".join(f'"{c}"' for c in columns)
        rows = duck.execute(
            f"select {names} from raw.{entity.name} where _export_date in (select unnest(?::date[]))",
            [dates],
        ).fetchall()
        with pg.cursor() as cursor, cursor.copy(f"copy raw.{entity.name} ({names}) from stdin") as copy:
            for row in rows:
                copy.write_row(row)
        copied[entity.name] = len(rows)
    return copied
