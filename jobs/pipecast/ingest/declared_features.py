"""The model features a layout declares, recorded per export in raw.declared_features.

A mapping's ``features:`` (on opportunities and leads) name source values as model features; each
row's values land in raw.<entity>.features as JSON. This table says, per export date, which
features each entity declared and of which kind, so that a reader knows the names and kinds as of
any cut-off even where every value is empty (see pipecast.mapped_features).
"""

from __future__ import annotations

import duckdb

from pipecast.ingest.mapping import ColumnSpec, EntitySpec, Layout


def describe(spec: ColumnSpec) -> str:
    """Where a feature's value comes from, for people: the source column(s) or the constant."""
    if spec.column:
        return f"{spec.lookup}.{spec.column}" if spec.lookup else spec.column
    if spec.coalesce or spec.concat:
        return ", ".join(spec.coalesce or spec.concat or [])
    if spec.export_date:
        return "export date"
    return f"constant {spec.value!r}"


def record(
    con: duckdb.DuckDBPyConnection, export_date, layout: Layout, entities: dict[str, EntitySpec]
) -> None:
    """Replace the export's declarations with the features of the entity definitions it used."""
    con.execute("DELETE FROM raw.declared_features WHERE _export_date = ?", [export_date])
    rows = [
        (entity_name, name, feature.kind, describe(feature), export_date, layout.layout)
        for entity_name, spec in entities.items()
        for name, feature in spec.features.items()
    ]
    if rows:
        con.executemany(
            "INSERT INTO raw.declared_features "
            "(entity, feature, kind, source_column, _export_date, _source_layout) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
