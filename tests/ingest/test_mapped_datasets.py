"""Two real layouts nobody here wrote, each loaded by a mapping file alone (mappings/*.yml)."""

from __future__ import annotations

from datetime import date

import pytest
from pipecast.ingest import IngestError, ingest_export

from tests.ingest.conftest import land_dataset, query

MAVEN_DAY = date(2017, 12, 31)
OLIST_DAY = date(2018, 11, 30)


def test_maven_crm_pipeline(settings):
    land_dataset(settings.resolved_landing_dir, MAVEN_DAY, "maven_crm_pipeline")
    result = ingest_export(MAVEN_DAY, settings)
    assert result.layout == "maven_crm_pipeline"
    assert result.rows == {
        "opportunities": 8800,
        "opportunity_stage_history": 1589 + 2 * (4238 + 2473),
        "stages": 4,
        "accounts": 85,
        "owners": 35,
        "products": 7,
    }
    # The data dictionary is ignored on purpose; year_established etc. are known: no warnings.
    assert result.warnings == []
    assert query(
        settings,
        "select stage, count(*), count(*) filter (where is_closed), count(*) filter (where is_won) "
        "from raw.opportunities group by 1 order by 1",
    ) == [
        ("Engaging", 1589, 0, 0),
        ("Lost", 2473, 2473, 0),
        ("Prospecting", 500, 0, 0),
        ("Won", 4238, 4238, 4238),
    ]
    # Derived history: Engaging at engage_date, then Won/Lost at close_date with the close value.
    assert query(
        settings,
        "select stage, changed_at::date::varchar, amount from raw.opportunity_stage_history "
        "where opportunity_id = '1C1I7A6R' order by changed_at",
    ) == [("Engaging", "2016-10-20", None), ("Won", "2017-03-01", 1054.0)]
    # Known defects mapped in the mapping file, not in the data: every product joins.
    assert query(
        settings,
        "select count(*) from raw.opportunities o left join raw.products p using (product_id) "
        "where p.product_id is null",
    ) == [(0,)]
    assert query(settings, "select count(*) from raw.accounts where industry = 'technolgy'") == [(0,)]
    assert query(
        settings, "select annual_revenue from raw.accounts where account_id = 'Acme Corporation'"
    ) == [(1100.04e6,)]
    assert query(settings, "select manager_id, region from raw.owners where owner_id = 'Anna Snelling'") == [
        ("Dustin Brinkmann", "Central")
    ]


def test_maven_passes_the_raw_checkpoint(settings):
    """The mapped rows meet the raw contract the rest of the pipeline validates against."""
    from pipecast.validate.runner import validate_raw

    land_dataset(settings.resolved_landing_dir, MAVEN_DAY, "maven_crm_pipeline")
    ingest_export(MAVEN_DAY, settings)
    outcome = validate_raw(MAVEN_DAY, settings)
    assert outcome.passed_errors, outcome.failures


def test_olist_marketing_funnel(settings):
    land_dataset(settings.resolved_landing_dir, OLIST_DAY, "olist_marketing_funnel")
    result = ingest_export(OLIST_DAY, settings)
    assert result.layout == "olist_marketing_funnel"
    assert result.rows == {
        "opportunities": 842,
        "opportunity_stage_history": 2 * 842,
        "stages": 2,
        "accounts": 842,
        "owners": 22,
        "leads": 8000,
    }
    assert query(
        settings,
        "select count(*), count(amount), bool_and(is_won), count(created_at),"
        " count(lead_source) from raw.opportunities",
    ) == [(842, 45, True, 842, 828)]  # origin is empty for 14 won leads
    # Leads: converted when a deal exists, with the deal's id and won date.
    assert query(
        settings, "select status, count(*), count(converted_at) from raw.leads group by 1 order by 1"
    ) == [
        ("Converted", 842, 842),
        ("Open", 7158, 0),
    ]
    assert query(settings, "select count(*) from raw.leads where source is null") == [(60,)]
    # The real defect stays visible: one deal won before its first contact.
    assert query(
        settings,
        "select count(*) from raw.opportunities where close_date < created_at::date",
    ) == [(1,)]
    assert query(
        settings,
        "select stage from raw.opportunity_stage_history where opportunity_id = "
        "'5420aad7fec3549a85876ba1c529bd84' order by changed_at",
    ) == [("MQL",), ("Won",)]


def test_bad_date_in_a_mapped_dataset_names_its_file_line_and_column(settings):
    folder = land_dataset(settings.resolved_landing_dir, MAVEN_DAY, "maven_crm_pipeline")
    path = folder / "sales_pipeline.csv"
    lines = path.read_bytes().split(b"\n")
    fields = lines[99].split(b",")
    fields[6] = b"2017-13-45"  # close_date
    lines[99] = b",".join(fields)
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(IngestError) as caught:
        ingest_export(MAVEN_DAY, settings)
    error = caught.value
    assert error.file.endswith("sales_pipeline.csv")
    assert (error.line, error.column) == (100, "close_date") and "2017-13-45" in error.message


def test_bad_value_in_a_lookup_file_names_the_lookup_file(settings):
    """Olist's opportunities take created_at from the leads file: a bad date there is reported
    in the leads file, at its own line."""
    folder = land_dataset(settings.resolved_landing_dir, OLIST_DAY, "olist_marketing_funnel")
    path = folder / "olist_marketing_qualified_leads_dataset.csv"
    deals = (folder / "olist_closed_deals_dataset.csv").read_text().splitlines()
    won_lead = deals[1].split(",")[0]
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(won_lead))
    fields = lines[index].split(",")
    fields[1] = "01/02/2018"
    lines[index] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(IngestError) as caught:
        ingest_export(OLIST_DAY, settings)
    error = caught.value
    assert error.file.endswith("olist_marketing_qualified_leads_dataset.csv")
    assert (error.line, error.column) == (index + 1, "first_contact_date")
