"""Every pipecast model as an MLflow pyfunc model, so a team loads any version from the registry:

    mlflow.pyfunc.load_model("models:/win_probability@champion").predict(deals)

The fitted model (the same joblib file the nightly job scores with) is the pyfunc model's artifact;
``predict`` hands the input frame to the model's own ``predict``, so the scores are the job's.
The input is the frame the job builds for that model (pipecast.forecast.scoring.open_deals for
win_probability and close_timing; the propensity and lead frames for the others).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import joblib
from mlflow.pyfunc import PythonModel

ARTIFACT = "fitted_model"
MODEL_DIR = "model"  # the pyfunc model's folder in each MLflow run's artifacts


class FittedModel(PythonModel):
    """A pipecast model (any object with ``predict(frame)``) behind MLflow's pyfunc interface."""

    def load_context(self, context) -> None:
        self.model = joblib.load(context.artifacts[ARTIFACT])

    # model_input: the frame the job builds for this model (no type hint: MLflow would try to
    # infer a signature from it; the frames' columns are the job's features)
    def predict(self, context, model_input, params: dict[str, Any] | None = None):
        return self.model.predict(model_input)


def save_pyfunc(joblib_path: Path, into: Path) -> Path:
    """Write the MLflow model folder for ``joblib_path`` under ``into``; return the folder."""
    import mlflow.pyfunc

    path = into / MODEL_DIR
    mlflow.pyfunc.save_model(
        path=str(path),
        python_model=str(Path(__file__).with_name("mlflow_model_code.py")),
        artifacts={ARTIFACT: str(joblib_path)},
        # pipecast's own environment: stated, not inferred (inference reloads the model in a subprocess)
        pip_requirements=["pipecast"],
    )
    return path


def temporary_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="pipecast-mlflow-")
