"""Shared fixtures: isolated settings per test (state, landing zone and warehouse in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipecast.config import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        landing_dir=tmp_path / "landing",
        warehouse_path=tmp_path / "state" / "warehouse.duckdb",
    )
