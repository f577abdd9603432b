"""The champion choice: whatever the backtest scores, the published model is never worse than the
CRM's stage-weighted baseline on the backtest that chose it; without a backtest the calibrated
stage model is published, never an unvalidated model, and the decision says so."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from pipecast.forecast import backtests
from pipecast.forecast.metrics import probability_metrics
from pipecast.forecast.registry import NO_BACKTEST_CHOICE, select_champion

NAMES = ["stage_weighted", "stage_calibrated", "stage_grouped", "stage_chain", "snapshot", "champion"]
score = st.one_of(st.none(), st.just(float("nan")), st.floats(0.0, 1.0, allow_nan=False))


@st.composite
def backtest_frames(draw) -> pd.DataFrame:
    """A synthetic pooled backtest: outcomes and each candidate's probabilities (any quality)."""
    n = draw(st.integers(1, 60))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"final_is_won": rng.random(n) < draw(st.floats(0.0, 1.0))})
    for name in draw(st.lists(st.sampled_from(NAMES[1:]), unique=True, max_size=4)) + ["stage_weighted"]:
        kind = draw(st.sampled_from(["noise", "truthy", "constant", "inverted"]))
        y = frame["final_is_won"].to_numpy(dtype=float)
        p = {
            "noise": rng.random(n),
            "truthy": np.clip(y * 0.7 + rng.random(n) * 0.3, 0, 1),
            "constant": np.full(n, draw(st.floats(0.0, 1.0))),
            "inverted": 1 - y,
        }[kind]
        frame[f"p_{name}"] = p
    return frame


def _brier(frame: pd.DataFrame) -> dict[str, float]:
    y = frame["final_is_won"].to_numpy(dtype=float)
    return {c.removeprefix("p_"): float(np.mean((y - frame[c]) ** 2)) for c in frame if c.startswith("p_")}


@settings(max_examples=150, deadline=None)
@given(backtest_frames(), st.one_of(st.none(), st.sampled_from(NAMES)), st.data())
def test_the_champion_is_never_worse_than_the_baseline_on_the_backtest_that_chose_it(frame, champion, data):
    scores = _brier(frame)
    same = {name: data.draw(st.booleans()) for name in scores}
    chosen = select_champion(scores, champion if champion in scores else None, same)
    assert chosen.name in scores
    assert scores[chosen.name] <= scores["stage_weighted"]
    assert scores[chosen.name] == min(scores.values())  # the best: a tie may keep the champion
    assert chosen.fallback is None


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), score), st.one_of(st.none(), st.sampled_from(NAMES)))
def test_any_scores_give_a_validated_champion_or_the_stage_model(scores, champion):
    chosen = select_champion(scores, champion)
    finite = {n: s for n, s in scores.items() if s is not None and math.isfinite(s)}
    if not finite:
        assert chosen.name == NO_BACKTEST_CHOICE and chosen.fallback and "no backtest" in chosen.reason
        return
    assert chosen.name in finite and finite[chosen.name] == min(finite.values())
    if "stage_weighted" in finite:
        assert finite[chosen.name] <= finite["stage_weighted"]


def test_the_choice_reads_as_a_champion_challenger_decision():
    scores = {"stage_weighted": 0.20, "stage_calibrated": 0.18, "stage_chain": 0.15}
    first = select_champion(scores)
    assert first.name == "stage_chain" and first.reason.startswith("first model")
    assert "stage-weighted 0.2000" in first.reason
    kept = select_champion(scores | {"snapshot": 0.16}, "stage_chain")
    assert kept.name == "stage_chain" and not kept.promote and "does not beat" in kept.reason
    beaten = select_champion(scores | {"snapshot": 0.14}, "stage_chain")
    assert beaten.name == "snapshot" and beaten.promote and "beats the champion" in beaten.reason
    refresh = select_champion(scores, "stage_chain", {"stage_chain": True})
    assert refresh.promote and "same recipe" in refresh.reason
    tie = select_champion({"stage_weighted": 0.2, "stage_calibrated": 0.2})
    assert tie.name == "stage_weighted"  # the simpler one on a tie


def test_the_baseline_row_of_the_backtest_is_the_candidate_that_competed():
    """deal_metrics scores stage_weighted from the candidate's column (missing CRM probabilities
    filled as the candidate fills them), so the report compares what the choice compared."""
    scored = pd.DataFrame(
        {
            "cutoff": pd.to_datetime(["2026-01-31"] * 4),
            "final_is_won": [True, False, True, False],
            "crm_probability": [0.9, np.nan, 0.2, 0.1],
            "p_stage_weighted": [0.9, 0.4, 0.2, 0.1],
            "p_stage_calibrated": [0.8, 0.2, 0.6, 0.1],
        }
    )
    bt = backtests.DealBacktest(scored, {})
    rows = backtests.deal_metrics(bt, "stage_calibrated")
    pooled = rows[(rows["scope"] == "deals_pooled") & (rows["metric"] == "brier")].set_index("forecaster")
    assert set(pooled.index) == {"model", "stage_weighted"}
    assert pooled.loc["stage_weighted", "n"] == 4
    assert (
        pooled.loc["stage_weighted", "value"]
        == probability_metrics(scored["final_is_won"].astype(int), scored["p_stage_weighted"])["brier"]
    )
