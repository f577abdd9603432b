"""MLflow as a team uses it: every model of the night is loadable from the registry with
``mlflow.pyfunc.load_model("models:/<name>@champion")`` and scores as the nightly job did.
(Beside the report tests to share their forecast night, which runs with MLflow on.)"""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from pipecast.config import Settings
from pipecast.forecast.scoring import ForecastContext, open_deals
from pipecast.warehouse import connect

from tests.forecast.conftest import AS_OF


@pytest.fixture(scope="module")
def registry(night: Settings):
    import mlflow

    uri = f"sqlite:///{night.state_dir / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with connect(night) as con:
        runs = con.execute(
            "select model_name, model_version, model_path, mlflow_run_id from ml.model_runs "
            "where as_of = ? and is_current and mlflow_run_id is not null",
            [AS_OF],
        ).df()
        deals = open_deals(con, ForecastContext.from_settings(night), AS_OF)
        scores = con.execute(
            "select opportunity_id, win_probability, p_close_this_period_if_won, p_close_next_period_if_won "
            "from ml.opportunity_scores where as_of = ?",
            [AS_OF],
        ).df()
    return mlflow, runs.set_index("model_name"), deals, scores


def test_every_champion_loads_as_pyfunc(registry):
    mlflow, runs, _, _ = registry
    # every model the night trained and registered (a model skipped or replaced by a rule has no run)
    assert "win_probability" in runs.index and len(runs) >= 3, runs.index.tolist()
    client = mlflow.MlflowClient()
    for name, run in runs.iterrows():
        assert client.get_model_version_by_alias(name, "champion").run_id == run["mlflow_run_id"], name
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        fitted = model.unwrap_python_model().model
        assert type(fitted) is type(joblib.load(run["model_path"])), name


def test_win_probability_and_timing_score_as_the_nightly_job(registry):
    mlflow, runs, deals, scores = registry
    win = mlflow.pyfunc.load_model("models:/win_probability@champion")
    ours = deals.assign(win_probability_mlflow=np.asarray(win.predict(deals)))
    if "close_timing" in runs.index:
        timing = mlflow.pyfunc.load_model("models:/close_timing@champion")
        ours["timing"] = list(np.asarray(timing.predict(deals)))
    merged = scores.merge(ours, on="opportunity_id", suffixes=("", "_deal"))
    assert len(merged) == len(scores) > 50
    assert merged["win_probability_mlflow"].to_numpy() == pytest.approx(merged["win_probability"].to_numpy())
    if "timing" in merged:
        this_period = pd.Series([q[0] for q in merged["timing"]])
        assert this_period.to_numpy() == pytest.approx(merged["p_close_this_period_if_won"].to_numpy())
