"""A small DuckDB warehouse for the validation tests: raw.opportunities and raw.stages.

Canonical layout (column types from pipecast.canonical) plus the load metadata columns, loaded
one export at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

import duckdb
from pipecast.canonical import LOAD_METADATA_COLUMNS, OPPORTUNITIES, STAGES, Entity
from pipecast.config import Settings

EXPORT_DATE = date(2026, 3, 2)
PREVIOUS_EXPORT_DATE = date(2026, 3, 1)

_STAGE_FIELDS = ("stage", "sort_order", "probability", "is_closed", "is_won", "forecast_category")
STAGE_ROWS: list[dict[str, Any]] = [
    dict(zip(_STAGE_FIELDS, values, strict=True))
    for values in [
        ("Prospecting", 1, 10.0, False, False, "Pipeline"),
        ("Negotiation", 2, 60.0, False, False, "Commit"),
        ("Closed Won", 3, 100.0, True, True, "Closed"),
        ("Closed Lost", 4, 0.0, True, False, "Omitted"),
    ]
]
_BY_STAGE = {s["stage"]: s for s in STAGE_ROWS}


def opportunity(i: int, stage: str = "Prospecting", **overrides: Any) -> dict[str, Any]:
    """A valid canonical opportunity row; ``overrides`` set any column."""
    s = _BY_STAGE.get(stage, _BY_STAGE["Prospecting"])
    row: dict[str, Any] = {
        "opportunity_id": f"OPP-{i:04d}",
        "account_id": f"ACC-{i % 3}",
        "owner_id": f"OWN-{i % 2}",
        "name": f"Deal {i}",
        "pipeline": "default",
        "created_at": datetime(2026, 1, 1 + i % 28, 9, 30),
        "stage": stage,
        "amount": 1000.0 * (i + 1),
        "currency": "EUR",
        "close_date": date(2026, 4, 1 + i % 28),
        "is_closed": s["is_closed"],
        "is_won": s["is_won"],
        "probability": s["probability"],
        "forecast_category": s["forecast_category"],
        "lead_source": "Web",
        "type": "New Business",
        "product_id": f"PRD-{i % 4}",
        "last_modified_at": datetime(2026, 2, 1, 12, 0),
    }
    return row | overrides


def good_opportunities(n: int = 8) -> list[dict[str, Any]]:
    """``n`` valid rows covering every stage (closed ones close after they were created)."""
    return [opportunity(i, STAGE_ROWS[i % len(STAGE_ROWS)]["stage"]) for i in range(n)]


# load_export with its settings bound (the conftest fixture of the same name).
LoadExport = Callable[..., None]


def load_export(
    settings: Settings,
    rows: Iterable[dict[str, Any]],
    export_date: date = EXPORT_DATE,
    stages: Iterable[dict[str, Any]] = STAGE_ROWS,
    drop_columns: Iterable[str] = (),
) -> None:
    """Load one export into raw.opportunities and raw.stages (tables created on first use).

    ``drop_columns`` leaves canonical columns out of raw.opportunities (when it creates it).
    """
    con = duckdb.connect(str(settings.resolved_warehouse_path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        _insert(con, OPPORTUNITIES, rows, export_date, drop=set(drop_columns))
        _insert(con, STAGES, ({"pipeline": "default"} | s for s in stages), export_date)
    finally:
        con.close()


def _insert(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    rows: Iterable[dict[str, Any]],
    export_date: date,
    drop: set[str] | None = None,
) -> None:
    columns = {c: t for c, t in entity.columns.items() if c not in (drop or set())}
    columns |= LOAD_METADATA_COLUMNS
    table = f"raw.{entity.name}"
    ddl = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")
    names = [r[0] for r in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    loaded_at = datetime(2026, 3, 2, 6, 0)
    values = []
    for row in rows:
        row_hash = hashlib.md5(repr(sorted(row.items())).encode()).hexdigest()
        meta = {
            "_export_date": export_date,
            "_source_file": f"{export_date.isoformat()}/{entity.file_name}",
            "_loaded_at": loaded_at,
            "_row_hash": row_hash,
        }
        values.append([(row | meta).get(name) for name in names])
    if values:
        placeholders = ", ".join("?" for _ in names)
        con.executemany(f"INSERT INTO {table} VALUES ({placeholders})", values)
