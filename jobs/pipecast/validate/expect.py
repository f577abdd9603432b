"""Builders for the expectations the suites in ``expectations/`` share.

Most checks are Great Expectations' own column and table expectations. What a column expectation
cannot say (a row against other rows or tables: references, date order, a funnel that must not
rise) is an ``UnexpectedRowsExpectation``: a SQL query, run in the warehouse, whose rows are the
violations. ``rows_query`` writes those queries so that they read the batch as ``b`` on DuckDB and
PostgreSQL alike; every query here is plain SQL both accept.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import great_expectations.expectations as gxe
from great_expectations.expectations.metrics.query_metric_provider import _query_has_join_clause

from pipecast.validate.severity import ERROR, WARNING, Severity, tag

# The name a rows_query body reads the batch's rows by.
BATCH = "b"


def rows_query(body: str) -> str:
    """A query for UnexpectedRowsExpectation: ``body`` selects the violating rows from ``b``.

    GX substitutes ``{batch}`` with the batch as a subquery, which it aliases itself unless the
    query contains a JOIN (then the query must alias it). PostgreSQL wants every subquery in FROM
    aliased, so the alias is added exactly when GX leaves it out, using GX's own test for it.
    """
    if "{" in body or "}" in body:
        raise ValueError("a rows_query body must not contain braces (GX formats the query)")
    alias = " AS batch_rows" if _query_has_join_clause(body) else ""
    return f"WITH {BATCH} AS (SELECT * FROM {{batch}}{alias}) {body}"


def unexpected_rows(
    description: str, body: str, severity: Severity, columns: Iterable[str] = ()
) -> gxe.UnexpectedRowsExpectation:
    """An expectation that ``body`` (see rows_query) selects no rows."""
    return gxe.UnexpectedRowsExpectation(
        description=description,
        unexpected_rows_query=rows_query(body),
        **tag(severity, columns=list(columns)),
    )


def q(identifier: str) -> str:
    """A quoted SQL identifier (column names such as ``type`` are keywords somewhere)."""
    return '"' + identifier.replace('"', '""') + '"'


def sql_literal(value: date | datetime | str) -> str:
    """A typed SQL literal both DuckDB and PostgreSQL read (values come from code, not data)."""
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + value.replace("'", "''") + "'"


def key_expectations(
    key: Iterable[str], severity: Severity = ERROR, nullable: Iterable[str] = ()
) -> list[gxe.Expectation]:
    """Every key column present and not null (but those in ``nullable``), and one row per key."""
    columns = list(key)
    may_be_null = set(nullable)
    checks: list[gxe.Expectation] = [
        gxe.ExpectColumnValuesToNotBeNull(column=c, **tag(severity)) for c in columns if c not in may_be_null
    ]
    if len(columns) == 1:
        checks.append(gxe.ExpectColumnValuesToBeUnique(column=columns[0], **tag(severity)))
    else:
        checks.append(unique_together(columns, severity))
    return checks


def unique_together(columns: Iterable[str], severity: Severity) -> gxe.UnexpectedRowsExpectation:
    """One row per combination of ``columns``: the duplicated combinations are the violations.

    GX's ExpectCompoundColumnsToBeUnique joins the whole table back to its group counts, a hash
    join as large as the table that DuckDB cannot fit in a bounded memory_limit at L; a GROUP BY
    ... HAVING finds the same duplicates with one aggregate, which spills to disk when it must.
    """
    names = list(columns)
    keys = ", ".join(q(c) for c in names)
    return unexpected_rows(
        f"One row per ({', '.join(names)})",
        f"SELECT {keys}, count(*) AS copies FROM {BATCH} GROUP BY {keys} HAVING count(*) > 1",
        severity,
        names,
    )


def references(
    column: str,
    table: str,
    key: str,
    *,
    where: str | None = None,
    severity: Severity = WARNING,
) -> gxe.UnexpectedRowsExpectation:
    """Every non-null ``column`` value is a ``key`` of ``table`` (rows of it matching ``where``)."""
    scope = f" AND t.{where}" if where else ""
    value = f"{BATCH}.{q(column)}"
    return unexpected_rows(
        f"{column} resolves to a {table}.{key} (one row per unresolved value)",
        f"SELECT {value}, count(*) AS n_rows FROM {BATCH} "
        f"WHERE {value} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {table} t WHERE t.{q(key)} = {value}{scope}) "
        f"GROUP BY {value}",
        severity,
        [column],
    )


def case_duplicates(column: str, severity: Severity = WARNING) -> gxe.UnexpectedRowsExpectation:
    """No category spelled two ways that differ only by case (``Google`` and ``google``)."""
    c = q(column)
    return unexpected_rows(
        f"{column}: one spelling per category, ignoring case (one row per category)",
        f"SELECT lower({c}) AS category, count(DISTINCT {c}) AS spellings FROM {BATCH} "
        f"WHERE {c} IS NOT NULL GROUP BY lower({c}) HAVING count(DISTINCT {c}) > 1",
        severity,
        [column],
    )


def case_variants(values: Iterable[str]) -> list[str]:
    """``values`` as written, lower, upper and title case: a case-insensitive value set."""
    return sorted({v2 for v in values for v2 in (v, v.lower(), v.upper(), v.title())})


def ordered(
    earlier: str, later: str, severity: Severity, *, where: str | None = None, key: str | None = None
) -> gxe.UnexpectedRowsExpectation:
    """``earlier <= later`` wherever both are set (comparing as dates), on rows matching ``where``."""
    scope = f" AND ({where})" if where else ""
    shown = ", ".join(q(c) for c in (key, earlier, later) if c)
    return unexpected_rows(
        f"{earlier} on or before {later}" + (f" where {where}" if where else ""),
        f"SELECT {shown} FROM {BATCH} WHERE CAST({q(earlier)} AS DATE) > CAST({q(later)} AS DATE){scope}",
        severity,
        [earlier, later],
    )


def between(column: str, severity: Severity, **bounds: Any) -> gxe.ExpectColumnValuesToBeBetween:
    """Non-null values of ``column`` within ``min_value``/``max_value`` (nulls are not checked)."""
    return gxe.ExpectColumnValuesToBeBetween(column=column, **bounds, **tag(severity))
