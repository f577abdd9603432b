"""The marts checkpoint: the dbt project's marts (from its manifest), each checked for what its yml
does not declare as a dbt test, the range of its rates; run on stand-in marts with the real marts'
columns. The checks of rows and keys are dbt tests (tests/dbt/test_mart_tests.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_rows import failed
from conftest import install_manifest
from mart_warehouse import Tables, create_tables, good_marts
from pipecast.config import PROJECT_ROOT, Settings
from pipecast.transform import manifest
from pipecast.validate.runner import validate_marts
from pipecast.validate.severity import ERROR, WARNING
from pipecast_expectations import mart_suites

E, W = ERROR, WARNING
BETWEEN = "expect_column_values_to_be_between"
SKIPPED = "pipecast_skipped"


@pytest.fixture(autouse=True)
def parsed(settings: Settings, dbt_manifest: Path) -> Settings:
    return install_manifest(settings, dbt_manifest)


@pytest.fixture
def url(settings: Settings) -> str:
    return f"duckdb:///{settings.resolved_warehouse_path}"


def test_the_marts_are_the_dbt_projects_marts_folder(settings: Settings) -> None:
    """Adding a mart is its SQL and its yml: the checkpoint's list is dbt's."""
    folder = {p.stem for p in (PROJECT_ROOT / "dbt_project" / "models" / "marts").glob("*.sql")}

    specs = mart_suites.specs(manifest.marts(settings))

    assert {s.table for s in specs} == folder
    assert {s.table: s.latest for s in specs if s.latest} == {"fct_pipeline_daily": "snapshot_date"}


def test_the_mart_suites_check_only_rates_the_dbt_tests_own_the_rest(settings: Settings) -> None:
    """One home per check: every mart's key, nesting and balance is a dbt test, so a mart suite
    holds nothing but rate ranges (a key or pair check coming back here is a repeat)."""
    for mart in manifest.marts(settings):
        spec = mart_suites.MartSpec(mart.name)
        suite = mart_suites.mart_suite(spec, mart.columns)
        rates = mart_suites.rate_columns(spec, mart.columns)
        if suite is None:
            assert not rates, mart.name
            continue
        assert {(e.expectation_type, e.column, e.min_value, e.max_value) for e in suite.expectations} == {
            (BETWEEN, c, 0, 1) for c in rates
        }, mart.name


def test_rates_are_numeric_columns_named_like_rates() -> None:
    spec = mart_suites.MartSpec("t")
    columns = {
        "id": "VARCHAR",
        "win_rate": "DOUBLE",
        "win_rate_key": "VARCHAR",
        "conversion_to_won": "double precision",
        "crm_probability": "FLOAT",
        "attainment": "DOUBLE",
        "leads_per_won_deal": "DOUBLE",
    }

    suite = mart_suites.mart_suite(spec, columns)

    ranged = {e.column for e in suite.expectations if e.expectation_type == BETWEEN}
    assert ranged == {"win_rate", "conversion_to_won", "crm_probability"}
    assert mart_suites.mart_suite(spec, {"id": "VARCHAR", "amount": "DOUBLE"}) is None


def test_good_marts_pass_and_missing_ones_are_skipped(settings: Settings, url: str) -> None:
    create_tables(url, good_marts())

    outcome = validate_marts(settings, run_id="marts-test")

    assert outcome.passed_errors, outcome.failures
    assert outcome.n_failed_errors == 0
    found = failed(settings, "marts-test")
    assert all(f[1] == SKIPPED and f[3] == W for f in found)
    assert ("marts.fct_sales_velocity", SKIPPED, None, W) in found
    assert {o.suite for o in outcome.outcomes if not o.skipped} == {
        "marts.dim_stages",
        "marts.fct_opportunities",
        "marts.fct_funnel_conversion",
        "marts.fct_win_rates",
        "marts.fct_lead_funnel",
        "marts.fct_pipeline_daily",
    }  # fct_pipeline_waterfall has no rate: nothing for the checkpoint beyond its dbt tests


def _plant(tables: Tables) -> None:
    funnel = tables["marts.fct_funnel_conversion"]
    funnel[1]["conversion_to_won"] = 1.2
    win_rates = tables["marts.fct_win_rates"]
    win_rates[1]["win_rate"] = -0.1
    tables["marts.dim_stages"][0]["default_probability"] = 10.0  # a percentage, not a probability
    # a duplicate key: dbt's unique test fails it (not this checkpoint); the predictions' coverage
    # check sees a score for a deal that is gone (test_postgres)
    opportunities = tables["marts.fct_opportunities"]
    opportunities[1]["opportunity_id"] = opportunities[0]["opportunity_id"]
    daily = tables["marts.fct_pipeline_daily"]
    daily[0]["crm_probability"] = 2.0  # an older day: not validated
    daily[-1]["crm_probability"] = 1.5  # the newest day: an error


PLANTED = {
    ("marts.fct_funnel_conversion", BETWEEN, "conversion_to_won", E),
    ("marts.fct_win_rates", BETWEEN, "win_rate", E),
    ("marts.dim_stages", BETWEEN, "default_probability", E),
    ("marts.fct_pipeline_daily", BETWEEN, "crm_probability", E),
}


def test_each_planted_rate_out_of_range_fails_its_expectation(settings: Settings, url: str) -> None:
    tables = good_marts()
    _plant(tables)
    create_tables(url, tables)

    outcome = validate_marts(settings, run_id="marts-bad")

    assert not outcome.passed_errors
    found = {f for f in failed(settings, "marts-bad") if f[1] != SKIPPED}
    assert found == PLANTED


def test_validate_marts_on_an_empty_warehouse_records_every_mart_skipped(settings: Settings) -> None:
    Path(settings.resolved_warehouse_path).parent.mkdir(parents=True, exist_ok=True)

    outcome = validate_marts(settings, run_id="marts-empty")

    assert outcome.passed_errors
    assert all(o.skipped for o in outcome.outcomes)
    assert {o.suite for o in outcome.outcomes} == {f"marts.{m.name}" for m in manifest.marts(settings)}
