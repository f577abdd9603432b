"""The one shape every forecast model has, and the night they share.

A model of the nightly forecast (``pipecast.forecast.models.*``) is a ``ForecastModel``: a name (its
row in ``ml.model_runs`` and the key of its fallback notes), the ``ml`` tables its rows go to, and
five steps the job runs in order, model by model, in the order of ``job.MODELS``:

1. ``backtest(night)``: metric rows for ``ml.backtests`` (``backtests.METRIC_COLUMNS``), the model
   trained as of past cut-offs and scored on what happened after;
2. ``select(night)``: champion/challenger among its candidates (most models have one recipe); it
   may return the backtest's rows labelled by its choice, in place of those of step 1;
3. ``fit(night)``: tonight's model;
4. ``score(night)``: its rows for tonight, per ``ml`` table (written by the job, all in one
   transaction, after every model has run);
5. ``version(night)``: its ``ml.model_runs`` row (``ModelVersion``), or None for a part that has no
   row of its own (the deal amount and new business are versioned inside the revenue forecast).

Models share one ``Night``: the context (connection, settings, horizons, point-in-time training
rows, open deals) and what the models before them published there (the win model, the close-timing
model, the scored deals, ...). A model reads only what a model earlier in the list set.

Fallbacks (``night.notes.add(model.name, reason)``) are a warning in the log, the model's
``ml.model_runs.fallback_reason`` and a line of the report. An ``optional`` model that raises
(``SkippedModel`` when it has nothing to learn from, or any error) is skipped, visibly: a note
``skipped: <reason>``, a ``skipped`` row in ``ml.model_runs``, and none of its rows written; any
other model's error fails the night.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar

import duckdb
import numpy as np
import pandas as pd

from pipecast.config import Settings
from pipecast.forecast import backtests, close_timing, features, horizons, win_models
from pipecast.forecast.backtest_ledger import Publish
from pipecast.forecast.fallbacks import Fallbacks
from pipecast.forecast.metrics import probability_metrics
from pipecast.forecast.new_business import NewBusinessForecast
from pipecast.forecast.periods import Period
from pipecast.forecast.scoring import FittedModels, ForecastContext, load_exits, open_deals

log = logging.getLogger(__name__)


class SkippedModel(Exception):
    """An optional model has nothing to learn from tonight (the reason is the message)."""


@dataclass
class ModelVersion:
    """A model trained tonight (or the champion kept), as ml.model_runs records it."""

    model_name: str
    version: str
    recipe_id: str
    recipe: dict[str, Any]
    features: list[str]
    train_rows: int
    metrics: dict[str, float]
    score: float | None
    decision: str
    current_version: str | None
    model_path: str = ""
    first_cutoff: date | None = None
    last_cutoff: date | None = None
    model: Any = None


def skipped_version(model_name: str, as_of: date) -> ModelVersion:
    """The row of a model that did not run tonight: no version becomes current."""
    return ModelVersion(
        model_name,
        f"{model_name}.skipped.{as_of:%Y%m%d}",
        "skipped",
        {"recipe_id": "skipped"},
        [],
        0,
        {},
        None,
        "skipped",
        None,
    )


@dataclass
class WinPick:
    """What the win-probability model publishes for the models after it."""

    recipe_name: str
    recipe: win_models.Recipe
    model: win_models.WinModel
    version: str
    deal_backtest: backtests.DealBacktest


@dataclass
class Night:
    """One night of the forecast: the context every model reads, and what models publish for the
    ones after them."""

    con: duckdb.DuckDBPyConnection
    settings: Settings
    ctx: ForecastContext
    as_of: date
    run_id: str
    now: datetime
    first_day: date
    hz: horizons.Horizons
    cutoffs: list[date]
    training: pd.DataFrame  # point-in-time snapshots of the deals open at the training cut-offs
    notes: Fallbacks = field(default_factory=Fallbacks)
    # marks rows written outside the night's own tables for the warehouse (Workspace.publish)
    publish: Publish = lambda *_: None
    reuse_backtests: bool = True  # False: refit every backtest cut-off (the weekly full backtest)
    # the stage visits' digest per backtest cut-off, shared by the night's backtests (LedgerWriter)
    visits_digests: dict[date, str] = field(default_factory=dict)
    # every model's backtest rows (ml.backtests), in the order of the list: set once every model
    # has run, for ``version`` (close timing's scores are the revenue backtest's rows)
    metrics: pd.DataFrame = field(default_factory=lambda: empty_metrics())
    versions: dict[str, str] = field(default_factory=dict)  # model name -> tonight's version
    # published by the built-in models, read by the ones after them
    win: WinPick | None = None
    timing: close_timing.CloseTimingModel | None = None
    fitted: FittedModels | None = None
    scored: pd.DataFrame | None = None
    new_business: NewBusinessForecast | None = None
    revenue_rows: pd.DataFrame | None = None
    ledger: pd.DataFrame | None = None

    @cached_property
    def open_deals(self) -> pd.DataFrame:
        """Every deal open at the end of as_of, with features and the period columns."""
        return open_deals(self.con, self.ctx, self.as_of)

    @cached_property
    def exits(self) -> pd.DataFrame:
        """Every stage visit begun by as_of (the stage models' training rows)."""
        return load_exits(self.con, self.ctx, self.as_of)

    @cached_property
    def periods(self) -> dict[str, Period]:
        """Tonight's forecast periods: ``current`` and ``next``."""
        return self.ctx.horizons(self.as_of)

    @cached_property
    def known_training(self) -> pd.DataFrame:
        """The training snapshots at cut-offs up to as_of."""
        return self.training[self.training["cutoff"] <= pd.Timestamp(self.as_of)]

    def published(self, attribute: str, reader: str) -> Any:
        """What a model before ``reader`` set on the night; an error naming both when none did."""
        value = getattr(self, attribute)
        if value is None:
            raise RuntimeError(
                f"{reader} reads night.{attribute}, which no model before it set: "
                f"register the model that sets it before {reader} in job.MODELS"
            )
        return value

    def truth(self) -> pd.DataFrame | None:
        """The demo generator's true win probabilities, when the state folder has them."""
        path = self.settings.ground_truth_path
        return pd.read_csv(path) if path.exists() else None


def night_context(
    con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings, run_id: str, now: datetime
) -> Night:
    """The night's context: its horizons from the cycle lengths in the warehouse, the training
    cut-offs, and the point-in-time snapshots of the deals open at each."""
    base_ctx = ForecastContext.from_settings(settings)
    first_day = (
        con.execute(
            "select cast(min(created_at) as date) from staging.stg_crm__opportunities where created_at <= ?",
            [as_of + timedelta(days=1)],
        ).fetchone()[0]
        or as_of
    )
    hz = horizons.of_night(con, as_of, settings, base_ctx.fiscal_start_month)
    ctx = replace(base_ctx, grain=hz.grain, maturity_days=hz.label_maturity_days)
    cutoffs = horizons.training_cutoffs(first_day, as_of, hz)
    fraction = features.sample_fraction_for(features.count_open_deals(con, cutoffs), ctx.max_training_rows)
    log.info("point-in-time features at %d cut-offs (%.0f%% of deals)", len(cutoffs), 100 * fraction)
    training = close_timing.with_periods(
        features.snapshots(con, cutoffs, fraction), ctx.grain, ctx.fiscal_start_month
    )
    return Night(con, settings, ctx, as_of, run_id, now, first_day, hz, cutoffs, training)


class ForecastModel(ABC):
    """One forecast model of the night (see the module's docstring). A subclass is instantiated
    once per night, so it may keep state between its steps on ``self``."""

    name: ClassVar[str]  # its ml.model_runs.model_name and the key of its fallback notes
    # the ml tables its rows go to, with their columns (writeback.ML_TABLES' or a new table's)
    tables: ClassVar[Mapping[str, str]] = {}
    optional: ClassVar[bool] = False  # True: an error skips the model (visibly), not the night
    # True: the model reads only the warehouse and the night's context (no model's ``night.win``,
    # ``night.scored``...) and publishes nothing later models read, so it may run on a thread of its
    # own beside the others (job.run_models, the setting forecast_models_beside)
    independent: ClassVar[bool] = False

    def backtest(self, night: Night) -> pd.DataFrame:
        """Rows for ml.backtests (backtests.METRIC_COLUMNS); none by default."""
        return empty_metrics()

    def select(self, night: Night) -> pd.DataFrame | None:
        """Champion/challenger among the model's candidates. Returns the backtest's rows as the
        choice labels them (the chosen candidate as forecaster ``model``), replacing those
        ``backtest`` returned, or None to keep them (a model with one recipe: the default)."""
        return None

    @abstractmethod
    def fit(self, night: Night) -> None:
        """Tonight's model, kept on self (and on the night when later models read it)."""

    def score(self, night: Night) -> dict[str, pd.DataFrame]:
        """Tonight's rows per ml table (each one of ``tables``); none by default."""
        return {}

    @abstractmethod
    def version(self, night: Night) -> ModelVersion | None:
        """Its ml.model_runs row; None for a part versioned inside another model's row. Called
        after every model has run (``night.metrics`` holds every backtest row)."""


class NightlyRetrainedModel(ForecastModel):
    """A model with one recipe, retrained every night: its backtest's rows in ``metric_rows``,
    tonight's training rows (with their ``cutoff``) in ``train`` and its model in ``model``. Its
    ml.model_runs row names the recipe by the model's name."""

    metric_rows: pd.DataFrame
    train: pd.DataFrame
    model: Any

    @abstractmethod
    def feature_names(self) -> list[str]:
        """The features the fitted model reads."""

    def retrain(self, night: Night, rows: pd.DataFrame, fit, nothing_to_learn: str) -> None:
        """Tonight's model from ``rows`` (``fit(rows, seed)``); SkippedModel when there are none."""
        if rows.empty:
            raise SkippedModel(nothing_to_learn)
        self.train = rows
        self.model = fit(rows, night.ctx.seed)
        night.versions[self.name] = f"{self.name}.{night.as_of:%Y%m%d}"

    def version(self, night: Night) -> ModelVersion:
        version = night.versions[self.name]
        scores = first_metrics(self.metric_rows, "model")
        return ModelVersion(
            self.name,
            version,
            self.name,
            {"recipe_id": self.name},
            self.feature_names(),
            len(self.train),
            scores,
            scores.get("log_loss"),
            "retrained nightly (single recipe)",
            version,
            first_cutoff=self.train["cutoff"].min().date(),
            last_cutoff=self.train["cutoff"].max().date(),
            model=self.model,
        )


def last_mature_cutoff(cutoffs: list[date], horizon_days: int, as_of: date) -> date | None:
    """The newest cut-off whose outcome window (``horizon_days``) has passed by ``as_of``."""
    return max((c for c in cutoffs if c + timedelta(days=horizon_days) <= as_of), default=None)


def empty_metrics() -> pd.DataFrame:
    return pd.DataFrame(columns=backtests.METRIC_COLUMNS)


def with_rows(metrics: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """``metrics`` followed by ``rows`` (an empty side adds nothing)."""
    if rows.empty:
        return metrics
    if metrics.empty:
        return rows.reset_index(drop=True)
    return pd.concat([metrics, rows], ignore_index=True)


def binary_metrics(scope: str, cutoff: date, y: np.ndarray, forecasts: dict[str, np.ndarray]) -> pd.DataFrame:
    """Brier, log loss, AUC and ECE of each forecaster on one cut-off's outcomes."""
    rows = []
    for name, p in forecasts.items():
        rows += backtests.metric_rows(probability_metrics(y, p), scope, name, len(y), cutoff)
    return pd.DataFrame(rows, columns=backtests.METRIC_COLUMNS)


def pooled(metrics: pd.DataFrame, scope: str, forecaster: str) -> dict[str, float]:
    """The pooled (no cut-off) metrics of one scope and forecaster."""
    rows = metrics[
        (metrics["scope"] == scope) & (metrics["forecaster"] == forecaster) & metrics["cutoff"].isna()
    ]
    return {str(m): float(v) for m, v in zip(rows["metric"], rows["value"], strict=True)}


def first_metrics(rows: pd.DataFrame, forecaster: str) -> dict[str, float]:
    """A forecaster's metrics in a single cut-off's rows."""
    picked = rows[rows["forecaster"] == forecaster] if len(rows) else rows
    return {str(m): float(v) for m, v in zip(picked.get("metric", []), picked.get("value", []), strict=True)}
