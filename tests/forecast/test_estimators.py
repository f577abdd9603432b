"""The calibrated classifier degrades instead of failing on small data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipecast.forecast.estimators import fit_classifier, group_folds


def _frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"colour": rng.choice(["red", "blue"], n), "x": x})
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x - (frame["colour"] == "red") * 1.0))).astype(int)
    return frame, y


def test_calibrated_probabilities_follow_the_signal():
    frame, y = _frame(3000)
    model = fit_classifier(frame, y, ["colour"], ["x"], [0, 1])
    assert model.kind == "calibrated_hgb"
    test = pd.DataFrame({"colour": ["red", "blue", "green"], "x": [2.0, -2.0, 0.0]})
    p = model.predict_positive(test)  # an unseen category is scored, not refused
    assert p[0] > 0.8 and p[1] < 0.2 and 0 < p[2] < 1
    # calibrated: mean predicted close to the observed rate
    assert abs(model.predict_positive(frame).mean() - y.mean()) < 0.02


def test_a_single_class_falls_back_to_its_frequency():
    frame, _ = _frame(40)
    model = fit_classifier(frame, np.zeros(40, dtype=int), ["colour"], ["x"], [0, 1])
    assert model.kind == "class_frequencies"
    assert np.allclose(model.predict_positive(frame), 0.0)


def test_a_rare_class_is_boosted_without_calibration_folds():
    frame, _ = _frame(200)
    y = np.zeros(200, dtype=int)
    y[:5] = 1
    model = fit_classifier(frame, y, ["colour"], ["x"], [0, 1])
    assert model.kind == "hgb_uncalibrated"
    assert model.predict_proba(frame).shape == (200, 2)


def test_multiclass_answers_for_every_class_even_unseen_ones():
    frame, y = _frame(600)
    model = fit_classifier(frame, y * 2, ["colour"], ["x"], [0, 1, 2])  # class 1 never seen
    p = model.predict_proba(frame)
    assert p.shape == (600, 3) and np.allclose(p.sum(axis=1), 1) and np.allclose(p[:, 1], 0)


def test_sample_weights_reach_the_booster():
    frame, y = _frame(2000)
    heavy_ones = np.where(y == 1, 10.0, 1.0)
    plain = fit_classifier(frame, y, ["colour"], ["x"], [0, 1]).predict_positive(frame).mean()
    weighted = fit_classifier(frame, y, ["colour"], ["x"], [0, 1], sample_weight=heavy_ones)
    assert weighted.predict_positive(frame).mean() > plain + 0.2


def test_calibration_folds_keep_a_deals_rows_together_and_spread_every_class():
    rng = np.random.default_rng(3)
    deals = rng.integers(0, 3_000, 12_000).astype(str)  # a deal's rows at several cut-offs
    y = rng.choice(3, 12_000, p=[0.8, 0.17, 0.03])
    folds = group_folds(y, deals, seed=0)
    assert len(folds) == 3
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(12_000))  # every row tested once
    for train, test in folds:
        assert not set(deals[train]) & set(deals[test])
        assert abs(len(test) / 12_000 - 1 / 3) < 0.02
        share = np.bincount(y[test], minlength=3) / len(test)
        assert np.allclose(share, [0.8, 0.17, 0.03], atol=0.015)
    # the rarest class: its deals dealt first, near-equally
    rare = [len(set(deals[test][y[test] == 2])) for _, test in folds]
    assert max(rare) - min(rare) <= 1
    again = group_folds(y, deals, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = group_folds(y, deals, seed=1)
    assert not np.array_equal(folds[0][1], other[0][1])
    with pytest.raises(ValueError, match="2 groups"):
        group_folds(np.array([0, 1, 1]), np.array(["a", "b", "b"]), seed=0)


def test_a_category_with_more_levels_than_boosting_takes_is_capped_and_fewer_are_coded_as_capped():
    """The category encoder caps levels at MAX_CATEGORIES only when a column has more; below that
    the cap changes no code (it is left off to skip scikit-learn's count of every value)."""
    from pipecast.forecast import estimators

    rng = np.random.default_rng(3)
    n = 6000
    frame = pd.DataFrame(
        {
            "account": rng.choice([f"acct {i}" for i in range(400)], n),
            "colour": rng.choice(["red", "blue", None], n),
            "x": rng.normal(size=n),
        }
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-frame["x"]))).astype(int)
    wide = fit_classifier(frame, y, ["account", "colour"], ["x"], [0, 1])
    codes = wide.encoder.transform(estimators._design(frame, ["account", "colour"], ["x"]))
    assert codes[:, 0].max() == estimators.MAX_CATEGORIES - 1  # 249 frequent levels + the rest pooled
    assert 0 < wide.predict_positive(frame).mean() < 1

    narrow = fit_classifier(frame, y, ["colour"], ["x"], [0, 1])
    design = estimators._design(frame, ["colour"], ["x"])
    capped = estimators._encoder(["colour"], ["x"], levels=estimators.MAX_CATEGORIES + 1).fit(design)
    np.testing.assert_array_equal(narrow.encoder.transform(design), capped.transform(design))
