"""Close timing's training rows handle censoring."""

from __future__ import annotations

from datetime import date

import pandas as pd
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
