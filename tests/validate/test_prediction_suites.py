"""The prediction suites: one night of ml.opportunity_scores and ml.revenue_forecast."""

from __future__ import annotations

from datetime import timedelta

import pytest
from audit_rows import failed
from mart_warehouse import AS_OF, Tables, create_tables, good_marts, good_predictions
from pipecast.config import Settings
from pipecast.validate.runner import validate_predictions
from pipecast.validate.severity import ERROR, WARNING
from raw_warehouse import EXPORT_DATE, good_export, load_export

E, W = ERROR, WARNING
SCORES, REVENUE = "ml.opportunity_scores", "ml.revenue_forecast"
SEGMENTS, PROPENSITY, LEADS = "ml.revenue_forecast_segments", "ml.product_propensity", "ml.lead_scores"
ALL = [SCORES, REVENUE, SEGMENTS, PROPENSITY, LEADS]
ROWS = "unexpected_rows_expectation"
PAIR = "expect_column_pair_values_a_to_be_greater_than_b"


@pytest.fixture
def url(settings: Settings) -> str:
    return f"duckdb:///{settings.resolved_warehouse_path}"


def night(tables: Tables) -> Tables:
    """The opportunities mart (its open deals: OPP-0..2) and the night's predictions."""
    return {"marts.fct_opportunities": good_marts()["marts.fct_opportunities"]} | tables


def test_good_night_passes(settings: Settings, url: str) -> None:
    older = good_predictions(run_id="run-0")
    for rows in older.values():
        for row in rows:
            row["as_of"] = AS_OF - timedelta(days=1)
    create_tables(url, night({k: good_predictions()[k] + older[k] for k in older}))

    outcome = validate_predictions(AS_OF, settings)

    assert outcome.passed_errors, outcome.failures
    assert outcome.failures == []
    assert outcome.suites == ALL
    assert outcome.run_id == f"predictions-{AS_OF.isoformat()}"


def _plant(tables: Tables) -> None:
    scores = tables[SCORES]
    missing = scores.pop(2)  # an open deal left unscored
    scores.append(missing | {"opportunity_id": "OPP-3"})  # a closed (won) deal scored
    scores.append(scores[0] | {"opportunity_id": "OPP-77"})  # a deal the marts do not know
    scores[0]["win_probability"] = 1.3
    scores[1]["run_id"] = "run-2"  # two runs in one night
    forecast = tables[REVENUE]
    forecast[0]["p10"] = 450.0  # above P50
    forecast[1]["model_version"] = None
    forecast[2]["p90"] = None  # the model's range is incomplete
    forecast[3]["period"] = forecast[2]["period"]  # two rows for one period and method...
    forecast[3]["method"] = forecast[2]["method"]
    tables[SCORES][1]["p_won_this_period"] = -0.2
    tables[SEGMENTS][0]["p90"] = 120.0  # below P50
    tables[PROPENSITY][0]["propensity"] = 1.5
    tables[LEADS][1]["lead_id"] = tables[LEADS][0]["lead_id"]
    tables[SCORES][0]["driver_2_effect"] = 2.0  # stronger than the first driver
    tables[LEADS][2]["driver_3_effect"] = None  # a driver without its effect


PLANTED = {
    (SCORES, ROWS, "opportunity_id", E),  # unscored open deal, scored closed deal, unknown deal
    (SCORES, "expect_column_values_to_be_between", "win_probability", E),
    (SCORES, "expect_column_unique_value_count_to_be_between", "run_id", E),
    (REVENUE, PAIR, "p50,p10", E),
    (REVENUE, "expect_column_values_to_not_be_null", "model_version", E),
    (REVENUE, ROWS, "p10,p50,p90", E),
    (REVENUE, ROWS, "period,method", E),
    (SCORES, "expect_column_values_to_be_between", "p_won_this_period", E),
    (SEGMENTS, PAIR, "p90,p50", E),
    (PROPENSITY, "expect_column_values_to_be_between", "propensity", E),
    (LEADS, "expect_column_values_to_be_unique", "lead_id", E),
    (SCORES, ROWS, "driver_1_effect,driver_2_effect,driver_3_effect", W),  # drivers out of order
    (LEADS, ROWS, "driver_1,driver_2,driver_3,driver_1_effect,driver_2_effect,driver_3_effect", W),
}


def test_each_planted_prediction_defect_fails_its_expectation(settings: Settings, url: str) -> None:
    tables = good_predictions()
    _plant(tables)
    create_tables(url, night(tables))

    outcome = validate_predictions(AS_OF, settings)

    assert not outcome.passed_errors
    assert failed(settings, outcome.run_id) == PLANTED
    coverage = [f for f in outcome.failures if f.startswith(f"{SCORES}: error: {ROWS}")]
    assert len(coverage) == 3
    assert {c.split("[")[1].split("]")[0].split(" (")[0] for c in coverage} == {
        "Every deal open that night",
        "No closed deal has a score",
        "Every score is for a deal of that night",
    }


def test_deals_come_from_the_raw_export_when_the_marts_hold_another_night(
    settings: Settings, url: str
) -> None:
    marts = good_marts()["marts.fct_opportunities"]
    for row in marts:
        row["as_of_date"] = AS_OF + timedelta(days=1)
    scores = good_predictions()
    create_tables(url, {"marts.fct_opportunities": marts} | scores)
    # the raw export of that night has 8 deals, 4 of them open: OPP-0000, -0001, -0004, -0005
    load_export(settings, good_export(), export_date=EXPORT_DATE)
    assert EXPORT_DATE == AS_OF

    outcome = validate_predictions(AS_OF, settings)

    unscored = next(f for f in outcome.failures if "Every deal open that night (raw.opportunities)" in f)
    assert unscored.endswith(": 4 unexpected")


def test_without_the_deals_of_the_night_coverage_is_skipped(settings: Settings, url: str) -> None:
    create_tables(url, good_predictions())

    outcome = validate_predictions(AS_OF, settings)

    assert outcome.passed_errors
    assert failed(settings, outcome.run_id) == {(SCORES, "pipecast_skipped", None, W)}


def test_a_night_without_predictions_tables_is_skipped(settings: Settings, url: str) -> None:
    create_tables(url, {"marts.fct_opportunities": good_marts()["marts.fct_opportunities"]})

    outcome = validate_predictions(AS_OF, settings)

    assert outcome.passed_errors
    assert [o.suite for o in outcome.outcomes if o.skipped] == ALL


def test_a_table_without_rows_for_the_night_is_skipped(settings: Settings, url: str) -> None:
    tables = good_predictions()
    for row in tables[LEADS]:
        row["as_of"] = AS_OF - timedelta(days=1)
    create_tables(url, night(tables))

    outcome = validate_predictions(AS_OF, settings)

    assert outcome.passed_errors
    assert outcome.failures == [f"{LEADS}: warning: skipped: suite: ml.lead_scores has no rows for {AS_OF}"]
