"""dbt runs in-process; afterwards the DuckDB file must be free for the next step in the process."""

from __future__ import annotations

import duckdb
from pipecast.transform.dbt_runner import dbt_invoke
from pipecast.warehouse import connect


def test_warehouse_file_is_released_after_an_in_process_dbt_run(settings):
    with connect(settings) as con:  # a warehouse with the raw schema but no data
        con.execute("create table raw.marker as select 1 as x")
    result = dbt_invoke(
        ["run-operation", "generate_schema_name", "--args", "{custom_schema_name: x}"], settings
    )
    assert result.success, result.exception
    # A handle with another configuration (what GX's SQLAlchemy engine or a BI reader opens):
    # DuckDB refuses it while dbt-duckdb still holds the file.
    with duckdb.connect(str(settings.resolved_warehouse_path), read_only=True) as reader:
        assert reader.execute("select x from raw.marker").fetchone() == (1,)
