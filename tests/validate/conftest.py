"""Fixtures of the validation tests: a Settings on tmp_path and a raw-export loader."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from pipecast.config import Settings
from raw_warehouse import LoadExport
from raw_warehouse import load_export as _load_export


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, warehouse_path=tmp_path / "w.duckdb")


@pytest.fixture
def load_export(settings: Settings) -> LoadExport:
    """``load_export(export, export_date=..., drop_columns=...)`` into this warehouse."""
    return partial(_load_export, settings)
