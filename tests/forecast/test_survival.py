"""The censored win recipe (forecast.survival): person-period rows and the hazard arithmetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pipecast.forecast import survival, win_models
from pipecast.forecast.estimators import ProbabilityModel


def test_a_visit_is_one_row_per_interval_at_risk_and_open_ones_are_never_lost():
    visits = pd.DataFrame(
        {
            "opportunity_id": ["won-fast", "lost", "open-long", "open-short"],
            "days_observed": [1.0, 6.0, 400.0, 3.5],
            "outcome": ["advanced", "lost", "open", "open"],
        }
    )
    rows, labels, weights = survival.person_periods(visits)
    by_deal = {
        deal: list(zip(group[survival.TIME_FEATURE], labels[group.index], weights[group.index], strict=True))
        for deal, group in rows.groupby("opportunity_id")
    }
    assert by_deal["won-fast"] == [(0.0, survival.ADVANCE, 1.0)]
    assert by_deal["lost"] == [(0.0, 0, 1.0), (2.0, 0, 1.0), (5.0, survival.LOSE, 1.0)]
    # 400 days: every regular interval, then the tail (from 300 days) seen for 100 of its 150
    open_long = by_deal["open-long"]
    assert [r[0] for r in open_long] == [*survival.INTERVAL_EDGES]
    assert all(r[1] == survival.STAY for r in open_long)
    assert np.isclose(open_long[-1][2], 100 / survival.TAIL_DAYS)
    # censored half-way through [2, 5): that interval counts for half
    assert by_deal["open-short"] == [(0.0, 0, 1.0), (2.0, 0, 0.5)]
    assert survival.LOSE not in labels[rows["opportunity_id"].str.startswith("open").to_numpy()]


class _Hazards(ProbabilityModel):
    """Per-interval hazards of a stage: advance 0.2 and lose 0.1 in stage 1; in stage 2 losing
    gets likelier the longer a deal waits (0.05 per interval before 27 days, 0.3 after)."""

    def __init__(self):
        super().__init__(survival.CLASSES, [], ["stage_rank", survival.TIME_FEATURE])

    def predict_proba(self, frame):
        stage = frame["stage_rank"].to_numpy()
        start = frame[survival.TIME_FEATURE].to_numpy()
        adv = np.where(stage == 1, 0.2, 0.1)
        lose = np.where(stage == 1, 0.1, np.where(start < 27, 0.05, 0.3))
        return np.stack([1 - adv - lose, adv, lose], axis=1)


def _model():
    return survival.StageHazardModel(win_models.recipe("stage_hazard"), _Hazards(), 0)


def _share(h_adv: np.ndarray, h_lose: np.ndarray) -> float:
    """Eventual share advancing, computed the long way: intervals one by one, tail repeating."""
    alive, share = 1.0, 0.0
    for a, b in zip(h_adv[:-1], h_lose[:-1], strict=True):
        share += alive * a
        alive *= 1 - a - b
    return share + alive * h_adv[-1] / (h_adv[-1] + h_lose[-1])


def test_win_probability_chains_the_eventual_advance_shares_of_the_stages_ahead():
    starts = survival.INTERVAL_EDGES
    stage1 = _share(np.full(len(starts), 0.2), np.full(len(starts), 0.1))
    assert np.isclose(stage1, 2 / 3)
    stage2_fresh = _share(np.full(len(starts), 0.1), np.where(starts < 27, 0.05, 0.3))
    deals = pd.DataFrame(
        {
            "stage_rank": [1.0, 2.0, 2.0, 2.0, np.nan],
            "open_stages": 2.0,
            "days_in_stage": [0.0, 0.0, 27.0, 500.0, 3.0],
            "crm_probability": 0.35,
        }
    )
    p = _model().predict(deals)
    stage2_at_27 = _share(np.full(len(starts) - 5, 0.1), np.full(len(starts) - 5, 0.3))
    assert np.allclose(p, [stage1 * stage2_fresh, stage2_fresh, stage2_at_27, 0.1 / 0.4, 0.35])
    # a deal that has waited long in stage 2 is less likely to win than a fresh one: time in
    # stage is read, not ignored as the exit-only chain does
    assert p[1] > p[2] > p[3]


def test_part_of_the_current_interval_already_spent_is_not_counted_again():
    deals = pd.DataFrame({"stage_rank": [1.0, 1.0], "open_stages": 1.0, "days_in_stage": [10.0, 13.5]})
    p = _model().predict(deals)
    # stage 1's hazards are constant, so the share is the same; half of [10, 17) ahead still
    # leaves the eventual share at 2/3 only if the partial interval is scaled, not dropped
    assert np.allclose(p, [2 / 3, 2 / 3], atol=0.02)
