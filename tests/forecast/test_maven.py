"""The forecast on real CRM data: the Maven sample (../shared/datasets/maven_crm_pipeline).

It has no stage history (derived from engage and close dates), no dates at all for Prospecting
deals, no amount on lost or open deals, no leads, line items or targets: the night must still
score every open deal, beat the CRM's stage probabilities on the backtest (they are not
calibrated: 40% for Engaging deals that win about 63% of the time), and forecast revenue from the
products' typical won amounts where a deal has none.
"""

from __future__ import annotations

import json

import pytest
from pipecast.forecast.job import run_forecast
from pipecast.pipeline import validate_marts
from pipecast.report import write_report
from pipecast.warehouse import connect

from tests.dbt.maven import EXPORT_DATE, unavailable_reason
from tests.forecast.conftest import DemoWarehouse

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


def test_maven_open_deals_are_scored_and_beat_the_stage_probabilities(maven_warehouse, tmp_path):
    # a copy of the session's Maven warehouse (tests/conftest.py: ingested, validated, built)
    settings = DemoWarehouse(maven_warehouse.settings).copy(
        tmp_path / "state", forecast_win_candidates=["stage_chain", "snapshot"]
    )
    # the marts' suites pass on real data: its Prospecting deals have no date, so a null cohort
    # (documented in the marts' yml) is not an error (it stopped the night before)
    validate_marts(settings)
    result = run_forecast(EXPORT_DATE, settings)
    with connect(settings) as con:
        open_deals = con.execute(
            "select count(*) from staging.stg_crm__opportunities where not is_closed"
        ).fetchone()[0]
        pooled = dict(
            con.execute(
                "select forecaster, value from ml.backtests where scope = 'deals_pooled' "
                "and metric = 'brier' "
                "and cutoff is null"
            ).fetchall()
        )
        next_quarter = con.execute(
            "select open_pipeline_expected, p10, p90 from ml.revenue_forecast where method = 'model' "
            "and horizon = 'next'"
        ).fetchone()
        horizons = con.execute(
            "select horizons from ml.model_runs where model_name = 'win_probability'"
        ).fetchone()[0]
    assert result.open_deals_scored == open_deals == 2089
    # a backtest runs (horizons from the data: a 104-day P90 cycle, 105-day maturity, month-end
    # cut-offs) and the published scores beat the CRM's stage probability on it
    assert json.loads(horizons)["backtest_cutoffs"] and pooled["model"] <= pooled["stage_weighted"]
    assert pooled["model"] < 0.9 * pooled["stage_weighted"]
    assert next_quarter[0] > 0 and next_quarter[1] < next_quarter[2]  # open deals without amounts count
    report = write_report(settings).markdown_path.read_text(encoding="utf-8")
    assert "; model Brier" in report and "; stage_weighted Brier" in report
    assert "revenue P10-P90 coverage" in report and "horizons: P90 cycle" in report
    assert "fallback: lead_conversion: skipped: no leads in the warehouse" in report
