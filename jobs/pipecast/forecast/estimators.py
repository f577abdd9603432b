"""Calibrated gradient boosting for every forecast model, with graceful fallbacks on small data.

scikit-learn's HistGradientBoostingClassifier (native categorical splits, missing values) wrapped in
CalibratedClassifierCV (3 folds; isotonic for two classes, temperature scaling for more): the
boosted scores are re-mapped so that a predicted 70% happens 70% of the time. The folds are
shuffled and keep each deal's rows together (``groups``): training rows come ordered by time and a
deal appears at many cut-offs, and unshuffled folds calibrated one period on models of another
(a timing model came out 10 points too sure that big deals close next quarter).

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
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.preprocessing import OrdinalEncoder

log = logging.getLogger(__name__)

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

    @property
    def features(self) -> list[str]:
        return [*self.categories, *self.numbers]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if len(frame) == 0:
            return np.empty((0, len(self.classes)))
        if self.estimator is None:
            return np.tile(self.frequencies, (len(frame), 1))
        raw = self.estimator.predict_proba(
            self.encoder.transform(_design(frame, self.categories, self.numbers))
        )
        out = np.zeros((len(frame), len(self.classes)))
        for j, cls in enumerate(self.estimator.classes_):
            out[:, self.classes.index(cls)] = raw[:, j]
        return out

    def predict_positive(self, frame: pd.DataFrame) -> np.ndarray:
        """P(class 1) of a binary model."""
        return self.predict_proba(frame)[:, self.classes.index(1)]


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


def _design(frame: pd.DataFrame, categories: list[str], numbers: list[str]) -> pd.DataFrame:
    design = pd.DataFrame(index=frame.index)
    for column in categories:
        values = frame[column] if column in frame else pd.Series("Unknown", index=frame.index)
        design[column] = values.astype(object).where(values.notna(), "Unknown").astype(str)
    for column in numbers:
        values = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
        design[column] = pd.to_numeric(values, errors="coerce").astype(float)
    return design


def _encoder(categories: list[str], numbers: list[str]) -> ColumnTransformer:
    """Categories to ordinal codes (unknown and missing: -1, which boosting treats as missing)."""
    return ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=-1,
                    encoded_missing_value=-1,
                    max_categories=MAX_CATEGORIES,
                ),
                categories,
            ),
            ("numbers", "passthrough", numbers),
        ]
    )


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
) -> ProbabilityModel:
    """Fit the calibrated boosted classifier, or fall back to class frequencies on too little data.

    ``groups`` (e.g. the deal id) keeps rows of one group in one calibration fold."""
    y = np.asarray(target)
    weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    totals = np.array([weights[y == c].sum() for c in classes])
    frequencies = totals / totals.sum() if totals.sum() > 0 else np.full(len(classes), 1.0 / len(classes))
    model = ProbabilityModel(list(classes), list(categories), list(numbers), frequencies=frequencies)
    counts = np.array([(y == c).sum() for c in classes])
    present = counts[counts > 0]
    if len(present) < 2:
        log.warning("%s: %d rows with %d class(es): using the class frequencies", name, len(y), len(present))
        model.kind = "class_frequencies"
        return model
    raw = _design(frame, categories, numbers)
    empty = [c for c in numbers if raw[c].isna().all()]  # boosting cannot bin an all-missing column
    if empty:
        log.info("%s: no values for %s: left out", name, ", ".join(empty))
        model.numbers = [c for c in numbers if c not in empty]
        raw = raw.drop(columns=empty)
    model.encoder = _encoder(categories, model.numbers)
    design = model.encoder.fit_transform(raw)
    boosting = _boosting(len(categories), params or {}, seed)
    if present.min() < MIN_CLASS_ROWS:
        log.warning("%s: only %d rows of the rarest class: boosting without calibration", name, present.min())
        boosting.set_params(early_stopping=False, max_iter=50)
        model.estimator, model.kind = boosting.fit(design, y, sample_weight=weights), "hgb_uncalibrated"
        return model
    method = "isotonic" if len(classes) == 2 else "temperature"
    folds = _folds(y, groups, seed)
    calibrated = CalibratedClassifierCV(boosting, method=method, cv=folds)
    model.estimator = calibrated.fit(design, y, sample_weight=weights)
    return model


def _folds(y: np.ndarray, groups: np.ndarray | pd.Series | None, seed: int) -> list:
    """Shuffled, stratified calibration folds; rows of a group stay together."""
    if groups is None:
        splitter = StratifiedKFold(CALIBRATION_FOLDS, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y))
    splitter = StratifiedGroupKFold(CALIBRATION_FOLDS, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, np.asarray(groups)))
