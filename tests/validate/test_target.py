"""Which warehouse the validation stage reads and audits into."""

from __future__ import annotations

from pathlib import Path

import duckdb
import great_expectations as gx
import pytest
import sqlalchemy as sa
from pipecast.config import Settings
from pipecast.validate import target
from pipecast.validate.checkpoint import TableBatch, run_checkpoint
from pipecast.validate.expect import BATCH, sql_literal, unexpected_rows
from pipecast.validate.severity import ERROR


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


def _duckdb_spelling(limit: str) -> str:
    """How DuckDB reports ``limit`` back (its own units: 64MB reads '61.0 MiB')."""
    with duckdb.connect(config={"memory_limit": limit}) as con:
        return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_validation_connections_carry_the_duckdb_memory_limit(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, validation_duckdb_memory_limit="64MB")
    expected = _duckdb_spelling("64MB")
    assert expected != _duckdb_spelling("1GB")

    with target.connection(settings) as conn:
        assert target.scalar(conn, "SELECT current_setting('memory_limit')") == expected
        conn.execute(sa.text("CREATE TABLE probe AS SELECT 1 AS x"))
        conn.commit()

    # GX's own engine: an expectation whose violating rows are the connections with another limit.
    check = unexpected_rows(
        "GX's connection has the validation memory limit",
        f"SELECT current_setting('memory_limit') AS memory_limit FROM {BATCH} "
        f"WHERE current_setting('memory_limit') <> {sql_literal(expected)}",
        ERROR,
    )
    suite = gx.ExpectationSuite(name="memory_limit_probe", expectations=[check])
    outcome = run_checkpoint("probe", suite, TableBatch("main", "probe"), run_id="limit", settings=settings)
    assert outcome.passed_errors and outcome.n_expectations == 1


def test_no_memory_limit_and_postgres_pass_no_engine_options(tmp_path: Path) -> None:
    assert target.engine_options(Settings(state_dir=tmp_path, validation_duckdb_memory_limit=None)) == {}
    assert target.engine_options(Settings(state_dir=tmp_path, target="postgres")) == {}
    with pytest.raises(ValueError, match="validation_duckdb_memory_limit"):
        Settings(state_dir=tmp_path, validation_duckdb_memory_limit="a lot")
