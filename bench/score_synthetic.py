"""Score N synthetic open deals with tonight's models, through the forecast's public scoring API.

    python bench/score_synthetic.py --deals 1000000 --as-of 2026-11-28 --json out.json

Run after `pipecast forecast` on a benchmark warehouse (PIPECAST_* variables point at it). The
deals open at --as-of (scoring.open_deals, the same features the nightly job scores) are repeated,
with new ids, up to --deals rows; then, each timed with its peak memory (phase_timer):

- drivers: explain.predict_with_drivers (the win probability and its drivers in one pass over the
  trees) and explain.top_drivers, as the nightly job calls them; --driver-deals limits the drivers
  to the first N deals (the benchmark then scales their time), and every deal's win probability is
  then predicted in the score phase;
- score: scoring.score_deals with the night's current win-probability and close-timing models
  (loaded from the files ml.model_runs names), typical won amounts from the warehouse;
- revenue: scoring.period_forecast for this period and the next (Monte-Carlo P10/P50/P90 over the
  open deals; deals not created yet left out, they do not grow with the open deals).

Nothing is written to the warehouse (it is opened read-only). The amount-won ratio is 1 (the
nightly job learns it from training snapshots; it scales amounts and does not change the cost).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from phase_timer import PhaseTimer


def synthetic_frame(deals: pd.DataFrame, n: int) -> pd.DataFrame:
    """``deals`` repeated up to n rows, each copy with its own opportunity_id."""
    if deals.empty:
        raise SystemExit("no open deals at that date to build the synthetic frame from")
    rows = np.resize(np.arange(len(deals)), n)
    frame = deals.iloc[rows].reset_index(drop=True)
    copy = np.arange(n) // len(deals)
    frame["opportunity_id"] = frame["opportunity_id"].astype(str) + "#" + pd.Series(copy).astype(str)
    return frame


def current_model_paths(con, as_of: date) -> dict[str, str]:
    rows = con.execute(
        """
        select night.model_name, current.model_path
        from ml.model_runs night
        join ml.model_runs current
          on current.model_name = night.model_name and current.model_version = night.current_version
        where night.as_of = ? and night.model_name in ('win_probability', 'close_timing')
        """,
        [as_of],
    ).fetchall()
    return {name: path for name, path in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument(
        "--driver-deals", type=int, help="compute drivers for the first N deals only (default: all)"
    )
    args = parser.parse_args(argv)
    driver_deals = args.deals if args.driver_deals is None else min(args.driver_deals, args.deals)

    timer = PhaseTimer()
    import joblib
    from pipecast.config import get_settings
    from pipecast.forecast import explain, parallel
    from pipecast.forecast.scoring import (
        FittedModels,
        ForecastContext,
        open_deals,
        period_forecast,
        score_deals,
        typical_won_amounts,
    )
    from pipecast.warehouse import connect

    settings = get_settings()
    ctx = ForecastContext.from_settings(settings)
    with parallel.forecast_limits(settings), connect(settings, read_only=True) as con:
        paths = current_model_paths(con, args.as_of)
        missing = {"win_probability", "close_timing"} - set(paths)
        if missing:
            raise SystemExit(
                f"no current {', '.join(sorted(missing))} model for {args.as_of}: forecast first"
            )
        win = joblib.load(paths["win_probability"])
        timing = joblib.load(paths["close_timing"])
        with timer.phase("open-deal features (real open deals)", "prepare"):
            real = open_deals(con, ctx, args.as_of)
            typical, overall = typical_won_amounts(con, args.as_of)
        with timer.phase(f"repeat to {args.deals:,} deals", "prepare"):
            deals = synthetic_frame(real, args.deals)
        models = FittedModels(args.as_of, win, timing, 1.0, {}, typical, overall)
        features = win.recipe.features
        background, seed = settings.forecast_explain_background, settings.forecast_seed
        one_pass = driver_deals >= len(deals)
        if one_pass:  # as the nightly job: P(win) comes with the drivers, then timing x amount
            with timer.phase(f"win probability + drivers, one pass ({len(deals):,} deals)", "drivers"):
                p_win, effects = explain.predict_with_drivers(win, deals, features, background, seed)
            with timer.phase("score: timing x amount (win probability from the drivers' pass)", "score"):
                scored = score_deals(deals, models, p_win)
            explained = scored
        else:  # drivers of the first N deals only: every deal's P(win) predicted on its own
            with timer.phase("score: win x timing x amount", "score"):
                scored = score_deals(deals, models)
            explained = scored.iloc[:driver_deals]
            with timer.phase(f"drivers: per-deal effects ({len(explained):,} deals)", "drivers"):
                effects = explain.predict_with_drivers(win, explained, features, background, seed)[1]
        with timer.phase(f"drivers: top 3 per deal ({len(explained):,} deals)", "drivers"):
            drivers = explain.top_drivers(explained, effects)
        rng = np.random.default_rng(ctx.seed)
        with timer.phase(f"revenue P10/P50/P90 ({ctx.draws:,} draws, 2 periods)", "revenue"):
            revenue = pd.concat(
                [
                    period_forecast(con, ctx, scored, args.as_of, name, period, None, rng)
                    for name, period in ctx.horizons(args.as_of).items()
                ],
                ignore_index=True,
            )
    result = {
        **timer.as_dict(),
        "deals": len(scored),
        "real_open_deals": len(real),
        "win_model": win.recipe.recipe_id,
        "mean_win_probability": float(scored["win_probability"].mean()),
        "driver_deals": len(drivers),
        "win_with_drivers": one_pass,
        "threads": settings.forecast_threads,
        "revenue_rows": len(revenue),
    }
    args.json.write_text(json.dumps(result, indent=1))
    for phase in result["phases"]:
        print(f"{phase['name']}: {phase['seconds']:.1f} s, peak {phase['peak_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
