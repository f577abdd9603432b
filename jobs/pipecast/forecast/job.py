"""The nightly forecast job: backtest, retrain, score open deals, forecast period revenue, write ml.*."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import joblib
import numpy as np
import pandas as pd

from pipecast.config import Settings, get_settings
from pipecast.forecast import win_probability
from pipecast.forecast.backtest import backtest
from pipecast.forecast.features import FEATURES, monthly_cutoffs, open_deals_at
from pipecast.forecast.revenue import quarter_of, simulate_period_revenue
from pipecast.forecast.writeback import ensure_ml_tables, replace_night
from pipecast.warehouse import connect

log = logging.getLogger(__name__)

# A cut-off's outcomes are treated as known once this many days have passed.
LABEL_MATURITY_DAYS = 180
BACKTEST_CUTOFFS = 3


@dataclass
class ForecastResult:
    as_of: date
    run_id: str
    model_version: str
    open_deals_scored: int
    train_rows: int
    revenue: pd.DataFrame = field(default_factory=pd.DataFrame)
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame)


def _truth(settings: Settings) -> pd.DataFrame | None:
    path = settings.ground_truth_path
    return pd.read_csv(path) if path.exists() else None


def _cutoffs(con, as_of: date) -> tuple[list[date], list[date]]:
    first_created = con.execute("select min(created_at) from staging.stg_crm__opportunities").fetchone()[0]
    start = (pd.Timestamp(first_created) + pd.DateOffset(months=3)).date()
    mature = (pd.Timestamp(as_of) - pd.Timedelta(days=LABEL_MATURITY_DAYS)).date()
    training = monthly_cutoffs(start, mature)
    quarter_ends = [c for c in training if c.month % 3 == 0]
    return training, quarter_ends[-BACKTEST_CUTOFFS:]


def revenue_forecast(
    con, scores: pd.DataFrame, as_of: date, model_version: str, run_id: str, seed: int = 0
) -> pd.DataFrame:
    """Current and next quarter: closed-won to date + open deals closing in the period."""
    rows = []
    for offset in (0, 1):
        period = quarter_of(as_of, offset)
        won = con.execute(
            "select coalesce(sum(amount), 0) from staging.stg_crm__opportunities "
            "where is_won and close_date between ? and ?",
            [period.start, min(period.end, as_of)],
        ).fetchone()[0]
        close = pd.to_datetime(scores["close_date"])
        lower = pd.Timestamp.min if offset == 0 else pd.Timestamp(period.start)  # overdue = this quarter
        deals = scores[(close >= lower) & (close <= pd.Timestamp(period.end))]
        amounts = deals["amount"].fillna(0).to_numpy()
        totals = won + simulate_period_revenue(amounts, deals["win_probability"].to_numpy(), seed=seed)
        base = dict(
            as_of=as_of,
            period=period.label,
            period_start=period.start,
            period_end=period.end,
            closed_won_to_date=won,
            open_deals=len(deals),
            run_id=run_id,
        )
        p10, p50, p90 = np.percentile(totals, [10, 50, 90])
        rows.append(
            {
                **base,
                "method": "model",
                "expected": won + float(amounts @ deals["win_probability"]),
                "p10": p10,
                "p50": p50,
                "p90": p90,
                "model_version": model_version,
            }
        )
        weighted = won + float(amounts @ deals["crm_probability"].fillna(0))
        rows.append(
            {
                **base,
                "method": "stage_weighted",
                "expected": weighted,
                "p10": None,
                "p50": None,
                "p90": None,
                "model_version": "crm_stage_probability",
            }
        )
    return pd.DataFrame(rows)


def run_forecast(as_of: date | None = None, settings: Settings | None = None) -> ForecastResult:
    settings = settings or get_settings()
    run_id = uuid.uuid4().hex
    with connect(settings) as con:
        ensure_ml_tables(con)
        if as_of is None:
            as_of = con.execute("select max(export_date) from staging.stg_crm__opportunities").fetchone()[0]
        training_cutoffs, test_cutoffs = _cutoffs(con, as_of)
        if not training_cutoffs:
            raise RuntimeError("not enough history to train: need a few months of closed deals")
        log.info("building point-in-time features at %d cut-offs", len(training_cutoffs))
        history = open_deals_at(con, training_cutoffs)
        history["cutoff"] = pd.to_datetime(history["cutoff"])
        current = open_deals_at(con, [as_of])

        log.info("backtesting at %s", [str(c) for c in test_cutoffs])
        scores_table = backtest(history, test_cutoffs, truth=_truth(settings))

        trained = win_probability.training_rows(history)
        model_version = f"{win_probability.MODEL_NAME}.{win_probability.MODEL_FAMILY}.{as_of:%Y%m%d}"
        log.info("training %s on %d rows", model_version, len(trained))
        model = win_probability.fit(history)
        model_path = settings.state_dir / "models" / f"{model_version}.joblib"
        model_path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, model_path)

        now = datetime.now(UTC).replace(tzinfo=None)
        p = win_probability.predict(model, current) if len(current) else np.array([])
        scores = current.assign(
            as_of=as_of,
            win_probability=p,
            expected_amount=current["amount"].fillna(0) * p,
            model_version=model_version,
            run_id=run_id,
            scored_at=now,
        )
        replace_night(con, "opportunity_scores", as_of, scores)
        revenue = revenue_forecast(con, scores, as_of, model_version, run_id)
        replace_night(con, "revenue_forecast", as_of, revenue)
        replace_night(
            con,
            "backtests",
            as_of,
            scores_table.assign(run_id=run_id, as_of=as_of, model_version=model_version),
        )
        con.execute(
            "update ml.model_runs set is_current = false where model_name = ?", [win_probability.MODEL_NAME]
        )
        replace_night(
            con,
            "model_runs",
            as_of,
            pd.DataFrame(
                [
                    {
                        "run_id": run_id,
                        "as_of": as_of,
                        "model_name": win_probability.MODEL_NAME,
                        "model_version": model_version,
                        "trained_at": now,
                        "train_rows": len(trained),
                        "first_cutoff": training_cutoffs[0],
                        "last_cutoff": training_cutoffs[-1],
                        "features": json.dumps(FEATURES),
                        "model_path": str(model_path),
                        "is_current": True,
                    }
                ]
            ),
        )
    log.info("scored %d open deals as of %s", len(scores), as_of)
    return ForecastResult(as_of, run_id, model_version, len(scores), len(trained), revenue, scores_table)
