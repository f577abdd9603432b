"""A fast funnel with eight weeks of weekly exports (tests/forecast/fast_funnel.py): horizons follow
its cycle (weeks, a three-week label maturity), a backtest runs and is reported, the published
scores are never worse than the CRM's stage probability on it, and every fallback of the night
(skipped models, a range widened from the prior, no backtest at all) is a warning in the log, a
row in ml.model_runs with its reason and a line of the report. With no open deal the night and
its validation still work."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import date, timedelta

import pandas as pd
import pytest
from pipecast.forecast.job import run_forecast
from pipecast.ingest import lifecycle
from pipecast.pipeline import ingest, validate_predictions
from pipecast.report import write_report
from pipecast.warehouse import connect

from tests.forecast.conftest import build_warehouse, make_settings
from tests.forecast.fast_funnel import write_exports
from tests.lifecycle_steps import mark_validated

AS_OF = date(2026, 11, 29)
WEEKS = 8  # eight weekly exports are enough for a backtest


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def query(settings, sql: str, params: list | None = None) -> pd.DataFrame:
    with connect(settings) as con:
        return con.execute(sql, params or []).df()


@pytest.fixture(scope="module")
def funnel(tmp_path_factory):
    """The fast funnel's warehouse, built once (eight weekly exports ingested, dbt built)."""
    settings = make_settings(tmp_path_factory.mktemp("fast-funnel") / "state", export_interval_days=7)
    exports = write_exports(settings.resolved_landing_dir, size=900, weeks=WEEKS, as_of=AS_OF)
    assert len(exports) == WEEKS and exports[1] - exports[0] == timedelta(weeks=1)
    ingest(settings=settings, validate=False)
    # raw validation is not under test here; staging serves validated exports only
    mark_validated(settings, *lifecycle.current_on_target(settings))
    build_warehouse(settings)
    return settings


def copy_of(funnel, target, **overrides):
    shutil.copytree(funnel.state_dir, target, ignore=shutil.ignore_patterns("dbt", "models", "mlflow"))
    return make_settings(target, **overrides)


def night(settings, as_of: date = AS_OF):
    collect = Collect()
    logger = logging.getLogger("pipecast")
    logger.addHandler(collect)
    try:
        result = run_forecast(as_of, settings)
        report = write_report(settings)
    finally:
        logger.removeHandler(collect)
    return result, report.markdown_path.read_text(encoding="utf-8"), collect.messages


@pytest.fixture(scope="module")
def weekly(funnel, tmp_path_factory):
    settings = copy_of(funnel, tmp_path_factory.mktemp("weekly") / "state")
    return (settings, *night(settings))


def test_horizons_follow_the_fast_cycle_and_are_stored(weekly):
    settings, result, report, _ = weekly
    runs = query(settings, "select * from ml.model_runs where as_of = ?", [AS_OF])
    horizons = json.loads(runs.loc[runs["model_name"] == "win_probability", "horizons"].iloc[0])
    assert horizons["grain"] == "week" and horizons["sources"]["grain"] == "data"
    assert 7 <= horizons["label_maturity_days"] <= 35
    assert len(horizons["backtest_cutoffs"]) == 2  # forecast_backtest_cutoffs in the tests' settings
    assert runs["horizons"].nunique() == 1
    periods = query(settings, "select distinct period from ml.revenue_forecast where as_of = ?", [AS_OF])
    assert all("-W" in p for p in periods["period"])  # weekly periods
    assert "horizons: P90 cycle" in report and "weeks" in report


def test_a_backtest_runs_is_reported_and_the_published_scores_beat_the_crm(weekly):
    settings, result, report, _ = weekly
    pooled = query(
        settings,
        "select forecaster, metric, value, n from ml.backtests where as_of = ? and scope = 'deals_pooled' "
        "and cutoff is null",
        [AS_OF],
    ).pivot(index="forecaster", columns="metric", values="value")
    assert {"model", "stage_weighted"} <= set(pooled.index)
    assert pooled.loc["model", "brier"] <= pooled.loc["stage_weighted", "brier"]
    win = query(
        settings, "select * from ml.model_runs where as_of = ? and model_name = 'win_probability'", [AS_OF]
    ).iloc[0]
    assert win["score"] == pytest.approx(pooled.loc["model", "brier"])
    assert "best on the backtest" in win["decision"]
    line = next(x for x in report.splitlines() if x.startswith("- backtest (deals open at past cut-offs)"))
    assert "; model Brier" in line and "; stage_weighted Brier" in line
    assert f"win probability: {result.model_version}" in report
    ledger = query(settings, "select * from ml.forecast_ledger where as_of = ?", [AS_OF])
    assert ledger["period"].nunique() == 2 and "revenue P10-P90 coverage" in report and " of 2 " in report


def test_every_fallback_is_a_warning_a_model_run_and_a_report_line(weekly):
    settings, _, report, warnings = weekly
    runs = query(settings, "select * from ml.model_runs where as_of = ?", [AS_OF]).set_index("model_name")
    for model, reason in (
        ("lead_conversion", "skipped: no leads in the warehouse"),
        ("product_propensity", "skipped: no account x product history to learn from"),
    ):
        assert runs.loc[model, "fallback_reason"] == reason
        assert runs.loc[model, "decision"] == "skipped" and not runs.loc[model, "is_current"]
        assert f"fallback: {model}: {reason}" in report
        assert f"{model}: {reason}" in warnings
    # two backtest periods cannot measure the range's spread: at least the prior (25%), and said
    # so whenever the prior widened it
    recipe = json.loads(runs.loc["revenue_forecast", "recipe"])
    assert recipe["spread"] == max(recipe["spread_measured"], 0.25)
    if recipe["spread_measured"] < 0.25:
        assert "widened to the prior 25.0%" in runs.loc["revenue_forecast", "fallback_reason"]
        assert any("widened to the prior" in w for w in warnings)
    assert runs.loc["win_probability", "is_current"] and runs.loc["close_timing", "is_current"]


def test_without_a_backtest_the_stage_model_or_the_crm_number_is_published_and_said(funnel, tmp_path):
    settings = copy_of(funnel, tmp_path / "state", forecast_label_maturity_days=400)
    result, report, warnings = night(settings)
    assert query(settings, "select count(*) as n from ml.backtests where scope = 'deals_pooled'")["n"][0] == 0
    win = query(settings, "select * from ml.model_runs where model_name = 'win_probability'").iloc[0]
    # no snapshot is 400 days old: the stage model cannot be fitted, the CRM's number is published
    assert "stage_weighted" in result.model_version or "stage_calibrated" in result.model_version
    assert "no backtest" in win["fallback_reason"] and "not an unvalidated model" in win["decision"]
    assert any("no backtest" in w for w in warnings)
    assert "fallback: win_probability: no backtest" in report
    scores = query(settings, "select win_probability, crm_probability from ml.opportunity_scores")
    if "stage_weighted" in result.model_version:
        assert "published the CRM's stage probability" in win["decision"]
        assert (scores["win_probability"] == scores["crm_probability"]).all()


def test_a_night_with_no_open_deal_forecasts_and_validates(funnel, tmp_path):
    settings = copy_of(funnel, tmp_path / "state")
    with connect(settings) as con:
        con.execute(
            "delete from raw.opportunity_stage_history where opportunity_id in "
            "(select opportunity_id from raw.opportunities where not is_closed)"
        )
        con.execute("delete from raw.opportunities where not is_closed")
    build_warehouse(settings, "--full-refresh")
    result, report, warnings = night(settings)
    assert result.open_deals_scored == 0
    assert f"win_probability: no open deals as of {AS_OF}: nothing to score" in warnings
    assert (
        query(settings, "select count(*) as n from ml.revenue_forecast where as_of = ?", [AS_OF])["n"][0] == 4
    )
    outcome = validate_predictions(None, settings)  # the newest night: from ml.model_runs
    assert outcome.passed_errors
    skipped = [o for o in outcome.outcomes if o.skipped and o.suite == "ml.opportunity_scores"]
    assert skipped and "nothing to score" in str(skipped[0])
