"""Mapping files: every shipped mapping is valid, and a bad one fails with file, line and option."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipecast.config import PROJECT_ROOT
from pipecast.ingest.layouts import generic_layout, mapping_files
from pipecast.ingest.mapping import MappingError, load_mapping, parse_mapping

MAPPINGS = PROJECT_ROOT / "mappings"

MINIMAL = """\
layout: tiny
sources:
  deals: {file: deals.csv, required: true}
entities:
  opportunities:
    from: deals
    columns:
      opportunity_id: id
      stage: stage
      created_at: created
      amount: amount
      close_date: close
      is_closed: {column: stage, map: {Won: true, Lost: true}, otherwise: false}
      is_won: {column: stage, map: {Won: true}, otherwise: false}
  opportunity_stage_history:
    from: deals
    columns: {opportunity_id: id}
    events:
      - at: created
        columns: {stage: {value: New}}
  stages:
    rows:
      - {pipeline: default, stage: New, sort_order: 1, probability: 10, is_closed: false, is_won: false}
"""


def test_every_shipped_mapping_and_the_template_are_valid():
    names = {p.name for p in MAPPINGS.glob("*.yml")}
    assert {"maven_crm_pipeline.yml", "olist_marketing_funnel.yml", "_template.yml"} <= names
    for path in MAPPINGS.glob("*.yml"):
        layout = load_mapping(path)
        assert layout.entities, path
    # Templates (leading underscore) are not registered as layouts.
    assert "_template" not in mapping_files(MAPPINGS)
    assert {"salesforce", "salesforce_fivetran", "hubspot"} <= set(mapping_files(MAPPINGS))


def test_the_generic_layout_follows_the_canonical_model():
    from pipecast.canonical import ENTITIES

    layout = generic_layout()
    assert set(layout.entities) == set(ENTITIES)
    assert set(layout.entities["opportunities"][0].columns) == set(ENTITIES["opportunities"].columns)


def test_minimal_mapping_parses():
    layout = parse_mapping(MINIMAL)
    assert layout.layout == "tiny"
    assert layout.entities["opportunities"][0].columns["is_won"].map == {"Won": True}


def _error(text: str) -> MappingError:
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, Path("bad.yml"))
    return caught.value


@pytest.mark.parametrize(
    ("old", "new", "line", "where", "message"),
    [
        (
            "      amount: amount\n",
            "      amount: amount\n      amout: amount\n",
            12,
            "amout",
            "unknown column",
        ),
        (
            "      stage: stage\n",
            "      stage: {column: stage, scal: 2}\n",
            9,
            "scal",
            "'scal' (allowed: column,",
        ),
        ("    from: deals\n    columns:\n", "    from: dealz\n    columns:\n", 6, "from", "unknown source"),
        ("      close_date: close\n", "", 7, "columns", "close_date"),
        ("{file: deals.csv,", "{file: ../deals.csv,", 3, "file", "'..'"),
        ("{file: deals.csv,", "{file: /etc/passwd,", 3, "file", "relative"),
        ("probability: 10,", "probability: ten,", 23, "probability", "not a valid DOUBLE"),
        ("      stage: stage\n", "      stage: {column: stage, value: x}\n", 9, "stage", "exactly one of"),
        ("layout: tiny", "layout: 'tiny; drop'", 1, "layout", "identifier"),
    ],
)
def test_bad_mapping_names_line_and_option(old, new, line, where, message):
    assert old in MINIMAL
    error = _error(MINIMAL.replace(old, new, 1))
    assert error.file == "bad.yml"
    assert error.line == line, str(error)
    assert error.column.split(".")[-1] == where or where in error.column, str(error)
    assert message in error.message


def test_yaml_syntax_error_names_the_line():
    error = _error(MINIMAL.replace("  deals: {file: deals.csv, required: true}", "  deals: {file: deals.csv"))
    assert error.line == 4 and "YAML" in error.message


def test_on_yes_no_are_strings_not_booleans():
    """YAML 1.1 reads `on`, `yes`, `no` as booleans; mappings read them as the words they are."""
    text = MINIMAL.replace(
        "  stages:\n",
        "  accounts:\n"
        "    from: deals\n"
        "    lookups:\n"
        "      other: {source: deals, on: {id: id}}\n"
        "    columns:\n"
        "      account_id: id\n"
        "      segment: {column: flag, map: {Yes: Enterprise, No: SMB, on: Other}}\n"
        "  stages:\n",
    )
    layout = parse_mapping(text)
    accounts = layout.entities["accounts"][0]
    assert accounts.lookups["other"].on == {"id": "id"}
    assert accounts.columns["segment"].map == {"Yes": "Enterprise", "No": "SMB", "on": "Other"}


def test_required_entity_missing():
    error = _error(MINIMAL[: MINIMAL.index("  stages:")])
    assert "required entity 'stages'" in error.message


def test_template_documents_every_option():
    """The template is the reference: each field of the mapping models appears in it."""
    from pipecast.ingest import mapping

    text = (MAPPINGS / "_template.yml").read_text()
    models = [
        mapping.Layout,
        mapping.SourceSpec,
        mapping.CsvOptions,
        mapping.EntitySpec,
        mapping.ColumnSpec,
        mapping.LookupSpec,
        mapping.EventSpec,
        mapping.Condition,
        mapping.AsOf,
        mapping.AggregateSpec,
        mapping.FeatureSpec,
    ]
    for model in models:
        for name, field in model.model_fields.items():
            if name == "path":
                continue
            assert f"{field.alias or name}:" in text, f"{model.__name__}.{name} is not in the template"
