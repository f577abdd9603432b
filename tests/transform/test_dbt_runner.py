"""dbt runs in-process; afterwards the DuckDB file must be free for the next step in the process."""

from __future__ import annotations

import duckdb
import pytest
import yaml
from pipecast.config import PROJECT_ROOT, Settings
from pipecast.transform.dbt_runner import dbt_invoke, dbt_vars_of
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


def test_the_fiscal_month_has_one_home_the_settings_and_dbt_gets_it_as_a_var():
    """Settings.fiscal_year_start_month is the fact; dbt_project.yml does not declare it again and
    no Python module reads it from there (test_calendar builds an April calendar from the settings)."""
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    assert "fiscal_year_start_month" not in project["vars"]
    readers = [  # a module that parses dbt_project.yml as YAML (transform/manifest.py only dates it)
        p for p in (PROJECT_ROOT / "jobs").rglob("*.py") if {"dbt_project.yml", "yaml"} <= set(_words(p))
    ]
    assert readers == []
    april = Settings(fiscal_year_start_month=4)
    assert dbt_vars_of(april) == {"fiscal_year_start_month": 4}
    assert dbt_vars_of(april, {"calendar_end_date": "2027-05-31"}) == {
        "fiscal_year_start_month": 4,
        "calendar_end_date": "2027-05-31",
    }
    with pytest.raises(ValueError, match="dbt_vars"):
        dbt_invoke(["build", "--vars", "{}"], april)


def _words(path) -> list[str]:
    return (
        path.read_text(encoding="utf-8")
        .replace('"', " ")
        .replace("(", " ")
        .replace(".safe_load", " ")
        .split()
    )


def _parsed_files(settings) -> int:
    """How many project files dbt parsed in its last run (0: the whole parse state was reused)."""
    import json

    perf = settings.state_dir / "dbt" / "target" / "perf_info.json"
    return json.loads(perf.read_text(encoding="utf-8"))["parsed_path_count"]


def test_alternating_publish_slots_reuse_their_own_parse_state(settings):
    """The night's `--vars` alternate between the publish slots (a, b, a, ...). dbt keeps one parse
    state and parses the whole project again whenever the vars differ from its last run's; each
    vars' state is kept aside, so the third run, back on slot a, parses nothing."""
    slot_a = {"publish_schemas": {"marts": "marts__a"}}
    slot_b = {"publish_schemas": {"marts": "marts__b"}}
    parsed = []
    for dbt_vars in (slot_a, slot_b, slot_a, slot_b):
        result = dbt_invoke(["parse"], settings, dbt_vars=dbt_vars)
        assert result.success, result.exception
        parsed.append(_parsed_files(settings))
    assert parsed[0] > 50 and parsed[1] > 50  # every model, test and macro file, twice
    assert parsed[2:] == [0, 0]
    # dbt still checks the state it is given: other vars (another fiscal month) under slot a's
    # publish schemas do not match slot a's kept state, so the project is parsed in full.
    april = settings.model_copy(update={"fiscal_year_start_month": 4})
    assert dbt_invoke(["parse"], april, dbt_vars=slot_a).success
    assert _parsed_files(april) > 50
