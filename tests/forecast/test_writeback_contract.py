"""The ml.* columns are declared once (pipecast.forecast.writeback.ML_TABLES): dbt's source yml
documents every column with its type, and the prediction suites validate the tables declared
there, on their declared keys."""

from __future__ import annotations

import yaml
from pipecast.config import PROJECT_ROOT
from pipecast.forecast import writeback
from pipecast_expectations import prediction_suites

SOURCES = PROJECT_ROOT / "dbt_project" / writeback.SOURCES_YML


def _declared_in_yml() -> dict[str, list[tuple[str, str]]]:
    source = next(
        s for s in yaml.safe_load(SOURCES.read_text(encoding="utf-8"))["sources"] if s["name"] == "ml"
    )
    return {t["name"]: [(c["name"], c["data_type"]) for c in t.get("columns", [])] for t in source["tables"]}


def test_the_ml_source_yml_documents_every_column_of_ml_tables_with_its_type():
    """Fails when a column is added to ML_TABLES (or the yml edited) without regenerating the yml:
    python -m pipecast.forecast.writeback."""
    expected = {
        t: [(c, sql_type.lower()) for c, sql_type in writeback.columns_of(t)] for t in writeback.ML_TABLES
    }
    assert _declared_in_yml() == expected


def test_the_prediction_suites_validate_the_declared_prediction_tables_on_their_keys():
    assert prediction_suites.TABLES is writeback.PREDICTION_KEYS
    assert prediction_suites.DRIVERS == ("driver_1", "driver_2", "driver_3")
    for table, key in writeback.PREDICTION_KEYS.items():
        columns = dict(writeback.columns_of(table))
        assert set(key) <= set(columns), table
        suite = prediction_suites.prediction_suite(table, columns)
        assert suite.expectations, table
