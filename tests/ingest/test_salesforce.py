"""Salesforce: the Data Export layout (real devorg sample and a hand-written export of every object)
and the Fivetran-landed layout (Fivetran's own fixture)."""

from __future__ import annotations

from datetime import date

from pipecast.ingest import ingest_export

from tests.ingest.conftest import land_dataset, put_export, query

DAY = date(2018, 10, 15)


def test_devorg_data_export(settings):
    land_dataset(settings.resolved_landing_dir, DAY, "sfdc_devorg_sample")
    result = ingest_export(DAY, settings)
    assert result.layout == "salesforce"
    assert result.rows == {"opportunities": 31, "opportunity_stage_history": 31, "stages": 9, "accounts": 12}
    # Native export values: "0"/"1" booleans, date-times in CloseDate, percentages.
    assert query(
        settings,
        "select stage, amount, close_date::varchar, is_closed, is_won, probability, lead_source, type "
        "from raw.opportunities where opportunity_id = '0064600000J5S5TAAV'",
    ) == [("Qualification", 15000.0, "2018-08-22", False, False, 10.0, "Purchased List", "New Customer")]
    # Every opportunity has two changes in the same second: the canonical key (opportunity, time)
    # keeps the later one (by the history row's Id), says so, and keeps the row's Id in _extra.
    assert "opportunity_stage_history: 31 of 62 rows repeat a key" in " ".join(result.warnings)
    assert query(
        settings,
        "select close_date::varchar, _extra ->> 'Id' from raw.opportunity_stage_history "
        "where opportunity_id = '0064600000J5S5TAAV'",
    ) == [("2018-08-22", "0084600000iqkoIAAQ")]
    # No OpportunityStage.csv: the stages are the ones the opportunities use, in their order.
    assert query(
        settings, "select stage, sort_order, probability, is_won from raw.stages order by sort_order"
    )[-1] == (
        "Closed Won",
        9,
        100.0,
        True,
    )
    # Custom fields stay in _extra and are reported once as new columns.
    assert query(
        settings,
        "select _extra ->> 'MainCompetitors__c' from raw.opportunities "
        "where opportunity_id = '0064600000J5S5TAAV'",
    ) == [("Honda",)]
    assert sum("__c" in w for w in result.warnings) == 12
    assert query(settings, "select count(*) from raw.accounts where industry = 'Electronics'") == [(1,)]


OPPORTUNITY = (
    '"Id","IsDeleted","AccountId","Name","StageName","Amount","Probability","CloseDate","Type","LeadSource",'
    '"IsClosed","IsWon","ForecastCategory","ForecastCategoryName","CurrencyIsoCode","OwnerId","CreatedDate",'
    '"LastModifiedDate"\r\n'
    '"006A","false","001A","Big ""quoted"" deal","Proposal","12000.50","60","2026-03-31","New Business",'
    '"Web",'
    '"false","false","BestCase","Best Case","EUR","005M","2026-01-05T09:30:00.000Z",'
    '"2026-02-01T10:00:00.000Z"\r\n'
    '"006B","false","001A","Renewal","Closed Won","5000","100","2026-02-15","Existing Business","",'
    '"true","true","Closed","Closed","EUR","005R","2026-01-10T12:00:00.000Z","2026-02-15T16:00:00.000Z"\r\n'
)
HISTORY = (
    '"Id","OpportunityId","CreatedDate","StageName","Amount","CloseDate","Probability","ForecastCategory"\r\n'
    '"008A1","006A","2026-01-05T09:30:00.000Z","Prospecting","10000","2026-03-31","10","Pipeline"\r\n'
    '"008A2","006A","2026-01-20T11:00:00.000Z","Proposal","12000.50","2026-03-31","60","BestCase"\r\n'
    '"008B1","006B","2026-01-10T12:00:00.000Z","Prospecting","5000","2026-02-15","10","Pipeline"\r\n'
    '"008B2","006B","2026-02-15T16:00:00.000Z","Closed Won","5000","2026-02-15","100","Closed"\r\n'
)
STAGE = (
    '"Id","MasterLabel","ApiName","IsActive","SortOrder","IsClosed","IsWon","ForecastCategory",'
    '"ForecastCategoryName","DefaultProbability"\r\n'
    '"01J1","Prospecting","Prospecting","true","1","false","false","Pipeline","Pipeline","10"\r\n'
    '"01J2","Proposal","Proposal","true","2","false","false","BestCase","Best Case","60"\r\n'
    '"01J3","Closed Won","Closed Won","true","3","true","true","Closed","Closed","100"\r\n'
    '"01J4","Closed Lost","Closed Lost","true","4","true","false","Omitted","Omitted","0"\r\n'
)
FILES = {
    "Opportunity.csv": OPPORTUNITY,
    "OpportunityHistory.csv": HISTORY,
    "OpportunityStage.csv": STAGE,
    "Account.csv": '"Id","Name","Industry","BillingCountry","NumberOfEmployees","AnnualRevenue",'
    '"CreatedDate"\r\n'
    '"001A","Acme GmbH","Manufacturing","Germany","250","12000000","2025-06-01T08:00:00.000Z"\r\n',
    "User.csv": '"Id","Name","ManagerId","Department","Division","IsActive"\r\n'
    '"005M","Maria Manager","","Sales","EMEA","true"\r\n"005R","Rita Rep","005M","Sales","EMEA","true"\r\n',
    "Product2.csv": '"Id","Name","Family","ProductCode","IsActive"\r\n'
    '"01tA","Widget","Hardware","W-1","true"\r\n',
    "PricebookEntry.csv": '"Id","Product2Id","Pricebook2Id","UnitPrice","IsActive"\r\n'
    '"01uA","01tA","01sS","99.5","true"\r\n"01uB","01tA","01sX","120","false"\r\n',
    "OpportunityLineItem.csv": '"Id","OpportunityId","Product2Id","Quantity","UnitPrice","TotalPrice"\r\n'
    '"00kA","006A","01tA","100","120.005","12000.50"\r\n',
    "Lead.csv": '"Id","CreatedDate","LeadSource","Status","ConvertedDate","ConvertedOpportunityId","OwnerId",'
    '"IsConverted"\r\n"00QA","2025-12-20T10:00:00.000Z","Web","Qualified","2026-01-05","006A","005R",'
    '"true"\r\n'
    '"00QB","2026-01-02T10:00:00.000Z","Trade Show","Open","","","005R","false"\r\n',
}


def test_every_object_of_a_data_export(settings):
    put_export(settings.resolved_landing_dir, date(2026, 2, 16), FILES)
    result = ingest_export(date(2026, 2, 16), settings)
    assert result.rows == {
        "opportunities": 2,
        "opportunity_stage_history": 4,
        "stages": 4,
        "accounts": 1,
        "owners": 2,
        "products": 1,
        "line_items": 1,
        "leads": 2,
    }
    assert result.warnings == ["PricebookEntry.csv: 1 of 2 rows left out by the layout's filter"]
    assert query(
        settings,
        "select name, amount, currency, forecast_category, product_id, created_at::varchar, probability "
        "from raw.opportunities where opportunity_id = '006A'",
    ) == [('Big "quoted" deal', 12000.5, "EUR", "Best Case", "01tA", "2026-01-05 09:30:00", 60.0)]
    assert query(
        settings,
        "select stage, forecast_category from raw.opportunity_stage_history "
        "where opportunity_id = '006A' order by changed_at",
    )[1] == ("Proposal", "Best Case")
    assert query(settings, "select stage, sort_order, is_closed, is_won from raw.stages order by 2") == [
        ("Prospecting", 1, False, False),
        ("Proposal", 2, False, False),
        ("Closed Won", 3, True, True),
        ("Closed Lost", 4, True, False),
    ]
    assert query(settings, "select owner_id, manager_id, team, region from raw.owners order by 1") == [
        ("005M", None, "Sales", "EMEA"),
        ("005R", "005M", "Sales", "EMEA"),
    ]
    # The active price book entry gives the list price; the inactive one is left out (and said so).
    assert query(settings, "select list_price from raw.products") == [(99.5,)]
    assert query(
        settings, "select converted_opportunity_id, converted_at::date::varchar from raw.leads order by 1"
    ) == [
        ("006A", "2026-01-05"),
        (None, None),
    ]
    assert query(settings, "select employees, annual_revenue from raw.accounts") == [(250, 12000000.0)]


def test_fivetran_salesforce_fixture(settings):
    land_dataset(settings.resolved_landing_dir, date(2019, 10, 18), "fivetran_connector_fixtures/salesforce")
    result = ingest_export(date(2019, 10, 18), settings)
    assert result.layout == "salesforce_fivetran"
    assert result.rows == {"opportunities": 10, "opportunity_stage_history": 10, "stages": 3, "accounts": 10}
    # History mode: each version of an opportunity is a history row at the time it became valid.
    assert query(
        settings,
        "select changed_at::varchar, amount from raw.opportunity_stage_history "
        "where opportunity_id = '006q000000HddohAAB'",
    ) == [("2019-10-17 21:10:19", 24120000.0)]
    # Soft-deleted records load; the flag stays in _extra for the warehouse to use.
    assert query(
        settings, "select count(*) from raw.opportunities where _extra ->> 'is_deleted' = 'true'"
    ) == [(10,)]
