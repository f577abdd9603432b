"""Calibrated gradient boosting for every forecast model, with graceful fallbacks on small data.

scikit-learn's HistGradientBoostingClassifier (native categorical splits, missing values) wrapped in
CalibratedClassifierCV (3 folds; isotonic for two classes, temperature scaling for more): the
boosted scores are re-mapped so that a predicted 70% happens 70% of the time. The folds are
shuffled and keep each deal's rows together (``groups``): training rows come ordered by time and a
deal appears at many cut-offs, and unshuffled folds calibrated one period on models of another
(a timing model came out 10 points too sure that big deals close next quarter).

Features a mapping declares (``mapped__<name>`` columns, pipecast.mapped_features) enter as
``pooled`` categories, whose levels seen fewer than ``min_frequency`` times in training share one
code (rare levels pooled), and as numbers, whose missing values boosting routes natively.
``feature_encoder`` is the same for linear models: categories one-hot with rare levels pooled,
numbers with missing values imputed (median) beside a missing-value indicator, log-compressed and
standardised.

When there is too little data for that (a single class, a handful of
rows: the first nights of a new CRM, the small DAG test) the model degrades, with a logged
warning, to the observed class frequencies instead of failing the night.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from pipecast.forecast import hgb_binning, parallel
from pipecast.forecast.tree_paths import CalibratedPaths, CalibratedScores

log = logging.getLogger(__name__)
hgb_binning.apply()  # weighted fits bin their features in one call (see the module)

DEFAULT_BOOSTING: dict[str, Any] = {
    "learning_rate": 0.08,
    "max_iter": 200,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 80,
    "l2_regularization": 1.0,
    "early_stopping": True,
    "validation_fraction": 0.15,
    "n_iter_no_change": 10,
}
CALIBRATION_FOLDS = 3
# Below this many rows of the rarest class, calibration folds are unreliable.
MIN_CLASS_ROWS = 15
MAX_CATEGORIES = 250  # HistGradientBoosting's categorical limit is 255 bins
# A declared feature's level seen fewer times than this in training is pooled with the other rare ones.
MIN_LEVEL_ROWS = 20
MISSING_LEVEL = "(missing)"
# Rows a boosted model encodes and predicts at a time: scoring 1.4M account x product pairs at once
# held 600 MB of text columns and encodings beside the pairs themselves (the L forecast's peak)
PREDICT_ROWS = 250_000


@dataclass
class ProbabilityModel:
    """A fitted classifier that always answers with one column per class in ``classes``."""

    classes: list[Any]
    categories: list[str]
    numbers: list[str]
    estimator: Any = None  # None: the class frequencies answer
    encoder: Any = None  # the categories' ordinal encoding, fitted with the estimator
    frequencies: np.ndarray = field(default_factory=lambda: np.array([]))
    kind: str = "calibrated_hgb"
    pooled: list[str] = field(default_factory=list)  # categories with rare levels pooled

    @property
    def features(self) -> list[str]:
        return [*self.categories, *getattr(self, "pooled", []), *self.numbers]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if len(frame) == 0:
            return np.empty((0, len(self.classes)))
        if self.estimator is None:
            return np.tile(self.frequencies, (len(frame), 1))
        if len(frame) > PREDICT_ROWS:  # the design's text columns and its encoding a block at a time
            blocks = range(0, len(frame), PREDICT_ROWS)
            return np.vstack([self.predict_proba(frame.iloc[i : i + PREDICT_ROWS]) for i in blocks])
        # blocks of rows on the forecast's threads when there are many (pipecast.forecast.parallel)
        X = self.encode(frame)
        walk = self.tree_walk()
        if walk is not None:
            raw = walk.predict_proba(X)
        else:
            blocks = parallel.row_blocks(X, parallel.allowed_threads())
            raw = np.vstack(parallel.run_all(self.estimator.predict_proba, blocks, len(blocks)))
        out = np.zeros((len(frame), len(self.classes)))
        for j, cls in enumerate(self.estimator.classes_):
            out[:, self.classes.index(cls)] = raw[:, j]
        return out

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The estimator's input of ``frame``: categories coded, numbers as they are; column-major
        (a tree reads one feature at a time: 15% faster through scikit-learn's trees), the
        encoder's row-major copy freed at once."""
        categories = [*self.categories, *getattr(self, "pooled", [])]
        return np.asfortranarray(self.encoder.transform(_design(frame, categories, self.numbers)))

    def predict_positive(self, frame: pd.DataFrame) -> np.ndarray:
        """P(class 1) of a binary model."""
        return self.predict_proba(frame)[:, self.classes.index(1)]

    def tree_walk(self) -> Any:
        """The estimator's trees as pipecast.forecast.tree_paths walks them, made once per fitted
        estimator: ``CalibratedPaths`` (two classes) or ``CalibratedScores`` (more), or None when the
        estimator is not calibrated boosting (then scikit-learn predicts).

        ``predict_proba`` answers through it: one compiled pass over the trees per row, where
        scikit-learn calls each tree in turn (a parallel loop over the rows per tree). The same
        probabilities (tests/forecast/test_tree_paths.py). On the 2-core host: the stage chain on the
        demo's 1,227 open deals 0.25 -> 0.085 s (a first night predicts a few hundred times), a
        million rows through a calibrated two-class model 7.8 -> 5.2 s on two threads."""
        cached = self.__dict__.get("_walk")
        if cached is None or cached[0] is not self.estimator:
            walk = None
            if self.estimator is not None:
                walk = CalibratedPaths.of(self) or CalibratedScores.of(self)
            cached = (self.estimator, walk)
            self.__dict__["_walk"] = cached
        return cached[1]

    def tree_paths(self) -> Any:
        """``tree_walk`` when it is a two-class model's ``CalibratedPaths`` (contributions, a stage
        fixed), else None."""
        walk = self.tree_walk()
        return walk if isinstance(walk, CalibratedPaths) else None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (joblib, MLflow) without the trees' flattened copy ``tree_walk`` keeps."""
        state = self.__dict__.copy()
        state.pop("_walk", None)
        return state


def tidy_columns(
    frame: pd.DataFrame, categories: list[str], numbers: list[str], dates: tuple[str, ...] = ("cutoff",)
) -> pd.DataFrame:
    """In place, for the columns present: categories as strings with 'Unknown' for missing,
    numbers as float, dates as Timestamps (how a training or scoring frame leaves SQL)."""
    for column in categories:
        if column in frame:
            frame[column] = frame[column].astype("string").fillna("Unknown").astype(object)
    for column in numbers:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in dates:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    return frame


def text_column(values: pd.Series, missing: str) -> pd.Series:
    """``values`` as text in an object column of Python strings, missing ones ``missing``.

    scikit-learn's encoders read text as numpy object arrays. A pandas 3 ``str`` column (what
    ``astype(str)`` makes, stored by Arrow) is built from the Python strings and converted back to
    them for every encoder call: per column of a million rows 0.95 s against 0.39 s this way,
    measured on a 2-core machine (the timing model's 8 categories and the win model's on a million
    open deals). The codes are the same: the levels are the same strings."""
    out = values.to_numpy(dtype=object, na_value=missing)
    if infer_dtype(out, skipna=False) != "string":  # numbers or flags in a text column
        out = np.array([v if isinstance(v, str) else str(v) for v in out], dtype=object)
    return pd.Series(out, index=values.index, dtype=object)


def _design(frame: pd.DataFrame, categories: list[str], numbers: list[str]) -> pd.DataFrame:
    design = pd.DataFrame(index=frame.index)
    for column in categories:
        values = frame[column] if column in frame else pd.Series("Unknown", index=frame.index)
        design[column] = text_column(values, "Unknown")
    for column in numbers:
        values = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
        design[column] = pd.to_numeric(values, errors="coerce").astype(float)
    return design


def _encoder(
    categories: list[str],
    numbers: list[str],
    pooled: list[str] | None = None,
    min_frequency: int = 1,
    levels: int = MAX_CATEGORIES + 1,
) -> ColumnTransformer:
    """Categories to ordinal codes (unknown and missing: -1, which boosting treats as missing);
    ``pooled`` categories likewise, their levels rarer than ``min_frequency`` sharing one code.

    ``levels``: the most levels any of ``categories`` has in the training rows. Up to
    MAX_CATEGORIES, the cap is left off: it changes no code then, and with it scikit-learn counts
    every value in a Python loop (0.18 s against 0.04 s for the timing model's 20,000 rows)."""
    capped = MAX_CATEGORIES if levels > MAX_CATEGORIES else None
    parts = [
        (
            "categories",
            OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=-1,
                encoded_missing_value=-1,
                max_categories=capped,
            ),
            categories,
        )
    ]
    if pooled:
        parts.append(
            (
                "pooled",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=-1,
                    encoded_missing_value=-1,
                    max_categories=MAX_CATEGORIES,
                    min_frequency=min_frequency if min_frequency > 1 else None,
                ),
                pooled,
            )
        )
    return ColumnTransformer([*parts, ("numbers", "passthrough", numbers)])


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def feature_encoder(categories: list[str], numbers: list[str], min_frequency: int = MIN_LEVEL_ROWS):
    """For linear models: categories one-hot (missing is a level of its own; levels rarer than
    ``min_frequency`` pooled into one, unseen ones scored as that pool), numbers median-imputed with
    a missing-value indicator, log-compressed and standardised. Input: ``design_frame``'s output."""
    return ColumnTransformer(
        [
            (
                "categories",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=min_frequency if min_frequency > 1 else None,
                    sparse_output=False,
                ),
                categories,
            ),
            (
                "numbers",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    FunctionTransformer(_signed_log1p),
                    StandardScaler(),
                ),
                numbers,
            ),
        ]
    )


def design_frame(frame: pd.DataFrame, categories: list[str], numbers: list[str]) -> pd.DataFrame:
    """The columns ``feature_encoder`` reads: categories as text (missing: MISSING_LEVEL),
    numbers as float (missing: NaN); a column absent from ``frame`` is all missing."""
    design = pd.DataFrame(index=frame.index)
    for column in categories:
        values = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
        design[column] = text_column(values, MISSING_LEVEL)
    for column in numbers:
        values = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
        design[column] = pd.to_numeric(values, errors="coerce").astype(float)
    return design


def _boosting(n_categories: int, params: dict[str, Any], seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        categorical_features=list(range(n_categories)) or None,
        random_state=seed,
        **{**DEFAULT_BOOSTING, **params},
    )


def fit_classifier(
    frame: pd.DataFrame,
    target: pd.Series | np.ndarray,
    categories: list[str],
    numbers: list[str],
    classes: list[Any],
    params: dict[str, Any] | None = None,
    sample_weight: np.ndarray | None = None,
    seed: int = 0,
    name: str = "model",
    groups: np.ndarray | pd.Series | None = None,
    pooled: list[str] | None = None,
    min_frequency: int = MIN_LEVEL_ROWS,
    ensemble: bool = True,
) -> ProbabilityModel:
    """Fit the calibrated boosted classifier, or fall back to class frequencies on too little data.

    ``groups`` (e.g. the deal id) keeps rows of one group in one calibration fold. ``pooled``:
    more categories (declared features), their levels rarer than ``min_frequency`` pooled.
    ``ensemble``: predict with the average of the CALIBRATION_FOLDS fold models, each with its
    calibrator (scikit-learn's default); False: with one model fitted on every row, calibrated on
    the folds' out-of-fold predictions: a third of the trees to predict with, one fit more."""
    pooled = list(pooled or [])
    y = np.asarray(target)
    weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    totals = np.array([weights[y == c].sum() for c in classes])
    frequencies = totals / totals.sum() if totals.sum() > 0 else np.full(len(classes), 1.0 / len(classes))
    model = ProbabilityModel(
        list(classes), list(categories), list(numbers), frequencies=frequencies, pooled=pooled
    )
    counts = np.array([(y == c).sum() for c in classes])
    present = counts[counts > 0]
    if len(present) < 2:
        log.warning("%s: %d rows with %d class(es): using the class frequencies", name, len(y), len(present))
        model.kind = "class_frequencies"
        return model
    raw = _design(frame, [*categories, *pooled], numbers)
    empty = [c for c in numbers if raw[c].isna().all()]  # boosting cannot bin an all-missing column
    if empty:
        log.info("%s: no values for %s: left out", name, ", ".join(empty))
        model.numbers = [c for c in numbers if c not in empty]
        raw = raw.drop(columns=empty)
    levels = max((raw[c].nunique(dropna=False) for c in categories), default=0)
    model.encoder = _encoder(categories, model.numbers, pooled, min_frequency, levels)
    design = model.encoder.fit_transform(raw)
    boosting = _boosting(len(categories) + len(pooled), params or {}, seed)
    if present.min() < MIN_CLASS_ROWS:
        log.warning("%s: only %d rows of the rarest class: boosting without calibration", name, present.min())
        boosting.set_params(early_stopping=False, max_iter=50)
        model.estimator, model.kind = boosting.fit(design, y, sample_weight=weights), "hgb_uncalibrated"
        return model
    method = "isotonic" if len(classes) == 2 else "temperature"
    folds = _folds(y, groups, seed)
    calibrated = CalibratedClassifierCV(boosting, method=method, cv=folds, ensemble=ensemble)
    model.estimator = calibrated.fit(design, y, sample_weight=weights)
    return model


def _folds(y: np.ndarray, groups: np.ndarray | pd.Series | None, seed: int) -> list:
    """Shuffled, stratified calibration folds; rows of a group stay together."""
    if groups is None:
        splitter = StratifiedKFold(CALIBRATION_FOLDS, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y))
    return group_folds(y, groups, seed)


def group_folds(
    y: np.ndarray, groups: np.ndarray | pd.Series, seed: int, n_folds: int = CALIBRATION_FOLDS
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices of ``n_folds`` folds that keep each group's rows together and
    spread every class over the folds.

    Each group is filed under the rarest class among its rows; groups are shuffled (``seed``),
    ordered by that class, and dealt to the folds in turn, so each fold holds a near-equal share
    of the groups of every class, the rarest first. scikit-learn's StratifiedGroupKFold does the
    same job with a Python loop over the groups (each weighing every fold's class spread): 2.5 s
    for 200,000 rows of 40,000 deals, against 0.03 s here, and the forecast splits its training
    rows this way for every calibrated fit (26 fits on a first night)."""
    codes, uniques = pd.factorize(np.asarray(groups))
    if len(uniques) < n_folds:
        raise ValueError(f"{len(uniques)} groups cannot make {n_folds} folds")
    classes, labels = np.unique(np.asarray(y), return_inverse=True)
    rarity = np.argsort(np.argsort(np.bincount(labels, minlength=len(classes)), kind="stable"))
    rarest = np.full(len(uniques), len(classes))
    np.minimum.at(rarest, codes, rarity[labels])
    dealt = np.lexsort((np.random.default_rng(seed).random(len(uniques)), rarest))
    fold_of_group = np.empty(len(uniques), dtype=int)
    fold_of_group[dealt] = np.arange(len(uniques)) % n_folds
    fold = fold_of_group[codes]
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(n_folds)]
