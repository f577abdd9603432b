"""Drift between one export and the previous one: checks that stop the night, not warn.

A CRM export is a full snapshot, so tonight's export should look much like last night's. What
cannot be seen in one export alone is caught here, by comparing the two in SQL in the warehouse
(DuckDB or PostgreSQL; only a few aggregates per entity come back to Python):

- ``row_count``, ``amount_total``: the rows of each entity and the sum of its amounts against the
  previous export's, within per-entity limits (``drift_max_row_drop`` ...). These two are Great
  Expectations' own table and column expectations (``expectations/raw_suites.py``), bounded by the
  ``Baseline`` computed here;
- ``amount_unit``: a change of unit (x100 cents, x1000, /100) or of currency under the same
  numbers: the median ratio of each row's amount to the same key's amount in the previous export
  (the median of all amounts when too few keys match);
- ``currency_share``: the share of amounts in each currency (USD -> JPY, a currency lost);
- ``column_fill``: a column filled in far fewer rows than before (a column missing or renamed in
  the source: ``currency`` -> ``curr`` leaves ``currency`` null in every row);
- ``orphans``: the share of opportunities whose account, owner or product the export does not
  hold, rising.

The last four are plain SQL (GX has no expectation comparing two exports key by key); their
results are ``audit.validation_results`` rows of the suite ``raw.drift``, like every other result.
Each check has a name, ``<entity>.<kind>[.<column>]``: an operator who accepts a flagged export
(``pipecast accept``) accepts the names that failed, and only for that export (``acceptance.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipecast.canonical import ENTITIES
from pipecast.config import Settings
from pipecast.validate.audit import ResultRow
from pipecast.validate.severity import ERROR, WARNING, Severity

log = logging.getLogger(__name__)

SCHEMA = "raw"
SUITE = "raw.drift"
EXPORT_DATE_COLUMN = "_export_date"
# The expectation_type of the SQL drift checks' audit rows.
EXPECTATION_TYPE = "pipecast_drift"
# Every drift check's description starts with this and the check's name (acceptance reads it).
DESCRIPTION_PREFIX = "drift "

# The amount each entity carries (in the deal's currency), for totals and the unit check.
AMOUNT_COLUMNS: dict[str, str] = {
    "opportunities": "amount",
    "opportunity_stage_history": "amount",
    "line_items": "unit_price",
    "products": "list_price",
    "targets": "amount",
    "exchange_rates": "rate",
}
# Reference data that grows by design (a rate per day): no row count or total bounds, the unit
# check (a rate x100) still applies.
NO_VOLUME_BOUNDS = frozenset({"exchange_rates"})
# opportunities -> the entity each reference column names (its key).
REFERENCES: dict[str, str] = {"account_id": "accounts", "owner_id": "owners", "product_id": "products"}
# Below this many rows matched by key, the unit check compares the two exports' medians instead.
MIN_MATCHED_ROWS = 10
NO_CURRENCY = "(none)"


def check_name(entity: str, kind: str, column: str | None = None) -> str:
    return f"{entity}.{kind}" + (f".{column}" if column else "")


def describe(name: str, text: str) -> str:
    """The description of a drift check: ``drift <name>: <text>`` (see ``name_of``)."""
    return f"{DESCRIPTION_PREFIX}{name}: {text}"


def name_of(description: str | None) -> str | None:
    """The check name in a drift check's description, None for any other expectation."""
    if not description or not description.startswith(DESCRIPTION_PREFIX):
        return None
    return description[len(DESCRIPTION_PREFIX) :].split(":", 1)[0].strip()


@dataclass(frozen=True)
class Limits:
    """The drift limits of the settings, per entity where they are per entity."""

    max_row_drop: Mapping[str, float]
    max_row_rise: Mapping[str, float]
    max_amount_drop: Mapping[str, float]
    max_amount_rise: Mapping[str, float]
    max_unit_ratio: float = 5.0
    max_currency_share_shift: float = 0.2
    max_fill_drop: float = 0.5
    max_orphan_rise: float = 0.01

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_row_drop=settings.drift_max_row_drop,
            max_row_rise=settings.drift_max_row_rise,
            max_amount_drop=settings.drift_max_amount_drop,
            max_amount_rise=settings.drift_max_amount_rise,
            max_unit_ratio=settings.drift_max_unit_ratio,
            max_currency_share_shift=settings.drift_max_currency_share_shift,
            max_fill_drop=settings.drift_max_fill_drop,
            max_orphan_rise=settings.drift_max_orphan_rise,
        )

    @staticmethod
    def per_entity(limits: Mapping[str, float], entity: str) -> float:
        value = limits.get(entity, limits.get("default"))
        if value is None or value < 0:
            raise ValueError(f"drift limit for {entity}: {dict(limits)} needs a 'default' (>= 0)")
        return float(value)


@dataclass(frozen=True)
class Bounds:
    """Allowed range of a value of this export, from the previous export's value."""

    name: str
    previous: float
    min_value: float
    max_value: float


@dataclass(frozen=True)
class Baseline:
    """What the GX drift expectations of one entity are bounded by (``raw_suites``)."""

    entity: str
    previous_export: date
    row_count: Bounds | None = None
    amount_total: Bounds | None = None
    amount_column: str | None = None


@dataclass(frozen=True)
class Finding:
    """One SQL drift check's result."""

    name: str
    entity: str
    column: str | None
    success: bool
    observed: str
    text: str  # what the check expects (the description after the name)
    severity: Severity = ERROR


def previous_export(conn: Connection, entity: str, export_date: date) -> date | None:
    """The export the drift of ``export_date`` is measured against: the newest older good one.

    A quarantined export is taken back out of raw.*; where the warehouse keeps the export
    lifecycle (audit.export_lifecycle), only exports validated or published count, so a loaded
    export that was never validated is no baseline either.
    """
    servable = ""
    if _has_lifecycle(conn):
        servable = (
            f" AND {EXPORT_DATE_COLUMN} IN (SELECT export_date FROM (SELECT export_date, state, "
            "row_number() OVER (PARTITION BY export_date ORDER BY changed_at DESC) AS _n "
            "FROM audit.export_lifecycle) AS steps WHERE _n = 1 AND state IN ('validated', 'published'))"
        )
    return _scalar(
        conn,
        f"SELECT max({EXPORT_DATE_COLUMN}) FROM {SCHEMA}.{entity} WHERE {EXPORT_DATE_COLUMN} < :d{servable}",
        d=export_date,
    )


def _has_lifecycle(conn: Connection) -> bool:
    return bool(
        _scalar(
            conn,
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'audit' AND table_name = 'export_lifecycle'",
        )
    )


def baseline(conn: Connection, entity: str, previous: date, limits: Limits) -> Baseline:
    """Bounds of this export's row count and amount total, from the previous export's."""
    if entity in NO_VOLUME_BOUNDS:
        return Baseline(entity, previous)
    amount = AMOUNT_COLUMNS.get(entity)
    sum_sql = f", sum({amount})" if amount else ""
    row = conn.execute(
        sa.text(f"SELECT count(*){sum_sql} FROM {SCHEMA}.{entity} WHERE {EXPORT_DATE_COLUMN} = :d"),
        {"d": previous},
    ).one()
    rows = int(row[0])
    row_bounds = (
        _bounds(
            check_name(entity, "row_count"),
            rows,
            Limits.per_entity(limits.max_row_drop, entity),
            Limits.per_entity(limits.max_row_rise, entity),
        )
        if rows
        else None
    )
    total = float(row[1]) if amount and row[1] is not None else None
    amount_bounds = (
        _bounds(
            check_name(entity, "amount_total", amount),
            total,
            Limits.per_entity(limits.max_amount_drop, entity),
            Limits.per_entity(limits.max_amount_rise, entity),
        )
        if total
        else None
    )
    return Baseline(entity, previous, row_bounds, amount_bounds, amount if amount_bounds else None)


def _bounds(name: str, previous: float, drop: float, rise: float) -> Bounds:
    # rounded to cents: 40 rows less 70% is 12, not 12.000000000000002
    return Bounds(name, previous, round(max(previous * (1 - drop), 0.0), 2), round(previous * (1 + rise), 2))


def check_export(
    conn: Connection,
    export_date: date,
    entities: Sequence[str],
    limits: Limits,
) -> list[Finding]:
    """The SQL drift checks of every entity in ``entities`` that the previous export holds too."""
    findings: list[Finding] = []
    for entity in entities:
        previous = previous_export(conn, entity, export_date)
        if previous is None:
            continue
        findings += _fill(conn, entity, export_date, previous, limits)
        if entity in AMOUNT_COLUMNS:
            findings += _unit(conn, entity, export_date, previous, limits)
        if entity == "opportunities":
            findings += _currency_share(conn, export_date, previous, limits)
            findings += _orphans(conn, export_date, previous, entities, limits)
    return findings


def result_rows(
    findings: Sequence[Finding],
    *,
    run_id: str,
    stage: str,
    accepted: Mapping[str, str] | None = None,
) -> list[ResultRow]:
    """Audit rows of the findings; a failed check named in ``accepted`` (name -> who and why)
    is recorded as a warning that says so."""
    validated_at = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for f in findings:
        severity, text = f.severity, f.text
        if not f.success and accepted and f.name in accepted:
            severity, text = WARNING, f"{text} (accepted: {accepted[f.name]})"
        rows.append(
            ResultRow(
                run_id=run_id,
                validated_at=validated_at,
                stage=stage,
                suite=SUITE,
                expectation_type=EXPECTATION_TYPE,
                column_name=f.column,
                severity=severity,
                success=f.success,
                observed_value=f.observed,
                unexpected_count=None,
                details=json.dumps(
                    {"description": describe(f.name, text), "kwargs": {"entity": f.entity}, "check": f.name}
                ),
            )
        )
    return rows


# -- the checks -------------------------------------------------------------------------------------


def _fill(conn: Connection, entity: str, now: date, previous: date, limits: Limits) -> list[Finding]:
    """Each column's share of non-null rows, this export against the previous one."""
    spec = ENTITIES[entity]
    columns = [c for c in spec.columns if c not in spec.key and c in _table_columns(conn, entity)]
    if not columns:
        return []
    counts = ", ".join(f'count("{c}")' for c in columns)
    sql = sa.text(f"SELECT count(*), {counts} FROM {SCHEMA}.{entity} WHERE {EXPORT_DATE_COLUMN} = :d")
    now_row = conn.execute(sql, {"d": now}).one()
    before_row = conn.execute(sql, {"d": previous}).one()
    if not now_row[0] or not before_row[0]:
        return []
    findings = []
    for i, column in enumerate(columns, start=1):
        fill_now = now_row[i] / now_row[0]
        fill_before = before_row[i] / before_row[0]
        if fill_before == 0:
            continue
        drop = fill_before - fill_now
        findings.append(
            Finding(
                name=check_name(entity, "column_fill", column),
                entity=entity,
                column=column,
                success=drop <= limits.max_fill_drop,
                observed=(
                    f"{column} filled in {fill_now:.0%} of {now_row[0]:,} rows, "
                    f"{fill_before:.0%} of {before_row[0]:,} in the export of {previous}"
                    + (" (missing or renamed in the source?)" if now_row[i] == 0 else "")
                ),
                text=(
                    f"{entity}.{column} is filled in at most {limits.max_fill_drop:.0%} fewer rows than "
                    "in the previous export"
                ),
            )
        )
    return findings


def _median(conn: Connection, expression: str) -> str:
    """SQL for the median of ``expression``. On DuckDB an approximate one (a t-digest in constant
    memory): the exact ordered aggregate holds every value and, under the validation connection's
    memory_limit, ran out of memory on 5.5M history rows (the L benchmark). A unit check looks for a
    factor of 100, so an approximate median is exact enough. PostgreSQL's server spills its own."""
    if conn.dialect.name == "duckdb":
        return f"approx_quantile({expression}, 0.5)"
    return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {expression})"


def _unit(conn: Connection, entity: str, now: date, previous: date, limits: Limits) -> list[Finding]:
    """The median ratio of amounts to the previous export's: key by key, else of the medians."""
    amount = AMOUNT_COLUMNS[entity]
    if amount not in _table_columns(conn, entity):
        return []
    key = ENTITIES[entity].key
    join = " AND ".join(f'n."{k}" = p."{k}"' for k in key)
    matched = conn.execute(
        sa.text(
            f"SELECT count(*), {_median(conn, f'n.{amount} / p.{amount}')}, "
            f"(SELECT count(*) FROM {SCHEMA}.{entity} WHERE {EXPORT_DATE_COLUMN} = :now AND {amount} > 0) "
            f"FROM {SCHEMA}.{entity} n JOIN {SCHEMA}.{entity} p ON {join} "
            f"WHERE n.{EXPORT_DATE_COLUMN} = :now AND p.{EXPORT_DATE_COLUMN} = :previous "
            f"AND n.{amount} > 0 AND p.{amount} > 0"
        ),
        {"now": now, "previous": previous},
    ).one()
    # Key by key when enough rows match (or most of this export's do); else the exports were
    # re-keyed and only their medians compare.
    if matched[0] and (matched[0] >= MIN_MATCHED_ROWS or 2 * matched[0] >= matched[2]):
        ratio, how = float(matched[1]), f"median ratio of {matched[0]:,} rows' {amount} to the same key's"
    else:
        median = (
            f"SELECT {_median(conn, amount)} FROM {SCHEMA}.{entity} "
            f"WHERE {EXPORT_DATE_COLUMN} = :d AND {amount} > 0"
        )
        now_median = _scalar(conn, median, d=now)
        before_median = _scalar(conn, median, d=previous)
        if not now_median or not before_median:
            return []
        ratio, how = float(now_median) / float(before_median), f"ratio of the median {amount} to the median"
    limit = limits.max_unit_ratio
    return [
        Finding(
            name=check_name(entity, "amount_unit", amount),
            entity=entity,
            column=amount,
            success=1 / limit < ratio < limit,
            observed=f"{how} in the export of {previous}: {ratio:.4g}",
            text=(
                f"{entity}.{amount} keeps its unit and currency: the median ratio to the previous "
                f"export is within 1/{limit:g}..{limit:g} (x100 cents, x1000, /100 fail)"
            ),
        )
    ]


def _currency_share(conn: Connection, now: date, previous: date, limits: Limits) -> list[Finding]:
    """The share of the amounts of opportunities in each currency, against the previous export."""
    if "currency" not in _table_columns(conn, "opportunities"):
        return []
    sql = sa.text(
        f"SELECT coalesce(currency, '{NO_CURRENCY}'), count(*) FROM {SCHEMA}.opportunities "
        f"WHERE {EXPORT_DATE_COLUMN} = :d AND amount IS NOT NULL GROUP BY 1"
    )
    shares_now = _shares(conn.execute(sql, {"d": now}).all())
    shares_before = _shares(conn.execute(sql, {"d": previous}).all())
    if not shares_now or not shares_before:
        return []
    shifts = {
        c: shares_now.get(c, 0.0) - shares_before.get(c, 0.0) for c in sorted({*shares_now, *shares_before})
    }
    moved = {c: s for c, s in shifts.items() if abs(s) > limits.max_currency_share_shift}
    shown = moved or dict(sorted(shifts.items(), key=lambda kv: -abs(kv[1]))[:3])
    observed = ", ".join(
        f"{c} {shares_before.get(c, 0.0):.0%} -> {shares_now.get(c, 0.0):.0%}" for c in shown
    )
    return [
        Finding(
            name=check_name("opportunities", "currency_share", "currency"),
            entity="opportunities",
            column="currency",
            success=not moved,
            observed=f"share of amounts by currency since the export of {previous}: {observed}",
            text=(
                "the share of opportunities' amounts in each currency moves by at most "
                f"{limits.max_currency_share_shift:.0%} points"
            ),
        )
    ]


def _shares(rows: Sequence[Sequence[object]]) -> dict[str, float]:
    total = sum(int(r[1]) for r in rows)  # type: ignore[call-overload]
    return {str(r[0]): int(r[1]) / total for r in rows} if total else {}  # type: ignore[call-overload]


def _orphans(
    conn: Connection, now: date, previous: date, entities: Sequence[str], limits: Limits
) -> list[Finding]:
    """The share of opportunities naming an account, owner or product the export does not hold."""
    findings = []
    columns = _table_columns(conn, "opportunities")
    for column, entity in REFERENCES.items():
        if entity not in entities or column not in columns:
            continue
        if previous_export(conn, entity, now) is None:
            continue
        key = ENTITIES[entity].key[0]
        sql = sa.text(
            f"SELECT (SELECT count(*) FROM {SCHEMA}.opportunities o "
            f"WHERE o.{EXPORT_DATE_COLUMN} = :d AND o.{column} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {SCHEMA}.{entity} t "
            f"WHERE t.{EXPORT_DATE_COLUMN} = :d AND t.{key} = o.{column})), "
            f"(SELECT count(*) FROM {SCHEMA}.opportunities WHERE {EXPORT_DATE_COLUMN} = :d)"
        )
        orphans_now, rows_now = conn.execute(sql, {"d": now}).one()
        orphans_before, rows_before = conn.execute(sql, {"d": previous}).one()
        if not rows_now or not rows_before:
            continue
        share_now, share_before = orphans_now / rows_now, orphans_before / rows_before
        findings.append(
            Finding(
                name=check_name("opportunities", "orphans", column),
                entity="opportunities",
                column=column,
                success=share_now - share_before <= limits.max_orphan_rise,
                observed=(
                    f"{orphans_now:,} of {rows_now:,} opportunities ({share_now:.1%}) name a {column} "
                    f"missing from {entity}; {orphans_before:,} ({share_before:.1%}) "
                    f"in the export of {previous}"
                ),
                text=(
                    f"the share of opportunities whose {column} is not in {entity} rises by at most "
                    f"{limits.max_orphan_rise:.1%} points"
                ),
            )
        )
    return findings


def _table_columns(conn: Connection, table: str) -> set[str]:
    rows = conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t"
        ),
        {"s": SCHEMA, "t": table},
    )
    return {r[0] for r in rows}


def _scalar(conn: Connection, sql: str, **params: object) -> object:
    return conn.execute(sa.text(sql), params).scalar()
