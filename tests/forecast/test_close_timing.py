"""Close timing's training rows handle censoring."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from pipecast.forecast import close_timing
from pipecast.forecast.close_timing import timing_class, training_rows, with_periods


def _snapshots() -> pd.DataFrame:
    rows = [
        # opportunity, cutoff, closed, won, close date
        ("won-now", "2025-06-30", True, True, "2025-07-15"),  # next quarter seen from Jun 30
        ("won-later", "2025-06-30", True, True, "2026-01-10"),
        ("lost", "2025-06-30", True, False, "2025-07-01"),
        ("open", "2025-06-30", False, False, None),  # still open at the training date
        ("too-recent", "2025-12-31", True, True, "2026-01-05"),  # its next quarter has not ended
    ]
    frame = pd.DataFrame(
        rows, columns=["opportunity_id", "cutoff", "final_is_closed", "final_is_won", "final_close_date"]
    )
    frame["cutoff"] = pd.to_datetime(frame["cutoff"])
    frame["final_close_date"] = pd.to_datetime(frame["final_close_date"])
    frame["close_date"] = frame["final_close_date"]
    return with_periods(frame, "quarter", 1)


def test_periods_are_added_from_each_cutoff():
    frame = _snapshots()
    first = frame.iloc[0]
    assert first["current_end"] == pd.Timestamp("2025-06-30") and first["next_end"] == pd.Timestamp(
        "2025-09-30"
    )
    assert first["days_left_in_period"] == 0 and first["next_period_days"] == 92
    assert list(timing_class(frame["final_close_date"], frame["current_end"], frame["next_end"])[:2]) == [
        1,
        2,
    ]


def test_won_deals_are_labelled_open_ones_weighted_by_win_probability_lost_ones_left_out():
    rows, labels, weights = training_rows(_snapshots(), date(2026, 2, 1), pd.Series({"open": 0.3}))
    by_id = dict(zip(rows["opportunity_id"], zip(labels, weights, strict=True), strict=True))
    assert by_id == {"won-now": (1, 1.0), "won-later": (2, 1.0), "open": (2, 0.3)}


def test_a_deal_closed_after_the_training_date_counts_as_open_then():
    rows, labels, weights = training_rows(_snapshots(), date(2025, 12, 31), pd.Series({"won-later": 0.6}))
    by_id = dict(zip(rows["opportunity_id"], zip(labels, weights, strict=True), strict=True))
    assert by_id["won-later"] == (2, 0.6)


def _history_with_slips(slips_days: list[int]) -> pd.DataFrame:
    """Deals won after a past cut-off, each closing ``slip`` days after the CRM's date then."""
    cutoff = pd.Timestamp("2025-03-31")
    crm_date = pd.Timestamp("2025-04-20")
    frame = pd.DataFrame(
        {
            "opportunity_id": [f"won-{i}" for i in range(len(slips_days))],
            "cutoff": cutoff,
            "final_is_closed": True,
            "final_is_won": True,
            "close_date": crm_date,
            "final_close_date": pd.to_datetime([crm_date + pd.Timedelta(days=d) for d in slips_days]),
        }
    )
    return with_periods(frame, "quarter", 1)


def _open_deals(close_dates: list[str | None]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "opportunity_id": [f"open-{i}" for i in range(len(close_dates))],
            "cutoff": pd.Timestamp("2025-05-15"),
        }
    )
    frame["close_date"] = pd.to_datetime(pd.Series(close_dates, dtype=object))
    return with_periods(frame, "quarter", 1)  # this quarter ends Jun 30, the next Sep 30


def test_too_few_won_deals_fall_back_to_the_crm_close_date_moved_by_the_slips_seen(caplog):
    history = _history_with_slips([5, 30, 120])
    with caplog.at_level("WARNING"):
        model = close_timing.fit(history, date(2025, 11, 30), pd.Series(dtype=float))
    assert model.method == close_timing.CRM_WITH_SLIPS and model.classifier is None
    assert "CRM close date with the slips of 3 won deals" in caplog.text
    # Jun 10 + 5 days: this quarter; + 30: the next; + 120: later
    p = model.predict(_open_deals(["2025-06-10"]))
    assert np.allclose(p, [[1 / 3, 1 / 3, 1 / 3]])
    # a close date already past: only the slips that land after the cut-off count
    # (Apr 20 + 5 is before May 15; + 30 is May 20, this quarter; + 120 is Aug 18, the next)
    p = model.predict(_open_deals(["2025-04-20"]))
    assert np.allclose(p, [[0.5, 0.5, 0.0]])


def test_a_deal_without_a_close_date_takes_the_days_to_close_seen_from_past_cut_offs():
    # won 25, 50 and 160 days after the Mar 31 cut-off
    history = _history_with_slips([5, 30, 140])
    model = close_timing.fit(history, date(2025, 11, 30), pd.Series(dtype=float))
    p = model.predict(_open_deals([None]))
    # from May 15: + 25 days is this quarter (by Jun 30, 46 days), + 50 the next (by Sep 30,
    # 138 days), + 160 later
    assert np.allclose(p, [[1 / 3, 1 / 3, 1 / 3]])
    history = _history_with_slips([5, 10, 30])  # 25, 30 and 50 days
    model = close_timing.fit(history, date(2025, 11, 30), pd.Series(dtype=float))
    assert np.allclose(model.predict(_open_deals([None])), [[2 / 3, 1 / 3, 0.0]])


def test_with_no_history_the_crm_close_date_as_it_is_never_uniform_buckets(caplog):
    empty = _history_with_slips([]).iloc[0:0]
    with caplog.at_level("WARNING"):
        model = close_timing.fit(empty, date(2025, 11, 30), pd.Series(dtype=float))
    assert model.method == close_timing.CRM_AS_IS
    assert "CRM close date as it is" in caplog.text
    p = model.predict(_open_deals(["2025-06-10", "2025-08-01", "2026-01-05"]))
    assert np.allclose(p, np.eye(3))


def test_the_timing_classifier_is_one_model_calibrated_on_its_folds():
    """Predicting with one model, not the three calibration folds' (a third of the trees), and it
    still answers a probability per class that sums to 1."""
    rng = np.random.default_rng(5)
    n = 600
    cutoff = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 180, n), unit="D")
    crm_date = cutoff + pd.to_timedelta(rng.integers(1, 200, n), unit="D")
    frame = pd.DataFrame(
        {
            "opportunity_id": [f"won-{i}" for i in range(n)],
            "cutoff": cutoff,
            "final_is_closed": True,
            "final_is_won": True,
            "close_date": crm_date,
            "final_close_date": crm_date + pd.to_timedelta(rng.integers(0, 60, n), unit="D"),
        }
    )
    model = close_timing.fit(with_periods(frame, "quarter", 1), date(2025, 12, 31), pd.Series(dtype=float))
    assert model.method == close_timing.CLASSIFIER
    assert len(model.classifier.estimator.calibrated_classifiers_) == 1
    p = model.predict(_open_deals(["2025-06-10", "2025-08-01", None]))
    assert p.shape == (3, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert p[0, 0] > p[0, 2] and p[1, 1] > p[1, 0]  # closing this quarter / next as the CRM says
