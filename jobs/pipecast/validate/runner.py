"""The validation stage's public API: one checkpoint per stage, run by the CLI and the DAG.

- ``validate_raw(export_date, settings)``: every entity of one export (raw.*); an error means the
  export must be quarantined and nothing downstream replaced.
- ``validate_marts(settings)``: the marts BI reads, after dbt build; an error stops the forecast.
- ``validate_predictions(as_of, settings)``: ml.* written by the forecast job for one night.

Each returns a ``StageOutcome`` (``passed_errors``, ``failures``, per-suite ``outcomes``).
``run_checkpoint`` / ``run_stage`` validate any suite against any table, for later stages.
"""

from __future__ import annotations

from pipecast.validate.checkpoint import (
    Batch,
    Skipped,
    SqlBatch,
    StageOutcome,
    SuiteRun,
    TableBatch,
    ValidationOutcome,
    data_docs_dir,
    run_checkpoint,
    run_stage,
)
from pipecast.validate.marts import validate_marts
from pipecast.validate.predictions import validate_predictions
from pipecast.validate.raw import validate_raw

__all__ = [
    "Batch",
    "Skipped",
    "SqlBatch",
    "StageOutcome",
    "SuiteRun",
    "TableBatch",
    "ValidationOutcome",
    "data_docs_dir",
    "run_checkpoint",
    "run_stage",
    "validate_marts",
    "validate_predictions",
    "validate_raw",
]
