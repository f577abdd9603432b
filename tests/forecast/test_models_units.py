"""Units of the win model, champion/challenger, explanations and the ml.* writeback."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest
from pipecast.config import Settings
from pipecast.forecast import explain, registry, win_models
from pipecast.forecast.estimators import ProbabilityModel
from pipecast.forecast.writeback import ensure_ml_tables, replace_night


class _ConstantAdvance(ProbabilityModel):
    """P(advance) depends only on the stage: 0.5 from stage 1, 0.8 from 2, 0.9 from 3."""

    def __init__(self):
        super().__init__([0, 1], [], ["stage_rank"])

    def predict_positive(self, frame):
        return frame["stage_rank"].map({1.0: 0.5, 2.0: 0.8, 3.0: 0.9}).to_numpy()


def test_the_stage_chain_multiplies_the_remaining_stages():
    model = win_models.StageChainModel(win_models.recipe("stage_chain"), _ConstantAdvance(), 0)
    deals = pd.DataFrame({"stage_rank": [1.0, 2.0, 3.0, np.nan], "open_stages": 3.0, "crm_probability": 0.4})
    assert np.allclose(model.predict(deals), [0.5 * 0.8 * 0.9, 0.8 * 0.9, 0.9, 0.4])


def test_the_stage_chain_scores_deals_whose_open_stages_are_unknown():
    """A subset (a row block, a segment) may hold no deal with a count of open stages: none is ahead."""
    model = win_models.StageChainModel(win_models.recipe("stage_chain"), _ConstantAdvance(), 0)
    deals = pd.DataFrame({"stage_rank": [1.0, np.nan], "open_stages": np.nan, "crm_probability": 0.4})
    assert np.allclose(model.predict(deals), [1.0, 0.4])


def test_recipes_have_stable_ids_and_round_trip():
    chain = win_models.recipe("stage_chain")
    assert chain.recipe_id == win_models.Recipe.from_dict(chain.as_dict()).recipe_id
    assert chain.recipe_id != win_models.recipe("snapshot").recipe_id
    with pytest.raises(ValueError):
        win_models.recipe("nope")


def test_champion_challenger_rules():
    """The rules as before, now on tonight's scores of every candidate (tests/forecast/test_champion.py
    has the property tests)."""
    assert registry.select_champion({"a": 0.2}).promote  # first model
    assert registry.select_champion({"a": 0.3}, "a", {"a": True}).promote  # same recipe: a refresh
    assert registry.select_champion({"a": 0.2, "b": 0.19}, "a").name == "b"  # beats tonight's score
    assert registry.select_champion({"a": 0.2, "b": 0.21}, "a").name == "a"
    kept = registry.select_champion({"a": 0.2, "b": 0.2}, "a")  # a tie does not beat
    assert kept.name == "a" and not kept.promote
    unscored = registry.select_champion({"b": 0.15}, "a")  # the champion not scored tonight: not kept
    assert unscored.name == "b" and "could not be scored" in unscored.reason


def test_drivers_name_the_trait_that_moves_the_probability():
    rng = np.random.default_rng(0)
    deals = pd.DataFrame(
        {
            "log_amount": rng.normal(10, 1, 200),
            "segment": rng.choice(["SMB", "Enterprise"], 200),
            "amount": 1000.0,
            "industry": "Retail",
        }
    )

    def predict(frame):
        return 1 / (1 + np.exp(-(frame["segment"].eq("SMB") * 2.0 - 1.0)))

    effects = explain.driver_effects(predict, deals, ["log_amount", "segment", "industry"], background=5)
    assert np.allclose(effects["deal size"], 0) and np.allclose(effects["industry"], 0)
    smb = deals["segment"] == "SMB"
    assert (effects.loc[smb, "segment"] >= 0).all() and (effects.loc[~smb, "segment"] <= 0).all()
    top = explain.top_drivers(deals, effects)
    assert top.loc[smb.idxmax(), "driver_1"] == "segment = SMB"


def test_drivers_equal_the_swap_definition_and_skip_swaps_that_change_nothing():
    rng = np.random.default_rng(1)
    n = 60
    deals = pd.DataFrame(
        {
            "log_amount": np.where(rng.random(n) < 0.3, np.nan, rng.normal(10, 1, n)),
            "amount_changes": rng.integers(0, 2, n).astype(float),
            "segment": rng.choice(["SMB", "Enterprise"], n),
            "days_in_stage": rng.integers(0, 90, n).astype(float),
        }
    )
    features = list(deals.columns)
    predicted_rows = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        predicted_rows.append(len(frame))
        z = (
            0.8 * frame["segment"].eq("SMB")
            + 0.3 * frame["log_amount"].fillna(8.0)
            - 0.5 * frame["amount_changes"]
            - 0.01 * frame["days_in_stage"]
            - 2.5
        )
        return 1 / (1 + np.exp(-z.to_numpy(dtype=float)))

    effects = explain.driver_effects(predict, deals, features, background=8, seed=3, chunk=25)

    # The definition: the deal's log-odds less the mean log-odds over the background rows'
    # values of the driver's columns swapped in (the same background draw).
    reference = deals.iloc[np.random.default_rng(3).choice(n, size=8, replace=False)]
    logit = explain._logit
    for driver, columns in {"deal size": ["log_amount", "amount_changes"], "segment": ["segment"]}.items():
        expected = []
        for _, deal in deals.iterrows():
            base = logit(predict(deal.to_frame().T.astype(deals.dtypes.to_dict())))[0]
            swapped = []
            for _, ref in reference.iterrows():
                variant = deal.copy()
                variant[columns] = ref[columns]
                swapped.append(logit(predict(variant.to_frame().T.astype(deals.dtypes.to_dict())))[0])
            expected.append(base - np.mean(swapped))
        assert np.allclose(effects[driver], expected), driver

    # Swaps that change nothing are not predicted: 8 background rows hold at most 2 segments.
    predicted_rows.clear()
    explain.driver_effects(predict, deals, ["segment"], background=8, seed=3, chunk=n)
    assert predicted_rows == [n + n]  # the deals, and each deal once with the other segment


def test_ml_tables_gain_new_columns_and_a_night_is_replaced():
    con = duckdb.connect()
    con.execute("create schema ml")
    con.execute("create table ml.backtests (run_id varchar, as_of date, metric varchar, value double)")
    con.execute("insert into ml.backtests values ('old', '2026-01-01', 'brier', 0.2)")
    ensure_ml_tables(con)
    columns = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_name = 'backtests'"
        ).fetchall()
    }
    assert {"scope", "forecaster", "period", "n"} <= columns
    night = pd.DataFrame(
        {"run_id": ["new"], "as_of": [date(2026, 1, 2)], "metric": ["brier"], "value": [0.1]}
    )
    settings = Settings()
    replace_night(con, "backtests", date(2026, 1, 2), night, settings=settings)
    replace_night(con, "backtests", date(2026, 1, 2), night.assign(run_id="newer"), settings=settings)
    rows = con.execute("select run_id from ml.backtests order by as_of").fetchall()
    assert rows == [("old",), ("newer",)]


def test_drivers_json_is_one_object_per_deal_whatever_the_names():
    effects = pd.DataFrame({"line\u2028separated": [0.12345, -1.0], "deal size": [np.nan, 2.0]}, index=[7, 9])
    deals = pd.DataFrame({"amount": [1.0, 2.0]}, index=[7, 9])
    shown = explain.top_drivers(deals, effects)["drivers"].map(json.loads).tolist()
    assert shown == [{"line\u2028separated": 0.1234}, {"line\u2028separated": -1.0, "deal size": 2.0}]


def test_each_label_shows_the_deals_own_value_and_any_driver_name_is_valid_json():
    """Labels are made once per distinct value (explain._labels) and the JSON by DuckDB: each row
    still shows its own value as ``_label`` writes it, whatever the column's dtype (-0.0 and 0.0, 1
    and 1.0 and True, None, NaN, pd.NA and NaT each as themselves), and a driver name with quotes
    or a backslash, or differing from another only in case, stays one JSON key of its own."""
    rng = np.random.default_rng(4)
    n = 600
    deals = pd.DataFrame(
        {
            "amount": np.where(rng.random(n) < 0.1, np.nan, rng.choice([0.0, -0.0, 99.999, 1234.5, 1e6], n)),
            "stage": pd.Series(rng.choice(["A", "B", None], n), dtype="str"),
            "segment": pd.Series(rng.choice(["SMB", "Mid", None], n), dtype="string"),
            "industry": pd.Series(rng.choice(["Retail", None, np.nan], n), dtype=object),
            "opportunity_type": pd.Series(rng.choice([1, 1.0, True, "1", None], n), dtype=object),
            "lead_source": pd.Series(rng.choice([1, 2], n)).astype("Int64").where(rng.random(n) > 0.2),
            "owner_lift": pd.Series(rng.normal(0, 1, n)).astype("Float64").where(rng.random(n) > 0.3),
            "region": pd.to_datetime(pd.Series(rng.choice(["2024-01-01", None], n))),
            "mapped__tier": rng.choice(["gold", None], n),
        },
        index=np.arange(n) * 3 + 7,
    )
    column = {
        "deal size": "amount",
        "stage": "stage",
        "segment": "segment",
        "industry": "industry",
        "deal type": "opportunity_type",
        "lead source": "lead_source",
        "owner's record": "owner_lift",
        "region": "region",
        "tier": "mapped__tier",
    }
    names = [*column, "Industry", 'odd "name" \\ here']
    effects = pd.DataFrame(rng.normal(0, 1, (n, len(names))), columns=names, index=deals.index)
    top = explain.top_drivers(deals, effects)
    for i in range(n):
        ranked = effects.iloc[i].abs().sort_values(ascending=False, kind="stable").index
        for k, name in enumerate(ranked[:3]):
            if name in column:
                value = deals[column[name]].to_numpy(dtype=object)[i]
                if name == "tier" and pd.isna(value):
                    value = "missing"
                assert top[f"driver_{k + 1}"].iloc[i] == explain._label(name, value), (i, name)
            else:
                assert top[f"driver_{k + 1}"].iloc[i] == name
        assert json.loads(top["drivers"].iloc[i]) == effects.iloc[i].round(4).to_dict()
