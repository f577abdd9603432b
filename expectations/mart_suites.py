"""Expectation suites for the marts BI reads (schema ``marts``), run after every dbt build.

One home per check: keys, relationships, accepted values, nesting counts and balances of the
marts are dbt tests, declared in the mart's yml (dbt_project/models/marts/_marts__models.yml,
generic tests in dbt_project/macros/test_*.sql); a failing one fails the build and nothing is
published. This checkpoint keeps what a mart's yml does not declare: the range of every rate, a
property of the values of every numeric column named like a rate (``*_rate``, ``conversion_*``,
``*_probability``, ``*_share``), which must lie within [0, 1] (error), on every mart, a new one
included, without a line of yml.

The marts are the dbt project's (pipecast.transform.manifest): ``specs(manifest.marts(settings))``.
A mart whose yml sets ``config: meta: pipecast_validate_newest: <column>`` is validated on the rows
of that column's newest value only (fct_pipeline_daily: tonight's day).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import great_expectations as gx
import great_expectations.expectations as gxe
from pipecast.transform.manifest import Mart
from pipecast.validate.expect import between
from pipecast.validate.severity import ERROR

SCHEMA = "marts"

# A column holding a rate or probability: must lie within [0, 1] (numeric columns only).
RATE_COLUMN = re.compile(r"(^|_)(rate|rates|conversion|probability|share)(_|$)")
NUMERIC_TYPE = re.compile(r"^(DOUBLE|FLOAT|REAL|DECIMAL|NUMERIC)", re.IGNORECASE)


@dataclass(frozen=True)
class MartSpec:
    table: str
    latest: str | None = None  # validate only the rows of this column's newest value
    not_rates: tuple[str, ...] = ()  # numeric columns named like rates that are not in [0, 1]

    @property
    def suite_name(self) -> str:
        return f"{SCHEMA}.{self.table}"


def specs(marts: Iterable[Mart]) -> tuple[MartSpec, ...]:
    """One spec per mart of the dbt project."""
    return tuple(MartSpec(m.name, latest=m.validate_newest) for m in marts)


def rate_columns(spec: MartSpec, columns: Mapping[str, str]) -> list[str]:
    """The mart's numeric columns named like rates (``columns``: name -> SQL type)."""
    return [
        name
        for name, sql_type in columns.items()
        if RATE_COLUMN.search(name) and NUMERIC_TYPE.match(sql_type) and name not in spec.not_rates
    ]


def mart_suite(spec: MartSpec, columns: Mapping[str, str]) -> gx.ExpectationSuite | None:
    """The suite of one mart given its actual columns (name -> SQL type); None: no rate to check."""
    expectations: list[gxe.Expectation] = [
        between(name, ERROR, min_value=0, max_value=1) for name in rate_columns(spec, columns)
    ]
    if not expectations:
        return None
    return gx.ExpectationSuite(name=spec.suite_name, expectations=expectations)
