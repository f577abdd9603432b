"""How far tree-path drivers agree with the swap drivers, and what each costs, on tonight's win model.

    python bench/driver_agreement.py --as-of 2026-11-28 --deals 2000

Run after `pipecast forecast` on a benchmark warehouse (PIPECAST_* variables point at it; opened
read-only). On --deals open deals drawn at random, the drivers of the night's current win model
come three ways:

- paths: explain.predict_with_drivers, what the night writes (the trees' decision paths);
- swaps: explain.driver_effects with the night's background (PIPECAST_FORECAST_EXPLAIN_BACKGROUND,
  5) and seed, what the night wrote before;
- reference: swaps against --reference-background (50) other deals: the interventional effect
  with ten times less sampling noise, which both are held against;

plus the night's swaps with another seed, to show how much the swaps move by sampling alone. Per
pair: how often the top driver is the same, the share of the top 3 in common, the rank
correlation of the drivers' sizes per deal (Spearman, averaged), and the correlation of each
driver's effects over the deals. CPU seconds per method, per 1,000 deals.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats


def agreement(a: np.ndarray, b: np.ndarray, names: list[str]) -> dict[str, object]:
    """Top-1 and top-3 agreement, per-deal rank correlation of |effect| and per-driver correlation."""
    top_a, top_b = np.argsort(-np.abs(a), axis=1), np.argsort(-np.abs(b), axis=1)
    spearman = [stats.spearmanr(np.abs(x), np.abs(y)).statistic for x, y in zip(a, b, strict=True)]
    per_driver = {
        name: float(np.corrcoef(a[:, j], b[:, j])[0, 1])
        for j, name in enumerate(names)
        if a[:, j].std() > 0 and b[:, j].std() > 0
    }
    return {
        "top1": float(np.mean(top_a[:, 0] == top_b[:, 0])),
        "top3": float(np.mean([len(set(x[:3]) & set(y[:3])) / 3 for x, y in zip(top_a, top_b, strict=True)])),
        "spearman": float(np.nanmean(spearman)),
        "per_driver": per_driver,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--deals", type=int, default=2000)
    parser.add_argument("--reference-background", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import joblib
    from pipecast.config import get_settings
    from pipecast.forecast import explain
    from pipecast.forecast.scoring import ForecastContext, open_deals
    from pipecast.warehouse import connect
    from score_synthetic import current_model_paths

    settings = get_settings()
    ctx = ForecastContext.from_settings(settings)
    with connect(settings, read_only=True) as con:
        win = joblib.load(current_model_paths(con, args.as_of)["win_probability"])
        real = open_deals(con, ctx, args.as_of)
    deals = real.sample(min(args.deals, len(real)), random_state=settings.forecast_seed)
    features = win.recipe.features
    background, seed = settings.forecast_explain_background, settings.forecast_seed

    def timed(run) -> tuple[pd.DataFrame, float]:
        start = time.process_time()
        effects = run()
        return effects, (time.process_time() - start) * 1000 / len(deals)

    methods = {
        "paths": lambda: explain.predict_with_drivers(win, deals, features, background, seed)[1],
        "swaps": lambda: explain.driver_effects(win.predict, deals, features, background, seed),
        "swaps, other seed": lambda: explain.driver_effects(
            win.predict, deals, features, background, seed + 1
        ),
        "reference": lambda: explain.driver_effects(
            win.predict, deals, features, args.reference_background, seed + 2
        ),
    }
    effects, seconds = {}, {}
    for name, run in methods.items():
        effects[name], seconds[name] = timed(run)
    names = list(effects["paths"].columns)
    values = {name: frame[names].to_numpy(dtype=float) for name, frame in effects.items()}
    pairs = [
        ("paths", "reference"),
        ("swaps", "reference"),
        ("paths", "swaps"),
        ("swaps", "swaps, other seed"),
    ]
    result = {
        "win_model": win.recipe.recipe_id,
        "deals": len(deals),
        "cpu_seconds_per_1000_deals": seconds,
        "agreement": {f"{a} vs {b}": agreement(values[a], values[b], names) for a, b in pairs},
        "mean_abs_effect": {
            name: dict(zip(names, np.abs(v).mean(axis=0).round(3).tolist(), strict=True))
            for name, v in values.items()
        },
    }
    print(f"win model {result['win_model']}, {len(deals):,} open deals")
    print("| method | CPU s per 1,000 deals |\n|---|---:|")
    for name, s in seconds.items():
        print(f"| {name} | {s:.2f} |")
    print("\n| pair | same top driver | top 3 in common | rank correlation |\n|---|---:|---:|---:|")
    for pair, a in result["agreement"].items():
        print(f"| {pair} | {a['top1']:.0%} | {a['top3']:.0%} | {a['spearman']:.2f} |")
    for pair in ("paths vs reference", "swaps vs reference"):
        per = result["agreement"][pair]["per_driver"]
        print(f"{pair}, per driver: " + ", ".join(f"{k} {v:.2f}" for k, v in per.items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
