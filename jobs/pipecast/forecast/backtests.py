"""Backtests: at past cut-offs, models trained only on what was known then, against the CRM's
stage-weighted baseline (and, on generated data, the generator's true probabilities).

Deal level: the deals open at the last ``forecast_backtest_cutoffs`` period-ends that are at least
``label_maturity_days`` old, scored by every win-probability recipe trained at that period-end,
pooled: Brier score, log loss, AUC and expected calibration error per forecaster, over the deals
whose outcome is known now. These scores pick the champion (registry).

Period revenue: for each of the last ``forecast_backtest_periods`` complete periods, models
trained at the day before it starts forecast it then ("at the period's start") and at each
month-end inside it, exactly as the nightly job does; each forecast and the baselines' (stage-
weighted, commit, best case) go into the forecast ledger beside the actual. WAPE and bias per
forecaster, and the share of actuals inside the model's P10-P90 range, summarise it. The model's
range at each backtest cut-off carries the period-wide error (revenue.shared_spread) measured on
the backtest periods that had ended by then, as the nightly job measures it on all of them.

Nothing here looks past a cut-off except the labels: the features at a cut-off are point-in-time
(features), models are fit on stage exits up to the cut-off and on snapshot rows whose outcome
was known by then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial

import duckdb
import numpy as np
import pandas as pd

from pipecast.forecast import backtest_ledger, new_business, revenue, win_models
from pipecast.forecast.metrics import probability_metrics, wape
from pipecast.forecast.periods import Period, month_ends, period_ends, period_of
from pipecast.forecast.scoring import (
    ALL_SEGMENTS,
    FittedModels,
    ForecastContext,
    closed_won,
    exits_digest,
    fit_models,
    load_exits,
    open_deals_at,
    period_forecast,
    score_deals,
)

log = logging.getLogger(__name__)

MODEL = revenue.MODEL  # the forecaster name of the model's rows, which revenue.shared_spread reads
STAGE_WEIGHTED = "stage_weighted"
TRUTH = "true_probability"
REVENUE_FORECASTERS = (MODEL, STAGE_WEIGHTED, "commit", "best_case")
METRIC_COLUMNS = ["cutoff", "period", "scope", "forecaster", "metric", "value", "n"]


# The revenue backtest reads the open deals at the cut-offs of this many periods in one query
# (scoring.open_deals_at shares its scans of the change history). At 1M opportunities, a night's
# revenue backtest from the ledger (8 periods, 24 cut-offs): 2 per query 20.2 s and a peak of
# 3.1 GB, 4 per query 17.4 s and 3.5 GB (the batch's deals held at once).
PERIODS_PER_QUERY = 2


@dataclass
class DealBacktest:
    """Deal-level results: the pooled test rows with every forecaster's probability."""

    scored: pd.DataFrame
    recipe_brier: dict[str, float]
    # the candidates fitted tonight, by (cut-off, recipe name); those taken from the ledger are not
    models: dict[tuple[date, str], win_models.WinModel] = field(default_factory=dict)
    fallbacks: dict[tuple[date, str], str] = field(default_factory=dict)  # why a candidate fell back
    reused: int = 0  # (cut-off, candidate) entries taken from the ledger instead of refitted


@dataclass(frozen=True)
class LedgerWriter:
    """Where fresh deal-backtest entries go (backtest_ledger): tonight's as_of and run, and the
    workspace's publish (rows for PostgreSQL)."""

    as_of: date
    run_id: str
    publish: backtest_ledger.Publish
    reuse: bool = True  # False: refit everything and store it anew (a full backtest)
    # the digest of the stage visits at each cut-off, kept by the night's first backtest that keyed
    # it: the night's later backtests (a revenue period starting at a deal cut-off) key that
    # cut-off without reading its visits again (Night.visits_digests, one dict for the night)
    visits_digests: dict[date, str] = field(default_factory=dict, compare=False)

    def visits_digest(self, con: duckdb.DuckDBPyConnection, ctx: ForecastContext, cutoff: date) -> str:
        """The digest of the stage visits at ``cutoff`` (scoring.exits_digest: computed in DuckDB,
        the visits are not read out), kept for the night."""
        if cutoff not in self.visits_digests:
            self.visits_digests[cutoff] = exits_digest(con, ctx, cutoff)[1]
        return self.visits_digests[cutoff]


@dataclass
class RevenueBacktest:
    ledger: pd.DataFrame  # one row per cut-off x period x forecaster (segment All)
    timing_scored: pd.DataFrame  # deals open at each period's start: won in it, with probabilities


def revenue_periods(
    as_of: date, first_day: date, ctx: ForecastContext, count: int, warmup_days: int = 180
) -> list[Period]:
    """The last ``count`` complete periods that start at least ``warmup_days`` after the history
    does (horizons: one label maturity by default)."""
    start = first_day + timedelta(days=warmup_days)
    ends = period_ends(start, as_of, ctx.grain, ctx.fiscal_start_month)
    periods = [period_of(end, 0, ctx.grain, ctx.fiscal_start_month) for end in ends]
    periods = [p for p in periods if p.start - timedelta(days=1) >= start]
    return periods[-count:]


def run_deal_backtest(
    con: duckdb.DuckDBPyConnection,
    ctx: ForecastContext,
    cutoffs: list[date],
    recipes: dict[str, win_models.Recipe],
    training_snapshots: pd.DataFrame,
    truth: pd.DataFrame | None,
    ledger: LedgerWriter | None = None,
) -> DealBacktest:
    """Each recipe (by name) trained at each cut-off and scored on the deals open then that have
    closed since. With ``ledger``, a (cut-off, recipe) whose inputs are unchanged since a night
    that backtested it is taken from ml.backtest_predictions, and fresh ones are stored there."""
    pooled: list[pd.DataFrame] = []
    result = DealBacktest(pd.DataFrame(), {})
    if ledger is not None:
        backtest_ledger.ensure_table(con)
    open_at = open_deals_at(con, ctx, cutoffs)
    for cutoff in cutoffs:
        open_then = open_at.pop(cutoff)
        closed = open_then["final_is_closed"].to_numpy(dtype=bool)
        if not closed.any():
            log.warning("deal backtest at %s: no deal open then has closed since: skipped", cutoff)
            continue
        test = open_then[closed]
        exits = None  # the stage visits, read only when a candidate is fitted: a key needs their digest
        inputs = (
            backtest_ledger.inputs_digest(
                ctx, cutoff, ledger.visits_digest(con, ctx, cutoff), training_snapshots, open_then
            )
            if ledger is not None
            else ""
        )
        data: win_models.WinTrainingData | None = None
        columns, reused = {}, 0
        for name, rec in recipes.items():
            key = backtest_ledger.entry_key(rec, inputs)
            entry = backtest_ledger.lookup(con, key) if ledger is not None and ledger.reuse else None
            if entry is not None:
                probabilities, fallback = entry
                columns[f"p_{name}"] = probabilities.reindex(test["opportunity_id"].to_numpy()).to_numpy()
                reused += 1
            else:
                if data is None:
                    if exits is None:
                        exits = load_exits(con, ctx, cutoff)
                    known = training_snapshots[training_snapshots["cutoff"] <= pd.Timestamp(cutoff)]
                    data = win_models.WinTrainingData(cutoff, exits, known, ctx.maturity_days)
                model = win_models.fit(rec, data, ctx.seed)
                result.models[(cutoff, name)] = model
                probabilities = model.predict(open_then)
                fallback = getattr(model, "fallback", None)
                columns[f"p_{name}"] = np.asarray(probabilities, dtype=float)[closed]
                if ledger is not None:
                    backtest_ledger.store(
                        con,
                        ledger.publish,
                        key,
                        cutoff,
                        name,
                        rec,
                        open_then,
                        probabilities,
                        fallback,
                        ledger.as_of,
                        ledger.run_id,
                    )
            if fallback:
                result.fallbacks[(cutoff, name)] = fallback
        result.reused += reused
        pooled.append(test.assign(**columns))
        log.info(
            "deal backtest at %s: %d deals; %d of %d candidates from the ledger%s",
            cutoff,
            len(test),
            reused,
            len(recipes),
            f", {len(exits)} stage visits to learn from" if exits is not None else "",
        )
    if not pooled:
        return result
    scored = pd.concat(pooled, ignore_index=True)
    if truth is not None:
        scored = attach_truth(scored, truth)
    y = scored["final_is_won"].astype(int)
    result.scored = scored
    result.recipe_brier = {name: probability_metrics(y, scored[f"p_{name}"])["brier"] for name in recipes}
    return result


def metric_rows(
    values: dict[str, float], scope: str, forecaster: str, n: int, cutoff: date | None = None
) -> list[dict]:
    """One ml.backtests row (METRIC_COLUMNS) per metric of ``values`` (its count ``n`` aside)."""
    return [
        {
            "cutoff": cutoff,
            "period": None,
            "scope": scope,
            "forecaster": forecaster,
            "metric": metric,
            "value": value,
            "n": n,
        }
        for metric, value in values.items()
        if metric != "n"
    ]


def deal_metrics(backtest: DealBacktest, champion: str) -> pd.DataFrame:
    """Pooled and per-cut-off scores of the champion ("model"), the other candidates, the
    stage-weighted baseline and (on generated data) the true probabilities."""
    scored = backtest.scored
    if scored.empty:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    # the CRM's probability as the stage_weighted candidate scored it (missing ones filled the
    # same way), so that the baseline's row and the champion choice see the same numbers
    baseline = f"p_{STAGE_WEIGHTED}" if f"p_{STAGE_WEIGHTED}" in scored else "crm_probability"
    forecasters = {MODEL: f"p_{champion}", STAGE_WEIGHTED: baseline}
    forecasters |= {
        f"candidate_{c.removeprefix('p_')}": c
        for c in scored.columns
        if c.startswith("p_")
        and c not in (f"p_{champion}", "p_true", baseline)
        and (c.removeprefix("p_") in win_models.RECIPES or c.removeprefix("p_") in backtest.recipe_brier)
    }
    if "p_true" in scored:
        forecasters[TRUTH] = "p_true"
    rows = []
    for name, column in forecasters.items():
        for cutoff, group in [(None, scored), *scored.groupby(scored["cutoff"].dt.date)]:
            valid = group[column].notna()
            if not valid.any():
                continue
            values = probability_metrics(
                group.loc[valid, "final_is_won"].astype(int), group.loc[valid, column]
            )
            scope = "deals_pooled" if cutoff is None else "deals"
            rows += metric_rows(values, scope, name, int(valid.sum()), cutoff)
        valid = scored[column].notna()
        bins = reliability_bins(scored.loc[valid, "final_is_won"].astype(int), scored.loc[valid, column])
        for b, row in bins.iterrows():
            rows += [
                {
                    "cutoff": None,
                    "period": None,
                    "scope": "deals_reliability",
                    "forecaster": name,
                    "metric": f"bin{b:02d}_{part}",
                    "value": float(row[part]),
                    "n": int(row["n"]),
                }
                for part in ("predicted", "observed")
            ]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def reliability_bins(y: pd.Series, p: pd.Series, bins: int = 10) -> pd.DataFrame:
    """Per equal-width probability bin: mean predicted, observed rate, count (reliability curve)."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    frame["bin"] = np.clip((frame["p"] * bins).astype(int), 0, bins - 1)
    return frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))


def run_revenue_backtest(
    con: duckdb.DuckDBPyConnection,
    ctx: ForecastContext,
    periods: list[Period],
    recipe: win_models.Recipe,
    training_snapshots: pd.DataFrame,
    fitted: dict[tuple[date, str], win_models.WinModel],
    recipe_name: str,
    progress: Callable[[str], None] | None = None,
    prior: revenue.SpreadPrior | None = None,
    ledger: LedgerWriter | None = None,
    beside: Executor | None = None,
) -> RevenueBacktest:
    """Each period forecast from the day before it and each month-end in it. The range at a
    cut-off uses the spread the nightly job would have used then: measured on the periods that
    had ended by the cut-off, widened to ``prior`` while they are too few.

    With ``ledger``, a period whose inputs are unchanged since a night that backtested it is taken
    from ml.backtest_revenue_periods (backtest_ledger), and fresh ones are stored there. Its key
    covers what the period's forecasts are made from: the models' training inputs at the period's
    start, the features of the deals open at each of its cut-offs, the new-business forecasts
    there, the rows of the earlier periods (their spread), the actual, and the settings.

    With ``beside`` (a one-thread executor, parallel.side_thread), the fits of a period backtested
    afresh run beside the next period's: the models fitted at a period's start do not depend on the
    rows of the periods before it, only its forecasts do (their spread). That next fit is made on
    the executor's thread, on a connection of its own (a cursor of ``con``: the fits read only the
    warehouse), from the same deals, so its models are the ones fitted here (tests/forecast/
    test_backtest_ledger.py). When the next period then comes from the ledger, its fit is dropped."""
    prior = prior or revenue.SpreadPrior()
    if ledger is not None:
        backtest_ledger.ensure_table(con)
    rows: list[pd.DataFrame] = []
    timing_rows: list[pd.DataFrame] = []
    # each period forecast from the day before it and each month-end in it
    cutoffs_of = [
        [p.start - timedelta(days=1), *[d for d in month_ends(p.start, p.end) if d < p.end]] for p in periods
    ]
    batch: dict[date, pd.DataFrame] = {}

    def fit(fit_con: duckdb.DuckDBPyConnection, at: date, open_then: pd.DataFrame) -> FittedModels:
        win = fitted.get((at, recipe_name))  # the deal backtest's, where it fitted this recipe here
        return fit_models(fit_con, ctx, at, recipe, training_snapshots, open_then, win=win)

    deals = new_business.load_deals(con) if periods else None  # the new-business forecasts' deals, once
    with _FitsAhead(con, beside) as ahead:
        for index, period in enumerate(periods):
            cutoffs = cutoffs_of[index]
            known_at = cutoffs[0]
            if index % PERIODS_PER_QUERY == 0:
                wanted = [c for group in cutoffs_of[index : index + PERIODS_PER_QUERY] for c in group]
                batch = open_deals_at(con, ctx, wanted)
            open_at = {cutoff: batch.pop(cutoff) for cutoff in cutoffs}
            new_at = {
                cutoff: new_business.forecast_new_business(con, cutoff, ctx.horizons(cutoff), ctx.seed, deals)
                for cutoff in cutoffs
            }
            actual = _actual(con, period)
            key = ""
            if ledger is not None:
                inputs = _period_inputs(
                    ctx,
                    prior,
                    period,
                    actual,
                    ledger.visits_digest(con, ctx, known_at),
                    training_snapshots,
                    open_at,
                    new_at,
                    rows,
                )
                key = backtest_ledger.period_key(recipe, inputs)
                entry = backtest_ledger.lookup_period(con, key) if ledger.reuse else None
                if entry is not None:
                    ahead.drop(known_at)
                    rows.append(entry[0])
                    timing_rows.append(entry[1])
                    log.info("revenue backtest %s: actual %.0f (from the ledger)", period.label, actual)
                    if progress:
                        progress(period.label)
                    continue
            following = cutoffs_of[index + 1][0] if index + 1 < len(periods) else None
            if following in batch:  # its deals are read: fit them beside
                ahead.submit(following, partial(fit, at=following, open_then=batch[following]))
            models = ahead.take(known_at)
            if models is None:
                models = fit(con, known_at, open_at[known_at])
            # one generator per period, seeded by it: a period's draws do not depend on which earlier
            # periods were taken from the ledger
            rng = np.random.default_rng([ctx.seed, period.start.toordinal()])
            period_rows: list[pd.DataFrame] = []
            for cutoff in cutoffs:
                horizon = "next" if cutoff == known_at else "current"
                scored = score_deals(open_at[cutoff], models)
                if cutoff == known_at:
                    timing = _won_in_period(scored, period)
                # the period-wide spread as the nightly job would have learnt it then: from periods
                # that had ended by the cut-off
                done = [r for r in rows if (r["period_end"] <= cutoff).all()]
                spread = prior.apply(pd.concat(done, ignore_index=True) if done else None).value
                new = new_at[cutoff]
                forecast = forecast_with_spread(con, ctx, scored, cutoff, horizon, period, new, rng, spread)
                period_rows.append(_ledger_rows(forecast[forecast["segment"] == ALL_SEGMENTS], actual))
            period_ledger = pd.concat(period_rows, ignore_index=True)
            rows.append(period_ledger)
            timing_rows.append(timing)
            if ledger is not None:
                backtest_ledger.store_period(
                    con,
                    ledger.publish,
                    key,
                    period.label,
                    recipe,
                    period_ledger,
                    timing,
                    ledger.as_of,
                    ledger.run_id,
                )
            log.info("revenue backtest %s: actual %.0f", period.label, actual)
            if progress:
                progress(period.label)
    ledger_rows = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    timing = pd.concat(timing_rows, ignore_index=True) if timing_rows else pd.DataFrame()
    return RevenueBacktest(ledger_rows, timing)


class _FitsAhead:
    """The revenue backtest's fits made ahead on the executor's thread, on a cursor of the night's
    connection; with no executor, none are (``take`` returns None and the fit is made in turn)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, executor: Executor | None) -> None:
        self.executor = executor
        self.con = con.cursor() if executor is not None else None
        self.pending: dict[date, Future[FittedModels]] = {}
        self.dropped: list[Future[FittedModels]] = []

    def submit(self, known_at: date, fit: Callable[[duckdb.DuckDBPyConnection], FittedModels]) -> None:
        if self.executor is not None:
            self.pending[known_at] = self.executor.submit(fit, self.con)

    def take(self, known_at: date) -> FittedModels | None:
        future = self.pending.pop(known_at, None)
        return None if future is None else future.result()  # its error, if it failed, raised here

    def drop(self, known_at: date) -> None:
        future = self.pending.pop(known_at, None)
        if future is not None:
            future.cancel()
            self.dropped.append(future)

    def __enter__(self) -> _FitsAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        """Waits for the fits still running (their connection closes after them)."""
        futures = [*self.pending.values(), *self.dropped]
        for future in futures:
            future.cancel()
        wait(futures)
        if self.con is not None:
            self.con.close()


def _period_inputs(
    ctx: ForecastContext,
    prior: revenue.SpreadPrior,
    period: Period,
    actual: float,
    visits_digest: str,
    training_snapshots: pd.DataFrame,
    open_at: dict[date, pd.DataFrame],
    new_at: dict[date, new_business.NewBusinessForecast],
    earlier_rows: list[pd.DataFrame],
) -> list[str]:
    """Digests of what a revenue backtest period's forecasts are made from (its ledger key)."""
    cutoffs = list(open_at)
    at_start = open_at[cutoffs[0]]
    return [
        # the actual to the cent: a parallel sum of doubles differs in its last bits from run to run
        repr((ctx, prior, period, f"{actual:.2f}")),
        backtest_ledger.inputs_digest(ctx, cutoffs[0], visits_digest, training_snapshots, at_start),
        backtest_ledger.frame_digest(_won_in_period(at_start.assign(p_won_next_period=0.0), period)),
        *(backtest_ledger.features_digest(open_at[c]) for c in cutoffs[1:]),
        *(backtest_ledger.new_business_digest(new_at[c]) for c in cutoffs),
        backtest_ledger.frame_digest(pd.concat(earlier_rows, ignore_index=True)) if earlier_rows else "",
    ]


def forecast_with_spread(
    con: duckdb.DuckDBPyConnection,
    ctx: ForecastContext,
    scored: pd.DataFrame,
    cutoff: date,
    horizon: str,
    period: Period,
    new: new_business.NewBusinessForecast | None,
    rng: np.random.Generator,
    spread: float,
) -> pd.DataFrame:
    """period_forecast with the period-wide random effect ``spread`` (revenue.shared_spread: the
    sd of the shared error relative to the period's expected revenue) turned into this forecast's
    factor on the revenue still to come (revenue.spread_factor). The all-segments row also carries
    ``sd_independent`` (the simulated sd of the revenue to come without the shared factor: deals
    independent, new business as simulated) and ``shared_spread`` (the factor's log sd), which
    the backtest ledger keeps to measure the spread from."""
    p = scored["p_won_this_period"] if horizon == "current" else scored["p_won_next_period"]
    amount = scored["amount_if_won"].to_numpy(dtype=float)
    p = p.to_numpy(dtype=float)
    new_expected = new.expected(horizon) if new else 0.0
    to_come = float(np.nan_to_num(amount) @ np.clip(np.nan_to_num(p), 0, 1)) + new_expected
    sd = revenue.independent_sd(amount, p, new.variance(horizon) if new else 0.0)
    closed = 0.0
    if horizon == "current" and spread > 0:
        closed = float(closed_won(con, period.start, min(period.end, cutoff))["amount"].sum())
    factor_sd = revenue.spread_factor(spread, closed + to_come, to_come, sd)
    forecast = period_forecast(con, ctx, scored, cutoff, horizon, period, new, rng, factor_sd)
    total = forecast["segment"] == ALL_SEGMENTS
    forecast["sd_independent"] = np.where(total, sd, np.nan)
    forecast["shared_spread"] = np.where(total, factor_sd, np.nan)
    return forecast


def _actual(con: duckdb.DuckDBPyConnection, period: Period) -> float:
    value = con.execute(
        "select coalesce(sum(amount), 0) from staging.stg_crm__opportunities "
        "where is_won and close_date between ? and ?",
        [period.start, period.end],
    ).fetchone()[0]
    return float(value)


def _won_in_period(scored: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Deals open the day before the period: were they won in it? Model vs the CRM's view."""
    close = scored["final_close_date"]
    won = scored["final_is_won"] & (close >= pd.Timestamp(period.start)) & (close <= pd.Timestamp(period.end))
    crm_close = scored["close_date"]
    crm_in = (crm_close >= pd.Timestamp(period.start)) & (crm_close <= pd.Timestamp(period.end))
    return pd.DataFrame(
        {
            "cutoff": scored["cutoff"],
            "period": period.label,
            "won_in_period": won.astype(int),
            MODEL: scored["p_won_next_period"],
            STAGE_WEIGHTED: scored["crm_probability"].fillna(0) * crm_in.fillna(False),
        }
    )


def _ledger_rows(forecast: pd.DataFrame, actual: float) -> pd.DataFrame:
    rows = []
    for f in forecast.itertuples():
        for name in REVENUE_FORECASTERS:
            expected = f.expected if name == MODEL else getattr(f, name)
            rows.append(
                {
                    "cutoff": f.cutoff,
                    "period": f.period,
                    "period_start": f.period_start,
                    "period_end": f.period_end,
                    "horizon": f.horizon,
                    "segment": f.segment,
                    "forecaster": name,
                    "expected": expected,
                    "p10": f.p10 if name == MODEL else None,
                    "p50": f.p50 if name == MODEL else None,
                    "p90": f.p90 if name == MODEL else None,
                    "closed_won_to_date": f.closed_won_to_date,
                    "actual": actual,
                    "sd_independent": getattr(f, "sd_independent", np.nan) if name == MODEL else np.nan,
                    "shared_spread": getattr(f, "shared_spread", np.nan) if name == MODEL else np.nan,
                }
            )
    frame = pd.DataFrame(rows)
    frame["abs_error"] = (frame["expected"] - frame["actual"]).abs()
    frame["within_p10_p90"] = np.where(
        frame["p10"].notna(), (frame["actual"] >= frame["p10"]) & (frame["actual"] <= frame["p90"]), None
    )
    return frame


def revenue_metrics(backtest: RevenueBacktest) -> pd.DataFrame:
    """WAPE, bias and P10-P90 coverage per forecaster: at the period's start, within the period,
    and per period (for charts over time); and won-in-period deal scores."""
    ledger = backtest.ledger
    rows: list[dict] = []
    if not ledger.empty:
        scopes = {
            "revenue_at_period_start": ledger["horizon"] == "next",
            "revenue_in_period": ledger["horizon"] == "current",
            "revenue_all_cutoffs": ledger["horizon"].notna(),
        }
        for scope, mask in scopes.items():
            for name, group in ledger[mask].groupby("forecaster"):
                rows += _revenue_summary(group, None, None, scope, name)
        for (period, name), group in ledger[ledger["horizon"] == "next"].groupby(["period", "forecaster"]):
            rows += _revenue_summary(group, group["cutoff"].iloc[0], period, "revenue_at_period_start", name)
    timing = backtest.timing_scored
    if not timing.empty:
        for name in (MODEL, STAGE_WEIGHTED):
            values = probability_metrics(timing["won_in_period"], timing[name])
            rows += metric_rows(values, "deals_won_next_period", name, len(timing))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def _revenue_summary(group: pd.DataFrame, cutoff, period, scope: str, name: str) -> list[dict]:
    actual = group["actual"].to_numpy(dtype=float)
    expected = group["expected"].to_numpy(dtype=float)
    base = {"cutoff": cutoff, "period": period, "scope": scope, "forecaster": name, "n": len(group)}
    values = {
        "wape": wape(actual, expected),
        "bias": float((expected - actual).sum() / actual.sum()) if actual.sum() else float("nan"),
        "forecast": float(expected.sum()),
        "actual": float(actual.sum()),
    }
    if name == MODEL:
        values["coverage_p10_p90"] = float(group["within_p10_p90"].astype(float).mean())
        values["p50_wape"] = wape(actual, group["p50"].to_numpy(dtype=float))
    return [{**base, "metric": metric, "value": value} for metric, value in values.items()]


def attach_truth(scored: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The generator's true win probability of each deal at its stage at the cut-off."""
    stage_columns = [c for c in truth.columns if c.startswith("p_win_")]
    long = truth.melt(
        id_vars=["opportunity_id"], value_vars=stage_columns, var_name="stage_key", value_name="p_true"
    )
    keyed = scored.assign(stage_key="p_win_" + scored["stage"].astype(str).str.lower().str.replace(" ", "_"))
    return keyed.merge(long, on=["opportunity_id", "stage_key"], how="left").drop(columns="stage_key")
