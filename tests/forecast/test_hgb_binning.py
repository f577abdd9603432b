"""pipecast.forecast.hgb_binning: the weighted binning thresholds are scikit-learn's own, bit for
bit, computed in one call; and the patch is in place wherever the forecast fits a model."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from pipecast.forecast import estimators, hgb_binning
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting import binning


def _column(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "amounts":  # long-tailed, rounded: many ties
        x = np.round(rng.lognormal(8, 1.5, size=n), -2)
    elif kind == "days":  # integers, fewer distinct values than bins
        x = rng.integers(0, 200, size=n).astype(float)
    else:  # continuous
        x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    return x


def _weights(rng: np.random.Generator, n: int) -> np.ndarray:
    w = np.where(rng.random(n) < 0.6, 1.0, rng.random(n))  # mostly whole intervals, some partial
    w[rng.random(n) < 0.05] = 0.0
    return w


@pytest.mark.parametrize("kind", ["amounts", "days", "normal"])
@pytest.mark.parametrize("n", [50, 3_000, 60_000])
def test_thresholds_equal_scikit_learns(kind: str, n: int):
    rng = np.random.default_rng(n)
    x, w = _column(rng, n, kind), _weights(rng, n)
    ours = hgb_binning.find_binning_thresholds(x.copy(), 255, w.copy())
    theirs = hgb_binning._ORIGINAL(x.copy(), 255, w.copy())
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    unweighted = hgb_binning.find_binning_thresholds(x.copy(), 255, None)
    np.testing.assert_array_equal(unweighted, hgb_binning._ORIGINAL(x.copy(), 255, None))


@pytest.mark.parametrize("seed", range(5))
def test_the_weighted_quantiles_are_scikit_learns(seed: int):
    from sklearn.utils.stats import _weighted_percentile

    rng = np.random.default_rng(seed)
    n = int(rng.integers(300, 20_000))
    values = np.sort(np.round(rng.gamma(2.0, 50.0, size=n), int(rng.integers(-1, 2))))  # ties
    weights = np.where(rng.random(n) < 0.5, 1.0, rng.random(n) + 1e-3)
    ranks = np.linspace(0, 100, num=256)[1:-1]
    ours = hgb_binning.averaged_inverted_cdf(values, weights, ranks)
    np.testing.assert_array_equal(ours, _weighted_percentile(values, weights, ranks, average=True))


def test_a_weighted_fit_is_the_same_model():
    rng = np.random.default_rng(1)
    n = 4_000
    X = np.column_stack([_column(rng, n, "amounts"), _column(rng, n, "normal"), _column(rng, n, "days")])
    y = (np.nan_to_num(X[:, 1]) + rng.normal(size=n) > 0).astype(int)
    w = _weights(rng, n)
    fit = lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y, sample_weight=w)  # noqa: E731
    patched = fit().predict_proba(X)
    binning._find_binning_thresholds = hgb_binning._ORIGINAL
    try:
        original = fit().predict_proba(X)
    finally:
        hgb_binning.apply()
    np.testing.assert_array_equal(patched, original)


def test_applied_once_the_estimators_are_imported_on_the_verified_version():
    assert estimators.hgb_binning is hgb_binning
    if sklearn.__version__ in hgb_binning.VERIFIED_SKLEARN_VERSIONS:
        assert binning._find_binning_thresholds is hgb_binning.find_binning_thresholds
    else:  # a newer release: left alone (it carries the upstream fix)
        assert binning._find_binning_thresholds is hgb_binning._ORIGINAL
