"""CPU seconds of the deal backtest's parts at one cut-off: stage exits, and each candidate's fit
and predict. Read-only on a built warehouse (e.g. a benchmark size's state folder).

    python bench/backtest_profile.py /tmp/bench_sm/S --as-of 2026-11-28
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
from pipecast.config import Settings
from pipecast.forecast import close_timing, features, horizons, parallel, win_models
from pipecast.forecast.models.win_probability import candidates
from pipecast.forecast.scoring import ForecastContext, load_exits, open_deals
from pipecast.warehouse import connect


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state", type=Path)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    args = parser.parse_args(argv)
    state = args.state
    settings = Settings(
        state_dir=state, landing_dir=state / "landing", warehouse_path=state / "warehouse.duckdb"
    )
    defaults = ForecastContext.from_settings(settings)
    rows: list[tuple[str, float]] = []

    def timed(name: str, call):
        started = time.process_time()
        value = call()
        rows.append((name, time.process_time() - started))
        return value

    with parallel.forecast_limits(settings), connect(settings) as con:
        hz = horizons.of_night(con, args.as_of, settings, defaults.fiscal_start_month)
        ctx = replace(defaults, grain=hz.grain, maturity_days=hz.label_maturity_days)
        first = con.execute(
            "select cast(min(created_at) as date) from staging.stg_crm__opportunities"
        ).fetchone()[0]
        cutoffs = horizons.training_cutoffs(first, args.as_of, hz)
        fraction = features.sample_fraction_for(
            features.count_open_deals(con, cutoffs), ctx.max_training_rows
        )
        training = timed(
            f"point-in-time snapshots ({len(cutoffs)} cut-offs)",
            lambda: close_timing.with_periods(
                features.snapshots(con, cutoffs, fraction), ctx.grain, ctx.fiscal_start_month
            ),
        )
        cutoff = hz.backtest_cutoffs[-1] if hz.backtest_cutoffs else args.as_of
        exits = timed(f"stage exits at {cutoff}", lambda: load_exits(con, ctx, cutoff))
        test = timed(f"open deals at {cutoff}", lambda: open_deals(con, ctx, cutoff))
        known = training[training["cutoff"] <= pd.Timestamp(cutoff)]
        data = win_models.WinTrainingData(cutoff, exits, known, ctx.maturity_days)
        for name, recipe in candidates(settings).items():
            model = timed(f"fit {name}", lambda recipe=recipe: win_models.fit(recipe, data, ctx.seed))
            timed(f"predict {name} ({len(test):,} deals)", lambda model=model: model.predict(test))
    print("| part | CPU s |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
