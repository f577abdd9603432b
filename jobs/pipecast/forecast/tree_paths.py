"""Per-feature contributions of the calibrated boosted models, read off the trees' decision paths.

A boosted model's raw score (log-odds) is its baseline plus one leaf value per tree. Walking a
deal's path from a tree's root to its leaf, each split moves the expected value from the parent
node's to the child's (the mean of the leaves below, weighted by their training rows); that move
is credited to the split's feature (Saabas' path attribution, XGBoost's ``approx_contribs``).
Summed over the trees, a deal's contributions add up exactly to its raw score less the model's
expected score, so one pass over the trees gives both the prediction and its drivers: about 1.5
predictions' cost per deal, where swapping each driver's values for background deals costs one
prediction per (driver, background value).

``CalibratedPaths`` does it for a ``ProbabilityModel`` that is scikit-learn's
HistGradientBoostingClassifier in CalibratedClassifierCV, two classes (every win model's boosted
part): per fold the raw score and contributions, the calibrated probability averaged over the
folds as scikit-learn averages it, the contributions averaged likewise (in log-odds).

A node's expected value weights its leaves by their training rows, not by sample weights: for a
weighted fit the credits still add up, against an unweighted expectation (the boosted models that
use paths, the win and lead models, are fitted unweighted). Credits are in the boosted model's raw
log-odds, before calibration.

It reads scikit-learn's fitted trees and bins (``_predictors``, ``_preprocess_X``, the bin mapper's
thresholds, ``_map_to_bins``): private, stable since 1.0; ``tests/forecast/test_tree_paths.py`` fails if a
release changes them (the probabilities must equal ``predict_proba``'s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting._binning import _map_to_bins
from sklearn.ensemble._hist_gradient_boosting.common import X_BINNED_DTYPE
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

from pipecast.forecast import parallel
from pipecast.forecast.estimators import ProbabilityModel, _design


@dataclass
class _Tree:
    leaf_of: TreePredictor  # the tree with each node's value replaced by its index: predicts leaf ids
    value: np.ndarray  # (nodes,) the leaf values
    features: np.ndarray  # (k,) the features the tree splits on
    credit: np.ndarray  # (k, nodes): per leaf, the moves of its path credited to each of those features
    root: float  # the tree's expected value


def _tree(predictor: TreePredictor) -> _Tree:
    nodes = predictor.nodes
    count = nodes["count"].astype(float)
    mean = nodes["value"].astype(float)
    for i in np.argsort(-nodes["depth"].astype(np.int64), kind="stable"):  # children before parents
        if not nodes["is_leaf"][i]:
            left, right = nodes["left"][i], nodes["right"][i]
            total = count[left] + count[right]
            mean[i] = (count[left] * mean[left] + count[right] * mean[right]) / total if total else 0.0
    split = ~nodes["is_leaf"].astype(bool)
    features = np.unique(nodes["feature_idx"][split]).astype(np.intp)
    column = {int(f): j for j, f in enumerate(features)}
    credit = np.zeros((len(features), len(nodes)))
    stack = [0]
    while stack:
        i = stack.pop()
        if nodes["is_leaf"][i]:
            continue
        j = column[int(nodes["feature_idx"][i])]
        for child in (nodes["left"][i], nodes["right"][i]):
            credit[:, child] = credit[:, i]
            credit[j, child] += mean[child] - mean[i]
            stack.append(child)
    ids = nodes.copy()
    ids["value"] = np.arange(len(nodes), dtype=float)
    leaf_of = TreePredictor(ids, predictor.binned_left_cat_bitsets, predictor.raw_left_cat_bitsets)
    return _Tree(leaf_of, nodes["value"].astype(float), features, credit, float(mean[0]))


class BoostedPaths:
    """Raw scores and per-feature path contributions of one fitted binary HistGradientBoostingClassifier."""

    def __init__(self, model: HistGradientBoostingClassifier):
        if model.n_trees_per_iteration_ != 1:
            raise ValueError("path contributions are for two-class models")
        self.model = model
        self.baseline = float(np.ravel(model._baseline_prediction)[0])
        self.trees = [_tree(iteration[0]) for iteration in model._predictors]
        self.expected = self.baseline + sum(tree.root for tree in self.trees)

    def explain(self, X: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(raw scores (n,), contributions (n, features)): raw = expected + contributions summed.
        ``threads``: of the binning and the trees' traversal (default: OpenMP's, as threadpool_limits
        sets it)."""
        threads = parallel.allowed_threads() if threads is None else threads
        X = self.binned(self.model._preprocess_X(X, reset=False), threads)
        n = X.shape[0]
        missing = self.model._bin_mapper.missing_values_bin_idx_
        raw = np.full(n, self.baseline)
        contributions = np.zeros((X.shape[1], n))
        gathered = np.empty(n)
        for tree in self.trees:
            leaf = tree.leaf_of.predict_binned(X, missing, threads).astype(np.intp)
            raw += np.take(tree.value, leaf, out=gathered)
            for j, feature in enumerate(tree.features):
                contributions[feature] += np.take(tree.credit[j], leaf, out=gathered)
        return raw, contributions.T

    def binned(self, X: np.ndarray, threads: int) -> np.ndarray:
        """``X`` (preprocessed) in the model's own bins, as its fit saw them: one byte a value instead
        of eight, and the trees compare bytes; the leaves are the same as on raw values. A category
        the model never saw is already missing (``_preprocess_X`` makes it NaN), so it takes the
        missing values' bin and way, as ``predict`` sends it (tests/forecast/test_tree_paths.py)."""
        mapper = self.model._bin_mapper
        out = np.zeros(X.shape, dtype=X_BINNED_DTYPE, order="F")
        _map_to_bins(
            X, mapper.bin_thresholds_, mapper.is_categorical_, mapper.missing_values_bin_idx_, threads, out
        )
        return out


class CalibratedPaths:
    """P(class 1) and log-odds contributions per input column of a calibrated boosted ``ProbabilityModel``."""

    def __init__(self, model: ProbabilityModel):
        self.model = model
        calibrated = model.estimator.calibrated_classifiers_
        self.folds = [(BoostedPaths(fold.estimator), fold.calibrators[0]) for fold in calibrated]
        # each encoded column's input column ("categories__segment" -> "segment")
        self.columns = [name.split("__", 1)[1] for name in model.encoder.get_feature_names_out()]

    @classmethod
    def of(cls, model: ProbabilityModel) -> CalibratedPaths | None:
        """The paths of ``model``, or None when it is not a two-class calibrated boosted model."""
        estimator = getattr(model, "estimator", None)
        if not isinstance(estimator, CalibratedClassifierCV) or sorted(model.classes) != [0, 1]:
            return None
        if list(estimator.classes_) != [0, 1]:
            return None
        folds = estimator.calibrated_classifiers_
        if not all(isinstance(fold.estimator, HistGradientBoostingClassifier) for fold in folds):
            return None
        if not all(getattr(fold, "method", None) in ("isotonic", "sigmoid") for fold in folds):
            return None  # a calibrator of the two-class decision function, as explain() applies it
        return cls(model)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's encoded inputs of ``frame`` (one column per entry of ``columns``), column-major."""
        model = self.model
        categories = [*model.categories, *getattr(model, "pooled", [])]
        return np.asfortranarray(model.encoder.transform(_design(frame, categories, model.numbers)))

    def explain(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(P(1) as ``predict_positive`` gives it (n,), log-odds contributions (n, len(columns)))."""
        return self.explain_encoded(self.encode(frame))

    def explain_encoded(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``explain`` of rows already encoded (``encode``). With more than one thread allowed
        (threadpool_limits, PIPECAST_FORECAST_THREADS) and many rows, each thread takes a block of
        rows through every fold: the traversal alone is parallel in scikit-learn, the gathering of
        the credits is not."""
        threads = parallel.allowed_threads()
        blocks = parallel.row_blocks(X, threads)
        if len(blocks) == 1:
            return self._explain_rows(X, threads)
        parts = parallel.run_all(lambda block: self._explain_rows(block, 1), blocks, threads)
        return np.concatenate([p for p, _ in parts]), np.vstack([c for _, c in parts])

    def _explain_rows(self, X: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
        X = np.asfortranarray(X)  # binning (BoostedPaths.binned) reads one feature at a time
        p = np.zeros(len(X))
        contributions = np.zeros((len(X), len(self.columns)))
        for paths, calibrator in self.folds:
            raw, credit = paths.explain(X, threads)
            fold = calibrator.predict(raw)
            fold[(fold > 1.0) & (fold <= 1.0 + 1e-5)] = 1.0  # as scikit-learn rounds each fold's
            p += fold
            contributions += credit
        return p / len(self.folds), contributions / len(self.folds)

    def probability_encoded(self, X: np.ndarray) -> np.ndarray:
        """P(1) of rows already encoded, without contributions (scikit-learn's prediction)."""
        return self.model.estimator.predict_proba(X)[:, 1] if len(X) else np.array([])

    def membership(self, groups: dict[str, list[str]]) -> np.ndarray:
        """(columns, groups) 0/1: which driver each input column belongs to."""
        out = np.zeros((len(self.columns), len(groups)))
        for g, members in enumerate(groups.values()):
            out[:, g] = [column in members for column in self.columns]
        return out


def classifier_effects(
    model: ProbabilityModel, frame: pd.DataFrame, groups: dict[str, list[str]]
) -> tuple[np.ndarray, np.ndarray] | None:
    """(P(1) as ``model.predict_positive`` gives it, (rows x groups) log-odds effects of a calibrated
    boosted classifier's inputs summed per driver (``groups``: the driver's input columns)), from
    one pass over the trees; None when ``model`` has no tree paths."""
    paths = CalibratedPaths.of(model)
    if paths is None:
        return None
    p, credit = paths.explain(frame)
    return p, credit @ paths.membership(groups)
