"""Every amount of an export can be converted to the reporting currency: a rate exists for it.

The marts report amounts in one currency (``Settings.reporting_currency``, dbt's
``reporting_currency()``); staging converts an amount in another currency at the rate in effect
on the deal's close date (else its creation date), from the newest export's ``exchange_rates``.
An amount whose currency has no rate on or before that date cannot be converted: that export is
rejected here, in raw validation, naming the currency, the dates and an example row, rather than
failing the dbt build half way (dbt's ``has_exchange_rate`` test is the second guard). An amount
without a currency, or in the reporting currency, needs no rate.

The SQL here is the same rule as ``dbt_project/macros/currency.sql``: keep them in step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipecast.validate import target
from pipecast.validate.audit import ResultRow
from pipecast.validate.severity import ERROR

SUITE = "raw.currency"
EXPECTATION_TYPE = "pipecast_exchange_rate"
CHECK = "opportunities.exchange_rate.currency"
EXAMPLES = 3


@dataclass(frozen=True)
class MissingRate:
    """Rows in ``currency`` whose conversion date (``first``..``last``) has no rate."""

    entity: str
    currency: str
    first: date
    last: date
    rows: int
    example: str  # a key and the file it came from

    def describe(self, reporting_currency: str) -> str:
        dates = f"{self.first}" if self.first == self.last else f"{self.first}..{self.last}"
        return (
            f"no {self.currency} -> {reporting_currency} rate on or before {dates} "
            f"({self.rows:,} {self.entity} rows, e.g. {self.example})"
        )


def missing_rates(conn: Connection, export_date: date, reporting_currency: str) -> list[MissingRate]:
    """Currencies and dates of this export's amounts that no exchange rate covers."""
    if "currency" not in target.table_columns(conn, "raw", "opportunities"):
        return []  # the shape check reports the missing column
    has_rates = target.table_exists(conn, "raw", "exchange_rates")
    rates = (
        "SELECT upper(currency) AS currency, rate_date FROM raw.exchange_rates WHERE _export_date = "
        "(SELECT max(_export_date) FROM raw.exchange_rates WHERE _export_date <= :d)"
        if has_rates
        else "SELECT CAST(NULL AS VARCHAR) AS currency, CAST(NULL AS DATE) AS rate_date WHERE 1 = 0"
    )
    deals = (
        "SELECT 'opportunities' AS entity, upper(o.currency) AS currency, "
        "coalesce(o.close_date, CAST(o.created_at AS DATE), o._export_date) AS on_date, "
        "o.opportunity_id || ' in ' || o._source_file AS example "
        "FROM raw.opportunities o WHERE o._export_date = :d AND o.amount IS NOT NULL "
        "AND o.currency IS NOT NULL AND upper(o.currency) <> :r"
    )
    history = (
        "SELECT 'opportunity_stage_history' AS entity, upper(o.currency) AS currency, "
        "coalesce(h.close_date, CAST(h.changed_at AS DATE)) AS on_date, "
        "h.opportunity_id || ' in ' || h._source_file AS example "
        "FROM raw.opportunity_stage_history h JOIN raw.opportunities o "
        "ON o.opportunity_id = h.opportunity_id AND o._export_date = h._export_date "
        "WHERE h._export_date = :d AND h.amount IS NOT NULL "
        "AND o.currency IS NOT NULL AND upper(o.currency) <> :r"
    )
    sql = (
        f"WITH rates AS ({rates}), amounts AS ({deals} UNION ALL {history}) "
        "SELECT entity, currency, min(on_date), max(on_date), count(*), min(example) FROM amounts a "
        "WHERE NOT EXISTS (SELECT 1 FROM rates r WHERE r.currency = a.currency AND r.rate_date <= a.on_date) "
        "GROUP BY entity, currency ORDER BY entity, currency"
    )
    rows = conn.execute(sa.text(sql), {"d": export_date, "r": reporting_currency.upper()}).all()
    return [MissingRate(r[0], r[1], r[2], r[3], int(r[4]), r[5]) for r in rows]


def result_rows(
    missing: Sequence[MissingRate], reporting_currency: str, *, run_id: str, stage: str
) -> list[ResultRow]:
    """One audit row: the check passed, or every currency and date range without a rate."""
    observed = "; ".join(m.describe(reporting_currency) for m in missing[:EXAMPLES])
    if len(missing) > EXAMPLES:
        observed += f"; and {len(missing) - EXAMPLES} more"
    if missing:
        observed += " (add the rates to the export's exchange_rates, or set PIPECAST_REPORTING_CURRENCY)"
    description = (
        f"currency {CHECK}: every amount in another currency than {reporting_currency} has an "
        "exchange rate on or before its close date (exchange_rates of the newest export)"
    )
    return [
        ResultRow(
            run_id=run_id,
            validated_at=datetime.now(UTC).replace(tzinfo=None),
            stage=stage,
            suite=SUITE,
            expectation_type=EXPECTATION_TYPE,
            column_name="currency",
            severity=ERROR,
            success=not missing,
            observed_value=observed or "every amount has a rate",
            unexpected_count=None,  # the observed value says how many rows, per currency
            details=json.dumps({"description": description, "kwargs": {}, "check": CHECK}),
        )
    ]
