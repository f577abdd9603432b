"""The pyfunc model's code as MLflow's "models from code" takes it (a file run at load time), so
no pickled wrapper object is stored: the fitted model itself is the joblib artifact."""

import mlflow

from pipecast.forecast.mlflow_pyfunc import FittedModel

mlflow.models.set_model(FittedModel())
