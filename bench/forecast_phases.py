"""`pipecast forecast`, with the wall time and peak memory of each phase of the nightly job.

    python bench/forecast_phases.py --json phases.json [pipecast forecast options]

Runs the real CLI (`pipecast.cli.main(["forecast", ...])`) in this process after wrapping the
functions that pipecast/forecast/job.py calls, in job.py's own namespace only (the module-level
names it imported, and proxies for the modules it calls through): nothing in pipecast is edited
and other callers are untouched. The job does not log per-phase timings itself; this separates
retraining from scoring without changing it. If job.py is refactored and a name below is gone,
this script stops with the name, rather than measuring something else.

Categories: ``retrain`` (tonight's training data and model fits), ``backtest`` (recipes retrained
and scored at past cut-offs, champion/challenger), ``score`` (tonight's open deals: features,
win x timing x amount, per-deal drivers, revenue P10/P50/P90), ``optional`` (product propensity
and lead scores, each trained and applied), ``write`` (ml.* rows, model files, MLflow) and
``marts`` (the dbt forecast marts).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from phase_timer import ModuleProxy, PhaseTimer

# (module attribute of job.py, function name or None for a job.py function, label, category)
PHASES: list[tuple[str | None, str, str, str]] = [
    ("features", "snapshots", "training features (point-in-time cut-offs)", "retrain"),
    ("backtests", "run_deal_backtest", "deal backtest (recipes refit at past cut-offs)", "backtest"),
    (None, "load_exits", "stage exits (win model's training rows)", "retrain"),
    ("win_models", "fit", "win-probability model fit", "retrain"),
    ("backtests", "run_revenue_backtest", "revenue backtest (models refit per period)", "backtest"),
    (None, "open_deals", "open-deal features", "score"),
    (None, "fit_models", "close-timing model fit", "retrain"),
    (None, "score_deals", "win x timing x amount per open deal", "score"),
    (None, "_drivers", "per-deal drivers", "score"),
    ("new_business", "forecast_new_business", "new-business model", "retrain"),
    ("backtests", "forecast_with_spread", "revenue P10/P50/P90 (Monte-Carlo)", "score"),
    (None, "_with_targets", "targets per period", "score"),
    (None, "replace_night", "write ml.* rows", "write"),
    (None, "_optional_models", "product propensity + lead scores (fit and score)", "optional"),
    (None, "_record_versions", "model versions (joblib, MLflow, ml.model_runs)", "write"),
]


def instrument(timer: PhaseTimer) -> None:
    from pipecast.forecast import job, marts

    proxies: dict[str, dict[str, object]] = {}
    for module_name, function, label, category in PHASES:
        owner = job if module_name is None else getattr(job, module_name, None)
        fn = getattr(owner, function, None) if owner is not None else None
        if fn is None:
            where = f"job.{module_name}.{function}" if module_name else f"job.{function}"
            raise SystemExit(f"pipecast/forecast/job.py no longer has {where}: update {__file__}")
        wrapped = timer.wrap(fn, label, category)
        if module_name is None:
            setattr(job, function, wrapped)
        else:
            proxies.setdefault(module_name, {})[function] = wrapped
    for module_name, overrides in proxies.items():
        setattr(job, module_name, ModuleProxy(getattr(job, module_name), overrides))
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
