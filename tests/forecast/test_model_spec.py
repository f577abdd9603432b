"""Adding a model is one module and one registration: a toy ForecastModel put in job.MODELS runs
in the real nightly job on the demo warehouse, is backtested (ml.backtests), writes its rows to a
table of its own (ml.toy_scores), gets its ml.model_runs row with its fallback, and the morning
report says so. An optional model that has nothing to learn from is skipped, visibly."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from pipecast.forecast import job
from pipecast.forecast.model_spec import (
    ForecastModel,
    ModelVersion,
    Night,
    SkippedModel,
    binary_metrics,
    first_metrics,
)
from pipecast.warehouse import connect, table_exists

from tests.forecast.conftest import AS_OF

TOY_TABLE = (
    "as_of DATE, opportunity_id VARCHAR, toy_probability DOUBLE, model_version VARCHAR, run_id VARCHAR"
)
LATEST = "export_date = (select max(export_date) from staging.stg_crm__opportunities)"
OPPORTUNITIES = "staging.stg_crm__opportunities"


class ToyScore(ForecastModel):
    """Every open deal gets the win rate of the deals closed in the last year (one number)."""

    name = "toy_score"
    tables = {"toy_scores": TOY_TABLE}

    def _win_rate(self, night: Night, known_at) -> float:
        return night.con.execute(
            "select avg(case when is_won then 1.0 else 0.0 end) from staging.stg_crm__opportunities "
            f"where {LATEST} and is_closed and close_date between ? and ?",
            [known_at - timedelta(days=365), known_at],
        ).fetchone()[0]

    def backtest(self, night: Night) -> pd.DataFrame:
        cutoff = night.as_of - timedelta(days=180)
        rate = self._win_rate(night, cutoff)
        closed_since = night.con.execute(
            f"select is_won from {OPPORTUNITIES} where {LATEST} and is_closed and close_date > ?",
            [cutoff],
        ).df()
        y = closed_since["is_won"].astype(int).to_numpy()
        self.metric_rows = binary_metrics(self.name, cutoff, y, {"model": np.full(len(y), rate)})
        return self.metric_rows

    def fit(self, night: Night) -> None:
        self.rate = self._win_rate(night, night.as_of)
        night.notes.add(self.name, "a toy: one win rate for every deal")

    def score(self, night: Night) -> dict[str, pd.DataFrame]:
        deals = night.con.execute(
            f"select opportunity_id from staging.stg_crm__opportunities where {LATEST} and not is_closed"
        ).df()
        self.version_id = f"{self.name}.{night.as_of:%Y%m%d}"
        rows = deals.assign(
            as_of=night.as_of, toy_probability=self.rate, model_version=self.version_id, run_id=night.run_id
        )
        return {"toy_scores": rows}

    def version(self, night: Night) -> ModelVersion:
        metrics = first_metrics(self.metric_rows, "model")
        return ModelVersion(
            self.name,
            self.version_id,
            "toy",
            {"recipe_id": "toy", "rate": self.rate},
            ["is_won"],
            1,
            metrics,
            metrics.get("brier"),
            "a toy (single recipe)",
            self.version_id,
        )


class ToyNothing(ForecastModel):
    """An optional model with nothing to learn from tonight."""

    name = "toy_nothing"
    optional = True

    def fit(self, night: Night) -> None:
        raise SkippedModel("nothing to learn from")

    def version(self, night: Night) -> ModelVersion | None:
        raise AssertionError("a skipped model has no version")


@pytest.fixture(scope="module")
def toy_night(demo_warehouse, tmp_path_factory):
    settings = demo_warehouse.copy(tmp_path_factory.mktemp("toy") / "state")
    with pytest.MonkeyPatch.context() as patch:
        # the registration: one line in job.MODELS (the built-in models left out to keep it fast)
        patch.setattr(job, "MODELS", [ToyScore, ToyNothing])
        result = job.run_forecast(AS_OF, settings)
    return settings, result


def query(settings, sql: str, params: tuple = (AS_OF,)) -> pd.DataFrame:
    with connect(settings) as con:
        return con.execute(sql, list(params)).df()


def test_a_registered_model_is_backtested_fitted_scored_and_written(toy_night):
    settings, result = toy_night
    rows = query(settings, "select * from ml.toy_scores where as_of = ?")
    open_deals = query(settings, "select count(*) as n from marts.fct_opportunities where not is_closed", ())[
        "n"
    ].iloc[0]
    assert len(rows) == open_deals > 0
    assert (rows["run_id"] == result.run_id).all() and (rows["model_version"] == "toy_score.20261127").all()
    assert rows["toy_probability"].between(0.05, 0.95).all()
    backtest = query(settings, "select * from ml.backtests where as_of = ? and scope = 'toy_score'")
    brier = backtest[(backtest["forecaster"] == "model") & (backtest["metric"] == "brier")]
    assert len(brier) == 1 and 0 < brier["value"].iloc[0] < 0.5 and brier["n"].iloc[0] > 100
    assert backtest["cutoff"].iloc[0] == pd.Timestamp(AS_OF - timedelta(days=180))


def test_a_registered_model_gets_its_model_run_and_report_lines(toy_night):
    from pipecast.report import _model_run_lines

    settings, result = toy_night
    runs = query(settings, "select * from ml.model_runs where as_of = ? order by model_name").set_index(
        "model_name"
    )
    assert list(runs.index) == ["toy_nothing", "toy_score"]
    toy = runs.loc["toy_score"]
    assert toy["decision"] == "a toy (single recipe)" and toy["is_current"]
    assert json.loads(toy["metrics"])["brier"] == pytest.approx(toy["score"])
    assert toy["fallback_reason"] == "a toy: one win rate for every deal"
    assert toy["model_path"] == ""  # no model object: nothing saved to the model store
    skipped = runs.loc["toy_nothing"]
    assert skipped["decision"] == "skipped" and not skipped["is_current"]
    assert skipped["fallback_reason"] == "skipped: nothing to learn from"
    assert result.decisions == {"toy_score": "a toy (single recipe)", "toy_nothing": "skipped"}
    with connect(settings) as con:
        lines = _model_run_lines(con)
    assert "fallback: toy_score: a toy: one win rate for every deal" in lines
    assert "fallback: toy_nothing: skipped: nothing to learn from" in lines


def test_a_model_writing_a_table_it_did_not_declare_fails_the_night(demo_warehouse, tmp_path):
    class Undeclared(ToyScore):
        tables = {}

    settings = demo_warehouse.copy(tmp_path / "state")
    with pytest.raises(ValueError, match=r"model toy_score wrote ml.toy_scores, not in its tables"):
        job.run_forecast(AS_OF, settings, models=[Undeclared])
    with connect(settings) as con:  # nothing written: the night is one transaction
        assert not table_exists(con, "ml", "toy_scores") and not table_exists(con, "ml", "model_runs")


def test_a_model_declaring_a_built_in_table_with_other_columns_is_refused():
    class Clash(ToyScore):
        tables = {"lead_scores": "as_of DATE, lead_id VARCHAR"}

    with pytest.raises(ValueError, match=r"model toy_score declares ml.lead_scores with columns other"):
        job.night_tables([*job.MODELS, Clash])
    assert "toy_scores" in job.night_tables([ToyScore]) and "lead_scores" in job.night_tables([ToyScore])
