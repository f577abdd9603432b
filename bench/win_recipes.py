"""Win-probability recipes side by side on a built demo warehouse, against the generator's truth.

    python bench/win_recipes.py STATE_DIR [--recipes stage_chain stage_hazard snapshot]
                                [--cutoffs 4] [--at-as-of]

Default: the deal backtest the nightly job runs (each recipe trained at the last ``--cutoffs``
mature period-ends, scored on the deals open then; pipecast.forecast.backtests), pooled Brier of
every recipe beside the CRM's stage-weighted probability and the generator's true probabilities,
and per stage the mean prediction beside the observed win rate (calibration by stage).

``--at-as-of``: no backtest (a short history has no mature cut-off): each recipe trained on what
the warehouse knew at its last export and scored on the deals open then, against their final
outcomes and true probabilities from the ground-truth file (the generator plays every deal to
its end).

STATE_DIR is a pipecast state folder (warehouse.duckdb, demo_truth/ground_truth.csv). Prints a
Markdown table; nothing is written to the warehouse.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from pipecast.config import Settings
from pipecast.forecast import backtests, close_timing, features, horizons, parallel, win_models
from pipecast.forecast.metrics import probability_metrics
from pipecast.forecast.scoring import ForecastContext, load_exits, open_deals
from pipecast.warehouse import connect

log = logging.getLogger("win_recipes")


def _settings(state: Path) -> Settings:
    return Settings(state_dir=state, landing_dir=state / "landing", warehouse_path=state / "warehouse.duckdb")


def _scored_backtest(con, settings, ctx, recipes, cutoffs_count, truth) -> pd.DataFrame:
    first_day, as_of = con.execute(
        "select cast(min(created_at) as date), max(export_date) from staging.stg_crm__opportunities"
    ).fetchone()
    hz = horizons.of_night(con, as_of, settings, ctx.fiscal_start_month)
    ctx = replace(ctx, grain=hz.grain, maturity_days=hz.label_maturity_days)
    training = pd.DataFrame({"cutoff": pd.Series(dtype="datetime64[us]")})
    if any(r.family == "snapshot" for r in recipes.values()):
        cutoffs = horizons.training_cutoffs(first_day, as_of, hz)
        fraction = features.sample_fraction_for(
            features.count_open_deals(con, cutoffs), ctx.max_training_rows
        )
        training = close_timing.with_periods(
            features.snapshots(con, cutoffs, fraction), ctx.grain, ctx.fiscal_start_month
        )
    deal_cutoffs = hz.backtest_cutoffs[-cutoffs_count:]
    return backtests.run_deal_backtest(con, ctx, deal_cutoffs, recipes, training, truth).scored


def _scored_at_as_of(con, ctx, recipes, truth) -> pd.DataFrame:
    as_of = con.execute("select max(export_date) from staging.stg_crm__opportunities").fetchone()[0]
    deals = open_deals(con, ctx, as_of)
    visits = load_exits(con, ctx, as_of)
    empty = pd.DataFrame({"cutoff": pd.Series(dtype="datetime64[us]")})
    data = win_models.WinTrainingData(as_of, visits, empty, ctx.maturity_days)
    columns = {
        f"p_{name}": win_models.fit(rec, data, ctx.seed).predict(deals) for name, rec in recipes.items()
    }
    scored = backtests.attach_truth(deals.assign(**columns), truth)
    outcome = truth.set_index("opportunity_id")["outcome_won"].astype(str).str.lower().isin(["true", "1"])
    scored["final_is_won"] = scored["opportunity_id"].map(outcome).fillna(False).astype(bool)
    return scored


def report(scored: pd.DataFrame, names: list[str]) -> str:
    forecasters = {name: f"p_{name}" for name in names} | {
        "stage_weighted": "crm_probability",
        "true_probability": "p_true",
    }
    y = scored["final_is_won"].astype(int)
    base = probability_metrics(y, scored["crm_probability"].fillna(0))["brier"]
    lines = [
        f"{len(scored):,} deals, {int(y.sum()):,} won",
        "",
        "| forecaster | Brier | vs stage-weighted | log loss | AUC | ECE |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, column in forecasters.items():
        m = probability_metrics(y, scored[column].fillna(0))
        lines.append(
            f"| {name} | {m['brier']:.4f} | {100 * (m['brier'] / base - 1):+.1f}% | {m['log_loss']:.4f} "
            f"| {m['auc']:.3f} | {m['ece']:.3f} |"
        )
    lines += ["", "calibration by stage (mean predicted; observed win rate)", ""]
    header = " | ".join(forecasters)
    lines += [f"| stage | deals | observed | {header} |", "|---|---:|---:|" + "---:|" * len(forecasters)]
    by_stage = scored.groupby(["stage_rank", "stage"], observed=True)
    for (_, stage), group in by_stage:
        means = " | ".join(f"{group[c].fillna(0).mean():.3f}" for c in forecasters.values())
        lines.append(f"| {stage} | {len(group)} | {group['final_is_won'].mean():.3f} | {means} |")
    gaps = {
        name: float(
            np.average(
                [abs(g[c].fillna(0).mean() - g["final_is_won"].mean()) for _, g in by_stage],
                weights=[len(g) for _, g in by_stage],
            )
        )
        for name, c in forecasters.items()
    }
    lines += [
        "",
        "deal-weighted mean |predicted - observed| by stage: "
        + ", ".join(f"{n} {v:.3f}" for n, v in gaps.items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state", type=Path)
    parser.add_argument("--recipes", nargs="+", default=["stage_chain", "stage_hazard"])
    parser.add_argument("--cutoffs", type=int, default=4)
    parser.add_argument("--at-as-of", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = _settings(args.state)
    ctx = ForecastContext.from_settings(settings)
    truth = pd.read_csv(settings.ground_truth_path)
    recipes = {name: win_models.recipe(name) for name in args.recipes}
    with parallel.forecast_limits(settings), connect(settings) as con:
        if args.at_as_of:
            scored = _scored_at_as_of(con, ctx, recipes, truth)
        else:
            scored = _scored_backtest(con, settings, ctx, recipes, args.cutoffs, truth)
    print(report(scored, list(recipes)))


if __name__ == "__main__":
    main()
