"""The nightly forecast job: backtest, pick the champion, retrain, score, write ml.*.

1. Point-in-time training data: deals open at twice-monthly cut-offs (features), every stage exit.
2. Deal backtest: each win-probability recipe trained at past period-ends, scored on the deals open
   then (Brier, log loss, AUC, ECE), beside the stage-weighted baseline and, on demo data, the
   generator's true probabilities. Champion/challenger (registry) picks the recipe that scores.
3. Revenue backtest: past periods forecast from their start and from each month-end in them,
   into the forecast ledger beside the CRM's forecasts and the actuals.
4. Tonight's models: win probability, close timing, new business, product propensity, lead
   conversion; the open deals scored with their top drivers; period revenue P10/P50/P90 per
   segment, beside stage-weighted, commit and best case, closed to date and target.
5. ml.* rows for the night replaced; model versions logged (ml.model_runs, MLflow); the dbt
   forecast marts rebuilt.

Small or young warehouses degrade with a logged warning (a model falls back to class frequencies,
a backtest or an optional model is skipped); the night does not fail for lack of data.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipecast.config import Settings, get_settings
from pipecast.forecast import (
    backtests,
    close_timing,
    explain,
    features,
    horizons,
    lead_scoring,
    new_business,
    propensity,
    registry,
    revenue,
    stage_model,
    win_models,
)
from pipecast.forecast.fallbacks import Fallbacks
from pipecast.forecast.metrics import probability_metrics
from pipecast.forecast.periods import Period, month_ends, period_ends
from pipecast.forecast.scoring import (
    ALL_SEGMENTS,
    ForecastContext,
    fit_models,
    load_exits,
    open_deals,
    score_deals,
)
from pipecast.forecast.sources import SOURCES
from pipecast.forecast.writeback import ML_TABLES, ensure_ml_tables, replace_night
from pipecast.warehouse import workspace

log = logging.getLogger(__name__)


@dataclass
class ForecastResult:
    as_of: date
    run_id: str
    model_version: str
    open_deals_scored: int
    train_rows: int
    revenue: pd.DataFrame = field(default_factory=pd.DataFrame)
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame)
    ledger: pd.DataFrame = field(default_factory=pd.DataFrame)
    decisions: dict[str, str] = field(default_factory=dict)


@dataclass
class _Version:
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


def _truth(settings: Settings) -> pd.DataFrame | None:
    path = settings.ground_truth_path
    return pd.read_csv(path) if path.exists() else None


def run_forecast(as_of: date | None = None, settings: Settings | None = None) -> ForecastResult:
    settings = settings or get_settings()
    run_id = uuid.uuid4().hex
    with threadpool_limits(settings.forecast_threads), workspace(settings, pulls=SOURCES, atomic=True) as ws:
        con = ws.con
        ensure_ml_tables(con)
        if as_of is None:
            as_of = con.execute("select max(export_date) from staging.stg_crm__opportunities").fetchone()[0]
        if as_of is None:
            raise RuntimeError("no opportunities in the warehouse: ingest and build first")
        result = _run(con, as_of, settings, run_id)
        for table in ML_TABLES:
            if table != "model_runs":
                ws.publish("ml", table, "where as_of = $1", [as_of])
        ws.publish("ml", "model_runs")  # all nights: is_current moves to the newest champion
    if settings.forecast_build_marts:
        from pipecast.forecast.marts import build_forecast_marts

        build_forecast_marts(settings)
    return result


def _run(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings, run_id: str) -> ForecastResult:
    base_ctx = ForecastContext.from_settings(settings)
    now = datetime.now(UTC).replace(tzinfo=None)
    notes = Fallbacks()
    first_day = (
        con.execute(
            "select cast(min(created_at) as date) from staging.stg_crm__opportunities where created_at <= ?",
            [as_of + timedelta(days=1)],
        ).fetchone()[0]
        or as_of
    )
    hz = horizons.of_night(con, as_of, settings, base_ctx.fiscal_start_month)
    for note in hz.notes:
        notes.add(win_models.MODEL_NAME, note)
    ctx = replace(base_ctx, grain=hz.grain, maturity_days=hz.label_maturity_days)
    cutoffs = horizons.training_cutoffs(first_day, as_of, hz)
    fraction = features.sample_fraction_for(features.count_open_deals(con, cutoffs), ctx.max_training_rows)
    log.info("point-in-time features at %d cut-offs (%.0f%% of deals)", len(cutoffs), 100 * fraction)
    training = close_timing.with_periods(
        features.snapshots(con, cutoffs, fraction), ctx.grain, ctx.fiscal_start_month
    )

    # --- deal backtest: every candidate, the CRM's probability and the stage model among them
    champion = registry.current_champion(con, win_models.MODEL_NAME, as_of)
    recipes = _candidates(settings)
    recipes |= win_models.feature_recipes(training)  # declared features: one more candidate
    champion_recipe = _known_recipe(champion)
    champion_name = None
    if champion_recipe is not None:
        same = [name for name, rec in recipes.items() if rec.recipe_id == champion_recipe.recipe_id]
        champion_name = same[0] if same else "champion"
        recipes.setdefault(champion_name, champion_recipe)
    elif champion is not None:
        notes.add(
            win_models.MODEL_NAME,
            f"the champion {champion.version} has a recipe this code cannot retrain or backtest: not kept",
        )
    deal_bt = backtests.run_deal_backtest(con, ctx, hz.backtest_cutoffs, recipes, training, _truth(settings))
    _note_backtest(notes, hz, deal_bt, recipes)
    selection = registry.select_champion(
        deal_bt.recipe_brier,
        champion_name,
        {
            name: champion is not None and rec.recipe_id == champion.recipe.get("recipe_id")
            for name, rec in recipes.items()
        },
    )
    log.info("win probability: %s", selection.reason)
    chosen_name = selection.name
    chosen = recipes[chosen_name]
    metrics = backtests.deal_metrics(deal_bt, chosen_name)

    # --- tonight's win model
    current = open_deals(con, ctx, as_of)
    exits = load_exits(con, ctx, as_of)
    data = win_models.WinTrainingData(as_of, exits, training, ctx.maturity_days)
    win = win_models.fit(chosen, data, ctx.seed)
    decision_text = selection.reason
    if selection.fallback is not None:
        notes.add(win_models.MODEL_NAME, selection.fallback)
    if getattr(win, "fallback", None):
        chosen_name, chosen = "stage_weighted", recipes["stage_weighted"]
        win = win_models.fit(chosen, data, ctx.seed)
        decision_text += "; the stage model could not be fitted: published the CRM's stage probability"
        notes.add(
            win_models.MODEL_NAME,
            "the calibrated stage model could not be fitted tonight: published the CRM's stage probability",
        )
    win_version = f"{win_models.MODEL_NAME}.{chosen.recipe_id}.{as_of:%Y%m%d}"

    # --- revenue backtest with the chosen recipe
    periods = backtests.revenue_periods(
        as_of, first_day, ctx, settings.forecast_backtest_periods, hz.warmup_days
    )
    if not periods:
        notes.add(
            revenue.MODEL_NAME,
            f"no revenue backtest: no complete {hz.grain} starts {hz.warmup_days} days after the first deal",
        )
    spread_prior = revenue.SpreadPrior(settings.forecast_spread_prior, settings.forecast_spread_min_periods)
    revenue_bt = backtests.run_revenue_backtest(
        con, ctx, periods, chosen, training, deal_bt.models, chosen_name, prior=spread_prior
    )
    metrics = pd.concat([metrics, backtests.revenue_metrics(revenue_bt)], ignore_index=True)

    # --- tonight's timing model, scores, drivers, revenue ranges
    models = fit_models(con, ctx, as_of, chosen, training, current, exits, win=win)
    timing = models.timing
    if timing is not None and timing.method != close_timing.CLASSIFIER:
        notes.add(
            close_timing.MODEL_NAME,
            f"too few won deals to learn close timing ({timing.train_rows} training rows): "
            f"it follows the CRM close date ({timing.method})",
        )
    elif timing is not None and getattr(timing.classifier, "kind", None) == "class_frequencies":
        notes.add(
            close_timing.MODEL_NAME,
            f"{timing.train_rows} training rows with one outcome or none: "
            "close timing answers with class frequencies",
        )
    if current.empty:
        notes.add(win_models.MODEL_NAME, f"no open deals as of {as_of}: nothing to score")
    elif current["close_date"].isna().any():
        notes.add(
            close_timing.MODEL_NAME,
            f"{int(current['close_date'].isna().sum())} of {len(current)} open deals have no close date",
        )
    scored = score_deals(current, models)
    drivers = _drivers(scored, win, settings)
    scored = pd.concat([scored, drivers], axis=1)
    periods_now = ctx.horizons(as_of)
    new = new_business.forecast_new_business(con, as_of, periods_now, ctx.seed)
    rng = np.random.default_rng(ctx.seed)
    spread = spread_prior.apply(revenue_bt.ledger)
    if spread.from_prior:
        notes.add(revenue.MODEL_NAME, spread.describe())
    elif spread.value > 0:
        log.info("revenue ranges: %s", spread.describe())
    segments = pd.concat(
        [
            backtests.forecast_with_spread(con, ctx, scored, as_of, name, period, new, rng, spread.value)
            for name, period in periods_now.items()
        ],
        ignore_index=True,
    )
    segments = _with_targets(con, segments, periods_now)
    timing_version = f"{close_timing.MODEL_NAME}.{as_of:%Y%m%d}"
    revenue_version = f"{win_version}+{timing_version}"

    # --- write the night
    scores = _scores_frame(scored, as_of, periods_now, win_version, run_id, now)
    replace_night(con, "opportunity_scores", as_of, scores)
    replace_night(con, "revenue_forecast", as_of, _revenue_rows(segments, as_of, revenue_version, run_id))
    replace_night(
        con,
        "revenue_forecast_segments",
        as_of,
        segments.assign(as_of=as_of, model_version=revenue_version, run_id=run_id),
    )
    ledger = revenue_bt.ledger
    replace_night(
        con,
        "forecast_ledger",
        as_of,
        ledger.assign(run_id=run_id, as_of=as_of, model_version=revenue_version),
    )

    # --- model versions
    versions = [
        _Version(
            win_models.MODEL_NAME,
            win_version,
            chosen.recipe_id,
            {**chosen.as_dict(), "recipe_id": chosen.recipe_id},
            chosen.features,
            win.train_rows,
            _pooled(metrics, "deals_pooled", "model"),
            deal_bt.recipe_brier.get(chosen_name),
            decision_text,
            win_version,
            first_cutoff=cutoffs[0] if cutoffs else None,
            last_cutoff=as_of,
            model=win,
        ),
        _Version(
            close_timing.MODEL_NAME,
            timing_version,
            "close_timing",
            {"recipe_id": "close_timing"},
            close_timing.FEATURES,
            models.timing.train_rows if models.timing else 0,
            _pooled(metrics, "deals_won_next_period", "model"),
            _pooled(metrics, "deals_won_next_period", "model").get("brier"),
            "retrained nightly (single recipe)",
            timing_version,
            first_cutoff=cutoffs[0] if cutoffs else None,
            last_cutoff=as_of,
            model=models.timing,
        ),
    ]
    revenue_metrics = _pooled(metrics, "revenue_at_period_start", "model")
    versions.append(
        _Version(
            revenue.MODEL_NAME,
            revenue_version,
            "monte_carlo",
            {"recipe_id": "monte_carlo", "spread": spread.value, "spread_measured": spread.measured},
            [win_models.MODEL_NAME, close_timing.MODEL_NAME, new_business.MODEL_NAME],
            len(scored),
            {**revenue_metrics, "backtest_periods": float(len(periods))},
            revenue_metrics.get("wape"),
            "win x timing x amount, simulated (single recipe)",
            revenue_version,
            first_cutoff=periods[0].start - timedelta(days=1) if periods else None,
            last_cutoff=as_of,
        )
    )
    extra_rows, extra_versions = _optional_models(con, ctx, settings, as_of, first_day, run_id, now, notes)
    versions += extra_versions
    metrics = pd.concat([metrics, extra_rows], ignore_index=True)
    replace_night(
        con, "backtests", as_of, metrics.assign(run_id=run_id, as_of=as_of, model_version=win_version)
    )
    decisions = _record_versions(con, settings, as_of, run_id, now, versions, notes, hz)
    log.info("scored %d open deals as of %s with %s", len(scores), as_of, win_version)
    return ForecastResult(
        as_of,
        run_id,
        win_version,
        len(scores),
        win.train_rows,
        _revenue_rows(segments, as_of, revenue_version, run_id),
        metrics,
        ledger,
        decisions,
    )


def _known_recipe(champion: registry.Champion | None) -> win_models.Recipe | None:
    if champion is None or "family" not in champion.recipe:
        return None
    rec = win_models.Recipe.from_dict(champion.recipe)
    return rec if rec.family in {r.family for r in win_models.RECIPES.values()} else None


def _candidates(settings: Settings) -> dict[str, win_models.Recipe]:
    """The baselines (CRM probability, calibrated stage model) and the configured recipes."""
    names = dict.fromkeys([*stage_model.BASELINES, *settings.forecast_win_candidates])
    recipes = {name: win_models.recipe(name) for name in names}
    prior = settings.forecast_group_prior_deals
    for name, rec in recipes.items():
        if rec.params.get("groups") and prior != stage_model.DEFAULT_PRIOR_DEALS:
            recipes[name] = replace(rec, params={**rec.params, "prior_deals": prior})
    return recipes


def _note_backtest(
    notes: Fallbacks,
    hz: horizons.Horizons,
    deal_bt: backtests.DealBacktest,
    recipes: dict[str, win_models.Recipe],
) -> None:
    """Skipped cut-offs, candidates that fell back or could not be scored: each a fallback."""
    name = win_models.MODEL_NAME
    scored_cutoffs = set(deal_bt.scored["cutoff"].dt.date) if not deal_bt.scored.empty else set()
    for cutoff in hz.backtest_cutoffs:
        if cutoff not in scored_cutoffs:
            notes.add(name, f"deal backtest at {cutoff} skipped: no deal open then has closed since")
    if hz.backtest_cutoffs and deal_bt.scored.empty:
        notes.add(name, "no deal backtest: none of its cut-offs had deals with a known outcome")
    for (cutoff, candidate), model in deal_bt.models.items():
        if getattr(model, "fallback", None):
            notes.add(name, f"candidate {candidate} at {cutoff} fell back: {model.fallback}")
    if not deal_bt.scored.empty:
        for candidate in recipes:
            score = deal_bt.recipe_brier.get(candidate)
            if score is None or not np.isfinite(score):
                notes.add(name, f"candidate {candidate} dropped: no backtest score")


def _pooled(metrics: pd.DataFrame, scope: str, forecaster: str) -> dict[str, float]:
    rows = metrics[
        (metrics["scope"] == scope) & (metrics["forecaster"] == forecaster) & metrics["cutoff"].isna()
    ]
    return {str(m): float(v) for m, v in zip(rows["metric"], rows["value"], strict=True)}


def _drivers(scored: pd.DataFrame, win: win_models.WinModel, settings: Settings) -> pd.DataFrame:
    if scored.empty:
        return pd.DataFrame(index=scored.index)
    effects = explain.driver_effects(
        win.predict, scored, win.recipe.features, settings.forecast_explain_background, settings.forecast_seed
    )
    return explain.top_drivers(scored, effects)


def _with_targets(
    con: duckdb.DuckDBPyConnection, segments: pd.DataFrame, horizons: dict[str, Period]
) -> pd.DataFrame:
    """Each period's target (owners' quotas prorated by days of overlap), per owner's main segment."""
    from pipecast.forecast import sources

    targets = sources.relation(con, "targets")
    accounts = sources.relation(con, "accounts")
    rows = []
    for name, period in horizons.items():
        frame = con.execute(
            f"""
            with owner_segment as (
                select o.owner_id, mode(coalesce(a.segment, 'Unknown')) as segment
                from staging.stg_crm__opportunities o left join {accounts} a on o.account_id = a.account_id
                group by o.owner_id
            )
            select coalesce(s.segment, 'Unknown') as segment,
                   sum(t.target_amount
                       * (least(t.period_end, cast(? as date))
                          - greatest(t.period_start, cast(? as date)) + 1)
                       / (t.period_end - t.period_start + 1)) as target
            from {targets} t left join owner_segment s on s.owner_id = t.owner_id
            where t.period_start <= ? and t.period_end >= ? and t.period_end >= t.period_start
            group by 1
            """,
            [period.end, period.start, period.end, period.start],
        ).df()
        frame["horizon"] = name
        rows.append(frame)
    targets_frame = pd.concat(rows, ignore_index=True)
    if targets_frame.empty:
        return segments.assign(target=np.nan)
    totals = targets_frame.groupby("horizon", as_index=False)["target"].sum().assign(segment=ALL_SEGMENTS)
    targets_frame = pd.concat([targets_frame, totals], ignore_index=True)
    return segments.merge(targets_frame, on=["horizon", "segment"], how="left")


def _scores_frame(
    scored: pd.DataFrame, as_of: date, horizons: dict[str, Period], version: str, run_id: str, now: datetime
) -> pd.DataFrame:
    return scored.assign(
        as_of=as_of,
        this_period=horizons["current"].label,
        next_period=horizons["next"].label,
        model_version=version,
        run_id=run_id,
        scored_at=now,
    )


def _revenue_rows(segments: pd.DataFrame, as_of: date, version: str, run_id: str) -> pd.DataFrame:
    """ml.revenue_forecast: per period, the model's range and the stage-weighted baseline."""
    total = segments[segments["segment"] == ALL_SEGMENTS]
    rows = []
    for r in total.itertuples():
        base = {
            "as_of": as_of,
            "period": r.period,
            "period_start": r.period_start,
            "period_end": r.period_end,
            "horizon": r.horizon,
            "closed_won_to_date": r.closed_won_to_date,
            "open_deals": r.open_deals,
            "target": getattr(r, "target", None),
            "run_id": run_id,
        }
        rows.append(
            {
                **base,
                "method": "model",
                "open_pipeline_expected": r.open_pipeline_expected,
                "new_business_expected": r.new_business_expected,
                "expected": r.expected,
                "p10": r.p10,
                "p50": r.p50,
                "p90": r.p90,
                "model_version": version,
            }
        )
        rows.append(
            {
                **base,
                "method": "stage_weighted",
                "expected": r.stage_weighted,
                "model_version": "crm_stage_probability",
            }
        )
    return pd.DataFrame(rows)


class SkippedModel(Exception):
    """An optional model has nothing to learn from tonight (the reason is the message)."""


def _optional_models(
    con: duckdb.DuckDBPyConnection,
    ctx: ForecastContext,
    settings: Settings,
    as_of: date,
    first_day: date,
    run_id: str,
    now: datetime,
    notes: Fallbacks,
) -> tuple[pd.DataFrame, list[_Version]]:
    """Product propensity and lead scores: each skipped, visibly, when the data is missing."""
    rows: list[pd.DataFrame] = []
    versions: list[_Version] = []
    for name, build in (("product_propensity", _propensity), ("lead_conversion", _leads)):
        try:
            metric_rows, version = build(con, ctx, settings, as_of, first_day, run_id, now)
        except Exception as exc:  # noqa: BLE001 - an optional model must not fail the night
            if not isinstance(exc, SkippedModel) and log.isEnabledFor(logging.DEBUG):
                log.debug("%s failed", name, exc_info=True)
            notes.add(name, f"skipped: {exc}")
            versions.append(_skipped(name, as_of))
            continue
        rows.append(metric_rows)
        versions.append(version)
    return (
        pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=backtests.METRIC_COLUMNS)
    ), versions


def _skipped(model_name: str, as_of: date) -> _Version:
    """The row of a model that did not run tonight: no version becomes current."""
    return _Version(
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


def _binary_metrics(
    scope: str, cutoff: date, y: np.ndarray, forecasts: dict[str, np.ndarray]
) -> pd.DataFrame:
    rows = []
    for name, p in forecasts.items():
        for metric, value in probability_metrics(y, p).items():
            if metric != "n":
                rows.append(
                    {
                        "cutoff": cutoff,
                        "period": None,
                        "scope": scope,
                        "forecaster": name,
                        "metric": metric,
                        "value": value,
                        "n": len(y),
                    }
                )
    return pd.DataFrame(rows, columns=backtests.METRIC_COLUMNS)


def _propensity(con, ctx, settings, as_of, first_day, run_id, now):
    quarter_ends = period_ends(first_day, as_of, "quarter", ctx.fiscal_start_month)
    test_cutoff = max(
        (c for c in quarter_ends if c + timedelta(days=propensity.HORIZON_DAYS) <= as_of), default=None
    )
    metric_rows = pd.DataFrame(columns=backtests.METRIC_COLUMNS)
    if test_cutoff is not None:
        train_bt = propensity.account_product_pairs(
            con, propensity.training_cutoffs(first_day, test_cutoff, quarter_ends), ctx.max_training_rows
        )
        test = propensity.account_product_pairs(con, [test_cutoff], ctx.max_training_rows)
        if len(train_bt) and len(test):
            model_bt = propensity.fit(train_bt, ctx.seed)
            metric_rows = _binary_metrics(
                "product_propensity",
                test_cutoff,
                test["bought"].to_numpy(),
                {"model": model_bt.predict(test), "segment_base_rate": model_bt.baseline(test)},
            )
    train = propensity.account_product_pairs(
        con, propensity.training_cutoffs(first_day, as_of, quarter_ends), ctx.max_training_rows
    )
    if train.empty:
        raise SkippedModel("no account x product history to learn from")
    model = propensity.fit(train, ctx.seed)
    pairs = propensity.account_product_pairs(con, [as_of])
    pairs = pairs.assign(propensity=model.predict(pairs), segment_baseline=model.baseline(pairs))
    pairs["propensity_rank"] = pairs.groupby("account_id")["propensity"].rank(method="first", ascending=False)
    top = pairs[pairs["propensity_rank"] <= settings.forecast_propensity_top_k]
    version = f"{propensity.MODEL_NAME}.{as_of:%Y%m%d}"
    replace_night(
        con, "product_propensity", as_of, top.assign(as_of=as_of, model_version=version, run_id=run_id)
    )
    scores = _first_metrics(metric_rows, "model")
    return metric_rows, _Version(
        propensity.MODEL_NAME,
        version,
        "product_propensity",
        {"recipe_id": "product_propensity"},
        propensity.FEATURES,
        len(train),
        scores,
        scores.get("log_loss"),
        "retrained nightly (single recipe)",
        version,
        first_cutoff=train["cutoff"].min().date(),
        last_cutoff=train["cutoff"].max().date(),
        model=model,
    )


def _leads(con, ctx, settings, as_of, first_day, run_id, now):
    from pipecast.forecast import sources

    if not sources.has_rows(con, "leads"):
        raise SkippedModel("no leads in the warehouse")
    ends = month_ends(first_day, as_of)
    test_cutoff = max(
        (c for c in ends if c + timedelta(days=lead_scoring.HORIZON_DAYS) <= as_of), default=None
    )
    metric_rows = pd.DataFrame(columns=backtests.METRIC_COLUMNS)
    if test_cutoff is not None:
        train_bt = lead_scoring.lead_rows(
            con, lead_scoring.training_cutoffs(ends, first_day, test_cutoff), ctx.max_training_rows
        )
        test = lead_scoring.lead_rows(con, [test_cutoff], ctx.max_training_rows)
        if len(train_bt) and len(test):
            model_bt = lead_scoring.fit(train_bt, ctx.seed)
            metric_rows = _binary_metrics(
                "lead_conversion",
                test_cutoff,
                test["converted_within"].to_numpy(),
                {
                    "model": model_bt.predict(test),
                    "source_rate": test["source_rate"].to_numpy(),
                    **lead_scoring.without_declared(train_bt, test, ctx.seed),  # declared features' gain
                },
            )
    train = lead_scoring.lead_rows(
        con, lead_scoring.training_cutoffs(ends, first_day, as_of), ctx.max_training_rows
    )
    if train.empty:
        raise SkippedModel("no lead history to learn from")
    model = lead_scoring.fit(train, ctx.seed)
    leads = lead_scoring.lead_rows(con, [as_of], open_only=True)
    version = f"{lead_scoring.MODEL_NAME}.{as_of:%Y%m%d}"
    replace_night(
        con,
        "lead_scores",
        as_of,
        leads.assign(
            as_of=as_of,
            conversion_probability=model.predict(leads),
            source_baseline=leads["source_rate"],
            model_version=version,
            run_id=run_id,
        ),
    )
    return metric_rows, _Version(
        lead_scoring.MODEL_NAME,
        version,
        "lead_conversion",
        {"recipe_id": "lead_conversion"},
        model.features,
        len(train),
        _first_metrics(metric_rows, "model"),
        _first_metrics(metric_rows, "model").get("log_loss"),
        "retrained nightly (single recipe)",
        version,
        first_cutoff=train["cutoff"].min().date(),
        last_cutoff=train["cutoff"].max().date(),
        model=model,
    )


def _first_metrics(rows: pd.DataFrame, forecaster: str) -> dict[str, float]:
    picked = rows[rows["forecaster"] == forecaster] if len(rows) else rows
    return {str(m): float(v) for m, v in zip(picked.get("metric", []), picked.get("value", []), strict=True)}


def _record_versions(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: date,
    run_id: str,
    now: datetime,
    versions: list[_Version],
    notes: Fallbacks,
    hz: horizons.Horizons,
) -> dict[str, str]:
    tracker = registry.MlflowTracker(settings)
    rows = []
    for v in versions:
        path = (
            registry.save_model(settings, v.model_name, v.version, v.model) if v.model is not None else None
        )
        mlflow_run = None
        if path is not None:
            mlflow_run = tracker.log_version(
                v.model_name,
                v.version,
                path,
                params={
                    "recipe": json.dumps(v.recipe),
                    "features": json.dumps(v.features),
                    "train_rows": v.train_rows,
                    "first_cutoff": v.first_cutoff,
                    "last_cutoff": v.last_cutoff,
                },
                metrics={f"backtest_{k}": val for k, val in v.metrics.items()},
                tags={"as_of": as_of.isoformat(), "pipecast_run_id": run_id, "decision": v.decision},
                make_champion=v.current_version == v.version,
            )
        rows.append(
            {
                "run_id": run_id,
                "as_of": as_of,
                "model_name": v.model_name,
                "model_version": v.version,
                "recipe_id": v.recipe_id,
                "recipe": json.dumps(v.recipe),
                "trained_at": now,
                "train_rows": v.train_rows,
                "first_cutoff": v.first_cutoff,
                "last_cutoff": v.last_cutoff,
                "features": json.dumps(v.features),
                "metrics": json.dumps(v.metrics),
                "score": v.score,
                "decision": v.decision,
                "current_version": v.current_version,
                "model_path": str(path) if path is not None else "",
                "model_sha256": registry.file_sha256(path) if path is not None else "",
                "mlflow_run_id": mlflow_run,
                "is_current": False,
                "fallback_reason": notes.reason_for(v.model_name),
                "horizons": hz.to_json(),
            }
        )
    replace_night(con, "model_runs", as_of, pd.DataFrame(rows))
    # is_current: the version the newest night left current, per model (for BI); a model skipped
    # on the newest night has none
    con.execute(
        """
        update ml.model_runs set is_current = coalesce(model_version in (
            select current_version from ml.model_runs latest
            where latest.model_name = ml.model_runs.model_name and latest.current_version is not null
              and latest.as_of = (select max(as_of) from ml.model_runs m
                                  where m.model_name = latest.model_name)), false)
        """
    )
    return {v.model_name: v.decision for v in versions}
