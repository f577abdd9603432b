"""The raw suites (one per canonical entity), run as the raw checkpoint in the warehouse.

Defects are planted several per export, each in a different entity or column, and each test
asserts the exact set of expectations that fail: every planted defect is caught by the
expectation written for it, and nothing else fails.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pytest
from audit_rows import audit_count, failed
from pipecast.canonical import ENTITIES
from pipecast.config import Settings
from pipecast.validate import currency, drift
from pipecast.validate.runner import data_docs_dir, validate_raw
from pipecast.validate.severity import ERROR, WARNING, severity_of
from pipecast_expectations import raw_suites
from raw_warehouse import (
    EXPORT_DATE,
    PREVIOUS_EXPORT_DATE,
    STAGE_NAMES,
    LoadExport,
    good_export,
    opportunity,
)

E, W = ERROR, WARNING
ROWS = "unexpected_rows_expectation"
BETWEEN = "expect_column_values_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
TYPES = "expect_column_values_to_be_in_type_list"


def raw(entity: str) -> str:
    return f"raw.{entity}"


# -- the suites as code ---------------------------------------------------------------------------


def test_every_entity_has_a_suite_and_every_expectation_a_severity() -> None:
    context = raw_suites.RawContext(
        export_date=EXPORT_DATE,
        stages=tuple(STAGE_NAMES),
        present=frozenset(ENTITIES),
        previous_row_counts={e: 10 for e in ENTITIES},
        today=EXPORT_DATE,
    )
    severities = set()
    for entity, spec in ENTITIES.items():
        suite = raw_suites.raw_suite(entity, context)
        assert suite.name == raw(entity)
        typed = {e.column for e in suite.expectations if e.expectation_type == TYPES}
        assert typed == set(spec.columns)
        severities |= {severity_of(e.meta, e.expectation_type) for e in suite.expectations}
    assert severities == {ERROR, WARNING}


def test_row_count_band_only_with_a_previous_export() -> None:
    def bands(previous: int | None, tolerance: float = 0.5) -> list[tuple[Any, Any]]:
        suite = raw_suites.raw_opportunities_suite(STAGE_NAMES, previous, tolerance)
        return [
            (e.min_value, e.max_value)
            for e in suite.expectations
            if e.expectation_type == "expect_table_row_count_to_be_between" and e.meta["severity"] == WARNING
        ]

    assert bands(None) == []
    assert bands(100) == [(50, 150)]
    assert bands(100, 0.2) == [(80, 120)]
    with pytest.raises(ValueError, match="row_count_tolerance"):
        bands(100, -0.1)


def test_references_only_to_entities_the_export_holds() -> None:
    def referenced(present: set[str]) -> set[str]:
        context = raw_suites.RawContext(export_date=EXPORT_DATE, present=frozenset(present))
        suite = raw_suites.raw_suite("opportunities", context)
        return {e.meta["columns"][0] for e in suite.expectations if "resolves to" in (e.description or "")}

    assert referenced({"opportunities"}) == set()
    assert referenced({"opportunities", "accounts", "products"}) == {"account_id", "product_id"}


# -- running them ---------------------------------------------------------------------------------


def test_good_export_passes_every_suite(settings: Settings, load_export: LoadExport) -> None:
    load_export(good_export(), export_date=PREVIOUS_EXPORT_DATE)
    load_export(good_export())

    outcome = validate_raw(EXPORT_DATE, settings, today=EXPORT_DATE)

    assert outcome.failures == []
    assert outcome.passed_errors
    assert sorted(outcome.suites) == sorted([*(raw(e) for e in ENTITIES), drift.SUITE, currency.SUITE])
    assert outcome.n_expectations == audit_count(settings, outcome.run_id)
    assert outcome.run_id == f"raw-{EXPORT_DATE.isoformat()}"
    assert (data_docs_dir(settings) / "index.html").is_file()


def _plant_errors(export: dict[str, list[dict[str, Any]]]) -> None:
    opps = export["opportunities"]
    opps[1]["opportunity_id"] = opps[0]["opportunity_id"]
    opps[2]["stage"] = "Qualified?"
    opps[3]["amount"] = -5.0
    opps[4]["probability"] = 150.0
    opps[5]["is_won"] = True  # an open deal flagged won
    opps[6]["created_at"] = datetime(1970, 1, 1)  # an epoch default: a parse failure
    history = export["opportunity_stage_history"]
    history[0]["stage"] = "Discovery"
    history[1]["changed_at"] = datetime(2026, 3, 10)  # after the export
    export["stages"].append(
        {"pipeline": "default", "stage": "Won Later", "sort_order": 5, "probability": 100.0}
        | {"is_closed": False, "is_won": True, "forecast_category": "Closed"}
    )
    export["accounts"][0]["employees"] = -5
    export["owners"][1]["owner_id"] = "OWN-0"
    export["products"][0]["list_price"] = -1.0
    export["line_items"][0]["opportunity_id"] = None
    export["line_items"][1]["unit_price"] = -3.0
    export["leads"][4]["created_at"] = datetime(2031, 1, 1)
    export["targets"][0]["period_end"] = date(2025, 12, 31)
    export["targets"][1]["amount"] = -100.0


PLANTED_ERRORS = {
    (raw("opportunities"), "expect_column_values_to_be_unique", "opportunity_id", E),
    (raw("opportunities"), "expect_column_values_to_be_in_set", "stage", E),
    (raw("opportunities"), BETWEEN, "amount", E),
    (raw("opportunities"), BETWEEN, "probability", E),
    (raw("opportunities"), ROWS, "stage,is_closed,is_won", E),  # an open deal flagged won
    (raw("opportunities"), ROWS, "is_won,is_closed", E),
    (raw("opportunities"), BETWEEN, "created_at", E),
    (raw("opportunity_stage_history"), "expect_column_values_to_be_in_set", "stage", E),
    (raw("opportunity_stage_history"), BETWEEN, "changed_at", E),
    (raw("stages"), ROWS, "is_won,is_closed", E),
    (raw("accounts"), BETWEEN, "employees", E),
    (raw("owners"), "expect_column_values_to_be_unique", "owner_id", E),
    (raw("products"), BETWEEN, "list_price", E),
    (raw("line_items"), NOT_NULL, "opportunity_id", E),
    (raw("line_items"), BETWEEN, "unit_price", E),
    (raw("leads"), BETWEEN, "created_at", E),
    (raw("targets"), ROWS, "period_start,period_end", E),
    (raw("targets"), BETWEEN, "amount", E),
}
# Side effects of the planted errors, each a warning that is right to raise: the duplicated ids
# OPP-0000 and OWN-0 were OPP-0001 and OWN-1, which other entities still name.
PLANTED_ERRORS_WARNINGS = {
    (raw("opportunity_stage_history"), ROWS, "opportunity_id", W),
    (raw("line_items"), ROWS, "opportunity_id", W),
    (raw("leads"), ROWS, "converted_opportunity_id", W),
    (raw("opportunities"), ROWS, "owner_id", W),
    (raw("targets"), ROWS, "owner_id", W),
}


def test_bad_export_fails_the_error_expectation_of_each_defect(
    settings: Settings, load_export: LoadExport
) -> None:
    export = good_export()
    _plant_errors(export)
    load_export(export)

    outcome = validate_raw(EXPORT_DATE, settings, today=EXPORT_DATE)

    assert not outcome.passed_errors
    found = failed(settings, outcome.run_id)
    assert {f for f in found if f[3] == E} == PLANTED_ERRORS
    assert {f for f in found if f[3] == W} == PLANTED_ERRORS_WARNINGS
    assert outcome.n_failed_errors == len(PLANTED_ERRORS)
    assert outcome.failures[0].startswith("raw.")
    assert all(": error: " in f for f in outcome.failures[: len(PLANTED_ERRORS)])


def _plant_warnings(export: dict[str, list[dict[str, Any]]]) -> None:
    opps = export["opportunities"]
    opps[0]["account_id"] = None
    opps[1]["account_id"] = "ACC-999"
    opps[1]["owner_id"] = "OWN-9"
    opps[1]["product_id"] = "GTXPro"
    opps[2]["close_date"] = date(2025, 12, 1)  # a won deal closed before it was created
    opps[3]["amount"] = 0.0  # a lost deal without its amount
    opps[4]["lead_source"] = "Select"
    opps[5]["lead_source"] = "web"  # beside "Web"
    opps[6]["currency"] = "EURO"  # no amount: nothing to convert (currency.py), a malformed code only
    opps[6]["amount"] = None
    export["opportunity_stage_history"][6]["amount"] = None
    opps[7]["amount"] = 5e9
    opps[0]["close_date"] = date(2099, 1, 1)
    opps[4]["created_at"] = None
    export["stages"][1]["sort_order"] = 1
    export["accounts"][0]["industry"] = "technolgy"
    export["accounts"][1]["segment"] = "smb"
    export["owners"][1]["manager_id"] = "OWN-7"
    export["leads"][0]["converted_at"] = datetime(2025, 11, 29)  # won before first contact
    export["leads"][1]["campaign"] = "Select"
    export["leads"][2]["converted_opportunity_id"] = "OPP-9999"
    export["line_items"][0]["quantity"] = 0.0
    export["line_items"][1]["product_id"] = "PRD-99"
    export["products"][0]["list_price"] = 2e9
    for opp in opps:
        opp["last_modified_at"] = datetime(2026, 2, 1)  # nothing changed for a month


PLANTED_WARNINGS = {
    (raw("opportunities"), NOT_NULL, "account_id", W),
    (raw("opportunities"), ROWS, "account_id", W),
    (raw("opportunities"), ROWS, "owner_id", W),
    (raw("opportunities"), ROWS, "product_id", W),
    (raw("opportunities"), ROWS, "created_at,close_date", W),
    (raw("opportunities"), ROWS, "amount", W),
    (raw("opportunities"), "expect_column_values_to_not_be_in_set", "lead_source", W),
    (raw("opportunities"), ROWS, "lead_source", W),
    (raw("opportunities"), "expect_column_value_lengths_to_equal", "currency", W),
    (raw("opportunities"), BETWEEN, "amount", W),
    (raw("opportunities"), BETWEEN, "close_date", W),
    (raw("opportunities"), NOT_NULL, "created_at", W),
    (raw("opportunities"), ROWS, "last_modified_at", W),  # stale export
    (raw("opportunities"), "expect_column_max_to_be_between", "_export_date", W),  # old export
    # the previous export had 40 deals, this one 8: their history and line items shrank too
    (raw("opportunities"), "expect_table_row_count_to_be_between", None, W),
    (raw("opportunity_stage_history"), "expect_table_row_count_to_be_between", None, W),
    (raw("line_items"), "expect_table_row_count_to_be_between", None, W),
    (raw("stages"), ROWS, "pipeline,sort_order", W),
    (raw("accounts"), "expect_column_values_to_be_in_set", "industry", W),
    (raw("accounts"), ROWS, "segment", W),
    (raw("owners"), ROWS, "manager_id", W),
    (raw("leads"), ROWS, "created_at,converted_at", W),
    (raw("leads"), "expect_column_values_to_not_be_in_set", "campaign", W),
    (raw("leads"), ROWS, "converted_opportunity_id", W),
    (raw("line_items"), BETWEEN, "quantity", W),
    (raw("line_items"), ROWS, "product_id", W),
    (raw("products"), BETWEEN, "list_price", W),
}


# Drift limits wide enough that no drift check fails (test_drift.py pins those).
NO_DRIFT = {
    "drift_max_row_drop": {"default": 1.0},
    "drift_max_amount_drop": {"default": 1.0},
    "drift_max_amount_rise": {"default": 1e9},
    "drift_max_orphan_rise": 1.0,
}


def test_export_with_real_world_flaws_warns_but_passes(settings: Settings, load_export: LoadExport) -> None:
    previous = good_export(n=40)
    load_export(previous, export_date=PREVIOUS_EXPORT_DATE)
    export = good_export()
    _plant_warnings(export)
    load_export(export)

    outcome = validate_raw(
        EXPORT_DATE, settings.model_copy(update=NO_DRIFT), today=EXPORT_DATE + timedelta(days=10)
    )

    assert outcome.passed_errors, outcome.failures
    assert outcome.n_failed_errors == 0
    assert failed(settings, outcome.run_id) == PLANTED_WARNINGS
    assert all(": warning: " in f for f in outcome.failures)
    product = next(f for f in outcome.failures if "unexpected_rows_expectation(product_id)" in f)
    assert "raw.products.product_id" in product


def test_missing_column_and_wrong_type_fail(settings: Settings, load_export: LoadExport) -> None:
    load_export(good_export(), drop_columns={"opportunities": ["currency"]})
    con = duckdb.connect(str(settings.resolved_warehouse_path))
    con.execute("ALTER TABLE raw.targets ALTER amount SET DATA TYPE VARCHAR")
    con.close()

    outcome = validate_raw(EXPORT_DATE, settings, today=EXPORT_DATE)

    assert not outcome.passed_errors
    assert failed(settings, outcome.run_id) == {
        (raw("opportunities"), "expect_table_columns_to_match_set", None, E),
        (raw("opportunities"), TYPES, "currency", E),
        (raw("opportunities"), "expect_column_value_lengths_to_equal", "currency", W),
        (raw("targets"), TYPES, "amount", E),
        # a text amount is compared as text
        (raw("targets"), BETWEEN, "amount", E),
        (raw("targets"), BETWEEN, "amount", W),
    }


def test_entities_without_rows_in_the_export(settings: Settings, load_export: LoadExport) -> None:
    previous = good_export()
    del previous["targets"]
    load_export(previous, export_date=PREVIOUS_EXPORT_DATE)
    export = good_export()
    export["opportunities"] = []  # required
    export["leads"] = []  # optional, present last time: it disappeared
    del export["targets"]  # optional, never exported: not validated at all
    load_export(export)

    outcome = validate_raw(EXPORT_DATE, settings, today=EXPORT_DATE)

    assert not outcome.passed_errors
    assert raw("targets") not in outcome.suites
    assert outcome.outcome(raw("opportunities")).skipped
    found = failed(settings, outcome.run_id)
    assert (raw("opportunities"), "pipecast_skipped", None, E) in found
    assert (raw("leads"), "pipecast_skipped", None, W) in found
    assert "no rows in this export (5 in the previous one)" in " ".join(outcome.failures)


def test_only_stages_of_the_same_export_count(settings: Settings, load_export: LoadExport) -> None:
    kept = ("opportunities", "opportunity_stage_history", "stages", "exchange_rates")
    load_export({e: rows for e, rows in good_export().items() if e in kept}, export_date=PREVIOUS_EXPORT_DATE)
    export = {e: rows for e, rows in good_export().items() if e in kept}
    export["stages"] = [s for s in export["stages"] if s["stage"] != "Closed Lost"]
    load_export(export)

    outcome = validate_raw(EXPORT_DATE, settings, today=EXPORT_DATE)

    assert {f for f in failed(settings, outcome.run_id) if f[3] == E} == {
        (raw("opportunities"), "expect_column_values_to_be_in_set", "stage", E),
        (raw("opportunity_stage_history"), "expect_column_values_to_be_in_set", "stage", E),
    }


def test_rerun_replaces_its_audit_rows_and_exports_validate_side_by_side(
    settings: Settings, load_export: LoadExport
) -> None:
    load_export({"opportunities": [opportunity(i) for i in range(3)]}, export_date=PREVIOUS_EXPORT_DATE)
    load_export({"opportunities": [opportunity(i) for i in range(3)]})

    outcomes = [validate_raw(day, settings, today=EXPORT_DATE) for day in (PREVIOUS_EXPORT_DATE, EXPORT_DATE)]
    again = validate_raw(EXPORT_DATE, settings, today=EXPORT_DATE)
    other = validate_raw(EXPORT_DATE, settings, today=EXPORT_DATE, run_id="nightly-2")

    assert [o.run_id for o in outcomes] == [
        f"raw-{d.isoformat()}" for d in (PREVIOUS_EXPORT_DATE, EXPORT_DATE)
    ]
    assert again.run_id == outcomes[1].run_id
    # without stages, every stage is unknown: an error, recorded per export
    assert not again.passed_errors
    for o in (*outcomes, other):
        assert audit_count(settings, o.run_id) == o.n_expectations
    assert audit_count(settings) == sum(o.n_expectations for o in (*outcomes, other))
    docs = data_docs_dir(settings) / "validations" / "raw" / "opportunities"
    assert {p.name for p in docs.iterdir()} == {o.run_id for o in (*outcomes, other)}
