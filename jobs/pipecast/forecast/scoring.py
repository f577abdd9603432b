"""Scoring one cut-off: win x timing x amount per open deal, and the period revenue ranges.

The nightly job and the backtests both call these, so a backtest forecast is made exactly as the
nightly one is, only with models trained on what was known at its cut-off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from pipecast import mapped_features
from pipecast.config import Settings
from pipecast.forecast import close_timing, features, new_business, win_models
from pipecast.forecast.close_timing import CloseTimingModel
from pipecast.forecast.periods import Grain, Period, horizons
from pipecast.forecast.revenue import OpenDealDraws, quantiles, simulate_open_deals

log = logging.getLogger(__name__)

ALL_SEGMENTS = "All"
AMOUNT_RATIO_BOUNDS = (0.5, 2.0)


@dataclass(frozen=True)
class ForecastContext:
    grain: Grain
    fiscal_start_month: int
    seed: int
    draws: int
    maturity_days: int
    max_training_rows: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ForecastContext:
        return cls(
            grain=settings.forecast_period or "quarter",  # None: the job sets it (horizons)
            fiscal_start_month=settings.fiscal_year_start_month,
            seed=settings.forecast_seed,
            draws=settings.forecast_simulations,
            maturity_days=180
            if settings.forecast_label_maturity_days is None
            else settings.forecast_label_maturity_days,
            max_training_rows=settings.forecast_max_training_rows,
        )

    def horizons(self, day: date) -> dict[str, Period]:
        return horizons(day, self.grain, self.fiscal_start_month)


@dataclass
class FittedModels:
    """Everything trained at one knowledge date."""

    known_at: date
    win: win_models.WinModel
    timing: CloseTimingModel | None
    amount_ratio: float = 1.0
    train_rows: dict[str, int] = field(default_factory=dict)
    # amount if won for deals without one: the median won amount of their product, else overall
    typical_amounts: dict[str, float] = field(default_factory=dict)
    typical_amount: float = 0.0


def won_amount_ratio(training_snapshots: pd.DataFrame, known_at: date) -> float:
    """Mean final amount over the amount on the books, for deals won by known_at."""
    rows = training_snapshots[
        training_snapshots["final_is_won"]
        & (training_snapshots["final_close_date"] <= pd.Timestamp(known_at))
        & (training_snapshots["amount"] > 0)
    ]
    if len(rows) < 20:
        return 1.0
    ratio = (rows["final_amount"] / rows["amount"]).clip(*AMOUNT_RATIO_BOUNDS)
    return float(ratio.mean())


def fit_models(
    con: duckdb.DuckDBPyConnection,
    ctx: ForecastContext,
    known_at: date,
    recipe: win_models.Recipe,
    training_snapshots: pd.DataFrame,
    open_at_known: pd.DataFrame,
    exits: pd.DataFrame | None = None,
    win: win_models.WinModel | None = None,
) -> FittedModels:
    """Win model (unless given), then the timing model weighted by its scores of the deals open."""
    known_snapshots = training_snapshots[training_snapshots["cutoff"] <= pd.Timestamp(known_at)]
    if win is None:
        if exits is None:
            exits = load_exits(con, ctx, known_at)
        data = win_models.WinTrainingData(known_at, exits, known_snapshots, ctx.maturity_days)
        win = win_models.fit(recipe, data, ctx.seed)
    timing = fit_timing(known_snapshots, known_at, win, open_at_known, ctx.seed)
    return with_amounts(con, known_snapshots, known_at, win, timing)


def fit_timing(
    known_snapshots: pd.DataFrame,
    known_at: date,
    win: win_models.WinModel,
    open_at_known: pd.DataFrame,
    seed: int,
) -> CloseTimingModel:
    """The close-timing model, the deals still open weighted by the win model's scores."""
    p_open = pd.Series(win.predict(open_at_known), index=open_at_known["opportunity_id"].to_numpy())
    return close_timing.fit(known_snapshots, known_at, p_open, seed)


def with_amounts(
    con: duckdb.DuckDBPyConnection,
    known_snapshots: pd.DataFrame,
    known_at: date,
    win: win_models.WinModel,
    timing: CloseTimingModel,
) -> FittedModels:
    """The amount if won (won-to-booked ratio, typical won amounts) beside the win and timing
    models: everything ``score_deals`` needs."""
    typical, overall = typical_won_amounts(con, known_at)
    return FittedModels(
        known_at,
        win,
        timing,
        won_amount_ratio(known_snapshots, known_at),
        {"win_probability": win.train_rows, "close_timing": timing.train_rows},
        typical,
        overall,
    )


def typical_won_amounts(con: duckdb.DuckDBPyConnection, known_at: date) -> tuple[dict[str, float], float]:
    """Median won amount per product (and overall) of deals won by known_at."""
    rows = con.execute(
        """
        select product_id, median(amount) as amount, grouping(product_id) as is_total
        from staging.stg_crm__opportunities
        where is_won and close_date <= ? and amount > 0
        group by grouping sets ((product_id), ())
        """,
        [known_at],
    ).fetchall()
    per_product = {p: float(a) for p, a, total in rows if not total and p is not None and a is not None}
    overall = [float(a) for p, a, total in rows if total and a is not None]
    return per_product, (overall[0] if overall else 0.0)


def _exits_fraction(con: duckdb.DuckDBPyConnection, ctx: ForecastContext, known_at: date) -> float:
    """The share of deals whose stage visits load_exits keeps at ``known_at``."""
    total = features.count_stage_exits(con, known_at)
    fraction = features.sample_fraction_for(total, ctx.max_training_rows)
    if fraction < 1:
        log.info("stage exits at %s: sampling %.1f%% of deals (%d exits)", known_at, 100 * fraction, total)
    return fraction


def load_exits(con: duckdb.DuckDBPyConnection, ctx: ForecastContext, known_at: date) -> pd.DataFrame:
    """Every stage visit begun by known_at (features.stage_visits): the exits the stage chain
    learns from and the visits still open then, which the survival recipe counts as censored.
    Sampled by deal so that the exits stay within max_training_rows."""
    return features.stage_visits(con, known_at, _exits_fraction(con, ctx, known_at))


def exits_digest(con: duckdb.DuckDBPyConnection, ctx: ForecastContext, known_at: date) -> tuple[int, str]:
    """The row count and content digest of what load_exits would return (features.stage_visits_digest),
    without loading it: what a backtest's ledger key needs."""
    return features.stage_visits_digest(con, known_at, _exits_fraction(con, ctx, known_at))


def open_deals(con: duckdb.DuckDBPyConnection, ctx: ForecastContext, cutoff: date) -> pd.DataFrame:
    """Every deal open at the end of ``cutoff``, with features and the period columns."""
    return open_deals_at(con, ctx, [cutoff])[cutoff]


def open_deals_at(
    con: duckdb.DuckDBPyConnection, ctx: ForecastContext, cutoffs: list[date]
) -> dict[date, pd.DataFrame]:
    """``open_deals`` at each cut-off, read in one query (a backtest's cut-offs: the query's scans
    of the change history are shared; at 1M opportunities 8 cut-offs took 5.6 s instead of 13.3 s)."""
    frame = features.snapshots(con, [], full_cutoffs=cutoffs, declared=False)
    at = frame["cutoff"].to_numpy()
    out: dict[date, pd.DataFrame] = {}
    for cutoff in cutoffs:
        rows = frame[at == np.datetime64(cutoff)].reset_index(drop=True)
        rows = mapped_features.attach(con, rows, "opportunities")  # declared by this cut-off
        out[cutoff] = close_timing.with_periods(rows, ctx.grain, ctx.fiscal_start_month)
    return out


def score_deals(
    deals: pd.DataFrame, models: FittedModels, win_probability: np.ndarray | None = None
) -> pd.DataFrame:
    """Add win_probability, timing given won, and won-in-period probabilities.
    ``win_probability``: ``models.win``'s prediction of ``deals`` when already made (with the
    drivers, explain.predict_with_drivers)."""
    p_win = models.win.predict(deals) if win_probability is None else np.asarray(win_probability, float)
    q = models.timing.predict(deals) if models.timing is not None else close_timing.crm_timing(deals)
    amount = deals["amount"].where(deals["amount"] > 0)
    typical = deals["product_id"].map(models.typical_amounts) if "product_id" in deals else np.nan
    amount = amount.fillna(typical).fillna(models.typical_amount).fillna(0.0).clip(lower=0)
    return deals.assign(
        win_probability=p_win,
        p_close_this_period_if_won=q[:, 0] if len(deals) else [],
        p_close_next_period_if_won=q[:, 1] if len(deals) else [],
        p_won_this_period=p_win * q[:, 0] if len(deals) else [],
        p_won_next_period=p_win * q[:, 1] if len(deals) else [],
        amount_if_won=amount * models.amount_ratio,
        expected_amount=amount * models.amount_ratio * p_win,
    )


def closed_won(con: duckdb.DuckDBPyConnection, start: date, end: date) -> pd.DataFrame:
    """Won revenue with a close date in [start, end], per segment."""
    from pipecast.forecast import sources

    accounts = sources.relation(con, "accounts")
    return con.execute(
        f"""
        select coalesce(a.segment, 'Unknown') as segment, sum(o.amount) as amount
        from staging.stg_crm__opportunities o left join {accounts} a on o.account_id = a.account_id
        where o.is_won and o.close_date between ? and ?
        group by 1
        """,
        [start, end],
    ).df()


def crm_forecasts(deals: pd.DataFrame, horizon: str, period: Period) -> pd.DataFrame:
    """Per segment, the CRM's forecasts of the open deals closing in the period: stage-weighted
    (amount x stage probability), commit and best case (amounts by forecast category)."""
    close = deals["close_date"]
    if horizon == "current":
        in_period = close <= pd.Timestamp(period.end)  # overdue deals count this period
    else:
        in_period = (close >= pd.Timestamp(period.start)) & (close <= pd.Timestamp(period.end))
    rows = deals[in_period.fillna(False)]
    amount = rows["amount"].fillna(0).clip(lower=0)
    category = rows["forecast_category"].astype(str).str.lower()
    frame = pd.DataFrame(
        {
            "segment": rows["segment"].astype(str),
            "stage_weighted": amount * rows["crm_probability"].fillna(0),
            "commit": amount.where(category == "commit", 0.0),
            "best_case": amount.where(category.isin(["commit", "best case"]), 0.0),
            "open_deals_in_period": 1,
        }
    )
    return frame.groupby("segment").sum()


def period_forecast(
    con: duckdb.DuckDBPyConnection,
    ctx: ForecastContext,
    scored: pd.DataFrame,
    cutoff: date,
    horizon: str,
    period: Period,
    new: new_business.NewBusinessForecast | None,
    rng: np.random.Generator,
    shock: float = 0.0,
) -> pd.DataFrame:
    """One row per segment and one for all segments: closed to date, the model's expected revenue
    and P10/P50/P90 (closed + open deals + deals not created yet), and the CRM's forecasts.

    ``shock``: the relative spread of a period-wide factor on the revenue still to come, shared by
    every deal and segment in a draw (backtests.forecast_with_spread sets it from what the
    backtests missed beyond the deals' own randomness, e.g. a whole quarter closing slower)."""
    won = closed_won(con, period.start, min(period.end, cutoff)) if horizon == "current" else None
    closed = won.set_index("segment")["amount"] if won is not None else pd.Series(dtype=float)
    crm = crm_forecasts(scored, horizon, period)
    deal_segment = scored["segment"].astype(str)
    segments = sorted(
        set(deal_segment.unique())  # not a Python loop over a million deals
        | set(closed.index)
        | set(new.segments.get(horizon, {}) if new else [])
    )
    index = {s: i for i, s in enumerate(segments)}
    p = scored["p_won_this_period"] if horizon == "current" else scored["p_won_next_period"]
    draws = OpenDealDraws(
        deal_segment.map(index).to_numpy(dtype=int),
        scored["amount_if_won"].to_numpy(dtype=float),
        p.to_numpy(dtype=float) if horizon == "current" else np.zeros(len(scored)),
        p.to_numpy(dtype=float) if horizon == "next" else np.zeros(len(scored)),
    )
    this, following = simulate_open_deals(draws, len(segments), ctx.draws, rng)
    open_totals = this if horizon == "current" else following
    new_totals = new.simulate(horizon, segments, ctx.draws, rng) if new else np.zeros_like(open_totals)
    closed_vector = np.array([float(closed.get(s, 0.0)) for s in segments])
    factor = np.exp(shock * rng.standard_normal(ctx.draws) - shock**2 / 2) if shock > 0 else 1.0
    totals = closed_vector[None, :] + (open_totals + new_totals) * np.reshape(factor, (-1, 1))
    expected_open = np.bincount(
        draws.segment, weights=draws.amount * p.to_numpy(dtype=float), minlength=len(segments)
    )
    rows = []
    for name, column in [*((s, [index[s]]) for s in segments), (ALL_SEGMENTS, list(range(len(segments))))]:
        total = totals[:, column].sum(axis=1)
        p10, p50, p90 = quantiles(total) if len(total) else (0.0, 0.0, 0.0)
        crm_part = crm.reindex([s for s in segments if index[s] in column]).fillna(0).sum()
        new_expected = new.expected(horizon, None if name == ALL_SEGMENTS else name) if new else 0.0
        closed_part = float(closed_vector[column].sum())
        rows.append(
            {
                "cutoff": cutoff,
                "period": period.label,
                "period_start": period.start,
                "period_end": period.end,
                "horizon": horizon,
                "segment": name,
                "closed_won_to_date": closed_part,
                "open_pipeline_expected": float(expected_open[column].sum()),
                "new_business_expected": float(new_expected),
                "expected": closed_part + float(expected_open[column].sum()) + float(new_expected),
                "p10": p10,
                "p50": p50,
                "p90": p90,
                "stage_weighted": closed_part + float(crm_part.get("stage_weighted", 0.0)),
                "commit": closed_part + float(crm_part.get("commit", 0.0)),
                "best_case": closed_part + float(crm_part.get("best_case", 0.0)),
                "open_deals": int(crm_part.get("open_deals_in_period", 0)),
            }
        )
    return pd.DataFrame(rows)
