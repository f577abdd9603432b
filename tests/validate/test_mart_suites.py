"""The mart suites, run as the marts checkpoint on stand-in marts with the real marts' columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_rows import failed
from mart_warehouse import Tables, create_tables, good_marts
from pipecast.config import Settings
from pipecast.validate import suites
from pipecast.validate.runner import validate_marts
from pipecast.validate.severity import ERROR, WARNING

E, W = ERROR, WARNING
ROWS = "unexpected_rows_expectation"
PAIR = "expect_column_pair_values_a_to_be_greater_than_b"
BETWEEN = "expect_column_values_to_be_between"
SKIPPED = "pipecast_skipped"


@pytest.fixture
def url(settings: Settings) -> str:
    return f"duckdb:///{settings.resolved_warehouse_path}"


def test_columns_resolve_by_preference_and_optional_ones_may_be_missing(settings: Settings) -> None:
    mart_suites = suites.load("mart_suites", settings)

    assert mart_suites.resolve(["period_type?", "period", "segment"], ["period_start", "segment"]) == (
        {"period": "period_start", "segment": "segment"},
        (),
    )
    assert mart_suites.resolve(["won"], ["won_count", "won"]) == ({"won": "won"}, ())
    assert mart_suites.resolve(["open_end"], ["closing"]) == ({}, ("open_end",))


def test_rates_are_numeric_columns_named_like_rates(settings: Settings) -> None:
    mart_suites = suites.load("mart_suites", settings)
    spec = mart_suites.MartSpec("t", ("id",))
    columns = {
        "id": "VARCHAR",
        "win_rate": "DOUBLE",
        "win_rate_key": "VARCHAR",
        "conversion_to_won": "double precision",
        "crm_probability": "FLOAT",
        "attainment": "DOUBLE",
        "leads_per_won_deal": "DOUBLE",
    }

    built = mart_suites.mart_suite(spec, columns)

    ranged = {e.column for e in built.suite.expectations if e.expectation_type == BETWEEN}
    assert ranged == {"win_rate", "conversion_to_won", "crm_probability"}


def test_good_marts_pass_and_missing_ones_are_skipped(settings: Settings, url: str) -> None:
    create_tables(url, good_marts())

    outcome = validate_marts(settings, run_id="marts-test")

    assert outcome.passed_errors, outcome.failures
    assert outcome.n_failed_errors == 0
    found = failed(settings, "marts-test")
    assert all(f[1] == SKIPPED and f[3] == W for f in found)
    assert ("marts.fct_forecast", SKIPPED, None, W) in found
    assert {o.suite for o in outcome.outcomes if not o.skipped} == {
        "marts.dim_stages",
        "marts.fct_opportunities",
        "marts.fct_funnel_conversion",
        "marts.fct_pipeline_waterfall",
        "marts.fct_win_rates",
        "marts.fct_lead_funnel",
        "marts.fct_pipeline_daily",
    }


def _plant(tables: Tables) -> None:
    funnel = tables["marts.fct_funnel_conversion"]
    funnel[1]["reached"] = funnel[0]["reached"] + 2  # the funnel rises at the second stage
    funnel[1]["conversion_to_won"] = 1.2
    waterfall = tables["marts.fct_pipeline_waterfall"]
    waterfall[-1]["open_amount_at_end"] += 100.0  # the last month does not balance (and opens none)
    waterfall[0]["open_count_at_end"] -= 1  # ...and the first month's counts do not
    win_rates = tables["marts.fct_win_rates"]
    win_rates[0]["won_count"] = 12  # more won than closed
    win_rates[1]["win_rate"] = -0.1
    opportunities = tables["marts.fct_opportunities"]
    opportunities[1]["opportunity_id"] = opportunities[0]["opportunity_id"]
    opportunities[2]["is_won"] = True  # won, still open
    tables["marts.dim_stages"][0]["stage"] = None
    tables["marts.fct_lead_funnel"][0]["converted_leads"] = 25  # more converted than leads
    daily = tables["marts.fct_pipeline_daily"]
    daily[0]["opportunity_id"] = daily[1]["opportunity_id"]  # an older day: not validated
    daily[-1]["opportunity_id"] = daily[-2]["opportunity_id"]  # the newest day: an error


PLANTED = {
    ("marts.fct_funnel_conversion", ROWS, "reached,funnel_rank", E),
    ("marts.fct_funnel_conversion", BETWEEN, "conversion_to_won", E),
    (
        "marts.fct_pipeline_waterfall",
        ROWS,
        ",".join(
            ["open_amount_at_start", "created_amount", "pulled_in_amount", "pushed_out_amount", "won_amount"]
            + ["lost_amount", "amount_change", "open_amount_at_end"]
        ),
        E,
    ),  # fmt: skip
    (
        "marts.fct_pipeline_waterfall",
        ROWS,
        ",".join(
            ["open_count_at_start", "created_count", "pulled_in_count", "pushed_out_count", "won_count"]
            + ["lost_count", "open_count_at_end"]
        ),
        E,
    ),  # fmt: skip
    ("marts.fct_win_rates", PAIR, "closed_count,won_count", E),
    ("marts.fct_win_rates", BETWEEN, "win_rate", E),
    ("marts.fct_opportunities", "expect_column_values_to_be_unique", "opportunity_id", E),
    ("marts.fct_opportunities", ROWS, "is_won,is_closed", E),
    ("marts.dim_stages", "expect_column_values_to_not_be_null", "stage", E),
    ("marts.fct_lead_funnel", PAIR, "leads,converted_leads", E),
    ("marts.fct_pipeline_daily", ROWS, "snapshot_date,opportunity_id", E),
}


def test_each_planted_mart_defect_fails_its_expectation(settings: Settings, url: str) -> None:
    tables = good_marts()
    _plant(tables)
    create_tables(url, tables)

    outcome = validate_marts(settings, run_id="marts-bad")

    assert not outcome.passed_errors
    found = {f for f in failed(settings, "marts-bad") if f[1] != SKIPPED}
    assert found == PLANTED


def test_a_renamed_column_skips_its_check_with_a_warning(settings: Settings, url: str) -> None:
    tables = good_marts()
    for row in tables["marts.fct_pipeline_waterfall"]:
        row["closing_pipeline"] = row.pop("open_amount_at_end")
    create_tables(url, {"marts.fct_pipeline_waterfall": tables["marts.fct_pipeline_waterfall"]})

    outcome = validate_marts(settings, run_id="marts-renamed")

    waterfall = outcome.outcome("marts.fct_pipeline_waterfall")
    assert waterfall.passed_errors and not waterfall.skipped
    assert waterfall.failures == [
        "warning: skipped: waterfall balances (amounts): fct_pipeline_waterfall has no column for open_end",
    ]


def test_validate_marts_on_an_empty_warehouse_records_every_mart_skipped(settings: Settings) -> None:
    Path(settings.resolved_warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    mart_suites = suites.load("mart_suites", settings)

    outcome = validate_marts(settings, run_id="marts-empty")

    assert outcome.passed_errors
    assert all(o.skipped for o in outcome.outcomes)
    assert len(outcome.outcomes) == len(mart_suites.SPECS)
