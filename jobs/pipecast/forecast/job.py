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
from dataclasses import dataclass, field
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
    lead_scoring,
    new_business,
    propensity,
    registry,
    revenue,
    win_models,
)
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

TRAINING_DAYS_OF_MONTH = (15,)  # besides month-ends: timing sees more "days left in period"


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
    current_version: str
    model_path: str = ""
    first_cutoff: date | None = None
    last_cutoff: date | None = None
    model: Any = None


def _truth(settings: Settings) -> pd.DataFrame | None:
    path = settings.ground_truth_path
    return pd.read_csv(path) if path.exists() else None


def training_cutoffs(first_day: date, as_of: date) -> list[date]:
    """Month-ends and mid-months from a month into the history up to as_of."""
    ends = month_ends(first_day, as_of)
    mids = [d.replace(day=day) for d in ends for day in TRAINING_DAYS_OF_MONTH]
    return sorted(c for c in {*ends, *mids} if first_day + timedelta(days=30) <= c <= as_of)


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
    ctx = ForecastContext.from_settings(settings)
    now = datetime.now(UTC).replace(tzinfo=None)
    first_day = (
        con.execute(
            "select cast(min(created_at) as date) from staging.stg_crm__opportunities where created_at <= ?",
            [as_of + timedelta(days=1)],
        ).fetchone()[0]
        or as_of
    )
    cutoffs = training_cutoffs(first_day, as_of)
    fraction = features.sample_fraction_for(features.count_open_deals(con, cutoffs), ctx.max_training_rows)
    log.info("point-in-time features at %d cut-offs (%.0f%% of deals)", len(cutoffs), 100 * fraction)
    training = close_timing.with_periods(
        features.snapshots(con, cutoffs, fraction), ctx.grain, ctx.fiscal_start_month
    )

    # --- deal backtest and champion/challenger of the win-probability recipe
    champion = registry.current_champion(con, win_models.MODEL_NAME, as_of)
    recipes = {name: win_models.recipe(name) for name in settings.forecast_win_candidates}
    champion_recipe = _known_recipe(champion)
    champion_name = None
    if champion_recipe is not None:
        same = [name for name, rec in recipes.items() if rec.recipe_id == champion_recipe.recipe_id]
        champion_name = same[0] if same else "champion"
        recipes.setdefault(champion_name, champion_recipe)
    deal_cutoffs = backtests.deal_cutoffs(as_of, first_day, ctx, settings.forecast_backtest_cutoffs)
    deal_bt = backtests.run_deal_backtest(con, ctx, deal_cutoffs, recipes, training, _truth(settings))
    candidates = settings.forecast_win_candidates
    challenger_name = min(candidates, key=lambda n: deal_bt.recipe_brier.get(n, np.inf))
    challenger = recipes[challenger_name]
    decision = registry.decide(
        challenger.recipe_id,
        deal_bt.recipe_brier.get(challenger_name),
        champion,
        deal_bt.recipe_brier.get(champion_name) if champion_name else None,
    )
    log.info("win probability: challenger %s: %s", challenger.recipe_id, decision.reason)
    chosen_name = challenger_name if decision.promote else champion_name
    chosen = recipes.get(chosen_name) if chosen_name else None
    metrics = backtests.deal_metrics(deal_bt, chosen_name or challenger_name)

    # --- tonight's win model
    current = open_deals(con, ctx, as_of)
    exits = load_exits(con, ctx, as_of)
    if chosen is not None:
        data = win_models.WinTrainingData(as_of, exits, training, ctx.maturity_days)
        win = win_models.fit(chosen, data, ctx.seed)
    else:  # the champion's recipe is unknown to this code: it keeps scoring as trained
        win = champion.load(settings)
        chosen = win.recipe
    win_version = f"{win_models.MODEL_NAME}.{chosen.recipe_id}.{as_of:%Y%m%d}"
    if not decision.promote and chosen.recipe_id == (champion.recipe.get("recipe_id") if champion else None):
        decision_text = (
            f"kept the champion's recipe, retrained: challenger {challenger.recipe_id} {decision.reason}"
        )
    else:
        decision_text = decision.reason

    # --- revenue backtest with the chosen recipe
    periods = backtests.revenue_periods(as_of, first_day, ctx, settings.forecast_backtest_periods)
    revenue_bt = backtests.run_revenue_backtest(
        con, ctx, periods, chosen, training, deal_bt.models, chosen_name or "champion"
    )
    metrics = pd.concat([metrics, backtests.revenue_metrics(revenue_bt)], ignore_index=True)

    # --- tonight's timing model, scores, drivers, revenue ranges
    models = fit_models(con, ctx, as_of, chosen, training, current, exits, win=win)
    scored = score_deals(current, models)
    drivers = _drivers(scored, win, settings)
    scored = pd.concat([scored, drivers], axis=1)
    horizons = ctx.horizons(as_of)
    new = new_business.forecast_new_business(con, as_of, horizons, ctx.seed)
    rng = np.random.default_rng(ctx.seed)
    spread = revenue.shared_spread(revenue_bt.ledger)
    if spread > 0:
        log.info("revenue ranges include a period-wide error of %.1f%% the backtests call for", 100 * spread)
    segments = pd.concat(
        [
            backtests.forecast_with_spread(con, ctx, scored, as_of, name, period, new, rng, spread)
            for name, period in horizons.items()
        ],
        ignore_index=True,
    )
    segments = _with_targets(con, segments, horizons)
    timing_version = f"{close_timing.MODEL_NAME}.{as_of:%Y%m%d}"
    revenue_version = f"{win_version}+{timing_version}"

    # --- write the night
    scores = _scores_frame(scored, as_of, horizons, win_version, run_id, now)
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
            deal_bt.recipe_brier.get(chosen_name or challenger_name),
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
    extra_rows, extra_versions = _optional_models(con, ctx, settings, as_of, first_day, run_id, now)
    versions += extra_versions
    metrics = pd.concat([metrics, extra_rows], ignore_index=True)
    replace_night(
        con, "backtests", as_of, metrics.assign(run_id=run_id, as_of=as_of, model_version=win_version)
    )
    decisions = _record_versions(con, settings, as_of, run_id, now, versions, champion)
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


def _optional_models(
    con: duckdb.DuckDBPyConnection,
    ctx: ForecastContext,
    settings: Settings,
    as_of: date,
    first_day: date,
    run_id: str,
    now: datetime,
) -> tuple[pd.DataFrame, list[_Version]]:
    """Product propensity and lead scores: each skipped with a warning when the data is missing."""
    rows: list[pd.DataFrame] = []
    versions: list[_Version] = []
    for name, build in (("product_propensity", _propensity), ("lead_conversion", _leads)):
        try:
            metric_rows, version = build(con, ctx, settings, as_of, first_day, run_id, now)
        except Exception as exc:  # noqa: BLE001 - an optional model must not fail the night
            log.warning("%s skipped: %s", name, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            continue
        if version is not None:
            rows.append(metric_rows)
            versions.append(version)
    return (
        pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=backtests.METRIC_COLUMNS)
    ), versions


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
        log.warning("product propensity: no account x product history to learn from: skipped")
        return metric_rows, None
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
        log.info("no leads in the warehouse: lead scores skipped")
        return pd.DataFrame(columns=backtests.METRIC_COLUMNS), None
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
                {"model": model_bt.predict(test), "source_rate": test["source_rate"].to_numpy()},
            )
    train = lead_scoring.lead_rows(
        con, lead_scoring.training_cutoffs(ends, first_day, as_of), ctx.max_training_rows
    )
    if train.empty:
        log.warning("lead scores: no lead history to learn from: skipped")
        return metric_rows, None
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
        lead_scoring.FEATURES,
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
    champion: registry.Champion | None,
) -> dict[str, str]:
    tracker = registry.MlflowTracker(settings)
    rows = []
    for v in versions:
        path = registry.save_model(settings, v.model_name, v.version, v.model)
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
                "model_path": str(path),
                "model_sha256": registry.file_sha256(path),
                "mlflow_run_id": mlflow_run,
                "is_current": False,
            }
        )
    replace_night(con, "model_runs", as_of, pd.DataFrame(rows))
    # is_current: the version the newest night left current, per model (for BI)
    con.execute(
        """
        update ml.model_runs set is_current = (model_version in (
            select current_version from ml.model_runs latest
            where latest.model_name = ml.model_runs.model_name
              and latest.as_of = (select max(as_of) from ml.model_runs m
                                  where m.model_name = latest.model_name)))
        """
    )
    return {v.model_name: v.decision for v in versions}
