"""The real defects listed in ../shared/datasets/README.md, caught when those datasets are loaded.

First with the test-only loaders of real_datasets.py (the files' values, defects untouched), then
end to end through the mapped ingest (mappings/*.yml), for the defects its mappings keep.
"""

from __future__ import annotations

import re
import shutil
from datetime import date

import pytest
from pipecast.canonical import COMPLETION_MARKER
from pipecast.config import PROJECT_ROOT, Settings
from pipecast.validate.checkpoint import StageOutcome
from pipecast.validate.runner import validate_raw
from real_datasets import (
    MAVEN_DATE,
    OLIST_DATE,
    XEDUCATION_DATE,
    dataset,
    load_maven,
    load_olist,
    load_xeducation,
)


def failure(outcome: StageOutcome, suite: str, text: str) -> str:
    """The one failure of ``suite`` containing ``text``."""
    found = [f for f in outcome.failures if f.startswith(f"{suite}: ") and text in f]
    assert len(found) == 1, f"{suite} / {text!r} in {outcome.failures}"
    return found[0]


def unexpected(outcome: StageOutcome, suite: str, text: str) -> int:
    """How many rows (or values) the one failure of ``suite`` containing ``text`` found."""
    match = re.search(r": (\d+) unexpected", failure(outcome, suite, text))
    assert match, failure(outcome, suite, text)
    return int(match.group(1))


def test_maven_defects(settings: Settings) -> None:
    load_maven(settings)

    outcome = validate_raw(MAVEN_DATE, settings, today=MAVEN_DATE)

    assert outcome.passed_errors, outcome.failures
    # product GTXPro in 1,480 deals vs GTX Pro in products.csv: one unresolved product id
    assert unexpected(outcome, "raw.opportunities", "product_id resolves to a raw.products.product_id") == 1
    # sector typo "technolgy" (12 accounts)
    sector = failure(outcome, "raw.accounts", "expect_column_values_to_be_in_set(industry)")
    assert sector.startswith("raw.accounts: warning: ") and "12 unexpected, e.g. ['technolgy'" in sector
    # 1,425 open deals without an account
    assert unexpected(outcome, "raw.opportunities", "not_be_null(account_id)") == 1425
    # lost deals carry close_value 0 (2,473 lost deals)
    assert unexpected(outcome, "raw.opportunities", "Closed-lost deals keep their amount") == 2473
    # Prospecting deals have no dates (500)
    assert unexpected(outcome, "raw.opportunities", "not_be_null(created_at)") == 500


# Olist's deals are in BRL: the company reports in BRL (without it, every amount would need a
# BRL -> USD rate, and raw validation would say so).
IN_BRL = {"reporting_currency": "BRL"}


def test_olist_defects(settings: Settings) -> None:
    load_olist(settings)

    outcome = validate_raw(OLIST_DATE, settings.model_copy(update=IN_BRL), today=OLIST_DATE)

    assert outcome.passed_errors, outcome.failures
    # one deal won two days before first contact: as a deal and as a lead
    assert unexpected(outcome, "raw.opportunities", "created_at on or before close_date") == 1
    assert unexpected(outcome, "raw.leads", "created_at on or before converted_at") == 1


def test_xeducation_defects(settings: Settings) -> None:
    load_xeducation(settings)

    outcome = validate_raw(XEDUCATION_DATE, settings, today=XEDUCATION_DATE)

    leads = outcome.outcome("raw.leads")
    assert leads.passed_errors and leads.n_failed_warnings == 3, leads.failures
    # the placeholder "Select" stands for missing (5,041 in "How did you hear about X Education")
    placeholder = failure(outcome, "raw.leads", "expect_column_values_to_not_be_in_set(campaign)")
    assert "5041 unexpected, e.g. ['Select'" in placeholder
    # lead sources that differ only by case (Google/google)
    assert unexpected(outcome, "raw.leads", "source: one spelling per category") == 1
    # no timestamps at all
    assert unexpected(outcome, "raw.leads", "not_be_null(created_at)") == 9237
    # an export of leads alone lacks the required entities: an error, reported as such
    assert not outcome.passed_errors
    assert {o.suite for o in outcome.outcomes if o.skipped} == {
        "raw.opportunities",
        "raw.opportunity_stage_history",
        "raw.stages",
    }


# -- end to end through the mapped ingest ----------------------------------------------------------


def ingest_dataset(settings: Settings, name: str, day: date) -> None:
    from pipecast.ingest import ingest_export

    if not (PROJECT_ROOT / "mappings" / f"{name}.yml").is_file():
        pytest.skip(f"no mapping mappings/{name}.yml")
    folder = settings.resolved_landing_dir / day.isoformat()
    folder.mkdir(parents=True)
    for csv in dataset(name).glob("*.csv"):
        shutil.copyfile(csv, folder / csv.name)
    (folder / COMPLETION_MARKER).write_text("")
    ingest_export(day, settings)


def test_maven_through_the_mapped_ingest(settings: Settings) -> None:
    ingest_dataset(settings, "maven_crm_pipeline", MAVEN_DATE)

    outcome = validate_raw(MAVEN_DATE, settings, today=MAVEN_DATE)

    assert outcome.passed_errors, outcome.failures
    assert unexpected(outcome, "raw.opportunities", "not_be_null(account_id)") == 1425
    assert unexpected(outcome, "raw.opportunities", "Closed-lost deals keep their amount") == 2473
    assert unexpected(outcome, "raw.opportunities", "not_be_null(created_at)") == 500


def test_olist_through_the_mapped_ingest(settings: Settings) -> None:
    ingest_dataset(settings, "olist_marketing_funnel", OLIST_DATE)

    outcome = validate_raw(OLIST_DATE, settings.model_copy(update=IN_BRL), today=OLIST_DATE)

    assert outcome.passed_errors, outcome.failures
    assert unexpected(outcome, "raw.opportunities", "created_at on or before close_date") == 1
    assert unexpected(outcome, "raw.leads", "created_at on or before converted_at") == 1
