"""The raw.opportunities suite, run in the warehouse by the runner, and its audit rows."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest
from pipecast.config import Settings
from pipecast.validate import suites
from pipecast.validate.runner import ValidationOutcome, data_docs_dir, validate_raw
from pipecast.validate.severity import ERROR, WARNING, severity_of
from raw_warehouse import (
    EXPORT_DATE,
    PREVIOUS_EXPORT_DATE,
    STAGE_ROWS,
    LoadExport,
    good_opportunities,
    opportunity,
)

STAGE_NAMES = [s["stage"] for s in STAGE_ROWS]


def failed(settings: Settings, outcome: ValidationOutcome) -> set[tuple[str, str | None, str]]:
    """(expectation_type, column_name, severity) of the run's failed expectations, from audit."""
    con = duckdb.connect(str(settings.resolved_warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT expectation_type, column_name, severity FROM audit.validation_results "
            "WHERE run_id = ? AND suite = ? AND NOT success",
            [outcome.run_id, outcome.suite],
        ).fetchall()
    finally:
        con.close()
    return set(rows)


def audit_count(settings: Settings, run_id: str | None = None) -> int:
    con = duckdb.connect(str(settings.resolved_warehouse_path), read_only=True)
    try:
        sql = "SELECT count(*) FROM audit.validation_results"
        row = con.execute(sql + " WHERE run_id = ?", [run_id]) if run_id else con.execute(sql)
        return row.fetchone()[0]
    finally:
        con.close()


# -- the suite as code ----------------------------------------------------------------------------


def test_every_expectation_carries_a_severity(settings: Settings) -> None:
    suite = suites.load("raw_suites", settings).raw_opportunities_suite(STAGE_NAMES, 100)
    severities = [severity_of(e.meta, e.expectation_type) for e in suite.expectations]
    assert set(severities) == {ERROR, WARNING}


def test_row_count_band_only_with_a_previous_export(settings: Settings) -> None:
    raw_suites = suites.load("raw_suites", settings)

    def bands(suite: Any) -> list[tuple[Any, Any]]:
        return [
            (e.min_value, e.max_value)
            for e in suite.expectations
            if e.expectation_type == "expect_table_row_count_to_be_between" and e.meta["severity"] == WARNING
        ]

    assert bands(raw_suites.raw_opportunities_suite(STAGE_NAMES, None)) == []
    assert bands(raw_suites.raw_opportunities_suite(STAGE_NAMES, 100)) == [(50, 150)]
    assert bands(raw_suites.raw_opportunities_suite(STAGE_NAMES, 100, 0.2)) == [(80, 120)]


# -- running it -----------------------------------------------------------------------------------


def test_good_export_passes(settings: Settings, load_export: LoadExport) -> None:
    load_export(good_opportunities(), export_date=PREVIOUS_EXPORT_DATE)
    load_export(good_opportunities())

    outcome = validate_raw(EXPORT_DATE, settings)

    assert outcome.failures == []
    assert outcome.passed_errors
    assert (outcome.n_failed_errors, outcome.n_failed_warnings) == (0, 0)
    assert outcome.n_expectations == audit_count(settings, outcome.run_id)
    assert (data_docs_dir(settings) / "index.html").is_file()


def _duplicate_id(rows: list[dict[str, Any]]) -> None:
    rows[1]["opportunity_id"] = rows[0]["opportunity_id"]


def _set(index: int, **values: Any):
    def mutate(rows: list[dict[str, Any]]) -> None:
        rows[index].update(values)

    return mutate


def _empty(rows: list[dict[str, Any]]) -> None:
    rows.clear()


ERROR_CASES = {
    "duplicate id": (_duplicate_id, "expect_column_values_to_be_unique", "opportunity_id"),
    "null id": (
        _set(2, opportunity_id=None),
        "expect_column_values_to_not_be_null",
        "opportunity_id",
    ),
    "null stage": (_set(2, stage=None), "expect_column_values_to_not_be_null", "stage"),
    "unknown stage": (_set(2, stage="Qualified?"), "expect_column_values_to_be_in_set", "stage"),
    "negative amount": (_set(3, amount=-5.0), "expect_column_values_to_be_between", "amount"),
    "probability 150": (
        _set(0, probability=150.0),
        "expect_column_values_to_be_between",
        "probability",
    ),
    "won not closed": (
        _set(0, is_won=True, is_closed=False),
        "unexpected_rows_expectation",
        "is_won,is_closed",
    ),
    "empty export": (_empty, "expect_table_row_count_to_be_between", None),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_bad_export_fails_its_error_expectation(
    case: str, settings: Settings, load_export: LoadExport
) -> None:
    mutate, expectation_type, column = ERROR_CASES[case]
    rows = good_opportunities()
    mutate(rows)
    load_export(rows)

    outcome = validate_raw(EXPORT_DATE, settings)

    assert not outcome.passed_errors
    assert failed(settings, outcome) == {(expectation_type, column, ERROR)}
    assert outcome.n_failed_errors == 1
    assert outcome.failures[0].startswith(f"error: {expectation_type}")
    if column:
        assert f"({column})" in outcome.failures[0]


def test_missing_canonical_column_fails(settings: Settings, load_export: LoadExport) -> None:
    load_export(good_opportunities(), drop_columns=["currency"])

    outcome = validate_raw(EXPORT_DATE, settings)

    assert not outcome.passed_errors
    assert failed(settings, outcome) == {("expect_column_to_exist", "currency", ERROR)}


def test_only_stages_of_the_same_export_count(settings: Settings, load_export: LoadExport) -> None:
    load_export(good_opportunities(), export_date=PREVIOUS_EXPORT_DATE)
    load_export(good_opportunities(), stages=[s for s in STAGE_ROWS if s["stage"] != "Closed Lost"])

    outcome = validate_raw(EXPORT_DATE, settings)

    assert failed(settings, outcome) == {("expect_column_values_to_be_in_set", "stage", ERROR)}


def test_warnings_do_not_fail_errors(settings: Settings, load_export: LoadExport) -> None:
    load_export([opportunity(i) for i in range(40)], export_date=PREVIOUS_EXPORT_DATE)
    rows = good_opportunities()
    closed_won = next(r for r in rows if r["stage"] == "Closed Won")
    closed_won["close_date"] = closed_won["created_at"].date().replace(day=1, month=1, year=2025)
    load_export(rows)

    outcome = validate_raw(EXPORT_DATE, settings)

    assert outcome.passed_errors
    assert outcome.n_failed_errors == 0
    assert outcome.n_failed_warnings == 2
    assert failed(settings, outcome) == {
        ("unexpected_rows_expectation", "created_at,close_date", WARNING),
        ("expect_table_row_count_to_be_between", None, WARNING),
    }
    assert all(f.startswith("warning: ") for f in outcome.failures)


def test_rerun_replaces_its_audit_rows(settings: Settings, load_export: LoadExport) -> None:
    load_export(good_opportunities())

    first = validate_raw(EXPORT_DATE, settings)
    again = validate_raw(EXPORT_DATE, settings)
    other = validate_raw(EXPORT_DATE, settings, run_id="nightly-2")

    assert first.run_id == again.run_id == f"raw-{EXPORT_DATE.isoformat()}"
    assert audit_count(settings, first.run_id) == first.n_expectations
    assert audit_count(settings, other.run_id) == other.n_expectations
    assert audit_count(settings) == first.n_expectations + other.n_expectations


def test_consecutive_exports_validate_in_one_state_dir(settings: Settings, load_export: LoadExport) -> None:
    load_export(good_opportunities(), export_date=PREVIOUS_EXPORT_DATE)
    load_export(good_opportunities())

    outcomes = [validate_raw(day, settings) for day in (PREVIOUS_EXPORT_DATE, EXPORT_DATE)]

    assert all(o.passed_errors and not o.failures for o in outcomes)
    assert audit_count(settings) == sum(o.n_expectations for o in outcomes)
    docs = data_docs_dir(settings) / "validations" / "raw" / "opportunities"
    assert {p.name for p in docs.iterdir()} == {o.run_id for o in outcomes}
