"""Fixtures of the validation tests: a Settings on tmp_path and a raw-export loader."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import pytest
from pipecast.config import Settings
from pipecast.transform import manifest
from raw_warehouse import LoadExport
from raw_warehouse import load_export as _load_export


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, warehouse_path=tmp_path / "w.duckdb")


@pytest.fixture
def load_export(settings: Settings) -> LoadExport:
    """``load_export(export, export_date=..., drop_columns=...)`` into this warehouse."""
    return partial(_load_export, settings)


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dbt project parsed once (dbt parse): its manifest.json, for the marts checkpoint."""
    root = tmp_path_factory.mktemp("dbt_parse")
    parsed = Settings(state_dir=root, warehouse_path=root / "w.duckdb")
    manifest.load(parsed)
    return manifest.manifest_path(parsed)


def install_manifest(settings: Settings, parsed: Path) -> Settings:
    """Give ``settings`` the parsed manifest (as if dbt had run in its state folder)."""
    path = manifest.manifest_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(parsed, path)
    return settings
