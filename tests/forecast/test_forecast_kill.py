"""The real forecast job killed (SIGKILL) in the middle of writing its night: no ml table moves to
the new night, the predictions stage fails that night instead of passing off the previous night's
forecast, and the next normal run writes the whole night."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from pipecast import pipeline
from pipecast.forecast.job import run_forecast
from pipecast.forecast.writeback import ML_TABLES

from tests.faults.killing import kill_at
from tests.forecast.conftest import AS_OF, FAST, settings_env

PIPECAST = str(Path(__import__("sys").executable).with_name("pipecast"))


def _nights(settings) -> dict[str, dict]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return {
            t: dict(con.execute(f"select as_of, count(*) from ml.{t} group by 1").fetchall())
            for t in ML_TABLES
        }


def test_a_forecast_killed_between_two_ml_tables_publishes_nothing(demo_warehouse, tmp_path):
    settings = demo_warehouse.copy(tmp_path / "state")
    last_night = AS_OF - timedelta(days=1)
    run_forecast(last_night, settings)
    before = _nights(settings)
    assert set(before["revenue_forecast"]) == {last_night}

    env = settings_env(FAST) | {
        "PIPECAST_WAREHOUSE_PATH": str(settings.warehouse_path),
        "PIPECAST_LANDING_DIR": str(settings.landing_dir),
    }
    # the job writes opportunity_scores, revenue_forecast, revenue_forecast_segments, then this one
    kill_at(
        "writeback:forecast_ledger",
        [PIPECAST, "forecast", "--as-of", AS_OF.isoformat()],
        settings.state_dir,
        env,
        timeout=1800,  # the job up to its fourth table: minutes on a loaded machine
    )

    assert _nights(settings) == before  # nothing of tonight, nothing of last night lost
    with pytest.raises(pipeline.ValidationFailed, match=f"no forecast for {AS_OF}.*newest is {last_night}"):
        pipeline.validate_predictions(AS_OF, settings)

    run_forecast(AS_OF, settings)  # the next normal run
    after = _nights(settings)
    written = [table for table, nights in before.items() if nights]  # optional models may write none
    assert {"opportunity_scores", "revenue_forecast", "forecast_ledger", "model_runs"} <= set(written)
    for table in written:
        assert after[table][last_night] == before[table][last_night], table
        assert after[table].get(AS_OF), f"ml.{table} has no rows for {AS_OF}"
