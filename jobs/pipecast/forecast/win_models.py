"""Win probability of an open deal: recipes that compete on the backtest.

``stage_chain`` (the default) learns, from every stage exit in the history, how likely a deal is to
move forward out of each open stage, given who and what it is (segment, industry, source, type,
product, region, company size, deal size, discount, the owner's and the account's record), and
multiplies: P(win | open in stage k) = P(advance from k) x P(advance from k+1) x ... x P(win from
the last open stage). Why: every exit is a labelled example as soon as it happens, so deals still
open contribute the stages they have already left, and recent months are not lost to the wait for
final outcomes. A model trained on final outcomes can only use deals that have closed, and the
quick closers among recent deals are mostly losses: its probabilities come out too low (censoring).
The chain assumes a stage's exit does not depend on the time already spent in it; it conditions on
the deal's attributes, not on its dynamics.

``snapshot`` learns directly from deals open at past month-ends whose outcome is known, with the
dynamics too (days in stage, age, close-date pushes and slips, days to the close date, amount
changes). It only uses month-ends at least ``label_maturity_days`` old, so that censoring is small.

``stage_hazard`` (survival) treats the deals still open at the training date as censored rather
than lost: per-interval hazards of advancing and of being lost in each stage, with the time in the
stage as a feature, learnt from every stage visit including the open ones. It is the recipe for
short histories, where the exits seen so far are mostly the fast ones, and it scores a deal that
has sat long in a stage by the hazards of its own time in stage.

``stage_features`` is the calibrated stage model (stage x time in stage, forecast/stage_model.py)
plus the features a mapping declares (pipecast.mapped_features), one L2-penalised logistic
regression on the same mature snapshot rows, each row's declared values as known at its own
cut-off: categories one-hot with rare levels pooled, numbers median-imputed with a missing-value
indicator (estimators.feature_encoder). It competes only where a mapping declares features
(``feature_recipes``); the stage-only candidates never see them.

The others are calibrated gradient boosting (see estimators). The nightly backtest scores each recipe on
the same past cut-offs; the best one becomes (or stays) the champion (see registry).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from pipecast.forecast import stage_model, survival, tree_paths
from pipecast.forecast.estimators import (
    MIN_LEVEL_ROWS,
    ProbabilityModel,
    design_frame,
    feature_encoder,
    fit_classifier,
)
from pipecast.forecast.explain import EPS
from pipecast.forecast.explain import _logit as log_odds
from pipecast.forecast.features import (
    ATTRIBUTE_CATEGORIES,
    ATTRIBUTE_NUMBERS,
    SNAPSHOT_CATEGORIES,
    SNAPSHOT_NUMBERS,
)
from pipecast.mapped_features import feature_name, mapped_columns

log = logging.getLogger(__name__)

MODEL_NAME = "win_probability"
# The stage chain explains this many deals at a time: the credits of a deal at each of its stages
# take (stages x drivers) floats (100,000 deals x 8 stages x 15 drivers: 96 MB).
EXPLAIN_ROWS = 100_000


@dataclass
class WinTrainingData:
    """What a model trained at ``known_at`` may learn from."""

    known_at: date
    # stage visits up to known_at (features.stage_visits): exits (outcome advanced or lost), and
    # visits still open then or moved back, which only the survival recipe uses
    exits: pd.DataFrame
    snapshots: pd.DataFrame  # deals open at past cut-offs with labels (features.snapshots)
    label_maturity_days: int = 180


@dataclass
class Recipe:
    """A model family with its parameters and features: what competes on the backtest."""

    family: str
    categories: list[str]
    numbers: list[str]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [*self.categories, *self.numbers]

    @property
    def recipe_id(self) -> str:
        text = json.dumps(
            {"family": self.family, "features": self.features, "params": self.params}, sort_keys=True
        )
        return f"{self.family}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "categories": self.categories,
            "numbers": self.numbers,
            "params": self.params,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Recipe:
        return cls(
            values["family"],
            list(values["categories"]),
            list(values["numbers"]),
            dict(values.get("params", {})),
        )


class WinModel(Protocol):
    recipe: Recipe
    train_rows: int

    def predict(self, deals: pd.DataFrame) -> np.ndarray: ...


@dataclass
class StageChainModel:
    """P(win) as the product of calibrated P(advance) over the deal's remaining open stages."""

    recipe: Recipe
    advance: ProbabilityModel
    train_rows: int

    def predict(self, deals: pd.DataFrame) -> np.ndarray:
        """P(win): P(advance) at each of the deal's remaining stages, multiplied. A boosted advance
        model encodes and bins the deals once and walks each tree once per deal for all its
        stages (tree_paths.Stages); any other predicts the deals with their stage replaced."""
        if len(deals) == 0:
            return np.array([])
        rank = deals["stage_rank"].to_numpy(dtype=float)
        last = deals["open_stages"].to_numpy(dtype=float)
        known = ~np.isnan(rank)
        p = np.ones(len(deals))
        counted = known & ~np.isnan(last)  # a deal without open stages has none ahead
        top = int(last[counted].max()) if counted.any() else 0
        remaining = [(stage, known & (rank <= stage) & (stage <= last)) for stage in range(1, top + 1)]
        chained = np.flatnonzero(np.logical_or.reduce([ahead for _, ahead in remaining])) if top else []
        paths = self.advance.tree_paths() if len(chained) else None
        if paths is not None:
            first = _first_stage(rank[chained])
            stages = tree_paths.Stages(
                paths.columns.index("stage_rank"), first, np.floor(last[chained]), first, np.full(0, -1), 0
            )
            binned = paths.binned(paths.encode(deals.iloc[chained]))
            advance, _ = paths.explain_stages(binned, np.arange(len(chained)), stages, contributions=False)
            # multiplied in stage order, as a stage at a time; no chained deal has a later stage
            for stage, ahead in remaining[: stages.count - 1]:
                p[chained] *= np.where(ahead[chained], advance[:, stage], 1.0)
        else:
            for stage, ahead in remaining:
                if ahead.any():
                    at_stage = deals.loc[ahead].assign(stage_rank=float(stage))
                    p[ahead] *= self.advance.predict_positive(at_stage)
        fallback = deals["crm_probability"].to_numpy(dtype=float) if "crm_probability" in deals else None
        p[~known] = np.nan_to_num(fallback[~known], nan=0.0) if fallback is not None else 0.0
        return np.clip(p, 0.0, 1.0)

    def predict_with_effects(
        self, deals: pd.DataFrame, groups: dict[str, list[str]]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(P(win) as ``predict`` gives it, (deals x groups) log-odds effects on it) from one pass
        over the advance model's trees; None when the advance model is not boosted.

        The driver holding ``stage_rank`` (the stage) is exact and interventional: the deal's
        log-odds less their mean over the stages of the open deals in a pipeline as long as its
        own (the chain recomputed from each of those stages, the deal's other traits kept). The
        other drivers come from the advance model's tree paths at each remaining stage (log-odds
        of advancing), entering log P(win) = sum of log P(advance) weighted by 1 - P(advance), and
        its log-odds divided by 1 - P(win): the chain's effects to first order. The deals are
        encoded and binned once, EXPLAIN_ROWS at a time, and each tree is walked once per deal
        for all its stages (tree_paths.Stages); a stage before a deal's own (needed for the stage
        driver only) is credited nothing. Deals without a stage rank or open stages:
        ``predict``'s answer and NaN effects."""
        paths = tree_paths.CalibratedPaths.of(self.advance)
        if paths is None:
            return None
        stage_group = next((g for g, cols in enumerate(groups.values()) if "stage_rank" in cols), None)
        group_of = paths.group_of(groups, left_out=stage_group)
        rank = deals["stage_rank"].to_numpy(dtype=float)
        last = deals["open_stages"].to_numpy(dtype=float)
        known = ~np.isnan(rank) & ~np.isnan(last) & (rank <= last)
        top = int(last[known].max()) if known.any() else 0
        stage_column = paths.columns.index("stage_rank")
        rank_k, last_k = rank[known], last[known]
        log_advance = np.zeros((len(rank_k), top + 2))  # column s: log P(advance from stage s)
        p_known = np.ones(len(rank_k))
        effects_k = np.zeros((len(rank_k), len(groups)))
        known_deals = deals.loc[known]
        for lo in range(0, len(rank_k), EXPLAIN_ROWS):
            hi = min(lo + EXPLAIN_ROWS, len(rank_k))
            own = _first_stage(rank_k[lo:hi])
            first = np.ones(hi - lo) if stage_group is not None else own
            stages = tree_paths.Stages(
                stage_column, first, np.floor(last_k[lo:hi]), own, group_of, len(groups)
            )
            binned = paths.binned(paths.encode(known_deals.iloc[lo:hi]))
            advance, credit = paths.explain_stages(binned, np.arange(hi - lo), stages)
            assert credit is not None
            for stage in range(1, min(top, stages.count - 1) + 1):
                scored = np.flatnonzero(~np.isnan(advance[:, stage]))
                log_advance[lo + scored, stage] = np.log(np.clip(advance[scored, stage], EPS, 1.0))
                ahead = np.flatnonzero((rank_k[lo:hi] <= stage) & (stage <= last_k[lo:hi]))
                p_known[lo + ahead] *= advance[ahead, stage]
                effects_k[lo + ahead] += (1.0 - advance[ahead, stage])[:, None] * credit[ahead, stage]
        # from_stage[i, s]: log P(win) of deal i were it in stage s (the stages s..last it would pass)
        from_stage = np.cumsum(log_advance[:, ::-1], axis=1)[:, ::-1]
        own_stage = rank_k.astype(int)
        rows = np.arange(len(rank_k))
        own = from_stage[rows, own_stage]
        effects_k /= (1.0 - np.clip(np.exp(own), EPS, 1.0 - EPS))[:, None]
        if stage_group is not None:
            chain_log_odds = log_odds(np.exp(from_stage))
            for length in np.unique(last_k):
                same = rows[last_k == length]
                stages_of, counts = np.unique(own_stage[same], return_counts=True)
                typical = chain_log_odds[np.ix_(same, stages_of)] @ (counts / counts.sum())
                effects_k[same, stage_group] = chain_log_odds[same, own_stage[same]] - typical
        p = np.empty(len(deals))
        effects = np.full((len(deals), len(groups)), np.nan)
        p[known], effects[known] = np.clip(p_known, 0.0, 1.0), effects_k
        if not known.all():
            p[~known] = self.predict(deals.loc[~known])
        return p, effects


def _first_stage(rank: np.ndarray) -> np.ndarray:
    """The first stage a deal at ``rank`` has ahead: its own (the stages from 1 on: no stage before)."""
    return np.ceil(np.maximum(rank, 1.0))


@dataclass
class SnapshotModel:
    recipe: Recipe
    classifier: ProbabilityModel
    train_rows: int

    def predict(self, deals: pd.DataFrame) -> np.ndarray:
        if len(deals) == 0:
            return np.array([])
        return np.clip(self.classifier.predict_positive(deals), 0.0, 1.0)

    def predict_with_effects(
        self, deals: pd.DataFrame, groups: dict[str, list[str]]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(``predict``, (deals x groups) log-odds effects) from the classifier's tree paths in one
        pass (None: not boosted)."""
        answered = tree_paths.classifier_effects(self.classifier, deals, groups)
        return None if answered is None else (np.clip(answered[0], 0.0, 1.0), answered[1])


FEATURES_FAMILY = "stage_features"
FEATURES_RECIPE = "stage_features"  # the candidate's name in the backtest


@dataclass
class StageFeaturesModel:
    """The calibrated stage model's design plus the encoded declared features, one logistic fit."""

    recipe: Recipe
    stages: list[str]
    encoder: Any
    estimator: LogisticRegression | None
    train_rows: int
    fallback: str | None = None

    @property
    def mapped(self) -> tuple[list[str], list[str]]:
        return (
            [c for c in self.recipe.categories if feature_name(c)],
            [c for c in self.recipe.numbers if feature_name(c)],
        )

    def design(self, deals: pd.DataFrame) -> np.ndarray:
        categories, numbers = self.mapped
        encoded = self.encoder.transform(design_frame(deals, categories, numbers))
        return np.hstack([stage_model._design(deals, self.stages), encoded])

    def predict(self, deals: pd.DataFrame) -> np.ndarray:
        if len(deals) == 0:
            return np.array([])
        if self.estimator is None:
            return stage_model.crm_probability(deals)
        return self.estimator.predict_proba(self.design(deals))[:, 1]


def fit_stage_features(rec: Recipe, data: WinTrainingData, seed: int = 0) -> StageFeaturesModel:
    """Fit ``stage_features`` on the mature snapshot rows (the CRM's probability answers, with a
    ``fallback`` reason, when they are too few or of one outcome, as for the stage model)."""
    rows = stage_model.training_rows(data)
    y = rows["final_is_won"].astype(int).to_numpy() if len(rows) else np.array([], dtype=int)
    categories = [c for c in rec.categories if feature_name(c)]
    numbers = [c for c in rec.numbers if feature_name(c)]
    min_frequency = int(rec.params.get("min_frequency", MIN_LEVEL_ROWS))
    encoder = feature_encoder(categories, numbers, min_frequency)
    if len(rows) < stage_model.MIN_ROWS or len(np.unique(y)) < 2:
        reason = (
            f"stage + declared features model at {data.known_at}: {len(rows)} deal-snapshots with a "
            f"known outcome ({int(y.sum())} won), at least {stage_model.MIN_ROWS} with both outcomes "
            "needed: the CRM's probability answers"
        )
        log.warning(reason)
        return StageFeaturesModel(rec, [], encoder, None, len(rows), fallback=reason)
    stages = sorted(rows["stage"].astype(str).unique())
    encoder.fit(design_frame(rows, categories, numbers))
    model = StageFeaturesModel(rec, stages, encoder, None, len(rows))
    estimator = LogisticRegression(C=float(rec.params.get("C", stage_model.PENALTY_C)), max_iter=2000)
    model.estimator = estimator.fit(model.design(rows), y)
    return model


def feature_recipes(training: pd.DataFrame) -> dict[str, Recipe]:
    """The ``stage_features`` candidate over the declared features the training snapshots carry
    (none declared: no candidate, and the backtest is the stage-only one it always was)."""
    categories, numbers = mapped_columns(training)
    if not categories and not numbers:
        return {}
    base = RECIPES[FEATURES_RECIPE]
    return {
        FEATURES_RECIPE: Recipe(
            base.family, [*base.categories, *categories], [*base.numbers, *numbers], dict(base.params)
        )
    }


CHAIN_CATEGORIES = [c for c in ATTRIBUTE_CATEGORIES]
CHAIN_NUMBERS = ["stage_rank", "log_amount", *ATTRIBUTE_NUMBERS]

HAZARD_NUMBERS = ["stage_rank", survival.TIME_FEATURE, "log_amount", *ATTRIBUTE_NUMBERS]

RECIPES: dict[str, Recipe] = {
    "stage_chain": Recipe("stage_chain", CHAIN_CATEGORIES, CHAIN_NUMBERS),
    "stage_hazard": Recipe("stage_hazard", list(ATTRIBUTE_CATEGORIES), HAZARD_NUMBERS),
    "snapshot": Recipe("snapshot", list(SNAPSHOT_CATEGORIES), list(SNAPSHOT_NUMBERS)),
    # the template of the declared-features candidate: feature_recipes adds the declared columns
    FEATURES_RECIPE: Recipe(FEATURES_FAMILY, ["stage"], ["days_in_stage"], {"min_frequency": MIN_LEVEL_ROWS}),
}


# The CRM's probability and the calibrated stage model always compete (forecast/stage_model.py).
RECIPES |= {name: Recipe(f, list(c), list(n), dict(p)) for name, (f, c, n, p) in stage_model.RECIPES.items()}


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown win-probability recipe {name!r}: one of {sorted(RECIPES)}")
    return RECIPES[name]


def completed_exits(visits: pd.DataFrame) -> pd.DataFrame:
    """The visits that left their stage forwards or out by the training date (stage_exits' rows)."""
    if "outcome" not in visits:
        return visits
    return visits[visits["outcome"].isin(["advanced", "lost"])]


def fit(rec: Recipe, data: WinTrainingData, seed: int = 0) -> WinModel:
    if rec.family in stage_model.FAMILIES:  # the baselines (issue 12)
        return stage_model.fit(rec, data, seed)
    if rec.family == "stage_chain":
        exits = completed_exits(data.exits)
        advance = fit_classifier(
            exits,
            exits["advanced"].astype(int).to_numpy(),
            rec.categories,
            rec.numbers,
            [0, 1],
            rec.params,
            seed=seed,
            name="stage_chain",
            groups=exits["opportunity_id"],
        )
        return StageChainModel(rec, advance, len(exits))
    if rec.family == FEATURES_FAMILY:
        return fit_stage_features(rec, data, seed)
    if rec.family == "stage_hazard":
        return survival.fit(rec, data.exits, seed=seed)
    if rec.family == "snapshot":
        rows = stage_model.training_rows(data)
        classifier = fit_classifier(
            rows,
            rows["final_is_won"].astype(int).to_numpy(),
            rec.categories,
            rec.numbers,
            [0, 1],
            rec.params,
            seed=seed,
            name="snapshot",
            groups=rows["opportunity_id"],
        )
        return SnapshotModel(rec, classifier, len(rows))
    raise ValueError(f"unknown recipe family {rec.family!r}")
