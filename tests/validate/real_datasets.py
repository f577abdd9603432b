"""Real public CRM datasets (../shared/datasets) loaded into raw.* as their files have them.

TEST-ONLY loaders: a few lines of DuckDB SQL per dataset that put the files' own values into the
canonical columns, defects and all, so the raw suites can be shown to catch each defect the
datasets' README lists. (The mapped ingest, mappings/*.yml, corrects some of them on purpose, e.g.
Maven's product "GTXPro"; these loaders do not.) The files are read in place, never copied.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest
from pipecast.config import PROJECT_ROOT, Settings
from raw_warehouse import load_export

DATASETS = Path(os.environ.get("PIPECAST_DATASETS_DIR", PROJECT_ROOT.parent / "shared" / "datasets"))


def dataset(name: str) -> Path:
    folder = DATASETS / name
    if not folder.is_dir():
        pytest.skip(f"dataset {name} not found under {DATASETS} (set PIPECAST_DATASETS_DIR)")
    return folder


def _csv(folder: Path, name: str) -> str:
    return "read_csv('" + str(folder / name).replace("'", "''") + "', header = true)"


def _load(settings: Settings, export_date: date, statements: list[str]) -> None:
    load_export(settings, {}, export_date=export_date)  # the raw tables, empty
    con = duckdb.connect(str(settings.resolved_warehouse_path))
    try:
        for sql in statements:
            con.execute(sql, {"export_date": export_date})
    finally:
        con.close()


MAVEN_DATE = date(2017, 12, 31)


def load_maven(settings: Settings) -> None:
    """maven_crm_pipeline: sales_pipeline, accounts, products, sales_teams; history from the dates."""
    folder = dataset("maven_crm_pipeline")
    meta = "$export_date, 'maven', now(), ''"
    stages = "('Prospecting', 1, 10.0, false, false), ('Engaging', 2, 40.0, false, false), " + (
        "('Won', 3, 100.0, true, true), ('Lost', 4, 0.0, true, false)"
    )
    _load(
        settings,
        MAVEN_DATE,
        [
            f"""INSERT INTO raw.opportunities SELECT opportunity_id, account, sales_agent,
                account || ' - ' || product, 'default', engage_date, deal_stage, close_value, 'USD',
                close_date, deal_stage IN ('Won', 'Lost'), deal_stage = 'Won',
                CASE deal_stage WHEN 'Prospecting' THEN 10 WHEN 'Engaging' THEN 40 WHEN 'Won' THEN 100
                ELSE 0 END, NULL, NULL, NULL, product, NULL, {meta}
                FROM {_csv(folder, "sales_pipeline.csv")}""",
            f"""INSERT INTO raw.opportunity_stage_history SELECT opportunity_id, engage_date, 'Engaging',
                NULL, NULL, 40, NULL, {meta} FROM {_csv(folder, "sales_pipeline.csv")}
                WHERE engage_date IS NOT NULL""",
            f"""INSERT INTO raw.stages SELECT 'default', s, o, p, c, w, NULL, {meta}
                FROM (VALUES {stages}) t(s, o, p, c, w)""",
            f"""INSERT INTO raw.accounts SELECT account, account, sector, NULL, office_location, employees,
                revenue * 1e6, NULL, {meta} FROM {_csv(folder, "accounts.csv")}""",
            f"""INSERT INTO raw.owners SELECT sales_agent, sales_agent, manager, manager, regional_office,
                {meta} FROM {_csv(folder, "sales_teams.csv")}""",
            f"""INSERT INTO raw.products SELECT product, product, series, sales_price, {meta}
                FROM {_csv(folder, "products.csv")}""",
        ],
    )


OLIST_DATE = date(2018, 11, 15)


def load_olist(settings: Settings) -> None:
    """olist_marketing_funnel: the leads, and the deals closed with them (all won)."""
    folder = dataset("olist_marketing_funnel")
    meta = "$export_date, 'olist', now(), ''"
    leads, deals = (
        _csv(folder, "olist_marketing_qualified_leads_dataset.csv"),
        _csv(folder, "olist_closed_deals_dataset.csv"),
    )
    _load(
        settings,
        OLIST_DATE,
        [
            f"""INSERT INTO raw.opportunities SELECT d.mql_id, d.seller_id, d.sr_id, d.business_segment,
                'default', l.first_contact_date, 'Won', d.declared_monthly_revenue, 'BRL',
                CAST(d.won_date AS DATE), true, true, 100, 'Closed', l.origin, d.lead_type, NULL, NULL,
                {meta} FROM {deals} d JOIN {leads} l USING (mql_id)""",
            f"""INSERT INTO raw.opportunity_stage_history SELECT mql_id, won_date, 'Won',
                declared_monthly_revenue, CAST(won_date AS DATE), 100, 'Closed', {meta} FROM {deals}""",
            f"""INSERT INTO raw.stages VALUES ('default', 'MQL', 1, 10, false, false, 'Pipeline', {meta}),
                ('default', 'Won', 2, 100, true, true, 'Closed', {meta})""",
            f"""INSERT INTO raw.leads SELECT l.mql_id, l.first_contact_date, l.origin, l.landing_page_id,
                CASE WHEN d.mql_id IS NULL THEN 'Open' ELSE 'Converted' END, d.won_date, d.mql_id, NULL,
                {meta} FROM {leads} l LEFT JOIN {deals} d USING (mql_id)""",
        ],
    )


XEDUCATION_DATE = date(2020, 1, 1)  # the file has no dates at all


def load_xeducation(settings: Settings) -> None:
    """xeducation_leads: leads only (how they heard of the course stands in for the campaign)."""
    folder = dataset("xeducation_leads")
    meta = "$export_date, 'xeducation', now(), ''"
    _load(
        settings,
        XEDUCATION_DATE,
        [
            f"""INSERT INTO raw.leads SELECT "Prospect ID", NULL, "Lead Source",
                "How did you hear about X Education",
                CASE WHEN "Converted" = 1 THEN 'Converted' ELSE 'Open' END, NULL, NULL, NULL, {meta}
                FROM {_csv(folder, "Leads.csv")}""",
        ],
    )
