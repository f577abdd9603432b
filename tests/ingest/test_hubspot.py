"""HubSpot as Fivetran lands it: Fivetran's own fixture (layout and shape) and a hand-written
export of every table (labels, probabilities, as-of amounts, associations)."""

from __future__ import annotations

from datetime import date

from pipecast.ingest import ingest_export

from tests.ingest.conftest import land_dataset, put_export, query

DAY = date(2021, 1, 12)


def test_fivetran_hubspot_fixture(settings):
    land_dataset(settings.resolved_landing_dir, DAY, "fivetran_connector_fixtures/hubspot")
    result = ingest_export(DAY, settings)
    assert result.layout == "hubspot"
    assert result.rows == {"opportunities": 44, "opportunity_stage_history": 14, "stages": 69}
    # Two pipeline stages are flagged deleted by Fivetran: left out, and said so.
    assert "deal_pipeline_stage_data.csv: 2 of 71 rows left out by the layout's filter" in result.warnings
    # Probabilities are fractions in HubSpot, percentages in pipecast.
    assert query(settings, "select min(probability), max(probability) from raw.stages") == [(0.0, 100.0)]
    # deal_stage rows are the history, at the time each stage was entered.
    assert query(
        settings,
        "select changed_at::varchar from raw.opportunity_stage_history where opportunity_id = '3954699413'",
    ) == [("2021-01-07 06:49:18",)]
    assert query(settings, "select count(*) from raw.opportunities where created_at is null") == [(0,)]


FILES = {
    "deal.csv": "deal_id,is_deleted,deal_pipeline_id,deal_pipeline_stage_id,owner_id,portal_id,"
    "property_dealname,"
    "property_amount,property_closedate,property_createdate,property_dealtype,property_hs_analytics_source\n"
    "101,false,default,appointmentscheduled,9001,1,Acme renewal,5000,2026-03-31 00:00:00,2026-01-05 09:00:00,"
    "existingbusiness,ORGANIC_SEARCH\n"
    "102,false,default,closedwon,9002,1,Globex new,12000,2026-02-10 00:00:00,2026-01-07 10:00:00,newbusiness,"
    "PAID_SEARCH\n",
    "deal_pipeline.csv": "pipeline_id,label,display_order\ndefault,Sales Pipeline,0\n",
    "deal_pipeline_stage.csv": "_fivetran_deleted,stage_id,label,pipeline_id,display_order,probability,"
    "closed_won,"
    "is_closed\n"
    "false,appointmentscheduled,Appointment Scheduled,default,0,0.2,false,false\n"
    "false,contractsent,Contract Sent,default,1,0.9,false,false\n"
    "false,closedwon,Closed Won,default,2,1.0,true,true\n"
    "false,closedlost,Closed Lost,default,3,0.0,false,true\n"
    "true,oldstage,Closed Won,default,9,1.0,true,true\n",
    "deal_stage.csv": "deal_id,date_entered,value,_fivetran_start,_fivetran_active\n"
    "101,2026-01-05 09:00:00,appointmentscheduled,2026-01-05 09:00:00,true\n"
    "102,2026-01-07 10:00:00,appointmentscheduled,2026-01-07 10:00:00,false\n"
    "102,2026-01-20 15:00:00,contractsent,2026-01-20 15:00:00,false\n"
    "102,2026-02-10 12:00:00,closedwon,2026-02-10 12:00:00,true\n",
    "deal_property_history.csv": "deal_id,timestamp,name,value,source\n"
    "102,2026-01-07 10:00:00,amount,8000,CRM_UI\n"
    "102,2026-01-25 08:00:00,amount,12000,CRM_UI\n"
    "102,2026-01-07 10:00:00,closedate,2026-03-01,CRM_UI\n"
    "102,2026-01-20 15:00:00,closedate,2026-02-10,CRM_UI\n"
    "102,2026-01-21 15:00:00,closedate,not a date,CRM_UI\n",
    "deal_company.csv": "deal_id,company_id,type_id\n101,5001,5\n102,5002,5\n102,5003,341\n",
    "company.csv": "id,is_deleted,property_name,property_industry,property_country,"
    "property_numberofemployees,"
    "property_annualrevenue,property_createdate\n"
    "5001,false,Acme,COMPUTER_SOFTWARE,Germany,120,5000000,2024-05-01 00:00:00\n"
    "5002,false,Globex,RETAIL,France,3000,90000000,2023-01-01 00:00:00\n",
    "owner.csv": "owner_id,first_name,last_name,email\n9001,Ada,Lovelace,ada@example.com\n9002,Alan,,"
    "alan@example.com\n",
    "product.csv": "id,property_name,property_price,property_hs_product_type\n77,Seat licence,100,service\n",
    "line_item.csv": "id,property_hs_product_id,property_quantity,property_price\n88,77,50,100\n",
    "line_item_deal.csv": "line_item_id,deal_id\n88,101\n",
    "contact.csv": "id,property_createdate,property_hs_analytics_source,property_lifecyclestage,"
    "property_hubspot_owner_id\n"
    "301,2025-12-01 00:00:00,ORGANIC_SEARCH,opportunity,9001\n302,2025-12-15 00:00:00,SOCIAL_MEDIA,lead,"
    "9002\n",
    "deal_contact.csv": "deal_id,contact_id\n101,301\n",
}


def test_every_table_of_a_hubspot_export(settings):
    put_export(settings.resolved_landing_dir, date(2026, 2, 11), FILES)
    result = ingest_export(date(2026, 2, 11), settings)
    assert result.rows == {
        "opportunities": 2,
        "opportunity_stage_history": 4,
        "stages": 4,
        "accounts": 2,
        "owners": 2,
        "products": 1,
        "line_items": 1,
        "leads": 2,
    }
    assert query(
        settings,
        "select opportunity_id, account_id, stage, is_closed, is_won, probability, type, lead_source "
        "from raw.opportunities order by 1",
    ) == [
        ("101", "5001", "Appointment Scheduled", False, False, 20.0, "existingbusiness", "ORGANIC_SEARCH"),
        ("102", "5002", "Closed Won", True, True, 100.0, "newbusiness", "PAID_SEARCH"),
    ]
    # Each stage entry carries the amount and close date as they stood then (as-of lookups); a
    # close date typed as free text ("not a date") loads empty rather than rejecting the export.
    assert query(
        settings,
        "select stage, amount, close_date::varchar from raw.opportunity_stage_history "
        "where opportunity_id = '102' order by changed_at",
    ) == [
        ("Appointment Scheduled", 8000.0, "2026-03-01"),
        ("Contract Sent", 8000.0, "2026-02-10"),
        ("Closed Won", 12000.0, None),
    ]
    assert query(settings, "select name from raw.owners order by owner_id") == [("Ada Lovelace",), ("Alan",)]
    assert query(settings, "select opportunity_id, quantity, unit_price from raw.line_items") == [
        ("101", 50.0, 100.0)
    ]
    assert query(settings, "select lead_id, converted_opportunity_id, status from raw.leads order by 1") == [
        ("301", "101", "opportunity"),
        ("302", None, "lead"),
    ]
    assert query(settings, "select employees, country from raw.accounts order by account_id") == [
        (120, "Germany"),
        (3000, "France"),
    ]


def test_history_from_property_history_without_deal_stage(settings):
    files = {k: v for k, v in FILES.items() if k != "deal_stage.csv"}
    files["deal_property_history.csv"] += "102,2026-01-07 10:00:00,dealstage,appointmentscheduled,CRM_UI\n"
    files["deal_property_history.csv"] += "102,2026-02-10 12:00:00,dealstage,closedwon,CRM_UI\n"
    put_export(settings.resolved_landing_dir, date(2026, 2, 11), files)
    ingest_export(date(2026, 2, 11), settings)
    assert query(
        settings, "select stage, probability from raw.opportunity_stage_history order by changed_at"
    ) == [
        ("Appointment Scheduled", 20.0),
        ("Closed Won", 100.0),
    ]
