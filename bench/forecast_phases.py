"""`pipecast forecast`, with the wall time and peak memory of each phase of the nightly job.

    python bench/forecast_phases.py --json phases.json [pipecast forecast options]

Runs the real CLI (`pipecast.cli.main(["forecast", ...])`) in this process after wrapping the
functions that the forecast job and its models (pipecast/forecast/model_spec.py, models/*.py)
call, in the calling module's own namespace only (the module-level names it imported, and proxies
for the modules it calls through), and the optional models' steps on their classes: nothing in
pipecast is edited and other callers are untouched. The job does not log per-phase timings
itself; this separates retraining from scoring without changing it. If a module is refactored and
a name below is gone, this script stops with the name, rather than measuring something else.

Categories: ``retrain`` (tonight's training data and model fits), ``backtest`` (recipes retrained
and scored at past cut-offs, champion/challenger), ``score`` (tonight's open deals: features, win
probability with its per-deal drivers, timing x amount, revenue P10/P50/P90), ``optional``
(product propensity and lead scores, each model's backtest, fit and score a phase), ``write``
(ml.* rows, model files, MLflow) and ``marts`` (the dbt forecast marts).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from phase_timer import ModuleProxy, PhaseTimer

F = "pipecast.forecast"
# (calling module, name in it: a function or "module.function", label, category)
PHASES: list[tuple[str, str, str, str]] = [
    (f"{F}.model_spec", "features.snapshots", "training features (point-in-time cut-offs)", "retrain"),
    (
        f"{F}.models.win_probability",
        "backtests.run_deal_backtest",
        "deal backtest (recipes refit at past cut-offs)",
        "backtest",
    ),
    (f"{F}.model_spec", "load_exits", "stage exits (win model's training rows)", "retrain"),
    (f"{F}.models.win_probability", "win_models.fit", "win-probability model fit", "retrain"),
    (
        f"{F}.models.revenue_forecast",
        "backtests.run_revenue_backtest",
        "revenue backtest (models refit per period)",
        "backtest",
    ),
    (f"{F}.model_spec", "open_deals", "open-deal features", "score"),
    (f"{F}.models.close_timing", "fit_timing", "close-timing model fit", "retrain"),
    (
        f"{F}.models.deal_amount",
        "with_amounts",
        "deal amount (won-to-booked ratio, typical amounts)",
        "retrain",
    ),
    (
        f"{F}.models.deal_amount",
        "drivers",
        "win probability + per-deal drivers (one pass over the trees)",
        "score",
    ),
    (f"{F}.models.deal_amount", "score_deals", "timing x amount per open deal", "score"),
    (f"{F}.models.new_business", "new_business.forecast_new_business", "new-business model", "retrain"),
    (
        f"{F}.models.revenue_forecast",
        "backtests.forecast_with_spread",
        "revenue P10/P50/P90 (Monte-Carlo)",
        "score",
    ),
    (f"{F}.models.revenue_forecast", "with_targets", "targets per period", "score"),
    (f"{F}.job", "replace_night", "write ml.* rows", "write"),
    (f"{F}.job", "record_versions", "model versions (joblib, MLflow, ml.model_runs)", "write"),
]
# the optional models: a phase per model and step (backtest, fit, score)
OPTIONAL = [
    (f"{F}.models.product_propensity", "ProductPropensity", "product propensity"),
    (f"{F}.models.lead_conversion", "LeadConversion", "lead scores"),
]


def _missing(where: str) -> SystemExit:
    return SystemExit(f"{where} is gone: update {__file__}")


def instrument(timer: PhaseTimer) -> None:
    from pipecast.forecast import marts

    proxies: dict[tuple[str, str], dict[str, object]] = {}
    for module_name, name, label, category in PHASES:
        caller = importlib.import_module(module_name)
        owner_name, _, function = name.rpartition(".")
        owner = getattr(caller, owner_name, None) if owner_name else caller
        fn = getattr(owner, function, None) if owner is not None else None
        if fn is None:
            raise _missing(f"{module_name}.{name}")
        wrapped = timer.wrap(fn, label, category)
        if owner_name:
            proxies.setdefault((module_name, owner_name), {})[function] = wrapped
        else:
            setattr(caller, function, wrapped)
    for (module_name, owner_name), overrides in proxies.items():
        caller = importlib.import_module(module_name)
        setattr(caller, owner_name, ModuleProxy(getattr(caller, owner_name), overrides))
    for module_name, class_name, label in OPTIONAL:
        cls = getattr(importlib.import_module(module_name), class_name, None)
        if cls is None:
            raise _missing(f"{module_name}.{class_name}")
        for step in ("backtest", "fit", "score"):
            setattr(cls, step, timer.wrap(getattr(cls, step), f"{label}: {step}", "optional"))
    # run_forecast imports it from the module when it runs: replacing the module attribute suffices
    marts.build_forecast_marts = timer.wrap(marts.build_forecast_marts, "dbt forecast marts", "marts")


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--json":
        raise SystemExit(__doc__)
    out = Path(argv[1])
    timer = PhaseTimer()
    instrument(timer)
    from pipecast.cli import main as cli_main

    code = cli_main(["forecast", *argv[2:]])
    out.write_text(json.dumps(timer.as_dict(), indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
