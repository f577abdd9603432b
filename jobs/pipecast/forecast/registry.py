"""Model versions: every trained model kept with its metrics, data window, recipe and features;
champion/challenger decides which one scores.

Storage: the fitted model as a joblib file under state_dir/models/<model>/<version>.joblib (the
model store; a champion loads only from there, verified by the sha256 recorded at training), a row
in ml.model_runs (what BI sees), and, with ``forecast_mlflow``, an MLflow run (params: recipe and
features; metrics: backtest scores; the joblib file as artifact) and a registered model version
whose alias ``champion`` follows the current one. MLflow's file store refuses to start in 3.x
(maintenance mode), so the tracking store is SQLite (state_dir/mlflow/mlflow.db), artifacts in
state_dir/mlflow/artifacts; no server, no network. An MLflow failure is logged, never fatal: the
joblib files and ml.model_runs are enough to score.

The rule (``select_champion``): every candidate, the CRM's stage probability and the calibrated
stage model among them, is scored on tonight's point-in-time backtest (Brier); the published
model is the one that scored best. The night before's champion stays when no candidate beats it
tonight (a tie keeps it; it is retrained on tonight's data); a champion that could not be scored
tonight (its recipe unknown to this code) is not kept, since it is not validated. So the model
published is never worse than the stage-weighted baseline on the backtest that chose it. Without
a backtest the calibrated stage model is published (the job falls back to the CRM's probability
when even that cannot be fitted), never an unvalidated complex model, and the decision says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import joblib

from pipecast.config import Settings
from pipecast.errors import IntegrityError
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
    model_sha256: str | None = None

    def load(self, settings: Settings) -> Any:
        """Unpickle the model, only from the model store and only if its sha256 is the one
        recorded at training (ml.model_runs.model_sha256): anyone who can write ml.model_runs or
        the file could otherwise run code here. Raises IntegrityError otherwise."""
        store = model_store(settings).resolve()
        path = Path(self.model_path).resolve()  # symlinks and `..` resolved before the check
        if not path.is_relative_to(store):
            raise IntegrityError(
                f"refusing to load model {self.version}: its file is outside the model store {store}",
                file=self.model_path,
            )
        if not self.model_sha256:
            raise IntegrityError(
                f"refusing to load model {self.version}: ml.model_runs records no sha256 for it "
                "(trained by an older pipecast); retrain it",
                file=self.model_path,
            )
        data = path.read_bytes()  # hashed and unpickled from the same bytes
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.model_sha256:
            raise IntegrityError(
                f"refusing to load model {self.version}: sha256 {digest} is not {self.model_sha256} "
                "recorded at training (the file changed after training)",
                file=self.model_path,
            )
        return joblib.load(io.BytesIO(data))


def current_champion(con: duckdb.DuckDBPyConnection, model_name: str, before: date) -> Champion | None:
    """The version current after the latest night before ``before`` (re-running a night compares
    with the previous night's champion, not with itself)."""
    if not table_exists(con, "ml", "model_runs"):
        return None
    row = con.execute(
        """
        select current.model_version, current.recipe, current.score, current.model_path, current.as_of,
               current.model_sha256
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
    return Champion(model_name, row[0], json.loads(row[1] or "{}"), row[2], row[3], row[4], row[5])


@dataclass(frozen=True)
class Selection:
    """Tonight's published recipe (by candidate name) and why."""

    name: str
    promote: bool  # it becomes the current champion (else the champion's recipe is kept)
    reason: str
    fallback: str | None = None  # set when no backtest chose it


# Preferred on a tie, simplest first: the CRM's number, then the stage model, then the rest.
SIMPLICITY = ("stage_weighted", "stage_calibrated")
NO_BACKTEST_CHOICE = "stage_calibrated"


def _rank(name: str) -> int:
    return SIMPLICITY.index(name) if name in SIMPLICITY else len(SIMPLICITY)


def select_champion(
    scores: Mapping[str, float | None],
    champion_name: str | None = None,
    same_recipe: Mapping[str, bool] | None = None,
    baseline: str = "stage_weighted",
) -> Selection:
    """Pick tonight's model from its backtest scores (lower is better: Brier).

    ``champion_name``: the candidate that is the night before's champion's recipe (None: no
    champion, or its recipe was not scored tonight); ``same_recipe``: per candidate, whether it
    is the champion's recipe (a refresh, not a challenge)."""
    finite = {n: float(s) for n, s in scores.items() if s is not None and math.isfinite(s)}
    if not finite:
        reason = (
            f"no backtest could score a candidate: published the calibrated stage model "
            f"({NO_BACKTEST_CHOICE}), not an unvalidated model"
        )
        return Selection(NO_BACKTEST_CHOICE, True, reason, fallback=reason)
    best = min(finite, key=lambda n: (finite[n], _rank(n)))
    against = f"; stage-weighted {finite[baseline]:.4f}" if baseline in finite and best != baseline else ""
    if champion_name is not None and champion_name in finite:
        if (same_recipe or {}).get(best):
            return Selection(
                best, True, f"same recipe, retrained on newer data ({finite[best]:.4f}{against})"
            )
        if finite[champion_name] <= finite[best]:
            others = [n for n in finite if n != champion_name]
            rival = min(others, key=lambda n: (finite[n], _rank(n))) if others else None
            rival_text = f"{rival} {finite[rival]:.4f} >= " if rival else ""
            return Selection(
                champion_name,
                False,
                f"no challenger beats the champion {champion_name}; the best, {rival_text}"
                f"{finite[champion_name]:.4f}, does not beat the champion: kept, retrained",
            )
        return Selection(
            best,
            True,
            f"{best} beats the champion {champion_name} on the backtest "
            f"({finite[best]:.4f} < {finite[champion_name]:.4f}{against})",
        )
    if champion_name is not None:
        return Selection(
            best,
            True,
            f"the champion {champion_name} could not be scored tonight: replaced by {best}, "
            f"best on the backtest ({finite[best]:.4f}{against})",
        )
    return Selection(best, True, f"first model: {best}, best on the backtest ({finite[best]:.4f}{against})")


def model_store(settings: Settings) -> Path:
    """The only folder models are loaded from."""
    return settings.state_dir / "models"


def save_model(settings: Settings, model_name: str, version: str, model: Any) -> Path:
    """Write the model into the store (record ``file_sha256`` of it in ml.model_runs)."""
    path = model_store(settings) / model_name / f"{version}.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
