"""Expectation suites for the raw stage: one CRM export as loaded into raw.*, one suite per entity.

Imported by the runner, pipecast.validate.raw, as ``pipecast_expectations.raw_suites``;
``raw_suite(entity, context)`` builds the suite of one entity for one export. Every expectation is
tagged ``error`` (the export is quarantined, nothing downstream is replaced) or ``warning``
(recorded and reported).

What each suite checks:
- every canonical and load-metadata column present, each canonical one with its type (error);
- keys not null and unique (error);
- stage values allowed by the export's stage configuration, raw.stages (error);
- amounts and prices non-negative (error) and plausible (warning);
- dates in a sane range (error before ``min_date`` or in the future; warning for far close dates)
  and in order: created <= closed, lead created <= converted (warning);
- references to accounts, owners, products, opportunities resolve in the same export (warning);
- category values: no form placeholders (``Select``), one spelling per category, industries from
  accepted_values.INDUSTRIES (warning);
- the row count within a band of the previous export's (warning), and the export fresh (warning);
- drift against the previous export (error, ``pipecast.validate.drift``): the row count and the
  amount total within per-entity limits; an accepted export (``pipecast accept``) has the checks
  it was accepted for downgraded to warnings.

The batch of every suite is one export: the rows of raw.<entity> whose ``_export_date`` is the
export date. Queries that read other raw tables name that date themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import great_expectations as gx
import great_expectations.expectations as gxe
from pipecast.canonical import ENTITIES, LOAD_METADATA_COLUMNS, Entity
from pipecast.validate import drift
from pipecast.validate.expect import (
    BATCH,
    between,
    case_duplicates,
    case_variants,
    key_expectations,
    ordered,
    references,
    sql_literal,
    unexpected_rows,
    unique_together,
)
from pipecast.validate.severity import ERROR, WARNING, Severity, tag

from .accepted_values import INDUSTRIES, PLACEHOLDERS

SCHEMA = "raw"
DEFAULT_ROW_COUNT_TOLERANCE = 0.5  # warn when an export's size moves more than ±50%
RAW_OPPORTUNITIES = "raw.opportunities"

# Canonical SQL types and the type names a column of each may report. GX compares them two ways:
# by class on DuckDB (SQLAlchemy's generic type and its subclasses: "String", "Float", ...) and by
# name on PostgreSQL ("VARCHAR", "DOUBLE PRECISION", ...); each list holds both.
TYPE_NAMES: dict[str, list[str]] = {
    "VARCHAR": ["String", "VARCHAR", "TEXT", "CHARACTER VARYING"],
    "TIMESTAMP": ["DateTime", "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE"],
    "DATE": ["Date", "DATE"],
    "DOUBLE": ["Float", "DOUBLE PRECISION", "DOUBLE", "FLOAT", "REAL"],
    "INTEGER": ["Integer", "INTEGER", "BIGINT", "SMALLINT"],
    "BIGINT": ["Integer", "BIGINT", "INTEGER"],
    "BOOLEAN": ["Boolean", "BOOLEAN"],
}


@dataclass(frozen=True)
class RawContext:
    """What the raw suites of one export need to know beyond its rows."""

    export_date: date
    stages: tuple[str, ...] = ()  # stage names raw.stages lists for this export
    present: frozenset[str] = frozenset()  # entities with rows in this export
    previous_row_counts: dict[str, int] = field(default_factory=dict)  # entity -> rows last export
    row_count_tolerance: float = DEFAULT_ROW_COUNT_TOLERANCE
    today: date | None = None  # for the export's age; None: not checked
    max_export_age_days: int = 3
    max_staleness_days: int = 7
    min_date: date = date(1990, 1, 1)
    close_date_horizon_days: int = 3650
    max_plausible_amount: float = 1e9
    reporting_currency: str = "USD"  # exchange rates are quoted against it
    # entity -> drift bounds from the previous export (drift.baseline); none: no drift check
    drift_baselines: dict[str, drift.Baseline] = field(default_factory=dict)
    # drift check name -> who accepted it for this export and why (acceptance.accepted_checks)
    accepted: dict[str, str] = field(default_factory=dict)

    @property
    def latest_plausible_time(self) -> datetime:
        """Nothing in an export happened after the end of the day after its date (time zones)."""
        return datetime.combine(self.export_date + timedelta(days=2), time())

    def table(self, entity: str) -> str:
        return f"{SCHEMA}.{entity}"

    def same_export(self) -> str:
        """Condition on another raw table's rows (alias ``t``): the same export."""
        return f"_export_date = {sql_literal(self.export_date)}"


def suite_name(entity: str) -> str:
    return f"{SCHEMA}.{entity}"


def raw_suite(entity: str, context: RawContext) -> gx.ExpectationSuite:
    """The suite of one entity of one export."""
    spec = ENTITIES[entity]
    expectations = [
        *_shape(spec),
        *key_expectations(spec.key),
        *_volume(spec, context),
        *_BY_ENTITY[entity](context),
    ]
    return gx.ExpectationSuite(name=suite_name(entity), expectations=expectations)


def raw_opportunities_suite(
    stages: Iterable[str],
    previous_row_count: int | None = None,
    row_count_tolerance: float = DEFAULT_ROW_COUNT_TOLERANCE,
    export_date: date = date(2000, 1, 1),
) -> gx.ExpectationSuite:
    """The raw.opportunities suite (kept for callers of the first version; see ``raw_suite``)."""
    context = RawContext(
        export_date=export_date,
        stages=tuple(stages),
        previous_row_counts={"opportunities": previous_row_count} if previous_row_count else {},
        row_count_tolerance=row_count_tolerance,
    )
    return raw_suite("opportunities", context)


# -- shared by every entity ---------------------------------------------------------------------------


def _shape(spec: Entity) -> list[gxe.Expectation]:
    """Every canonical column present (others may be), each with its type."""
    return [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*spec.columns, *LOAD_METADATA_COLUMNS], exact_match=False, **tag(ERROR)
        ),
        *(
            gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=TYPE_NAMES[sql_type], **tag(ERROR))
            for column, sql_type in spec.columns.items()
        ),
    ]


def _volume(spec: Entity, context: RawContext) -> list[gxe.Expectation]:
    checks: list[gxe.Expectation] = []
    if spec.required:
        checks.append(gxe.ExpectTableRowCountToBeBetween(min_value=1, **tag(ERROR)))
    previous = context.previous_row_counts.get(spec.name)
    if previous:
        if context.row_count_tolerance < 0:
            raise ValueError("row_count_tolerance must be >= 0")
        checks.append(
            gxe.ExpectTableRowCountToBeBetween(
                min_value=math.floor(previous * (1 - context.row_count_tolerance)),
                max_value=math.ceil(previous * (1 + context.row_count_tolerance)),
                **tag(WARNING, previous_row_count=previous),
            )
        )
    return checks + _drift(spec, context)


def _drift(spec: Entity, context: RawContext) -> list[gxe.Expectation]:
    """Row count and amount total within the drift limits of the previous export's (error)."""
    baseline = context.drift_baselines.get(spec.name)
    if baseline is None:
        return []
    checks: list[gxe.Expectation] = []
    since = f"the export of {baseline.previous_export}"
    if baseline.row_count is not None:
        b = baseline.row_count
        checks.append(
            gxe.ExpectTableRowCountToBeBetween(
                min_value=math.ceil(round(b.min_value, 6)),
                max_value=math.floor(round(b.max_value, 6)),
                description=_accepted(
                    drift.describe(
                        b.name, f"rows within the drift limits of {since} ({b.previous:,.0f} rows)"
                    ),
                    b.name,
                    context,
                ),
                **tag(_drift_severity(b.name, context), drift=b.name, previous=b.previous),
            )
        )
    if baseline.amount_total is not None and baseline.amount_column:
        b = baseline.amount_total
        checks.append(
            gxe.ExpectColumnSumToBeBetween(
                column=baseline.amount_column,
                min_value=b.min_value,
                max_value=b.max_value,
                description=_accepted(
                    drift.describe(b.name, f"total within the drift limits of {since} ({b.previous:,.2f})"),
                    b.name,
                    context,
                ),
                **tag(_drift_severity(b.name, context), drift=b.name, previous=b.previous),
            )
        )
    return checks


def _drift_severity(name: str, context: RawContext) -> Severity:
    return WARNING if name in context.accepted else ERROR


def _accepted(description: str, name: str, context: RawContext) -> str:
    if name not in context.accepted:
        return description
    return f"{description} (accepted: {context.accepted[name]})"


def _created_in_range(column: str, context: RawContext) -> gxe.Expectation:
    """A creation time before min_date or after the export is a parse failure: error."""
    return between(
        column,
        ERROR,
        min_value=datetime.combine(context.min_date, time()),
        max_value=context.latest_plausible_time,
    )


def _categories(columns: Iterable[str]) -> list[gxe.Expectation]:
    checks: list[gxe.Expectation] = []
    for column in columns:
        checks.append(
            gxe.ExpectColumnValuesToNotBeInSet(
                column=column, value_set=list(PLACEHOLDERS), **tag(WARNING, check="placeholder")
            )
        )
        checks.append(case_duplicates(column))
    return checks


def _reference(
    column: str, entity: str, context: RawContext, key: str | None = None
) -> list[gxe.Expectation]:
    """A warning per unresolved reference, when the export holds the referenced entity at all."""
    if entity not in context.present:
        return []
    return [
        references(
            column,
            context.table(entity),
            key or ENTITIES[entity].key[0],
            where=context.same_export(),
        )
    ]


# -- per entity ---------------------------------------------------------------------------------------


def _opportunities(context: RawContext) -> list[gxe.Expectation]:
    stages = context.table("stages")
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="stage", **tag(ERROR)),
        gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=sorted(set(context.stages)), **tag(ERROR)),
        unexpected_rows(
            "is_closed and is_won agree with the stage configuration",
            f"SELECT {BATCH}.opportunity_id, {BATCH}.stage, {BATCH}.is_closed, {BATCH}.is_won FROM {BATCH} "
            f"WHERE EXISTS (SELECT 1 FROM {stages} t WHERE t.{context.same_export()} "
            f"AND t.stage = {BATCH}.stage AND ({BATCH}.pipeline IS NULL OR t.pipeline = {BATCH}.pipeline) "
            f"AND (t.is_closed IS DISTINCT FROM {BATCH}.is_closed "
            f"OR t.is_won IS DISTINCT FROM {BATCH}.is_won))",
            ERROR,
            ["stage", "is_closed", "is_won"],
        ),
        unexpected_rows(
            "A won deal is closed (is_won implies is_closed)",
            f"SELECT opportunity_id, is_won, is_closed FROM {BATCH} WHERE is_won AND is_closed IS NOT TRUE",
            ERROR,
            ["is_won", "is_closed"],
        ),
        # Null amounts are allowed (open deals often have none); present ones are never negative.
        between("amount", ERROR, min_value=0),
        between("amount", WARNING, max_value=context.max_plausible_amount),
        unexpected_rows(
            "Closed-lost deals keep their amount (0 hides the deal size lost)",
            f"SELECT opportunity_id, stage, amount FROM {BATCH} "
            "WHERE is_closed AND NOT is_won AND amount = 0",
            WARNING,
            ["amount"],
        ),
        between("probability", ERROR, min_value=0, max_value=100),
        gxe.ExpectColumnValuesToNotBeNull(column="created_at", **tag(WARNING)),
        _created_in_range("created_at", context),
        between(
            "close_date",
            WARNING,
            min_value=context.min_date,
            max_value=context.export_date + timedelta(days=context.close_date_horizon_days),
        ),
        # Real CRMs hold closed deals whose close date precedes their creation: warn only.
        ordered("created_at", "close_date", WARNING, where="is_closed", key="opportunity_id"),
        ordered("created_at", "last_modified_at", WARNING, key="opportunity_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="account_id", **tag(WARNING)),
        gxe.ExpectColumnValueLengthsToEqual(column="currency", value=3, **tag(WARNING)),
        *_reference("account_id", "accounts", context),
        *_reference("owner_id", "owners", context),
        *_reference("product_id", "products", context),
        *_categories(["lead_source", "type", "forecast_category"]),
        *_freshness(context),
    ]


def _freshness(context: RawContext) -> list[gxe.Expectation]:
    """The export is recent (vs today) and holds recent changes (vs its own date)."""
    checks: list[gxe.Expectation] = []
    if context.today is not None:
        checks.append(
            gxe.ExpectColumnMaxToBeBetween(
                column="_export_date",
                min_value=context.today - timedelta(days=context.max_export_age_days),
                description=f"The export is at most {context.max_export_age_days} days old",
                **tag(WARNING, check="export age"),
            )
        )
    oldest_newest = datetime.combine(context.export_date - timedelta(days=context.max_staleness_days), time())
    checks.append(
        unexpected_rows(
            f"The export's newest change is at most {context.max_staleness_days} days older than the export",
            f"SELECT max(last_modified_at) AS newest_change FROM {BATCH} "
            f"HAVING max(last_modified_at) < {sql_literal(oldest_newest)}",
            WARNING,
            ["last_modified_at"],
        )
    )
    return checks


def _stage_history(context: RawContext) -> list[gxe.Expectation]:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="stage", **tag(ERROR)),
        gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=sorted(set(context.stages)), **tag(ERROR)),
        between("amount", ERROR, min_value=0),
        between("amount", WARNING, max_value=context.max_plausible_amount),
        between("probability", ERROR, min_value=0, max_value=100),
        _created_in_range("changed_at", context),
        *_reference("opportunity_id", "opportunities", context),
    ]


def _stages(context: RawContext) -> list[gxe.Expectation]:
    return [
        *(
            gxe.ExpectColumnValuesToNotBeNull(column=c, **tag(ERROR))
            for c in ("sort_order", "is_closed", "is_won")
        ),
        between("probability", ERROR, min_value=0, max_value=100),
        unexpected_rows(
            "A won stage is closed",
            f"SELECT pipeline, stage FROM {BATCH} WHERE is_won AND is_closed IS NOT TRUE",
            ERROR,
            ["is_won", "is_closed"],
        ),
        unexpected_rows(
            "The stage configuration has a won stage",
            f"SELECT count(*) AS stages FROM {BATCH} HAVING count(CASE WHEN is_won THEN 1 END) = 0",
            ERROR,
            ["is_won"],
        ),
        unique_together(["pipeline", "sort_order"], WARNING),
    ]


def _accounts(context: RawContext) -> list[gxe.Expectation]:
    return [
        gxe.ExpectColumnValuesToBeInSet(
            column="industry",
            value_set=case_variants(INDUSTRIES),
            **tag(WARNING, check="accepted industries"),
        ),
        between("employees", ERROR, min_value=0),
        between("annual_revenue", ERROR, min_value=0),
        _created_in_range("created_at", context),
        *_categories(["industry", "segment", "country"]),
    ]


def _owners(context: RawContext) -> list[gxe.Expectation]:
    return [
        *_reference("manager_id", "owners", context),
        *_categories(["team", "region"]),
    ]


def _products(context: RawContext) -> list[gxe.Expectation]:
    return [
        between("list_price", ERROR, min_value=0),
        between("list_price", WARNING, max_value=context.max_plausible_amount),
        *_categories(["family"]),
    ]


def _line_items(context: RawContext) -> list[gxe.Expectation]:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="opportunity_id", **tag(ERROR)),
        between("quantity", ERROR, min_value=0),
        between("quantity", WARNING, min_value=0, strict_min=True),
        between("unit_price", ERROR, min_value=0),
        between("unit_price", WARNING, max_value=context.max_plausible_amount),
        *_reference("opportunity_id", "opportunities", context),
        *_reference("product_id", "products", context),
    ]


def _leads(context: RawContext) -> list[gxe.Expectation]:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="created_at", **tag(WARNING)),
        _created_in_range("created_at", context),
        _created_in_range("converted_at", context),
        ordered("created_at", "converted_at", WARNING, key="lead_id"),
        *_reference("converted_opportunity_id", "opportunities", context),
        *_reference("owner_id", "owners", context),
        *_categories(["source", "campaign", "status"]),
    ]


def _targets(context: RawContext) -> list[gxe.Expectation]:
    return [
        between("amount", ERROR, min_value=0),
        between("amount", WARNING, max_value=context.max_plausible_amount),
        ordered("period_start", "period_end", ERROR),
        *_reference("owner_id", "owners", context),
    ]


def _exchange_rates(context: RawContext) -> list[gxe.Expectation]:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="rate", **tag(ERROR)),
        between("rate", ERROR, min_value=0, strict_min=True),
        gxe.ExpectColumnValueLengthsToEqual(column="currency", value=3, **tag(ERROR)),
        _created_in_range("rate_date", context),
        gxe.ExpectColumnValuesToBeInSet(
            column="base_currency",
            value_set=[context.reporting_currency],
            description=(
                f"Rates are quoted against the reporting currency {context.reporting_currency} "
                "(PIPECAST_REPORTING_CURRENCY)"
            ),
            **tag(ERROR),
        ),
    ]


_BY_ENTITY: dict[str, Callable[[RawContext], list[gxe.Expectation]]] = {
    "opportunities": _opportunities,
    "opportunity_stage_history": _stage_history,
    "stages": _stages,
    "accounts": _accounts,
    "owners": _owners,
    "products": _products,
    "line_items": _line_items,
    "leads": _leads,
    "targets": _targets,
    "exchange_rates": _exchange_rates,
}
assert set(_BY_ENTITY) == set(ENTITIES), "every canonical entity needs a raw suite"
