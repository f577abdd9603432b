"""Expectation suites for the predictions the forecast job writes back (schema ``ml``), per night.

Imported by the runner, pipecast.validate.predictions, as ``pipecast_expectations.prediction_suites``.
The batch of each suite is one night: the rows whose ``as_of`` is the night validated.

- ml.opportunity_scores: one score per deal, probabilities within [0, 1], model_version and
  run_id present, one run per night; and, against the deals of that night (``OpenDeals``):
  every open deal scored, no closed deal and no unknown deal scored (all errors).
- ml.revenue_forecast: one row per period and method, P10 <= P50 <= P90, the model's range present,
  nothing below the revenue already won, model_version present (errors).
- ml.revenue_forecast_segments, ml.product_propensity, ml.lead_scores: one row per key, ranges
  ordered, model_version present (errors).
- every prediction table: each probability column (``p_*``, ``*probability*``, ``*propensity*``)
  within [0, 1] (error).
- every table with drivers (ml.opportunity_scores, ml.lead_scores: the columns of
  ``pipecast.forecast.writeback.DRIVER_COLUMNS``): each named driver has an effect and each effect
  a name, and the three are ordered by the size of their effect (warnings: an explanation, not
  the forecast).

A table the forecast job does not write (yet) is skipped with a warning; checks need only the
columns they name, so the suites follow the tables as the forecast job grows them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import great_expectations as gx
import great_expectations.expectations as gxe
from pipecast.forecast.writeback import PREDICTION_KEYS, driver_names
from pipecast.validate.expect import BATCH, between, key_expectations, q, sql_literal, unexpected_rows
from pipecast.validate.severity import ERROR, WARNING, tag

SCHEMA = "ml"
SCORES = "opportunity_scores"
REVENUE = "revenue_forecast"
REVENUE_SEGMENTS = "revenue_forecast_segments"
PROPENSITY = "product_propensity"
LEAD_SCORES = "lead_scores"
# The tables a night's predictions are in, and the key of a night's rows in each: declared with
# their columns in pipecast.forecast.writeback (ML_TABLES, PREDICTION_KEYS).
TABLES: dict[str, tuple[str, ...]] = PREDICTION_KEYS
PROBABILITY_COLUMN = re.compile(r"(^p_|probability|propensity)")
NUMERIC_TYPE = re.compile(r"^(DOUBLE|FLOAT|REAL|DECIMAL|NUMERIC)", re.IGNORECASE)
# ml.revenue_forecast(_segments): (lower, upper) pairs that must be ordered where both are set.
_RANGES = (
    ("p10", "p50"),
    ("p50", "p90"),
    ("closed_won_to_date", "p10"),
    ("closed_won_to_date", "expected"),
    ("period_start", "period_end"),
)
# The top drivers of a score (pipecast.forecast.writeback.DRIVER_COLUMNS), strongest first.
DRIVERS = driver_names()
DAY_COLUMN = "as_of"
MODEL_METHOD = "model"  # ml.revenue_forecast.method of the model's rows (the others are baselines)


@dataclass(frozen=True)
class OpenDeals:
    """The deals of the night scored: rows of ``table`` whose ``day_column`` is ``day``."""

    table: str
    day_column: str
    day: date
    id_column: str = "opportunity_id"
    closed_column: str = "is_closed"  # true for closed deals


def suite_name(table: str) -> str:
    return f"{SCHEMA}.{table}"


def prediction_suite(
    table: str, columns: Mapping[str, str], deals: OpenDeals | None = None
) -> gx.ExpectationSuite:
    """The suite of one night of ml.<table> given its columns (name -> SQL type)."""
    expectations: list[gxe.Expectation] = [
        *key_expectations(TABLES[table]),
        *(
            gxe.ExpectColumnValuesToNotBeNull(column=c, **tag(ERROR))
            for c in ("model_version", "run_id")
            if c in columns
        ),
        *(
            between(c, ERROR, min_value=0, max_value=1)
            for c, sql_type in columns.items()
            if PROBABILITY_COLUMN.search(c) and NUMERIC_TYPE.match(sql_type) and c != "crm_probability"
        ),
    ]
    if DRIVERS[0] in columns:
        expectations += _drivers(TABLES[table])
    if table == SCORES:
        expectations += _scores(columns, deals)
    if table in (REVENUE, REVENUE_SEGMENTS):
        expectations += _revenue(table, columns)
    return gx.ExpectationSuite(name=suite_name(table), expectations=expectations)


def _scores(columns: Mapping[str, str], deals: OpenDeals | None) -> list[gxe.Expectation]:
    expectations: list[gxe.Expectation] = [
        gxe.ExpectColumnValuesToNotBeNull(column="win_probability", **tag(ERROR)),
        # the CRM's probability is data, not a prediction: a bad one is reported, not blocking
        between("crm_probability", WARNING, min_value=0, max_value=1),
        between("expected_amount", ERROR, min_value=0),
        gxe.ExpectColumnUniqueValueCountToBeBetween(
            column="run_id", min_value=1, max_value=1, description="One run per night", **tag(ERROR)
        ),
        gxe.ExpectColumnUniqueValueCountToBeBetween(
            column="model_version", max_value=1, description="One model per night", **tag(WARNING)
        ),
    ]
    if deals is not None:
        expectations += _coverage(deals)
    return expectations


def _coverage(deals: OpenDeals) -> list[gxe.Expectation]:
    deal_id, closed = q(deals.id_column), q(deals.closed_column)
    night = f"t.{q(deals.day_column)} = {sql_literal(deals.day)}"
    return [
        unexpected_rows(
            f"Every deal open that night ({deals.table}) has a score",
            f"SELECT t.{deal_id} FROM {deals.table} t WHERE {night} AND t.{closed} IS NOT TRUE "
            f"AND NOT EXISTS (SELECT 1 FROM {BATCH} WHERE {BATCH}.opportunity_id = t.{deal_id})",
            ERROR,
            ["opportunity_id"],
        ),
        unexpected_rows(
            f"No closed deal has a score ({deals.table})",
            f"SELECT {BATCH}.opportunity_id FROM {BATCH} JOIN {deals.table} t "
            f"ON t.{deal_id} = {BATCH}.opportunity_id AND {night} WHERE t.{closed}",
            ERROR,
            ["opportunity_id"],
        ),
        unexpected_rows(
            f"Every score is for a deal of that night ({deals.table})",
            f"SELECT {BATCH}.opportunity_id FROM {BATCH} WHERE NOT EXISTS "
            f"(SELECT 1 FROM {deals.table} t WHERE t.{deal_id} = {BATCH}.opportunity_id AND {night})",
            ERROR,
            ["opportunity_id"],
        ),
    ]


def _drivers(key: tuple[str, ...]) -> list[gxe.Expectation]:
    """The drivers of a table that has them (see the module docstring), rows named by ``key``."""
    keys = ", ".join(q(k) for k in key)
    unpaired = " OR ".join(f"(({q(d)} IS NULL) <> ({q(d + '_effect')} IS NULL))" for d in DRIVERS)
    unordered = " OR ".join(
        f"abs({q(stronger + '_effect')}) < abs({q(weaker + '_effect')})"
        for stronger, weaker in zip(DRIVERS[:-1], DRIVERS[1:], strict=True)
    )
    return [
        unexpected_rows(
            "Each named driver has an effect, each effect a name",
            f"SELECT {keys} FROM {BATCH} WHERE {unpaired}",
            WARNING,
            [*DRIVERS, *(d + "_effect" for d in DRIVERS)],
        ),
        unexpected_rows(
            "Drivers are ordered by the size of their effect",
            f"SELECT {keys} FROM {BATCH} WHERE {unordered}",
            WARNING,
            [d + "_effect" for d in DRIVERS],
        ),
    ]


def _revenue(table: str, columns: Mapping[str, str]) -> list[gxe.Expectation]:
    expectations: list[gxe.Expectation] = [
        between(c, ERROR, min_value=0)
        for c in ("closed_won_to_date", "open_deals", "expected")
        if c in columns
    ]
    expectations += [
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=high,
            column_B=low,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            description=f"{low} <= {high}",
            **tag(ERROR),
        )
        for low, high in _RANGES
        if low in columns and high in columns
    ]
    if table == REVENUE:
        expectations.append(
            unexpected_rows(
                "The model's forecast has a range (P10, P50, P90)",
                f"SELECT period, method FROM {BATCH} WHERE method = '{MODEL_METHOD}' "
                "AND (p10 IS NULL OR p50 IS NULL OR p90 IS NULL)",
                ERROR,
                ["p10", "p50", "p90"],
            )
        )
    return expectations
