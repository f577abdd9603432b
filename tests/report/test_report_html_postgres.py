"""The HTML report with the warehouse on PostgreSQL: the rows it reads are pulled into a DuckDB
workspace (HTML_REPORT_SOURCES, their WHERE clauses run by PostgreSQL) and the page shows the same
forecast, pipeline, deals and accuracy as the page built from the DuckDB warehouse."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
from pipecast.config import Settings
from pipecast.pg_transfer import pg_connect, push
from pipecast.report_html import HTML_REPORT_SOURCES, write_html_report
from pipecast.warehouse import table_exists

from tests.dbt.postgres_server import postgres_or_skip

pytestmark = pytest.mark.postgres


def section(page: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">.*?</section>', page, flags=re.S)
    assert match, name
    return match.group(0)


def test_postgres_page_equals_the_duckdb_page(night: Settings, tmp_path: Path, postgres_cluster):
    server = postgres_or_skip(postgres_cluster).with_database("report_html")
    local = Settings(**{**night.model_dump(), "state_dir": tmp_path / "duckdb"})
    shutil.copytree(
        night.state_dir, local.state_dir, ignore=shutil.ignore_patterns("mlflow", "models", "dbt")
    )
    local = local.model_copy(update={"warehouse_path": local.state_dir / "warehouse.duckdb"})
    expected = write_html_report(local).read_text()
    settings = Settings(state_dir=tmp_path / "postgres", target="postgres", **server.settings_fields)
    duck = duckdb.connect(str(local.resolved_warehouse_path), read_only=True)
    try:
        with pg_connect(settings) as pg, pg.cursor() as cursor:
            for rows in HTML_REPORT_SOURCES:
                if table_exists(duck, rows.schema, rows.table):  # a test night validates nothing
                    push(duck, cursor, rows.schema, rows.table)
    finally:
        duck.close()
    page = write_html_report(settings).read_text()
    for name in ("summary", "forecast", "pipeline", "waterfall", "funnel", "deals", "accuracy"):
        assert section(page, name) == section(expected, name), name
