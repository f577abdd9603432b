"""Forecast charts for the morning report: calibration and accuracy over time, from ml.*.

``write_forecast_charts(con, out_dir)`` draws what the warehouse holds and returns the files:

* ``calibration.png``: reliability of the win probabilities on the newest night's deal backtest
  (predicted vs observed win rate per probability bin) for the model, the stage-weighted baseline
  and, on demo data, the true probabilities; Brier and ECE in the legend;
* ``forecast_accuracy.png``: each backtested period's actual revenue beside the model's range
  and expectation at the period's start and the CRM's stage-weighted forecast;
* ``accuracy_over_time.png``: the model's and the baseline's deal Brier score and revenue WAPE
  per night (ml.backtests), once there are several nights.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import numpy as np

from pipecast.warehouse import table_exists

log = logging.getLogger(__name__)

COLOURS = {"model": "#08519c", "stage_weighted": "#e6550d", "true_probability": "#31a354"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_forecast_charts(con: duckdb.DuckDBPyConnection, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    charts: list[Path] = []
    for name, draw in (
        ("calibration.png", _calibration),
        ("forecast_accuracy.png", _period_accuracy),
        ("accuracy_over_time.png", _over_time),
    ):
        try:
            if draw(con, out_dir / name):
                charts.append(out_dir / name)
        except Exception as exc:  # noqa: BLE001 - a chart must not fail the report
            log.warning("chart %s not drawn: %s", name, exc)
    return charts


def _calibration(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Reliability curves of the newest night's pooled deal backtest (ml.backtests, scope
    deals_reliability: mean predicted and observed win rate per probability bin)."""
    if not table_exists(con, "ml", "backtests"):
        return False
    newest = "as_of = (select max(as_of) from ml.backtests)"
    bins = con.execute(
        f"select forecaster, metric, value from ml.backtests where {newest} and scope = 'deals_reliability'"
    ).df()
    scores = con.execute(
        f"select forecaster, metric, value from ml.backtests where {newest} and scope = 'deals_pooled' "
        "and metric in ('brier', 'ece')"
    ).df()
    if bins.empty:
        return False
    bins["bin"] = bins["metric"].str.slice(3, 5).astype(int)
    bins["part"] = bins["metric"].str.split("_").str[-1]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    for name in [f for f in ("model", "stage_weighted", "true_probability") if f in set(bins["forecaster"])]:
        curve = bins[bins["forecaster"] == name].pivot(index="bin", columns="part", values="value")
        metric = scores[scores["forecaster"] == name].set_index("metric")["value"]
        ax.plot(
            curve["predicted"],
            curve["observed"],
            marker="o",
            color=COLOURS.get(name),
            label=f"{name} (Brier {metric.get('brier', np.nan):.3f}, ECE {metric.get('ece', np.nan):.3f})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted win probability")
    ax.set_ylabel("observed win rate")
    ax.set_title("Win probability calibration (deal backtest, pooled)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _period_accuracy(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    if not table_exists(con, "ml", "forecast_ledger"):
        return False
    ledger = con.execute(
        "select * from ml.forecast_ledger where as_of = (select max(as_of) from ml.forecast_ledger) "
        "and horizon = 'next' order by period_start"
    ).df()
    if ledger.empty:
        return False
    plt = _pyplot()
    model = ledger[ledger["forecaster"] == "model"].reset_index(drop=True)
    baseline = ledger[ledger["forecaster"] == "stage_weighted"].set_index("period")["expected"]
    x = np.arange(len(model))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(
        x, model["p90"] - model["p10"], bottom=model["p10"], width=0.5, color="#9ecae1", label="model P10-P90"
    )
    ax.scatter(x, model["expected"], color=COLOURS["model"], zorder=3, label="model expected")
    ax.scatter(
        x,
        [baseline.get(p) for p in model["period"]],
        marker="D",
        color=COLOURS["stage_weighted"],
        zorder=3,
        label="stage-weighted",
    )
    ax.scatter(x, model["actual"], marker="x", color="black", s=60, zorder=4, label="actual")
    ax.set_xticks(list(x), model["period"])
    as_of = day_text(ledger["as_of"].iloc[0])
    ax.set_title(f"Revenue forecast at each period's start vs actual (backtest as of {as_of})")
    ax.yaxis.set_major_formatter(_millions())
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _over_time(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    if not table_exists(con, "ml", "backtests"):
        return False
    history = con.execute(
        """
        select as_of, scope, forecaster, value from ml.backtests
        where cutoff is null and forecaster in ('model', 'stage_weighted')
          and ((scope = 'deals_pooled' and metric = 'brier')
               or (scope = 'revenue_at_period_start' and metric = 'wape'))
        order by as_of
        """
    ).df()
    if history["as_of"].nunique() < 2:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, (scope, label) in zip(
        axes,
        [("deals_pooled", "deal Brier score"), ("revenue_at_period_start", "revenue WAPE at period start")],
        strict=True,
    ):
        for name, group in history[history["scope"] == scope].groupby("forecaster"):
            ax.plot(group["as_of"], group["value"], marker="o", color=COLOURS.get(name), label=name)
        ax.set_title(label)
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def day_text(value: object) -> str:
    """A date for a title: YYYY-MM-DD, whether DuckDB hands back a date, a datetime or a Timestamp."""
    import pandas as pd

    return f"{pd.Timestamp(value):%Y-%m-%d}"


def _millions():
    import matplotlib.ticker

    return matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:.1f}M")
