"""A small raw warehouse for the validation tests: every canonical entity, one export at a time.

``good_export()`` is one consistent export (every reference resolves, every check passes);
tests mutate its rows to plant defects and load it with ``load_export``. Tables get the canonical
column types plus the load metadata columns, as ingest creates them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import duckdb
from pipecast.canonical import ENTITIES, LOAD_METADATA_COLUMNS, Entity
from pipecast.config import Settings

EXPORT_DATE = date(2026, 3, 2)
PREVIOUS_EXPORT_DATE = date(2026, 3, 1)

Rows = list[dict[str, Any]]
Export = dict[str, Rows]  # entity -> rows

_STAGE_FIELDS = ("stage", "sort_order", "probability", "is_closed", "is_won", "forecast_category")
STAGE_ROWS: Rows = [
    {"pipeline": "default"} | dict(zip(_STAGE_FIELDS, values, strict=True))
    for values in [
        ("Prospecting", 1, 10.0, False, False, "Pipeline"),
        ("Negotiation", 2, 60.0, False, False, "Commit"),
        ("Closed Won", 3, 100.0, True, True, "Closed"),
        ("Closed Lost", 4, 0.0, True, False, "Omitted"),
    ]
]
STAGE_NAMES = [s["stage"] for s in STAGE_ROWS]
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
        "last_modified_at": datetime(2026, 3, 1, 12, 0),
    }
    return row | overrides


def good_opportunities(n: int = 8) -> Rows:
    """``n`` valid rows covering every stage (closed ones close after they were created)."""
    return [opportunity(i, STAGE_ROWS[i % len(STAGE_ROWS)]["stage"]) for i in range(n)]


def good_export(n: int = 8) -> Export:
    """One consistent export of every entity around ``n`` opportunities."""
    opportunities = good_opportunities(n)
    return {
        "opportunities": opportunities,
        "opportunity_stage_history": [
            {
                "opportunity_id": o["opportunity_id"],
                "changed_at": o["created_at"],
                "stage": o["stage"],
                "amount": o["amount"],
                "close_date": o["close_date"],
                "probability": o["probability"],
                "forecast_category": o["forecast_category"],
            }
            for o in opportunities
        ],
        "stages": [dict(s) for s in STAGE_ROWS],
        "accounts": [
            {
                "account_id": f"ACC-{i}",
                "name": f"Account {i}",
                "industry": ("Software", "retail", "Financial Services")[i],
                "segment": "SMB",
                "country": "Germany",
                "employees": 50 * (i + 1),
                "annual_revenue": 1e6 * (i + 1),
                "created_at": datetime(2025, 1, 1 + i),
            }
            for i in range(3)
        ],
        "owners": [
            {"owner_id": "OWN-0", "name": "Ann", "manager_id": None, "team": "EMEA SMB", "region": "EMEA"},
            {"owner_id": "OWN-1", "name": "Bob", "manager_id": "OWN-0", "team": "EMEA SMB", "region": "EMEA"},
        ],
        "products": [
            {
                "product_id": f"PRD-{i}",
                "name": f"Product {i}",
                "family": "Platform",
                "list_price": 500.0 * (i + 1),
            }
            for i in range(4)
        ],
        "line_items": [
            {
                "line_item_id": f"LI-{i}",
                "opportunity_id": o["opportunity_id"],
                "product_id": o["product_id"],
                "quantity": 2.0,
                "unit_price": o["amount"] / 2,
            }
            for i, o in enumerate(opportunities)
        ],
        "leads": [
            {
                "lead_id": f"LEAD-{i}",
                "created_at": datetime(2025, 12, 1 + i),
                "source": "Web",
                "campaign": "Webinar Series",
                "status": "Converted" if i < 3 else "Open",
                "converted_at": datetime(2026, 1, 1 + i) if i < 3 else None,
                "converted_opportunity_id": opportunities[i]["opportunity_id"] if i < 3 else None,
                "owner_id": "OWN-0",
            }
            for i in range(5)
        ],
        "targets": [
            {
                "period_start": date(2026, 1, 1),
                "period_end": date(2026, 3, 31),
                "owner_id": owner,
                "team": "EMEA SMB",
                "amount": 100_000.0,
            }
            for owner in ("OWN-0", "OWN-1")
        ],
        # EUR per USD (the default reporting currency) since before any deal closes
        "exchange_rates": [
            {"currency": "EUR", "rate_date": date(2025, 1, 1), "rate": 0.95, "base_currency": "USD"},
            {"currency": "EUR", "rate_date": date(2026, 1, 1), "rate": 0.9, "base_currency": "USD"},
        ],
    }


# load_export with its settings bound (the conftest fixture of the same name).
LoadExport = Callable[..., None]


def load_export(
    settings: Settings,
    export: Mapping[str, Iterable[dict[str, Any]]],
    export_date: date = EXPORT_DATE,
    drop_columns: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Load one export into raw.<entity> (tables created on first use, for every entity).

    ``drop_columns`` leaves canonical columns out of a table (when this creates it).
    """
    con = duckdb.connect(str(settings.resolved_warehouse_path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for entity in ENTITIES.values():
            drop = set((drop_columns or {}).get(entity.name, ()))
            _insert(con, entity, export.get(entity.name, ()), export_date, drop)
    finally:
        con.close()


def _insert(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    rows: Iterable[dict[str, Any]],
    export_date: date,
    drop: set[str],
) -> None:
    columns = {c: t for c, t in entity.columns.items() if c not in drop} | LOAD_METADATA_COLUMNS
    table = f"raw.{entity.name}"
    ddl = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")
    names = [r[0] for r in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    values = []
    for row in rows:
        meta = {
            "_export_date": export_date,
            "_source_file": f"{export_date.isoformat()}/{entity.file_name}",
            "_loaded_at": datetime.combine(export_date, datetime.min.time()).replace(hour=6),
            "_row_hash": hashlib.md5(repr(sorted(row.items())).encode()).hexdigest(),
        }
        values.append([(row | meta).get(name) for name in names])
    if values:
        placeholders = ", ".join("?" for _ in names)
        con.executemany(f"INSERT INTO {table} VALUES ({placeholders})", values)
