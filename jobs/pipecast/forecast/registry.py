"""Model versions: every trained model kept with its metrics, data window, recipe and features;
champion/challenger decides which one scores.

Storage: the fitted model as a joblib file under state_dir/models/<model>/<version>.joblib, a row
in ml.model_runs (what BI sees), and, with ``forecast_mlflow``, an MLflow run (params: recipe and
features; metrics: backtest scores; the joblib file as artifact) and a registered model version
whose alias ``champion`` follows the current one. MLflow's file store refuses to start in 3.x
(maintenance mode), so the tracking store is SQLite (state_dir/mlflow/mlflow.db), artifacts in
state_dir/mlflow/artifacts; no server, no network. An MLflow failure is logged, never fatal: the
joblib files and ml.model_runs are enough to score.

The rule (``decide``): tonight's challenger becomes current when its backtest score beats the
champion's on the same cut-offs tonight; with the same recipe the challenger is the champion
retrained on newer data (a refresh) and replaces it; otherwise the champion keeps scoring,
retrained on tonight's data only if its recipe is among tonight's candidates.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import joblib

from pipecast.config import Settings
from pipecast.warehouse import table_exists

log = logging.getLogger(__name__)

EXPERIMENT = "pipecast-forecast"
CHAMPION_ALIAS = "champion"


@dataclass
class Champion:
    model_name: str
    version: str
    recipe: dict[str, Any]
    score: float | None
    model_path: str
    as_of: date

    def load(self) -> Any:
        return joblib.load(self.model_path)


@dataclass
class Decision:
    promote: bool  # the challenger becomes current
    reason: str


def current_champion(con: duckdb.DuckDBPyConnection, model_name: str, before: date) -> Champion | None:
    """The version current after the latest night before ``before`` (re-running a night compares
    with the previous night's champion, not with itself)."""
    if not table_exists(con, "ml", "model_runs"):
        return None
    row = con.execute(
        """
        select current.model_version, current.recipe, current.score, current.model_path, current.as_of
        from ml.model_runs night
        join ml.model_runs current
          on current.model_name = night.model_name and current.model_version = night.current_version
        where night.model_name = ? and night.as_of < ?
        order by night.as_of desc, current.as_of desc
        limit 1
        """,
        [model_name, before],
    ).fetchone()
    if row is None or not row[3] or not Path(row[3]).exists():
        return None
    return Champion(model_name, row[0], json.loads(row[1] or "{}"), row[2], row[3], row[4])


def decide(
    challenger_recipe_id: str,
    challenger_score: float | None,
    champion: Champion | None,
    champion_score_tonight: float | None,
) -> Decision:
    """Lower scores are better (Brier, log loss)."""
    if champion is None:
        return Decision(True, "first model")
    if champion.recipe.get("recipe_id") == challenger_recipe_id:
        return Decision(True, "same recipe, retrained on newer data")
    if challenger_score is None:
        return Decision(False, "challenger has no backtest score")
    reference = champion_score_tonight if champion_score_tonight is not None else champion.score
    if reference is None:
        return Decision(True, "champion has no backtest score")
    if challenger_score < reference:
        return Decision(
            True, f"beats the champion on the backtest ({challenger_score:.4f} < {reference:.4f})"
        )
    return Decision(False, f"does not beat the champion ({challenger_score:.4f} >= {reference:.4f})")


def save_model(settings: Settings, model_name: str, version: str, model: Any) -> Path:
    path = settings.state_dir / "models" / model_name / f"{version}.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return path


class MlflowTracker:
    """Optional MLflow mirror of each model version: a run with the backtest metrics and recipe,
    and a registered version that is a pyfunc model (loadable with
    ``mlflow.pyfunc.load_model("models:/<name>@champion")``). The tracking server and registry are
    settings (mlflow_tracking_uri, mlflow_registry_uri); by default a local SQLite store with local
    artifacts in state_dir/mlflow."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.forecast_mlflow
        self.root = settings.state_dir / "mlflow"
        self.tracking_uri = settings.mlflow_tracking_uri or f"sqlite:///{self.root / 'mlflow.db'}"
        self.registry_uri = settings.mlflow_registry_uri or self.tracking_uri
        self._local = settings.mlflow_tracking_uri is None
        self._client = None
        self._experiment_id: str | None = None

    def _connect(self):
        if self._client is None:
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
            logging.getLogger("alembic").setLevel(logging.WARNING)
            from mlflow import MlflowClient

            self.root.mkdir(parents=True, exist_ok=True)
            client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
            experiment = client.get_experiment_by_name(EXPERIMENT)
            # a server keeps its own artifact store; the local default keeps them in state_dir
            location = (self.root / "artifacts").as_uri() if self._local else None
            self._experiment_id = (
                experiment.experiment_id
                if experiment is not None
                else client.create_experiment(EXPERIMENT, artifact_location=location)
            )
            self._client = client
        return self._client

    def log_version(
        self,
        model_name: str,
        version: str,
        model_path: Path,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        make_champion: bool,
    ) -> str | None:
        """One MLflow run and registered version; returns the MLflow run id (None when off/failed)."""
        if not self.enabled:
            return None
        try:
            from pipecast.forecast import mlflow_pyfunc

            client = self._connect()
            run = client.create_run(
                self._experiment_id, run_name=version, tags={"model_name": model_name, **tags}
            )
            run_id = run.info.run_id
            for key, value in params.items():
                client.log_param(run_id, key, str(value)[:6000])
            for key, value in metrics.items():
                if value is not None and value == value:  # skip NaN
                    client.log_metric(run_id, key, float(value))
            client.log_artifact(run_id, str(model_path))
            with mlflow_pyfunc.temporary_dir() as tmp:
                model_dir = mlflow_pyfunc.save_pyfunc(model_path, Path(tmp))
                client.log_artifacts(run_id, str(model_dir), mlflow_pyfunc.MODEL_DIR)
            client.set_terminated(run_id)
            try:
                client.get_registered_model(model_name)
            except Exception:  # noqa: BLE001 - MLflow raises its own exception for a missing model
                client.create_registered_model(model_name)
            registered = client.create_model_version(
                model_name,
                f"{run.info.artifact_uri}/{mlflow_pyfunc.MODEL_DIR}",
                run_id=run_id,
                tags={"pipecast_version": version},
            )
            if make_champion:
                client.set_registered_model_alias(model_name, CHAMPION_ALIAS, registered.version)
            return run_id
        except Exception as exc:  # noqa: BLE001 - tracking must never fail the night
            log.warning(
                "MLflow tracking of %s failed (%s): ml.model_runs and the joblib file remain", version, exc
            )
            return None

    def set_champion(self, model_name: str, mlflow_run_id: str | None) -> None:
        """Point the champion alias at the version logged by ``mlflow_run_id``."""
        if not self.enabled or not mlflow_run_id:
            return
        try:
            client = self._connect()
            versions = client.search_model_versions(f"run_id = '{mlflow_run_id}'")
            if versions:
                client.set_registered_model_alias(model_name, CHAMPION_ALIAS, versions[0].version)
        except Exception as exc:  # noqa: BLE001
            log.warning("MLflow champion alias of %s not set (%s)", model_name, exc)
