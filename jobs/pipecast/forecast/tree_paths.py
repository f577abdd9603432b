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

The walk itself is ``tree_traversal.traverse`` (compiled by Numba): every tree's nodes flattened
into one set of arrays (``_Forest``), each row walked through all of them on its bins.

It reads scikit-learn's fitted trees and bins (``_predictors`` and their node records and category
bitsets, ``_preprocess_X``, the bin mapper's thresholds, ``_map_to_bins``): private, stable since
1.0; ``tests/forecast/test_tree_paths.py`` fails if a release changes them (the raw scores must equal
``decision_function``'s and the probabilities ``predict_proba``'s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting._binning import _map_to_bins
from sklearn.ensemble._hist_gradient_boosting.common import X_BINNED_DTYPE
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

from pipecast.forecast import parallel


class ProbabilityModel(Protocol):
    """What the walk reads of a fitted model (pipecast.forecast.estimators.ProbabilityModel, which
    predicts through this module: so it is described here, not imported)."""

    classes: list[Any]
    estimator: Any
    encoder: Any

    def encode(self, frame: pd.DataFrame) -> np.ndarray: ...


@dataclass
class _Forest:
    """Every tree of a boosted model in one set of node arrays (tree_traversal.traverse reads them)."""

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    is_leaf: np.ndarray
    is_categorical: np.ndarray
    bitset: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    move: np.ndarray  # a node's expected value less its parent's: the move credited to the parent's feature
    bitsets: np.ndarray
    expected: float  # the trees' expected values summed


MAX_STAGES = 62  # a row's stages are bits of one int64 in the walk; more: a walk per stage


@dataclass
class Stages:
    """Which stages to score each row at, for a walk of all of them at once: row i at stages
    ``first[i]..last[i]`` (``column`` taking the stage's number), its moves credited at stages
    ``credit_from[i]..last[i]``, each column's to its group in ``group_of`` (-1: to none)."""

    column: int
    first: np.ndarray
    last: np.ndarray
    credit_from: np.ndarray
    group_of: np.ndarray
    groups: int

    def __post_init__(self) -> None:
        for name in ("first", "last", "credit_from", "group_of"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.int64))

    @property
    def count(self) -> int:
        """Columns of the answers: stages 0..the largest last."""
        return int(self.last.max(initial=0)) + 1

    def scored(self) -> np.ndarray:
        """(rows, count) bool: the stages each row is scored at."""
        at = np.arange(self.count)[None, :]
        return (self.first[:, None] <= at) & (at <= self.last[:, None])


def _expected_values(nodes: np.ndarray) -> np.ndarray:
    """Each node's expected value: the mean of the leaves below it, weighted by their training rows."""
    count = nodes["count"].astype(float)
    mean = nodes["value"].astype(float)
    for i in np.argsort(-nodes["depth"].astype(np.int64), kind="stable"):  # children before parents
        if not nodes["is_leaf"][i]:
            left, right = nodes["left"][i], nodes["right"][i]
            total = count[left] + count[right]
            mean[i] = (count[left] * mean[left] + count[right] * mean[right]) / total if total else 0.0
    return mean


def _forest(predictors: list[TreePredictor]) -> _Forest:
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _Forest.__dataclass_fields__}
    roots, nodes_before, bitsets_before, expected = [], 0, 0, 0.0
    for predictor in predictors:
        nodes = predictor.nodes
        mean = _expected_values(nodes)
        split = ~nodes["is_leaf"].astype(bool)
        move = np.zeros(len(nodes))
        for child in ("left", "right"):
            move[nodes[child][split]] = mean[nodes[child][split]] - mean[split]
        roots.append(nodes_before)
        expected += float(mean[0])
        parts["feature"].append(nodes["feature_idx"].astype(np.int64))
        parts["threshold"].append(nodes["bin_threshold"].astype(np.uint8))
        parts["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
        parts["is_leaf"].append(~split)
        parts["is_categorical"].append(nodes["is_categorical"].astype(bool))
        parts["bitset"].append(nodes["bitset_idx"].astype(np.int64) + bitsets_before)
        parts["left"].append(nodes["left"].astype(np.int64) + nodes_before)
        parts["right"].append(nodes["right"].astype(np.int64) + nodes_before)
        parts["value"].append(nodes["value"].astype(float))
        parts["move"].append(move)
        bitsets = np.asarray(predictor.binned_left_cat_bitsets, dtype=np.uint32).reshape(-1, 8)
        parts["bitsets"].append(bitsets)
        nodes_before += len(nodes)
        bitsets_before += len(bitsets)
    arrays = {name: np.ascontiguousarray(np.concatenate(parts[name])) for name in parts if parts[name]}
    return _Forest(roots=np.array(roots, dtype=np.int64), expected=expected, **arrays)


class BoostedPaths:
    """Raw scores and per-feature path contributions of one fitted HistGradientBoostingClassifier:
    of its one raw score (two classes), or of class ``k``'s (more classes: a tree per class and
    iteration)."""

    def __init__(self, model: HistGradientBoostingClassifier, k: int = 0):
        if not 0 <= k < model.n_trees_per_iteration_:
            raise ValueError(f"the model has {model.n_trees_per_iteration_} raw score(s), not {k + 1}")
        self.model = model
        self.baseline = float(np.ravel(model._baseline_prediction)[k])
        self.forest = _forest([iteration[k] for iteration in model._predictors])
        self.expected = self.baseline + self.forest.expected
        self._bins: dict[tuple[int, float], int] = {}  # bin_of's answers

    def explain(self, X: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(raw scores (n,), contributions (n, features)) of ``X`` (the model's input): raw =
        expected + contributions summed. ``threads``: of the binning and the traversal (default:
        OpenMP's, as threadpool_limits sets it)."""
        threads = parallel.allowed_threads() if threads is None else threads
        binned = self.binned(self.model._preprocess_X(X, reset=False), threads)
        raw, contributions = self.explain_binned(binned, np.arange(len(binned)), threads=threads)
        assert contributions is not None
        return raw, contributions

    def binned(self, X: np.ndarray, threads: int) -> np.ndarray:
        """``X`` (preprocessed) in the model's own bins, as its fit saw them: one byte a value instead
        of eight, and the trees compare bytes; the leaves are the same as on raw values. A category
        the model never saw is already missing (``_preprocess_X`` makes it NaN), so it takes the
        missing values' bin and way, as ``predict`` sends it (tests/forecast/test_tree_paths.py)."""
        mapper = self.model._bin_mapper
        out = np.zeros(X.shape, dtype=X_BINNED_DTYPE, order="F")
        _map_to_bins(
            np.asfortranarray(X, dtype=float),
            mapper.bin_thresholds_,
            mapper.is_categorical_,
            mapper.missing_values_bin_idx_,
            threads,
            out,
        )
        return out

    def bin_of(self, column: int, value: float) -> int:
        """The bin ``value`` takes in ``column`` (of the model's input, preprocessed as rows are),
        remembered: the stage chain asks for each stage's bin at every prediction, and one row
        through the model's preprocessing costs as much as walking a thousand deals."""
        key = (column, value)
        if key not in self._bins:
            X = np.zeros((1, self.model.n_features_in_))
            X[0, column] = value
            self._bins[key] = int(self.binned(self.model._preprocess_X(X, reset=False), 1)[0, column])
        return self._bins[key]

    def explain_binned(
        self,
        binned: np.ndarray,
        rows: np.ndarray,
        fixed: tuple[int, float] | None = None,
        contributions: bool = True,
        threads: int = 1,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(raw scores, contributions or None) of ``binned[rows]``, every row's ``fixed`` column (a
        (column, value) pair) taking that value. ``threads`` share the rows in blocks."""
        from pipecast.forecast import tree_traversal  # compiles on first use

        f, rows = self.forest, np.ascontiguousarray(rows, dtype=np.int64)
        column, bin_ = (fixed[0], self.bin_of(*fixed)) if fixed is not None else (-1, 0)
        missing = int(self.model._bin_mapper.missing_values_bin_idx_)
        raw = np.empty(len(rows))
        credit = np.zeros((len(rows), binned.shape[1]) if contributions else (0, binned.shape[1]))

        def walk(block: tuple[int, int]) -> None:
            lo, hi = block
            tree_traversal.traverse(
                binned, rows[lo:hi], column, bin_, missing, f.roots, f.feature, f.threshold,
                f.missing_left, f.is_leaf, f.is_categorical, f.bitset, f.left, f.right, f.value,
                f.move, f.bitsets, self.baseline, contributions, raw[lo:hi], credit[lo:hi],
            )  # fmt: skip

        blocks = parallel.row_bounds(len(rows), threads)
        parallel.run_all(walk, blocks, len(blocks))
        return raw, credit if contributions else None

    def explain_stages(
        self,
        binned: np.ndarray,
        rows: np.ndarray,
        stages: Stages,
        credit: np.ndarray | None,
        threads: int = 1,
    ) -> np.ndarray:
        """Raw scores (len(rows), stages.count) of ``binned[rows]``, row i at each of its stages
        ``stages.first[i]..stages.last[i]`` (the stage column taking the stage's value; 0 at the
        others); its moves credited to ``stages.group_of``'s groups in ``credit`` (rows, stages,
        groups) at the stages from ``stages.credit_from[i]`` on, when given. Each tree is walked
        once per row (tree_traversal.traverse_stages); ``threads`` share the rows in blocks."""
        from pipecast.forecast import tree_traversal  # compiles on first use

        f, rows = self.forest, np.ascontiguousarray(rows, dtype=np.int64)
        stage_bins = np.array(
            [self.bin_of(stages.column, float(s)) for s in range(stages.count)], dtype=np.int64
        )
        missing = int(self.model._bin_mapper.missing_values_bin_idx_)
        raw = np.zeros((len(rows), stages.count))
        explain = credit is not None
        out = credit if credit is not None else np.zeros((0, stages.count, 1))

        def walk(block: tuple[int, int]) -> None:
            lo, hi = block
            scratch = (np.empty(len(f.feature), dtype=np.int64), np.empty(len(f.feature), dtype=np.int64))
            tree_traversal.traverse_stages(
                binned, rows[lo:hi], stages.first[lo:hi], stages.last[lo:hi], stages.credit_from[lo:hi],
                stages.column, stage_bins, stages.group_of, missing, f.roots, f.feature, f.threshold,
                f.missing_left, f.is_leaf, f.is_categorical, f.bitset, f.left, f.right, f.value,
                f.move, f.bitsets, self.baseline, explain, *scratch, raw[lo:hi],
                out[lo:hi] if explain else out,
            )  # fmt: skip

        blocks = parallel.row_bounds(len(rows), threads)
        parallel.run_all(walk, blocks, len(blocks))
        return raw


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

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(P(0), P(1)) of rows already encoded, as the estimator's ``predict_proba`` gives them."""
        p, _ = self.explain_binned(self.binned(X), np.arange(len(X)), contributions=False)
        return np.column_stack([1.0 - p, p])

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's encoded inputs of ``frame`` (one column per entry of ``columns``), column-major."""
        return self.model.encode(frame)

    def explain(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(P(1) as ``predict_positive`` gives it (n,), log-odds contributions (n, len(columns)))."""
        return self.explain_encoded(self.encode(frame))

    def explain_encoded(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``explain`` of rows already encoded (``encode``)."""
        p, contributions = self.explain_binned(self.binned(X), np.arange(len(X)))
        assert contributions is not None
        return p, contributions

    def binned(self, X: np.ndarray) -> list[np.ndarray]:
        """Encoded rows in each fold's bins (each fold's model bins its own way)."""
        threads = parallel.allowed_threads()
        return [paths.binned(paths.model._preprocess_X(X, reset=False), threads) for paths, _ in self.folds]

    def explain_binned(
        self,
        binned: list[np.ndarray],
        rows: np.ndarray,
        fixed: tuple[int, float] | None = None,
        contributions: bool = True,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(P(1), log-odds contributions or None) of the ``rows`` of ``binned`` (from ``binned()``), every
        row's ``fixed`` column (a (column, value) pair: a stage the chain scores the deal at) taking
        that value. With more than one thread allowed (threadpool_limits,
        PIPECAST_FORECAST_THREADS) and many rows, the threads share the rows in blocks."""
        threads = parallel.allowed_threads()
        p = np.zeros(len(rows))
        credit = np.zeros((len(rows), len(self.columns))) if contributions else None
        for (paths, calibrator), fold_bins in zip(self.folds, binned, strict=True):
            raw, fold_credit = paths.explain_binned(fold_bins, rows, fixed, contributions, threads)
            fold = calibrator.predict(raw)
            fold[(fold > 1.0) & (fold <= 1.0 + 1e-5)] = 1.0  # as scikit-learn rounds each fold's
            p += fold
            if credit is not None:
                credit += fold_credit
        n = len(self.folds)
        return p / n, None if credit is None else credit / n

    def explain_stages(
        self, binned: list[np.ndarray], rows: np.ndarray, stages: Stages, contributions: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(P(1) (len(rows), stages.count), log-odds credits (len(rows), stages.count,
        stages.groups) or None) of the ``rows`` of ``binned`` at each row's stages (``Stages``),
        as ``explain_binned`` gives them a stage at a time (with the credits summed into groups),
        from one walk of each tree per row. NaN at a row's other stages."""
        threads = parallel.allowed_threads()
        scored = stages.scored()
        p = np.zeros(scored.shape)
        credit = np.zeros((*scored.shape, stages.groups)) if contributions else None
        if stages.count > MAX_STAGES + 1:
            self._explain_stage_by_stage(binned, rows, stages, p, credit)
        else:
            for (paths, calibrator), fold_bins in zip(self.folds, binned, strict=True):
                raw = paths.explain_stages(fold_bins, rows, stages, credit, threads)
                fold = calibrator.predict(raw[scored])
                fold[(fold > 1.0) & (fold <= 1.0 + 1e-5)] = 1.0  # as scikit-learn rounds each fold's
                p[scored] += fold
            p /= len(self.folds)
            if credit is not None:
                credit /= len(self.folds)
        p[~scored] = np.nan
        return p, credit

    def _explain_stage_by_stage(
        self,
        binned: list[np.ndarray],
        rows: np.ndarray,
        stages: Stages,
        p: np.ndarray,
        credit: np.ndarray | None,
    ) -> None:
        """``explain_stages`` a stage at a time (a pipeline of more than MAX_STAGES stages)."""
        to_group = np.zeros((len(self.columns), stages.groups))
        credited = stages.group_of >= 0
        to_group[np.flatnonzero(credited), stages.group_of[credited]] = 1.0
        for s in range(stages.count):
            at = np.flatnonzero((stages.first <= s) & (s <= stages.last))
            if not len(at):
                continue
            fixed = (stages.column, float(s))
            p[at, s], columns = self.explain_binned(binned, rows[at], fixed, credit is not None)
            if credit is not None and columns is not None:
                kept = stages.credit_from[at] <= s
                credit[at[kept], s] = columns[kept] @ to_group

    def group_of(self, groups: dict[str, list[str]], left_out: int | None = None) -> np.ndarray:
        """(columns,) the group (an index into ``groups``) each input column is credited to, -1 for
        none and for the group ``left_out``. A column in two groups is an error."""
        member = self.membership(groups)
        if (member.sum(axis=1) > 1).any():
            raise ValueError("a column belongs to more than one driver group")
        if left_out is not None:
            member[:, left_out] = 0.0
        return np.where(member.any(axis=1), member.argmax(axis=1), -1)

    def membership(self, groups: dict[str, list[str]]) -> np.ndarray:
        """(columns, groups) 0/1: which driver each input column belongs to."""
        out = np.zeros((len(self.columns), len(groups)))
        for g, members in enumerate(groups.values()):
            out[:, g] = [column in members for column in self.columns]
        return out


class CalibratedScores:
    """Class probabilities of a calibrated boosted ``ProbabilityModel`` of more than two classes
    (the close-timing model), from the trees' compiled walk: per fold, each class's raw score
    (its own trees, summed in scikit-learn's order), the fold's temperature calibrator on them,
    averaged over the folds as scikit-learn averages them."""

    def __init__(self, model: ProbabilityModel):
        self.folds = [
            ([BoostedPaths(fold.estimator, k) for k in range(fold.estimator.n_trees_per_iteration_)], fold)
            for fold in model.estimator.calibrated_classifiers_
        ]

    @classmethod
    def of(cls, model: ProbabilityModel) -> CalibratedScores | None:
        """The scores of ``model``, or None when it is not temperature-calibrated multi-class boosting."""
        estimator = getattr(model, "estimator", None)
        if not isinstance(estimator, CalibratedClassifierCV) or len(estimator.classes_) < 3:
            return None
        for fold in estimator.calibrated_classifiers_:
            boosted = fold.estimator
            if not isinstance(boosted, HistGradientBoostingClassifier) or fold.method != "temperature":
                return None
            if list(boosted.classes_) != list(estimator.classes_) or len(fold.calibrators) != 1:
                return None  # a fold that missed a class: scikit-learn's own handling
        return cls(model)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(rows, classes) probabilities of rows already encoded, in the estimator's class order."""
        threads = parallel.allowed_threads()
        rows = np.arange(len(X))
        total = None
        for trees, fold in self.folds:
            binned = trees[0].binned(trees[0].model._preprocess_X(X, reset=False), threads)
            raw = np.column_stack(
                [tree.explain_binned(binned, rows, contributions=False, threads=threads)[0] for tree in trees]
            )
            proba = fold.calibrators[0].predict(raw)
            proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0  # as scikit-learn rounds each fold's
            total = proba if total is None else total + proba
        return total / len(self.folds)


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
