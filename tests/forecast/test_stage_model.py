"""The baselines: the CRM's probability as a candidate, the calibrated stage model (stage x time in
stage, point in time), sparse groups shrunk towards their parent; and revenue ranges widened from
a stated prior when too few periods can measure their spread."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from pipecast.forecast import stage_model, win_models
from pipecast.forecast.revenue import MODEL, SpreadPrior, shared_spread

KNOWN_AT = date(2026, 6, 30)


def snapshots(n: int = 3000, seed: int = 0, owners: int = 10) -> pd.DataFrame:
    """Deals open at old cut-offs, all closed by KNOWN_AT: P(win) falls with time in stage, the
    CRM's 20/50/80% are not calibrated, owner O0 wins far more than the rest."""
    rng = np.random.default_rng(seed)
    stage = rng.choice(["Qualify", "Propose", "Negotiate"], n)
    days = rng.exponential(10, n)
    base = pd.Series(stage).map({"Qualify": -1.5, "Propose": -0.5, "Negotiate": 0.8}).to_numpy()
    owner = np.array([f"O{i}" for i in rng.integers(0, owners, n)])
    logit = base - 0.6 * np.log1p(days) + np.where(owner == "O0", 1.5, 0.0)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "cutoff": pd.Timestamp("2026-01-31"),
            "opportunity_id": [f"D{i}" for i in range(n)],
            "owner_id": owner,
            "segment": "SMB",
            "stage": stage,
            "days_in_stage": days,
            "crm_probability": pd.Series(stage).map({"Qualify": 0.2, "Propose": 0.5, "Negotiate": 0.8}),
            "final_is_closed": True,
            "final_is_won": won,
            "final_close_date": pd.Timestamp("2026-03-01"),
            "true_logit": logit,
        }
    )


def fit(name: str, frame: pd.DataFrame):
    data = win_models.WinTrainingData(KNOWN_AT, pd.DataFrame(), frame, label_maturity_days=30)
    return win_models.fit(win_models.recipe(name), data)


def brier(frame: pd.DataFrame, p: np.ndarray) -> float:
    return float(np.mean((frame["final_is_won"].to_numpy(dtype=float) - p) ** 2))


def test_the_stage_model_learns_stage_and_time_in_stage_and_beats_the_crm_number():
    train, test = snapshots(seed=1), snapshots(seed=2)
    model = fit("stage_calibrated", train)
    p = model.predict(test)
    assert model.fallback is None and model.train_rows == len(train)
    assert brier(test, p) < brier(test, stage_model.crm_probability(test)) - 0.01
    fresh = test.assign(stage="Propose", days_in_stage=1.0).iloc[:1]
    stale = fresh.assign(days_in_stage=60.0)
    assert model.predict(fresh)[0] > model.predict(stale)[0] + 0.1  # lingering deals lose
    # calibrated: per stage, the mean prediction is the observed rate (in the training data; the
    # test data differ by sampling noise of about 1.5 points per stage)
    for _, group in train.assign(p=model.predict(train)).groupby("stage"):
        assert group["p"].mean() == pytest.approx(group["final_is_won"].mean(), abs=0.01)


def test_owners_shrink_towards_the_parent_and_a_new_owner_gets_the_parents_rate():
    train = snapshots(seed=1, owners=10)
    grouped = fit("stage_grouped", train)
    plain = fit("stage_calibrated", train)
    effect = {e.column: e for e in grouped.effects}["owner_id"]
    assert effect.between_variance is not None and effect.between_variance > 0  # empirical Bayes
    assert effect.ratios["O0"] > 1.3 and all(0.6 < r < 1.15 for o, r in effect.ratios.items() if o != "O0")
    newcomer = train.iloc[:5].assign(owner_id="NEW")
    assert grouped.predict(newcomer) == pytest.approx(plain.predict(newcomer), rel=0.05)
    test = snapshots(seed=2, owners=10)
    assert brier(test, grouped.predict(test)) < brier(test, plain.predict(test))


def test_a_sparse_group_is_pulled_further_towards_its_parent_than_a_big_one():
    rng = np.random.default_rng(0)
    groups = pd.Series(["big"] * 400 + ["small"] * 4 + [f"g{i}" for i in range(400)])
    y = np.r_[np.ones(200), np.zeros(200), np.ones(4), rng.random(400) < 0.25]
    p = np.full(len(y), 0.25)
    ratios, tau2 = stage_model.shrunk_ratios(groups, y, p)
    # both observed 2x (big) and 4x (small) the parent's rate; the small one keeps far less of it
    assert tau2 is not None
    assert (ratios["small"] - 1) / 3 < (ratios["big"] - 1) / 1
    few, prior_only = stage_model.shrunk_ratios(
        pd.Series(["a"] * 10 + ["b"] * 10), np.r_[np.ones(10), np.zeros(10)], np.full(20, 0.5), 20.0
    )
    assert prior_only is None and few == pytest.approx({"a": 1 + 10 / 30, "b": 1 - 10 / 30})


def test_too_little_history_falls_back_to_the_crm_probability_and_says_so():
    frame = snapshots(n=20)
    model = fit("stage_calibrated", frame)
    assert model.fallback and "CRM's probability" in model.fallback
    assert model.predict(frame) == pytest.approx(frame["crm_probability"].to_numpy())


def test_the_crm_candidate_fills_a_missing_probability_from_its_stage():
    deals = pd.DataFrame({"stage": ["A", "A", "B", "C"], "crm_probability": [0.2, np.nan, 0.6, np.nan]})
    assert stage_model.crm_probability(deals) == pytest.approx([0.2, 0.2, 0.6, 0.4])
    assert fit("stage_weighted", snapshots(n=5)).predict(deals) == pytest.approx([0.2, 0.2, 0.6, 0.4])


def ledger(periods: int, error: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "forecaster": MODEL,
            "period": [f"P{i}" for i in range(periods)],
            "expected": 100.0,
            "actual": [100.0 * (1 + error * (-1) ** i) for i in range(periods)],
            "p10": 90.0,
            "p90": 110.0,
            "sd_independent": 1.0,
        }
    )


def test_few_periods_widen_the_range_to_the_prior_never_narrow_it():
    prior = SpreadPrior(prior=0.25, min_periods=4)
    none = prior.apply(None)
    assert none.value == 0.25 and none.from_prior and "forecast_spread_prior" in none.describe()
    small_error = prior.apply(ledger(2, 0.05))
    assert small_error.value == 0.25 and small_error.from_prior
    big_error = prior.apply(ledger(2, 0.6))  # measured wider than the prior: kept
    assert big_error.value == pytest.approx(shared_spread(ledger(2, 0.6))) and big_error.value > 0.25
    assert not big_error.from_prior
    enough = prior.apply(ledger(6, 0.05))  # enough periods: the measurement stands
    assert enough.value == pytest.approx(shared_spread(ledger(6, 0.05))) and enough.periods == 6
    assert SpreadPrior().apply(ledger(1, 0.05)).value == pytest.approx(shared_spread(ledger(1, 0.05)))
