"""The dbt forecast marts (dbt_project/models/forecast): rebuilt after the job writes ml.*.

The nightly `dbt build` runs before the forecast, so on its own it would publish the previous
night's predictions; rebuilding just this folder afterwards publishes tonight's.
"""

from __future__ import annotations

import logging

from pipecast.config import Settings

log = logging.getLogger(__name__)

SELECTOR = "path:models/forecast"


def build_forecast_marts(settings: Settings) -> bool:
    """`dbt build --select path:models/forecast`, published atomically (the forecast marts switch
    together, pipecast.transform.publish); a failure is logged (ml.* is already written) and the
    previous forecast marts keep serving."""
    from pipecast.transform import DbtError, dbt_build

    if not (settings.dbt_project_dir / "models" / "forecast").exists():
        return False
    # The main build's run_results.json is what the report reads: keep it, file this one aside.
    target = settings.state_dir / "dbt" / "target"
    main_results = target / "run_results.json"
    saved = main_results.read_bytes() if main_results.exists() else None
    try:
        dbt_build(settings, select=SELECTOR, units=["forecast"])
        success = True
    except DbtError as exc:
        log.warning("%s", exc)
        success = False
    finally:
        if main_results.exists():
            main_results.replace(target / "run_results_forecast.json")
        if saved is not None:
            main_results.write_bytes(saved)
    if not success:
        log.warning("dbt build of the forecast marts failed: see %s", settings.state_dir / "dbt" / "logs")
    return success
