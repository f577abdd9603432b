"""The two baselines every champion must beat: the CRM's stage probability, and a calibrated
stage model.

``stage_weighted`` is the CRM's own number: the probability each deal
carries for its stage (amount x probability is the stage-weighted pipeline). A deal without one
gets the mean CRM probability of its stage among the deals scored, else of all of them.

``stage_calibrated`` learns what the stage really means: a logistic
regression of the outcome on the stage and the stage x log(1 + days in stage), from deals open
at past cut-offs at least one label maturity old whose outcome was known by the training date
(point in time, as the snapshot recipe learns). The L2 penalty shrinks a rare stage's intercept
and slope towards the pooled fit, and a stage never seen in training gets the pooled rate.
With ``groups`` (the ``stage_grouped`` recipe) sparse groups are then shrunk towards their
parent: each group's (a segment's, then an owner's) observed over expected wins, one row per
deal, is pulled towards 1 by empirical Bayes (the between-group variance of that ratio, method
of moments, against each group's own binomial noise), or by ``prior_deals`` pseudo-deals when
there are too few groups to estimate the variance; the deal's log-odds move by the log of the
shrunk ratio. A new owner has ratio 1: the parent's rate.

When the stage model cannot be fitted (fewer than ``MIN_ROWS`` mature rows or a single outcome),
it answers with the CRM's probability and says so in ``fallback``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

log = logging.getLogger(__name__)

CRM_FAMILY = "stage_weighted"
STAGE_FAMILY = "stage_calibrated"
GROUPED_FAMILY = "stage_grouped"  # the stage model with shrunk group effects
FAMILIES = (CRM_FAMILY, STAGE_FAMILY, GROUPED_FAMILY)
# name -> (family, categories, numbers, params): the recipes win_models registers
RECIPES: dict[str, tuple[str, list[str], list[str], dict[str, Any]]] = {
    "stage_weighted": (CRM_FAMILY, ["stage"], ["crm_probability"], {}),
    "stage_calibrated": (STAGE_FAMILY, ["stage"], ["days_in_stage"], {}),
    "stage_grouped": (
        GROUPED_FAMILY,
        ["stage", "segment", "owner_id"],
        ["days_in_stage"],
        {"groups": ["segment", "owner_id"]},
    ),
}
BASELINES = ("stage_weighted", "stage_calibrated")  # always candidates, in order of simplicity
MIN_ROWS = 30
MIN_GROUPS_FOR_VARIANCE = 5
PENALTY_C = 1.0
DEFAULT_PRIOR_DEALS = 20.0


def crm_probability(deals: pd.DataFrame) -> np.ndarray:
    """The CRM's probability; missing ones: the stage's mean among ``deals``, else the overall mean."""
    if len(deals) == 0:
        return np.array([])
    p = pd.to_numeric(deals["crm_probability"], errors="coerce") if "crm_probability" in deals else None
    if p is None:
        return np.zeros(len(deals))
    overall = p.mean()
    if p.isna().any() and "stage" in deals:
        p = p.fillna(p.groupby(deals["stage"].astype(str)).transform("mean"))
    return np.clip(p.fillna(0.0 if pd.isna(overall) else overall).to_numpy(dtype=float), 0.0, 1.0)


@dataclass
class CrmProbabilityModel:
    recipe: Any
    train_rows: int = 0
    fallback: str | None = None

    def predict(self, deals: pd.DataFrame) -> np.ndarray:
        return crm_probability(deals)


def _design(deals: pd.DataFrame, stages: list[str]) -> np.ndarray:
    stage = deals["stage"].astype(str).to_numpy()
    days = (
        pd.to_numeric(deals["days_in_stage"], errors="coerce").fillna(0).clip(lower=0).to_numpy(dtype=float)
    )
    z = np.log1p(days)
    onehot = (stage[:, None] == np.asarray(stages)[None, :]).astype(float)
    return np.hstack([onehot, onehot * z[:, None], z[:, None]])


@dataclass
class GroupEffect:
    """Shrunk observed/expected ratio per group value (absent: 1, the parent's rate)."""

    column: str
    ratios: dict[str, float]
    between_variance: float | None  # None: too few groups, the prior decided

    def log_ratio(self, deals: pd.DataFrame) -> np.ndarray:
        if self.column not in deals:
            return np.zeros(len(deals))
        values = deals[self.column].astype(str).map(self.ratios).fillna(1.0).to_numpy(dtype=float)
        return np.log(np.clip(values, 1e-3, 1e3))


def shrunk_ratios(
    groups: pd.Series, y: np.ndarray, p: np.ndarray, prior_deals: float = DEFAULT_PRIOR_DEALS
) -> tuple[dict[str, float], float | None]:
    """Per group: observed over expected wins, shrunk towards 1 (empirical Bayes, else a prior)."""
    frame = pd.DataFrame({"g": groups.astype(str).to_numpy(), "y": y, "p": np.clip(p, 1e-4, 1 - 1e-4)})
    frame["v"] = frame["p"] * (1 - frame["p"])
    stats = frame.groupby("g").agg(
        observed=("y", "sum"), expected=("p", "sum"), noise=("v", "sum"), n=("y", "size")
    )
    stats = stats[stats["expected"] > 0]
    if stats.empty:
        return {}, None
    ratio = stats["observed"] / stats["expected"]
    noise = stats["noise"] / stats["expected"] ** 2  # Var(ratio) given no group effect
    tau2: float | None = None
    if len(stats) >= MIN_GROUPS_FOR_VARIANCE:
        weights = stats["expected"] / stats["expected"].sum()
        tau2 = float(max(0.0, (weights * ((ratio - 1) ** 2 - noise)).sum()))
        keep = tau2 / (tau2 + noise)
    else:  # the prior: as if each group had prior_deals more deals at the parent's rate
        keep = stats["n"] / (stats["n"] + prior_deals)
    shrunk = 1 + keep * (ratio - 1)
    return {str(g): float(max(r, 0.05)) for g, r in shrunk.items()}, tau2


@dataclass
class StageCalibratedModel:
    recipe: Any
    stages: list[str]
    estimator: LogisticRegression | None
    train_rows: int
    effects: list[GroupEffect] = field(default_factory=list)
    fallback: str | None = None

    def base(self, deals: pd.DataFrame) -> np.ndarray:
        if self.estimator is None:
            return crm_probability(deals)
        return self.estimator.predict_proba(_design(deals, self.stages))[:, 1]

    def predict(self, deals: pd.DataFrame) -> np.ndarray:
        if len(deals) == 0:
            return np.array([])
        p = np.clip(self.base(deals), 1e-6, 1 - 1e-6)
        if not self.effects:
            return p
        logit = np.log(p / (1 - p)) + sum(e.log_ratio(deals) for e in self.effects)
        return 1 / (1 + np.exp(-logit))


def training_rows(data: Any) -> pd.DataFrame:
    """Deals open at cut-offs at least one maturity old whose outcome was known at ``known_at``
    (``data``: a win_models.WinTrainingData)."""
    frame = data.snapshots
    if frame.empty:
        return frame
    known_at = pd.Timestamp(data.known_at)
    mature = frame["cutoff"] <= known_at - pd.Timedelta(days=data.label_maturity_days)
    closed = frame["final_is_closed"] & (frame["final_close_date"] <= known_at)
    return frame[mature & closed]


def fit(rec: Any, data: Any, seed: int = 0) -> CrmProbabilityModel | StageCalibratedModel:
    if rec.family == CRM_FAMILY:
        return CrmProbabilityModel(rec)
    rows = training_rows(data)
    y = rows["final_is_won"].astype(int).to_numpy() if len(rows) else np.array([], dtype=int)
    if len(rows) < MIN_ROWS or len(np.unique(y)) < 2:
        reason = (
            f"stage model at {data.known_at}: {len(rows)} deal-snapshots with a known outcome "
            f"({int(y.sum())} won), at least {MIN_ROWS} with both outcomes needed: "
            "the CRM's probability answers"
        )
        log.warning(reason)
        return StageCalibratedModel(rec, [], None, len(rows), fallback=reason)
    stages = sorted(rows["stage"].astype(str).unique())
    estimator = LogisticRegression(C=PENALTY_C, max_iter=1000, random_state=seed)
    estimator.fit(_design(rows, stages), y)
    model = StageCalibratedModel(rec, stages, estimator, len(rows))
    prior = float(rec.params.get("prior_deals", DEFAULT_PRIOR_DEALS))
    per_deal = rows.assign(_y=y).sort_values("cutoff").groupby("opportunity_id").tail(1)
    for column in rec.params.get("groups", []):
        if column not in per_deal:
            continue
        p = model.predict(per_deal)
        ratios, tau2 = shrunk_ratios(per_deal[column], per_deal["_y"].to_numpy(), p, prior)
        model.effects.append(GroupEffect(column, ratios, tau2))
    return model
