"""The backtests' ledger: each candidate's probabilities at a past cut-off (the deal backtest,
``ml.backtest_predictions``) and each backtest period's revenue forecasts (the revenue backtest,
``ml.backtest_revenue_periods``), kept and reused on later nights while nothing they were made
from changed.

A candidate backtested at a cut-off learns only from what was known then (point-in-time stage
visits and snapshots, labels known by the cut-off) and scores the deals open then. All of that is
fixed once the cut-off has passed, so refitting every candidate at every cut-off every night
recomputes the same numbers. Only the labels of the scored deals move (a deal open at the cut-off
closes later): the ledger keeps every open deal's probability and the backtest joins tonight's
outcomes to it.

An entry is keyed by ``entry_key``: a hash of the code (``code_digest``), the recipe (family, features,
parameters), the settings that shape a fit, the cut-off, and the content of the three frames the
candidate sees (its stage visits, its training snapshots with the labels known by the cut-off,
and the features of the deals it scores). A correction in a re-delivered export, a new mapped
feature, a changed setting, an edited forecast module or another scikit-learn changes the key,
and the candidate is backtested again, detected rather than guessed. The training snapshots are
sampled at a stepped fraction (features.sample_fraction_for), so a growing history changes them,
and the key, only every few months.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from pipecast.forecast.new_business import NewBusinessForecast
from pipecast.forecast.scoring import ForecastContext
from pipecast.forecast.win_models import Recipe

log = logging.getLogger(__name__)

TABLE = "backtest_predictions"
COLUMNS = """
    input_key VARCHAR, cutoff DATE, candidate VARCHAR, recipe_id VARCHAR, opportunity_id VARCHAR,
    probability DOUBLE, fallback VARCHAR, as_of DATE, run_id VARCHAR"""
LABELS = ("final_is_closed", "final_is_won", "final_close_date", "final_amount")

# publish(schema, table, where, params): marks rows for the warehouse (warehouse.Workspace.publish)
Publish = Callable[[str, str, str, Sequence[Any]], None]


def frame_digest(frame: pd.DataFrame) -> str:
    """A content hash of a frame: its column names and types, and every value in row order."""
    ordered = frame[sorted(frame.columns)]
    digest = hashlib.sha256(repr([(c, str(t)) for c, t in ordered.dtypes.items()]).encode())
    if len(ordered):
        digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def features_digest(deals: pd.DataFrame) -> str:
    """frame_digest of deals without their outcome labels, which move as deals close."""
    return frame_digest(deals.drop(columns=[c for c in LABELS if c in deals]))


def known_at(snapshots: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """Training snapshots up to ``cutoff`` with only the labels known then: a deal that closed
    later shows as open, as it did at the cut-off."""
    end = pd.Timestamp(cutoff)
    rows = snapshots[snapshots["cutoff"] <= end]
    known = rows["final_is_closed"] & (rows["final_close_date"] <= end)
    out = rows.drop(columns=[c for c in LABELS if c in rows]).copy()
    out["known_is_won"] = np.where(known, rows["final_is_won"], False)
    out["known_close_date"] = rows["final_close_date"].where(known)
    out["known_amount"] = rows["final_amount"].where(known)
    out["known_is_closed"] = known
    return out


def inputs_digest(
    ctx: ForecastContext,
    cutoff: date,
    visits_digest: str,
    training: pd.DataFrame,
    scored: pd.DataFrame,
) -> str:
    """What every candidate at ``cutoff`` is made from: the code (code_digest), the settings that shape
    a fit, the cut-off, its stage visits (scoring.exits_digest at the cut-off),
    the training snapshots with the labels known then, and the features (not the labels) of the
    deals it scores."""
    parts = [
        code_digest(),
        str((ctx.seed, ctx.maturity_days, ctx.max_training_rows)),
        cutoff.isoformat(),
        visits_digest,
        frame_digest(known_at(training, cutoff)),
        features_digest(scored),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


FORECAST_PACKAGE = Path(__file__).resolve().parent  # pipecast/forecast: every module that fits


@functools.cache
def code_digest() -> str:
    """The code a backtest's numbers come from: the source of every module of pipecast.forecast and
    the versions of the libraries that fit and score (and DuckDB's, whose hash digests the stage
    visits). Any edit there (a new fold rule, a fixed
    feature) changes every key, so the next night backtests afresh instead of trusting numbers an
    older code made; the package's version number is not bumped for such changes."""
    digest = hashlib.sha256()
    for path in sorted(FORECAST_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(FORECAST_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    for library in ("scikit-learn", "numpy", "pandas", "duckdb"):
        digest.update(f"{library}=={metadata.version(library)}\n".encode())
    return digest.hexdigest()


def entry_key(recipe: Recipe, inputs: str) -> str:
    """The ledger key of ``recipe`` backtested on ``inputs`` (inputs_digest)."""
    return hashlib.sha256(f"{recipe.recipe_id}\n{inputs}".encode()).hexdigest()


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ledger's tables (the deal backtest's and the revenue backtest's) if absent:
    once per backtest run, before any lookup or store."""
    con.execute("create schema if not exists ml")
    con.execute(f"create table if not exists ml.{TABLE} ({COLUMNS})")
    con.execute(f"create table if not exists ml.{REVENUE_TABLE} ({REVENUE_COLUMNS})")


def lookup(con: duckdb.DuckDBPyConnection, key: str) -> tuple[pd.Series, str | None] | None:
    """The probabilities (by opportunity_id) and fallback of the entry ``key``; None if absent."""
    rows = con.execute(
        f"select opportunity_id, probability, fallback from ml.{TABLE} where input_key = ?", [key]
    ).df()
    if rows.empty:
        return None
    fallback = rows["fallback"].dropna()
    return (
        pd.Series(rows["probability"].to_numpy(), index=rows["opportunity_id"].to_numpy()),
        str(fallback.iloc[0]) if len(fallback) else None,
    )


def store(
    con: duckdb.DuckDBPyConnection,
    publish: Publish,
    key: str,
    cutoff: date,
    candidate: str,
    recipe: Recipe,
    scored: pd.DataFrame,
    probabilities: np.ndarray,
    fallback: str | None,
    as_of: date,
    run_id: str,
) -> None:
    """Replace the entry of (cutoff, candidate) with this one, in the caller's transaction."""
    frame = pd.DataFrame(
        {
            "input_key": key,
            "cutoff": pd.Timestamp(cutoff),
            "candidate": candidate,
            "recipe_id": recipe.recipe_id,
            "opportunity_id": scored["opportunity_id"].to_numpy(),
            "probability": np.asarray(probabilities, dtype=float),
            "fallback": fallback,
            "as_of": pd.Timestamp(as_of),
            "run_id": run_id,
        }
    )
    con.execute(f"delete from ml.{TABLE} where cutoff = ? and candidate = ?", [cutoff, candidate])
    con.register("_ledger_rows", frame)
    con.execute(f"insert into ml.{TABLE} select * from _ledger_rows")
    con.unregister("_ledger_rows")
    publish("ml", TABLE, "where cutoff = $1 and candidate = $2", [cutoff, candidate])


# The revenue backtest's ledger: one entry per backtest period, holding the period's forecast
# ledger rows (every cut-off in it, every forecaster) and its close-timing rows, as Parquet.
REVENUE_TABLE = "backtest_revenue_periods"
REVENUE_COLUMNS = """
    input_key VARCHAR, period VARCHAR, recipe_id VARCHAR, ledger BLOB, timing BLOB, as_of DATE,
    run_id VARCHAR"""


def new_business_digest(new: NewBusinessForecast | None) -> str:
    """A content hash of a new-business forecast: its expectations and the amounts it draws."""
    digest = hashlib.sha256()
    if new is not None:
        digest.update(repr((sorted(new.periods), new.rate_spread)).encode())
        for horizon in sorted(new.segments):
            for name, seg in sorted(new.segments[horizon].items()):
                digest.update(repr((horizon, name, seg.expected, seg.expected_wins)).encode())
                digest.update(np.asarray(seg.amounts, dtype=float).tobytes())
    return digest.hexdigest()


def period_key(recipe: Recipe, parts: Sequence[str]) -> str:
    """The ledger key of a revenue backtest period forecast with ``recipe`` from ``parts``: the
    digests of what it is made from (run_revenue_backtest lists them)."""
    return hashlib.sha256("\n".join([code_digest(), recipe.recipe_id, *parts]).encode()).hexdigest()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def lookup_period(con: duckdb.DuckDBPyConnection, key: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The (ledger rows, timing rows) of the period entry ``key``; None if absent."""
    row = con.execute(f"select ledger, timing from ml.{REVENUE_TABLE} where input_key = ?", [key]).fetchone()
    if row is None:
        return None
    return pd.read_parquet(io.BytesIO(row[0])), pd.read_parquet(io.BytesIO(row[1]))


def store_period(
    con: duckdb.DuckDBPyConnection,
    publish: Publish,
    key: str,
    period: str,
    recipe: Recipe,
    ledger: pd.DataFrame,
    timing: pd.DataFrame,
    as_of: date,
    run_id: str,
) -> None:
    """Replace the period's entry with this one, in the caller's transaction."""
    con.execute(f"delete from ml.{REVENUE_TABLE} where period = ?", [period])
    con.execute(
        f"insert into ml.{REVENUE_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
        [key, period, recipe.recipe_id, _parquet(ledger), _parquet(timing), as_of, run_id],
    )
    publish("ml", REVENUE_TABLE, "where period = $1", [period])
