"""The nightly forecast job on a small demo warehouse: what it writes to ml.* and the marts, that a
re-run replaces the night, champion/challenger, and a young warehouse that cannot backtest yet."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from pipecast.forecast import win_models
from pipecast.forecast.job import MODELS, run_forecast
from pipecast.forecast.writeback import ML_TABLES
from pipecast.warehouse import connect

from tests.forecast.conftest import AS_OF, build_warehouse, make_settings
from tests.forecast.test_point_in_time import REWIND

NIGHTLY_TABLES = [t for t in ML_TABLES if t != "model_runs"]
CORE_MODELS = [model for model in MODELS if not model.optional]


def query(settings, sql: str, params: list | None = None) -> pd.DataFrame:
    with connect(settings) as con:
        return con.execute(sql, params or []).df()


@pytest.fixture(scope="module")
def night(forecast_night):
    """One night with MLflow tracking and the dbt forecast marts, as the pipeline runs it (the
    session's, tests/conftest.py: the report tests read the same night)."""
    return forecast_night


def test_every_open_deal_is_scored_once_with_timing_and_drivers(night):
    settings, result = night
    open_deals = query(settings, "select opportunity_id from marts.fct_opportunities where not is_closed")
    scores = query(settings, "select * from ml.opportunity_scores where as_of = ?", [AS_OF])
    assert result.open_deals_scored == len(scores) == len(open_deals) > 50
    assert set(scores["opportunity_id"]) == set(open_deals["opportunity_id"])
    assert scores["win_probability"].between(0, 1).all()
    assert (
        scores["p_won_this_period"] + scores["p_won_next_period"] <= scores["win_probability"] + 1e-9
    ).all()
    assert scores["driver_1"].notna().all() and scores["drivers"].str.startswith("{").all()
    # the model separates deals: Commit deals are likelier to win than Prospecting ones
    by_stage = scores.groupby("stage")["win_probability"].mean()
    assert by_stage["Commit"] > by_stage["Prospecting"] + 0.3


def test_revenue_ranges_for_this_and_next_period_beside_the_baselines(night):
    settings, _ = night
    revenue = query(
        settings, "select * from ml.revenue_forecast where as_of = ? order by period, method", [AS_OF]
    )
    assert sorted(revenue["method"].unique()) == ["model", "stage_weighted"]
    assert revenue["period"].nunique() == 2
    model = revenue[revenue["method"] == "model"]
    assert (model["p10"] <= model["p50"]).all() and (model["p50"] <= model["p90"]).all()
    assert (model["closed_won_to_date"] <= model["p10"]).all()
    assert (model["new_business_expected"] > 0).all()
    segments = query(settings, "select * from ml.revenue_forecast_segments where as_of = ?", [AS_OF])
    for period, group in segments.groupby("period"):
        total = group[group["segment"] == "All"].iloc[0]
        parts = group[group["segment"] != "All"]
        assert total["expected"] == pytest.approx(parts["expected"].sum())
        assert total["stage_weighted"] == pytest.approx(parts["stage_weighted"].sum())
        assert total["commit"] <= total["best_case"]
        assert total["target"] > 0, period


def test_backtests_score_model_baseline_and_truth(night):
    settings, _ = night
    bt = query(settings, "select * from ml.backtests where as_of = ? and cutoff is null", [AS_OF])
    deals = bt[bt["scope"] == "deals_pooled"].pivot(index="forecaster", columns="metric", values="value")
    assert {"model", "stage_weighted", "true_probability", "candidate_snapshot"} <= set(deals.index)
    assert {"brier", "log_loss", "auc", "ece"} <= set(deals.columns)
    assert deals.loc["model", "brier"] < deals.loc["stage_weighted", "brier"]
    revenue = bt[bt["scope"] == "revenue_at_period_start"].pivot(
        index="forecaster", columns="metric", values="value"
    )
    assert {"model", "stage_weighted", "commit", "best_case"} <= set(revenue.index)
    assert 0 <= revenue.loc["model", "coverage_p10_p90"] <= 1
    assert revenue["wape"].notna().all()
    ledger = query(settings, "select * from ml.forecast_ledger where as_of = ?", [AS_OF])
    assert ledger["period"].nunique() == 2 and (ledger["actual"] > 0).all()
    assert set(ledger["horizon"]) == {"next", "current"}


def test_model_versions_are_tracked_and_current(night):
    settings, result = night
    runs = query(settings, "select * from ml.model_runs where as_of = ?", [AS_OF])
    assert set(runs["model_name"]) == {
        "win_probability",
        "close_timing",
        "revenue_forecast",
        "product_propensity",
        "lead_conversion",
    }
    assert runs["is_current"].all() and runs["horizons"].notna().all()
    trained = runs[runs["model_name"] != "revenue_forecast"]  # the simulation has no fitted model
    assert trained["mlflow_run_id"].notna().all()
    win = runs[runs["model_name"] == "win_probability"].iloc[0]
    assert win["model_version"] == result.model_version and win["decision"].startswith("first model")
    # the features of the recipe that won the backtest (on this small demo often the stage model)
    recipe = win_models.Recipe.from_dict(json.loads(win["recipe"]))
    assert json.loads(win["features"]) == recipe.features and win["first_cutoff"] < win["last_cutoff"]

    from mlflow import MlflowClient

    uri = f"sqlite:///{settings.state_dir / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("win_probability", "champion")
    assert champion.run_id == win["mlflow_run_id"]
    assert "backtest_brier" in client.get_run(champion.run_id).data.metrics


def test_every_row_carries_as_of_run_and_model_version(night):
    settings, result = night
    for table in NIGHTLY_TABLES:
        rows = query(settings, f"select run_id, model_version from ml.{table} where as_of = ?", [AS_OF])
        assert len(rows) > 0, table
        assert (rows["run_id"] == result.run_id).all(), table
        assert rows["model_version"].notna().all(), table


def test_forecast_marts_are_built_for_bi(night):
    settings, _ = night
    forecast = query(settings, "select * from marts.fct_forecast")
    assert len(forecast) == len(query(settings, "select * from ml.revenue_forecast_segments"))
    assert (forecast["as_of"] == pd.Timestamp(AS_OF)).all()
    scores = query(settings, "select count(*) as n from marts.fct_opportunity_scores")["n"].iloc[0]
    assert scores == query(settings, "select count(*) as n from ml.opportunity_scores")["n"].iloc[0]
    for mart in (
        "fct_forecast_accuracy",
        "fct_model_backtests",
        "dim_model_versions",
        "fct_account_product_propensity",
        "fct_lead_scores",
    ):
        assert query(settings, f"select count(*) as n from marts.{mart}")["n"].iloc[0] > 0, mart
    # leads carry their drivers as deals do, through the mart's contract
    leads = query(settings, "select driver_1, driver_1_effect, drivers from marts.fct_lead_scores")
    assert leads["driver_1"].notna().all() and leads["drivers"].str.startswith("{").all()
    assert leads["driver_1_effect"].notna().all()


def test_lead_scores_of_an_older_forecast_build_with_empty_drivers(demo_warehouse, tmp_path):
    """A warehouse whose ml.lead_scores an older forecast wrote (no driver columns): the forecast
    marts still build and publish (ml_rows gives the contract's missing columns as null), as the
    night's `pipecast build` does before tonight's forecast adds the columns."""
    from pipecast.transform import dbt_build

    settings = demo_warehouse.copy(tmp_path / "state")
    with connect(settings) as con:
        con.execute("create schema if not exists ml")
        con.execute(
            "create table ml.lead_scores (as_of date, lead_id varchar, lead_source varchar, "
            "campaign varchar, owner_id varchar, created_at timestamp, age_days integer, "
            "conversion_probability double, source_baseline double, model_version varchar, run_id varchar)"
        )
        con.execute(
            "insert into ml.lead_scores values (?, 'L-1', 'Web', null, 'U1', ?, 3, 0.25, 0.2, 'v1', 'r1')",
            [AS_OF, pd.Timestamp(AS_OF)],
        )
    result = dbt_build(settings, select="path:models/forecast", units=["forecast"])
    assert result.published
    leads = query(
        settings, "select lead_id, conversion_probability, driver_1, drivers from marts.fct_lead_scores"
    )
    assert leads.to_dict("records") == [
        {"lead_id": "L-1", "conversion_probability": 0.25, "driver_1": None, "drivers": None}
    ]


@pytest.fixture
def blind_recipe(monkeypatch):
    """A deliberately weak recipe: the stage chain knowing only the stage."""
    blind = win_models.Recipe("stage_chain", ["pipeline"], ["stage_rank"])
    monkeypatch.setitem(win_models.RECIPES, "stage_blind", blind)
    return blind


def test_a_challenger_replaces_the_champion_only_when_it_beats_it(demo_warehouse, tmp_path, blind_recipe):
    state = tmp_path / "state"
    demo_warehouse.copy(state)
    nights = [AS_OF - timedelta(days=2), AS_OF - timedelta(days=1), AS_OF]

    def night(day, candidates):
        # the core models only: the optional ones (product propensity, lead scores) play no part
        # in the win-probability champion and are checked on the session's night above
        return run_forecast(
            day,
            make_settings(state, forecast_win_candidates=candidates, forecast_backtest_periods=1),
            models=CORE_MODELS,
        )

    # the baselines compete every night, so the weak recipe never becomes champion: each night
    # publishes the best of tonight's candidates and the night before's champion (kept on a tie)
    nights_run = [night(nights[0], ["stage_blind"]), night(nights[1], ["stage_chain"])]
    rejected = night(nights[2], ["stage_blind"])
    nights_run.append(rejected)
    settings = make_settings(state)
    for day, result in zip(nights, nights_run, strict=True):
        brier = dict(
            query(
                settings,
                "select forecaster, value from ml.backtests where as_of = ? and scope = 'deals_pooled' "
                "and metric = 'brier' and cutoff is null",
                [day],
            ).itertuples(index=False)
        )
        assert brier["model"] <= brier["stage_weighted"], day
        candidates = [v for k, v in brier.items() if k != "true_probability"]
        assert blind_recipe.recipe_id not in result.model_version or brier["model"] == min(candidates)
    decision = rejected.decisions["win_probability"]
    assert "does not beat" in decision or "same recipe" in decision or "beats the champion" in decision
    settings = make_settings(state)
    scores = query(
        settings, "select distinct model_version from ml.opportunity_scores where as_of = ?", [AS_OF]
    )
    assert list(scores["model_version"]) == [rejected.model_version]
    current = query(
        settings,
        "select model_version from ml.model_runs where is_current and model_name = 'win_probability'",
    )
    assert list(current["model_version"]) == [rejected.model_version]

    # re-running the last night replaces its rows and is compared with the night before's champion
    counts = {t: len(query(settings, f"select * from ml.{t}")) for t in ML_TABLES}
    rerun = night(nights[2], ["stage_blind"])
    assert {t: len(query(settings, f"select * from ml.{t}")) for t in ML_TABLES} == counts
    assert rerun.decisions == rejected.decisions and rerun.run_id != rejected.run_id
    night_rows = query(settings, "select distinct run_id from ml.opportunity_scores where as_of = ?", [AS_OF])
    assert list(night_rows["run_id"]) == [rerun.run_id]
    assert len(query(settings, "select distinct run_id from ml.opportunity_scores")) == 3


def test_a_young_warehouse_forecasts_without_backtests(demo_warehouse, tmp_path):
    """Four months of history, few deals closed: the night still scores every open deal, it does
    not fail; a backtest runs only as the young history's own cycle allows, and says how."""
    settings = demo_warehouse.copy(tmp_path / "state")
    first_day = query(settings, "select min(created_at)::date as d from staging.stg_crm__opportunities")[
        "d"
    ].iloc[0]
    as_of = (pd.Timestamp(first_day) + pd.Timedelta(days=120)).date()
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    with connect(settings) as con:
        for statement in REWIND.split(";"):
            if statement.strip():
                con.execute(statement.replace("$end", f"timestamp '{end}'"))
    build_warehouse(settings, "--full-refresh")
    result = run_forecast(as_of, settings)
    open_now = query(settings, "select count(*) as n from marts.fct_opportunities where not is_closed")[
        "n"
    ].iloc[0]
    assert result.open_deals_scored == open_now > 0
    pooled = query(
        settings,
        "select forecaster, value from ml.backtests where scope = 'deals_pooled' and metric = 'brier' "
        "and cutoff is null",
    )
    win = query(settings, "select * from ml.model_runs where model_name = 'win_probability'").iloc[0]
    if len(pooled):  # horizons from the young history's own cycle: a backtest with a short warm-up
        brier = dict(zip(pooled["forecaster"], pooled["value"], strict=True))
        assert brier["model"] <= brier["stage_weighted"]
        assert json.loads(win["horizons"])["backtest_cutoffs"]
    else:  # no backtest: the stage model (or the CRM's number), and said so
        assert "no backtest" in win["fallback_reason"] and "not an unvalidated model" in win["decision"]
    revenue = query(settings, "select * from ml.revenue_forecast where method = 'model'")
    assert len(revenue) == 2 and revenue["p50"].notna().all()


def test_report_charts_are_drawn_from_ml(night, tmp_path):
    from pipecast.forecast.charts import write_forecast_charts

    settings, _ = night
    with connect(settings) as con:
        charts = write_forecast_charts(con, tmp_path / "reports")
    assert {c.name for c in charts} == {"calibration.png", "forecast_accuracy.png"}  # one night: no trend yet
    assert all(c.stat().st_size > 10_000 for c in charts)
    bins = query(
        settings, "select * from ml.backtests where scope = 'deals_reliability' and forecaster = 'model'"
    )
    pooled = query(
        settings,
        "select n from ml.backtests where scope = 'deals_pooled' and forecaster = 'model' "
        "and metric = 'brier' and cutoff is null",
    )
    # every pooled deal falls in one bin; each bin has a predicted and an observed row
    assert bins[bins["metric"].str.endswith("_observed")]["n"].sum() == pooled["n"].iloc[0]


def test_the_job_runs_its_loops_and_openmp_on_their_own_settings(demo_warehouse, tmp_path, monkeypatch):
    """PIPECAST_FORECAST_THREADS for pipecast's own loops, PIPECAST_FORECAST_OPENMP_THREADS for the
    fits: the night's work (job._run) sees each."""
    from pipecast.forecast import job, parallel
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    seen = {}

    class Seen(Exception):
        pass

    def look(*args, **kwargs):
        seen["own"], seen["openmp"] = parallel.allowed_threads(), _openmp_effective_n_threads()
        raise Seen

    monkeypatch.setattr(job, "_run", look)
    settings = demo_warehouse.copy(tmp_path / "state", forecast_threads=2)
    with pytest.raises(Seen):
        run_forecast(AS_OF, settings)
    assert seen == {"own": 2, "openmp": 1}


def test_the_independent_models_run_beside_the_others_and_write_what_they_write_in_turn(
    demo_warehouse, tmp_path, monkeypatch
):
    """Product propensity and lead conversion read only the warehouse: with forecast_models_beside
    (the default) the night runs them on a thread of their own, on a connection of their own. In
    turn, on the night's thread, they write the same rows."""
    import threading

    from pipecast.forecast import job
    from pipecast.forecast.models.lead_conversion import LeadConversion
    from pipecast.forecast.models.product_propensity import ProductPropensity

    independent = [model for model in MODELS if model.independent]
    assert independent == [ProductPropensity, LeadConversion]
    assert all(model.optional for model in independent)  # no later model reads what they set

    seen = []
    fit, run_models = ProductPropensity.fit, job.run_models

    def fit_and_look(self, night_):
        seen.append(("fit", threading.current_thread() is threading.main_thread(), night_.con))
        return fit(self, night_)

    def run_models_and_look(models, night_):
        seen.append(("night", threading.current_thread() is threading.main_thread(), night_.con))
        return run_models(models, night_)

    monkeypatch.setattr(ProductPropensity, "fit", fit_and_look)
    monkeypatch.setattr(job, "run_models", run_models_and_look)
    beside = demo_warehouse.copy(tmp_path / "beside")
    assert beside.forecast_models_beside
    run_forecast(AS_OF, beside, models=independent)
    (_, _, night_con), (_, fit_on_main_thread, fit_con) = seen
    assert not fit_on_main_thread and fit_con is not night_con

    in_turn = demo_warehouse.copy(tmp_path / "in-turn", forecast_models_beside=False)
    run_forecast(AS_OF, in_turn, models=independent)
    (_, fit_on_main_thread, fit_con) = seen[3]
    assert fit_on_main_thread and fit_con is seen[2][2]
    for table in ["product_propensity", "lead_scores"]:
        sql = f"select * exclude (run_id) from ml.{table} where as_of = ? order by all"
        ran_beside, ran_in_turn = query(beside, sql, [AS_OF]), query(in_turn, sql, [AS_OF])
        assert len(ran_beside) > 100, table
        pd.testing.assert_frame_equal(ran_beside, ran_in_turn)
