"""The canonical CRM model: the contract between ingest and dbt.

Every CRM source maps onto these entities (see ../shared/DESIGN.md). The generic layout, which the
demo generator writes, is exactly this: one CSV per entity named ``<entity>.csv`` whose header is
the column names below. Types are DuckDB/PostgreSQL SQL types.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entity:
    name: str
    key: tuple[str, ...]
    columns: dict[str, str]  # column name -> SQL type, in file order
    required: bool = False  # must every export contain this entity?
    required_columns: tuple[str, ...] = ()  # beyond the key, columns a file must have

    @property
    def mandatory_columns(self) -> tuple[str, ...]:
        return self.key + tuple(c for c in self.required_columns if c not in self.key)

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"


OPPORTUNITIES = Entity(
    name="opportunities",
    key=("opportunity_id",),
    required=True,
    required_columns=("stage", "created_at", "amount", "close_date", "is_closed", "is_won"),
    columns={
        "opportunity_id": "VARCHAR",
        "account_id": "VARCHAR",
        "owner_id": "VARCHAR",
        "name": "VARCHAR",
        "pipeline": "VARCHAR",
        "created_at": "TIMESTAMP",
        "stage": "VARCHAR",
        "amount": "DOUBLE",
        "currency": "VARCHAR",
        "close_date": "DATE",
        "is_closed": "BOOLEAN",
        "is_won": "BOOLEAN",
        "probability": "DOUBLE",
        "forecast_category": "VARCHAR",
        "lead_source": "VARCHAR",
        "type": "VARCHAR",
        "product_id": "VARCHAR",
        "last_modified_at": "TIMESTAMP",
    },
)

OPPORTUNITY_STAGE_HISTORY = Entity(
    name="opportunity_stage_history",
    key=("opportunity_id", "changed_at"),
    required=True,
    required_columns=("stage",),
    columns={
        "opportunity_id": "VARCHAR",
        "changed_at": "TIMESTAMP",
        "stage": "VARCHAR",
        "amount": "DOUBLE",
        "close_date": "DATE",
        "probability": "DOUBLE",
        "forecast_category": "VARCHAR",
    },
)

STAGES = Entity(
    name="stages",
    key=("pipeline", "stage"),
    required=True,
    required_columns=("sort_order", "probability", "is_closed", "is_won"),
    columns={
        "pipeline": "VARCHAR",
        "stage": "VARCHAR",
        "sort_order": "INTEGER",
        "probability": "DOUBLE",
        "is_closed": "BOOLEAN",
        "is_won": "BOOLEAN",
        "forecast_category": "VARCHAR",
    },
)

ACCOUNTS = Entity(
    name="accounts",
    key=("account_id",),
    columns={
        "account_id": "VARCHAR",
        "name": "VARCHAR",
        "industry": "VARCHAR",
        "segment": "VARCHAR",
        "country": "VARCHAR",
        "employees": "INTEGER",
        "annual_revenue": "DOUBLE",
        "created_at": "TIMESTAMP",
    },
)

OWNERS = Entity(
    name="owners",
    key=("owner_id",),
    columns={
        "owner_id": "VARCHAR",
        "name": "VARCHAR",
        "manager_id": "VARCHAR",
        "team": "VARCHAR",
        "region": "VARCHAR",
    },
)

PRODUCTS = Entity(
    name="products",
    key=("product_id",),
    columns={
        "product_id": "VARCHAR",
        "name": "VARCHAR",
        "family": "VARCHAR",
        "list_price": "DOUBLE",
    },
)

LINE_ITEMS = Entity(
    name="line_items",
    key=("line_item_id",),
    columns={
        "line_item_id": "VARCHAR",
        "opportunity_id": "VARCHAR",
        "product_id": "VARCHAR",
        "quantity": "DOUBLE",
        "unit_price": "DOUBLE",
    },
)

LEADS = Entity(
    name="leads",
    key=("lead_id",),
    columns={
        "lead_id": "VARCHAR",
        "created_at": "TIMESTAMP",
        "source": "VARCHAR",
        "campaign": "VARCHAR",
        "status": "VARCHAR",
        "converted_at": "TIMESTAMP",
        "converted_opportunity_id": "VARCHAR",
        "owner_id": "VARCHAR",
    },
)

TARGETS = Entity(
    name="targets",
    key=("period_start", "owner_id"),
    columns={
        "period_start": "DATE",
        "period_end": "DATE",
        "owner_id": "VARCHAR",
        "team": "VARCHAR",
        "amount": "DOUBLE",
    },
)

# Dated exchange rates (optional): ``rate`` units of ``currency`` buy one unit of the reporting
# currency (Settings.reporting_currency; ``base_currency``, when given, must be it), from
# ``rate_date`` until the currency's next rate. Salesforce's DatedConversionRate has this shape.
EXCHANGE_RATES = Entity(
    name="exchange_rates",
    key=("currency", "rate_date"),
    required_columns=("rate",),
    columns={
        "currency": "VARCHAR",
        "rate_date": "DATE",
        "rate": "DOUBLE",
        "base_currency": "VARCHAR",
    },
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        OPPORTUNITIES,
        OPPORTUNITY_STAGE_HISTORY,
        STAGES,
        ACCOUNTS,
        OWNERS,
        PRODUCTS,
        LINE_ITEMS,
        LEADS,
        TARGETS,
        EXCHANGE_RATES,
    )
}

# Load metadata every raw.* table carries beside the canonical columns.
LOAD_METADATA_COLUMNS: dict[str, str] = {
    "_export_date": "DATE",
    "_source_file": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
    "_row_hash": "VARCHAR",
}

# Lineage ingest adds after the load metadata: which layout (mapping) produced the row, and the
# source columns the layout does not map, kept as JSON text (schema drift is kept, not dropped).
LOAD_LINEAGE_COLUMNS: dict[str, str] = {
    "_source_layout": "VARCHAR",
    "_extra": "VARCHAR",
}

# Model features a mapping declares (``features:``), kept per row as JSON text in this column of
# raw.<entity> ({"name": value}: numbers for numeric features, text for categorical ones); the
# declarations (name, kind) of each export in raw.declared_features. See pipecast.features.
FEATURES_COLUMN = "features"
FEATURE_ENTITIES: tuple[str, ...] = ("opportunities", "leads")
DECLARED_FEATURES_COLUMNS: dict[str, str] = {
    "entity": "VARCHAR",
    "feature": "VARCHAR",
    "kind": "VARCHAR",
    "source_column": "VARCHAR",
    "_export_date": "DATE",
    "_source_layout": "VARCHAR",
}

# Written last into every export folder; an export without it is incomplete and is not loaded.
COMPLETION_MARKER = "_SUCCESS"
MANIFEST_FILE = "manifest.json"
