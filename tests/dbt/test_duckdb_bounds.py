"""dbt's DuckDB runs within pipecast's bounds: memory_limit and threads come from the settings
(dbt_duckdb_memory_limit, dbt_duckdb_threads) through profiles.yml, so a build spills to disk
instead of growing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipecast.config import Settings
from pipecast.transform.dbt_runner import dbt_env, dbt_invoke
from pydantic import ValidationError


def _duckdb_settings_seen_by_dbt(settings: Settings) -> dict[str, str]:
    result = dbt_invoke(
        [
            "show",
            "--inline",
            "select current_setting('memory_limit') as memory_limit, current_setting('threads') as threads",
            "--output",
            "json",
        ],
        settings,
    )
    assert result.success, result.exception
    table = result.result.results[0].agate_table
    return {name: str(value) for name, value in zip(table.column_names, table.rows[0], strict=True)}


def test_dbt_runs_duckdb_with_the_configured_memory_limit_and_threads(tmp_path: Path):
    settings = Settings(
        state_dir=tmp_path,
        warehouse_path=tmp_path / "warehouse.duckdb",
        dbt_duckdb_memory_limit="1234MB",
        dbt_duckdb_threads=1,
    )
    seen = _duckdb_settings_seen_by_dbt(settings)
    # DuckDB reports the limit in its own units (1234 MB = 1.1 GiB)
    assert seen["memory_limit"] == "1.1 GiB"
    assert seen["threads"] == "1"


def test_memory_limit_setting_takes_sizes_and_shares_and_reaches_the_profile_env():
    assert dbt_env(Settings(dbt_duckdb_memory_limit=" 50% "))["PIPECAST_DBT_DUCKDB_MEMORY_LIMIT"] == "50%"
    env = dbt_env(Settings(dbt_duckdb_memory_limit="3GB", dbt_duckdb_threads=4))
    assert (env["PIPECAST_DBT_DUCKDB_MEMORY_LIMIT"], env["PIPECAST_DBT_DUCKDB_THREADS"]) == ("3GB", "4")
    for bad in ("lots", "3 GB; drop table x", ""):
        with pytest.raises(ValidationError):
            Settings(dbt_duckdb_memory_limit=bad)
    with pytest.raises(ValidationError):
        Settings(dbt_duckdb_threads=0)
