"""The deal win-probability model: gradient boosting, calibrated with isotonic regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from pipecast.forecast.features import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES

MODEL_NAME = "win_probability"
MODEL_FAMILY = "hgb_isotonic_v1"


def build_model(random_state: int = 0) -> CalibratedClassifierCV:
    encode = ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
                ),
                CATEGORICAL_FEATURES,
            ),
            ("numbers", "passthrough", NUMERIC_FEATURES),
        ]
    )
    boosting = HistGradientBoostingClassifier(
        learning_rate=0.06,
        max_iter=300,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=list(range(len(CATEGORICAL_FEATURES))),
        early_stopping=True,
        random_state=random_state,
    )
    pipeline = Pipeline([("encode", encode), ("boost", boosting)])
    return CalibratedClassifierCV(pipeline, method="isotonic", cv=3)


def training_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose outcome is known (the deal has closed since)."""
    return frame[frame["final_is_closed"].fillna(False).astype(bool)]


def fit(frame: pd.DataFrame, random_state: int = 0) -> CalibratedClassifierCV:
    rows = training_rows(frame)
    model = build_model(random_state)
    model.fit(rows[FEATURES], rows["final_is_won"].astype(int))
    return model


def predict(model: CalibratedClassifierCV, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(frame[FEATURES])[:, 1]
