"""The calibrated classifier degrades instead of failing on small data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pipecast.forecast.estimators import fit_classifier


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
