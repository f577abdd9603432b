"""Features declared in a mapping: loaded point in time and read as of a cut-off, on real data.

X Education's Leads.csv (../shared/datasets/xeducation_leads) is loaded by mappings/
xeducation_leads.yml, which declares engagement and profile columns as features. The declared
columns carry signal about conversion; the values read as of a cut-off are the ones the newest
export on or before it showed, through staging and the opportunity snapshot.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest
from pipecast import pipeline
from pipecast.ingest import ingest_export
from pipecast.mapped_features import DeclaredFeature, features_as_of
from pipecast.transform import dbt_invoke
from scipy.stats import chi2_contingency
from sklearn.metrics import roc_auc_score

from tests.ingest.conftest import dataset_dir, land_dataset, put_export

DAY = date(2020, 3, 1)


def _read(settings):
    return duckdb.connect(str(settings.resolved_warehouse_path), read_only=True)


def test_declared_lead_features_carry_signal(settings):
    land_dataset(settings.resolved_landing_dir, DAY, "xeducation_leads")
    result = ingest_export(DAY, settings)
    assert result.layout == "xeducation_leads" and result.warnings == []
    assert result.rows == {
        "leads": 9237,
        "opportunities": 3559,
        "opportunity_stage_history": 3559,
        "stages": 1,
    }
    with _read(settings) as con:
        known = features_as_of(con, DAY, "leads")
        converted = dict(con.execute("select lead_id, status = 'Converted' from raw.leads").fetchall())
        before = features_as_of(con, DAY - timedelta(days=1), "leads")
        deals = features_as_of(con, DAY, "opportunities")  # no snapshot yet: raw's export
    assert known.export_date == DAY
    assert DeclaredFeature("time_on_website_s", "numeric", "Total Time Spent on Website") in known.declared
    assert known.numeric == ["page_views_per_visit", "time_on_website_s", "total_visits"]
    assert known.categorical == ["do_not_email", "lead_origin", "occupation", "specialization"]
    values = known.values
    assert len(values) == 9237 and values.index.name == "lead_id"
    assert str(values["time_on_website_s"].dtype) == "float64" and str(values["occupation"].dtype) == "string"
    # The form's "Select" placeholder is empty, not a category.
    assert not (values["occupation"] == "Select").any() and values["occupation"].isna().sum() == 2690
    y = pd.Series([converted[i] for i in values.index], index=values.index)
    assert y.sum() == 3559
    # A numeric feature ranks converters above the others (AUC 0.65 on 9,237 leads, SE ~0.006).
    auc = roc_auc_score(y, values["time_on_website_s"])
    assert auc > 0.6, auc
    # Categorical features: conversion depends on them (92% for "Lead Add Form" against 31% for
    # "API"; 92% for working professionals).
    for name in ("lead_origin", "occupation"):
        table = pd.crosstab(values[name].fillna("(empty)"), y)
        assert chi2_contingency(table).pvalue < 1e-50, name
    # The converted leads are won opportunities with the same declared features.
    assert len(deals.values) == 3559 and deals.declared == known.declared
    assert deals.values["total_visits"].equals(values.loc[deals.values.index, "total_visits"])
    # Before the first export nothing is known: no declarations, no rows.
    assert before.declared == [] and before.values.empty and before.export_date is None


def test_opportunity_features_as_of_a_cutoff_through_the_snapshot(settings, tmp_path):
    """Two weekly exports; a converted lead's visits change in the second. The snapshot keeps both
    versions, and each cut-off reads the value its newest export showed."""
    # The first 600 real leads: dbt's run time here is its own, not the data's.
    leads = pd.read_csv(dataset_dir("xeducation_leads") / "Leads.csv", dtype=str, keep_default_na=False)
    leads = leads.head(600)
    deal = leads.loc[leads["Converted"] == "1", "Prospect ID"].iloc[0]
    first_visits = float(leads.loc[leads["Prospect ID"] == deal, "TotalVisits"].iloc[0])
    second = leads.copy()
    second.loc[second["Prospect ID"] == deal, "TotalVisits"] = str(int(first_visits) + 100)
    night_2 = DAY + timedelta(days=7)
    for day, frame in ((DAY, leads), (night_2, second)):
        put_export(settings.resolved_landing_dir, day, {"Leads.csv": frame.to_csv(index=False)})
        pipeline.ingest(day, settings)  # load and validate: staging serves validated exports
        # The snapshot, the staging it reads and what they read (history: its relationship test).
        build = ["build", "--select", "+snp_crm__opportunities", "+stg_crm__opportunity_stage_history"]
        assert dbt_invoke(build, settings).success
    with _read(settings) as con:
        versions = con.execute(
            "select count(*) from snapshots.snp_crm__opportunities where opportunity_id = ?", [deal]
        ).fetchone()[0]
        seen = {
            cutoff: features_as_of(con, cutoff, "opportunities", ids=[deal])
            for cutoff in (DAY, DAY + timedelta(days=3), night_2, night_2 + timedelta(days=30))
        }
        everyone = features_as_of(con, night_2, "opportunities")
    assert versions == 2
    visits = {cutoff: known.values.loc[deal, "total_visits"] for cutoff, known in seen.items()}
    assert list(visits.values()) == [first_visits, first_visits, first_visits + 100, first_visits + 100]
    assert [known.export_date for known in seen.values()] == [DAY, DAY, night_2, night_2]
    assert len(everyone.values) == (leads["Converted"] == "1").sum()
    assert everyone.values["lead_origin"].notna().all()


@pytest.mark.parametrize("entity", ["accounts", "stages"])
def test_features_only_for_opportunities_and_leads(settings, entity):
    with duckdb.connect() as con, pytest.raises(ValueError, match="opportunities, leads"):
        features_as_of(con, DAY, entity)
