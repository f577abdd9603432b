"""ml.model_runs: one row per model and night (a skipped model included), its model file in the
model store and, with ``forecast_mlflow``, an MLflow run; then ``is_current`` moved to the version
the newest night left current, per model."""

from __future__ import annotations

import json
from datetime import date, datetime

import duckdb
import pandas as pd

from pipecast.config import Settings
from pipecast.forecast import horizons, registry
from pipecast.forecast.fallbacks import Fallbacks
from pipecast.forecast.model_spec import ModelVersion
from pipecast.forecast.writeback import replace_night


def record_versions(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: date,
    run_id: str,
    now: datetime,
    versions: list[ModelVersion],
    notes: Fallbacks,
    hz: horizons.Horizons,
) -> dict[str, str]:
    """Write the night's ml.model_runs rows; returns each model's decision."""
    tracker = registry.MlflowTracker(settings)
    rows = []
    for v in versions:
        path = (
            registry.save_model(settings, v.model_name, v.version, v.model) if v.model is not None else None
        )
        mlflow_run = None
        if path is not None:
            mlflow_run = tracker.log_version(
                v.model_name,
                v.version,
                path,
                params={
                    "recipe": json.dumps(v.recipe),
                    "features": json.dumps(v.features),
                    "train_rows": v.train_rows,
                    "first_cutoff": v.first_cutoff,
                    "last_cutoff": v.last_cutoff,
                },
                metrics={f"backtest_{k}": val for k, val in v.metrics.items()},
                tags={"as_of": as_of.isoformat(), "pipecast_run_id": run_id, "decision": v.decision},
                make_champion=v.current_version == v.version,
            )
        rows.append(
            {
                "run_id": run_id,
                "as_of": as_of,
                "model_name": v.model_name,
                "model_version": v.version,
                "recipe_id": v.recipe_id,
                "recipe": json.dumps(v.recipe),
                "trained_at": now,
                "train_rows": v.train_rows,
                "first_cutoff": v.first_cutoff,
                "last_cutoff": v.last_cutoff,
                "features": json.dumps(v.features),
                "metrics": json.dumps(v.metrics),
                "score": v.score,
                "decision": v.decision,
                "current_version": v.current_version,
                "model_path": str(path) if path is not None else "",
                "model_sha256": registry.file_sha256(path) if path is not None else "",
                "mlflow_run_id": mlflow_run,
                "is_current": False,
                "fallback_reason": notes.reason_for(v.model_name),
                "horizons": hz.to_json(),
            }
        )
    replace_night(con, "model_runs", as_of, pd.DataFrame(rows), settings=settings)
    # is_current: the version the newest night left current, per model (for BI); a model skipped
    # on the newest night has none
    con.execute(
        """
        update ml.model_runs set is_current = coalesce(model_version in (
            select current_version from ml.model_runs latest
            where latest.model_name = ml.model_runs.model_name and latest.current_version is not null
              and latest.as_of = (select max(as_of) from ml.model_runs m
                                  where m.model_name = latest.model_name)), false)
        """
    )
    return {v.model_name: v.decision for v in versions}
