"""Fixtures of the forecast tests: the settings and copies of the small demo warehouse that
tests/conftest.py builds once per session (``demo_warehouse``; the report tests share it).

The demo company is the generator's (pipecast.demo) at 2,500 opportunities over three years, one
export as of AS_OF; its ground truth (true win probabilities) sits in the state folder as the
pipeline expects.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from pipecast.config import Settings
from pipecast.transform.dbt_runner import dbt_invoke

AS_OF = date(2026, 11, 27)
SIZE = 2500
SEED = 7
BUILD = ["build", "--exclude-resource-type", "test", "unit_test"]

# Small backtests and simulations: the tests pin behaviour, the benchmark measures accuracy.
BOUNDED = {
    "forecast_win_candidates": ["stage_chain"],
    "forecast_backtest_cutoffs": 2,
    "forecast_backtest_periods": 2,
    "forecast_simulations": 300,
    "forecast_explain_background": 2,
}
# ... and without MLflow tracking or the dbt forecast marts (tests that check those turn them on).
FAST = {**BOUNDED, "forecast_mlflow": False, "forecast_build_marts": False}


def settings_env(values: dict) -> dict[str, str]:
    """Settings fields as the PIPECAST_* variables a pipecast or Airflow process reads."""
    return {
        f"PIPECAST_{k.upper()}": json.dumps(v) if isinstance(v, list) else str(v) for k, v in values.items()
    }


def make_settings(state: Path, **overrides) -> Settings:
    return Settings(
        state_dir=state,
        landing_dir=state / "landing",
        warehouse_path=state / "warehouse.duckdb",
        **{**FAST, **overrides},
    )


def build_warehouse(settings: Settings, *extra: str) -> None:
    result = dbt_invoke([*BUILD, *extra], settings)
    assert result.success, f"dbt build failed: {result.exception}"


@dataclass(frozen=True)
class DemoWarehouse:
    """A built warehouse to copy from; ``settings`` points at the original (read it only)."""

    settings: Settings

    def copy(self, target: Path, **overrides) -> Settings:
        """A private copy of the state folder (warehouse, ground truth, landing zone)."""
        shutil.copytree(
            self.settings.state_dir, target, ignore=shutil.ignore_patterns("dbt", "models", "mlflow")
        )
        return make_settings(target, **overrides)


@pytest.fixture(autouse=True)
def one_thread():
    """Boosting on one OpenMP thread, as the job runs it (forecast_openmp_threads): on a shared
    machine more threads than free cores make it crawl (forecast/parallel.py)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
