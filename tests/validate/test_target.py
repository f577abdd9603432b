"""Which warehouse the validation stage reads and audits into."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipecast.config import Settings
from pipecast.validate import target


def test_duckdb_by_default(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)

    assert target.warehouse_url(settings) == f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    assert target.dialect(target.warehouse_url(settings)) == "duckdb"


def test_postgres_from_the_variables_dbt_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HOST": "db",
        "PORT": "6543",
        "USER": "bi",
        "PASSWORD": "s3cret",
        "DATABASE": "crm",
    }.items():
        monkeypatch.setenv(f"PIPECAST_PG_{name}", value)

    url = target.warehouse_url(Settings(state_dir=tmp_path, target="postgres"))

    assert url == "postgresql+psycopg2://bi:s3cret@db:6543/crm"
    assert target.dialect(url) == "postgresql"


def test_an_explicit_url_wins(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, validation_warehouse_url="postgresql+psycopg://u@h/d")

    assert target.warehouse_url(settings) == "postgresql+psycopg://u@h/d"
