"""Expectation suites for the raw stage: one CRM export as loaded into raw.*.

Loaded by the runner with ``pipecast.validate.suites.load("raw_suites")``. Every expectation is
tagged ``error`` (the export is quarantined, nothing downstream is replaced) or ``warning``
(reported and audited only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import great_expectations as gx
import great_expectations.expectations as gxe
from pipecast.canonical import OPPORTUNITIES
from pipecast.validate.severity import ERROR, WARNING, tag

RAW_OPPORTUNITIES = "raw.opportunities"
DEFAULT_ROW_COUNT_TOLERANCE = 0.5  # warn when an export's size moves more than ±50%


def raw_opportunities_suite(
    stages: Iterable[str],
    previous_row_count: int | None = None,
    row_count_tolerance: float = DEFAULT_ROW_COUNT_TOLERANCE,
) -> gx.ExpectationSuite:
    """The suite for one export of raw.opportunities.

    Args:
        stages: the stage names raw.stages lists for the same export.
        previous_row_count: rows in the previous export, if there is one (for the size band).
        row_count_tolerance: relative band around previous_row_count, 0.5 meaning ±50%.
    """
    if row_count_tolerance < 0:
        raise ValueError("row_count_tolerance must be >= 0")
    expectations: list[gxe.Expectation] = [
        *(gxe.ExpectColumnToExist(column=c, **tag(ERROR)) for c in OPPORTUNITIES.columns),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, **tag(ERROR)),
        gxe.ExpectColumnValuesToNotBeNull(column="opportunity_id", **tag(ERROR)),
        gxe.ExpectColumnValuesToBeUnique(column="opportunity_id", **tag(ERROR)),
        gxe.ExpectColumnValuesToNotBeNull(column="stage", **tag(ERROR)),
        gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=sorted(set(stages)), **tag(ERROR)),
        # Null amounts are allowed (open deals often have none); present ones are never negative.
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, mostly=1.0, **tag(ERROR)),
        gxe.ExpectColumnValuesToBeBetween(column="probability", min_value=0, max_value=100, **tag(ERROR)),
        gxe.UnexpectedRowsExpectation(
            description="A won deal is closed (is_won implies is_closed)",
            unexpected_rows_query=(
                "SELECT opportunity_id, is_won, is_closed FROM {batch} WHERE is_won AND is_closed IS NOT TRUE"
            ),
            **tag(ERROR, columns=["is_won", "is_closed"]),
        ),
        # Real CRMs hold closed deals whose close date precedes their creation: warn only.
        gxe.UnexpectedRowsExpectation(
            description="A closed deal closes on or after the day it was created",
            unexpected_rows_query=(
                "SELECT opportunity_id, created_at, close_date FROM {batch} "
                "WHERE is_closed AND CAST(created_at AS DATE) > close_date"
            ),
            **tag(WARNING, columns=["created_at", "close_date"]),
        ),
    ]
    if previous_row_count:
        expectations.append(
            gxe.ExpectTableRowCountToBeBetween(
                min_value=math.floor(previous_row_count * (1 - row_count_tolerance)),
                max_value=math.ceil(previous_row_count * (1 + row_count_tolerance)),
                **tag(WARNING, previous_row_count=previous_row_count),
            )
        )
    return gx.ExpectationSuite(name=RAW_OPPORTUNITIES, expectations=expectations)
