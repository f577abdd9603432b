"""Bad input: each case gets an error naming file, line and column, the export is quarantined
with a reason file and an audit row, and what was loaded before stays as it was."""

from __future__ import annotations

import gzip
import json
import os
from datetime import date
from pathlib import Path

import pytest
from pipecast.canonical import ENTITIES
from pipecast.ingest import IngestError, MappingError, ingest_export

from tests.ingest.conftest import csv_text, generic_files, good_tables, put_export, query

GOOD_DAY = date(2026, 4, 1)
DAY = date(2026, 4, 2)
OPP = list(ENTITIES["opportunities"].columns)


@pytest.fixture
def loaded(settings):
    """One good export loaded before the bad one arrives."""
    put_export(settings.resolved_landing_dir, GOOD_DAY, generic_files())
    ingest_export(GOOD_DAY, settings)
    return settings


def _fails(settings, files: dict[str, str | bytes], manifest: dict | None = None) -> IngestError:
    put_export(settings.resolved_landing_dir, DAY, files, manifest=manifest)
    with pytest.raises(IngestError) as caught:
        ingest_export(DAY, settings)
    return caught.value


def _assert_quarantined(settings, error: IngestError, reason_part: str) -> None:
    assert not (settings.resolved_landing_dir / DAY.isoformat()).exists()
    [folder] = settings.quarantine_dir.glob(f"{DAY.isoformat()}_*")
    assert reason_part in (folder / "QUARANTINE_REASON.txt").read_text()
    rows = query(
        settings,
        "select file, line, column_name, reason from audit.quarantined_exports where export_date = ?",
        [DAY],
    )
    assert rows == [(error.file, error.line, error.column, error.message)]
    # The earlier export is untouched, the bad one left nothing behind.
    assert query(settings, "select count(*) from raw.opportunities where _export_date = ?", [GOOD_DAY]) == [
        (4,)
    ]
    for entity in ENTITIES:
        assert query(settings, f"select count(*) from raw.{entity} where _export_date = ?", [DAY]) == [(0,)]
    assert query(settings, "select count(*) from audit.loads where export_date = ?", [DAY]) == [(0,)]


def _opportunities(rows: list[list[str]], header: list[str] | None = None, delimiter: str = ",") -> dict:
    files: dict[str, str | bytes] = dict(generic_files())
    files["opportunities.csv"] = csv_text(rows, header or OPP, delimiter)
    return files


def test_missing_required_column(loaded):
    index = OPP.index("close_date")
    rows = [r[:index] + r[index + 1 :] for r in good_tables()["opportunities"]]
    error = _fails(loaded, _opportunities(rows, [c for c in OPP if c != "close_date"]))
    assert error.file.endswith("opportunities.csv") and (error.line, error.column) == (1, "close_date")
    assert "missing" in error.message
    _assert_quarantined(loaded, error, "close_date")


def test_unknown_new_column_is_kept_and_warned_once(loaded):
    def export_with_extra(day: date) -> None:
        rows = [r + [f"promo-{i}"] for i, r in enumerate(good_tables()["opportunities"])]
        put_export(loaded.resolved_landing_dir, day, _opportunities(rows, OPP + ["promo_code"]))

    export_with_extra(DAY)
    first = ingest_export(DAY, loaded)
    assert any("promo_code" in w for w in first.warnings)
    assert query(
        loaded,
        "select _extra ->> 'promo_code' from raw.opportunities where _export_date = ? order by 1",
        [DAY],
    ) == [("promo-0",), ("promo-1",), ("promo-2",), ("promo-3",)]
    assert query(loaded, "select column_name, first_export_date from audit.schema_drift") == [
        ("promo_code", DAY)
    ]
    export_with_extra(date(2026, 4, 3))
    second = ingest_export(date(2026, 4, 3), loaded)
    assert not any("promo_code" in w for w in second.warnings)


@pytest.mark.parametrize(
    ("column", "value", "line"),
    [
        ("close_date", "31/03/2026", 3),
        ("created_at", "yesterday", 4),
        ("amount", "1,000 USD", 5),
        ("is_won", "maybe", 2),
    ],
)
def test_unparseable_value(loaded, column, value, line):
    rows = good_tables()["opportunities"]
    rows[line - 2][OPP.index(column)] = value
    error = _fails(loaded, _opportunities(rows))
    assert error.file.endswith("opportunities.csv")
    assert (error.line, error.column) == (line, column) and value in error.message
    _assert_quarantined(loaded, error, value)


def test_duplicate_keys_within_one_export(loaded):
    rows = good_tables()["opportunities"]
    rows[2][0] = "O1"
    error = _fails(loaded, _opportunities(rows))
    assert (error.line, error.column) == (4, "opportunity_id") and "duplicate key" in error.message
    assert "[2, 4]" in error.message
    _assert_quarantined(loaded, error, "duplicate key")


def test_empty_key(loaded):
    rows = good_tables()["opportunities"]
    rows[1][0] = ""
    error = _fails(loaded, _opportunities(rows))
    assert (error.line, error.column) == (3, "opportunity_id") and "empty" in error.message
    _assert_quarantined(loaded, error, "empty")


def test_empty_file(loaded):
    files = _opportunities([])
    files["opportunities.csv"] = b""
    error = _fails(loaded, files)
    assert error.file.endswith("opportunities.csv") and "empty" in error.message
    _assert_quarantined(loaded, error, "0 bytes")


def test_header_only_file(loaded):
    error = _fails(loaded, _opportunities([]))
    assert error.file.endswith("opportunities.csv") and error.line == 2 and "no data rows" in error.message
    _assert_quarantined(loaded, error, "no data rows")


def test_truncated_in_the_middle_of_a_row(loaded):
    text = csv_text(good_tables()["opportunities"], OPP)
    error = _fails(loaded, {**generic_files(), "opportunities.csv": text[: text.rindex(",2026-03-31,")]})
    assert error.file.endswith("opportunities.csv") and (error.line, error.column) == (5, "close_date")
    _assert_quarantined(loaded, error, "Expected Number of Columns")


def test_truncated_inside_a_quoted_field(loaded):
    rows = good_tables()["opportunities"]
    rows[3][OPP.index("name")] = "Deal, with comma"
    text = csv_text(rows, OPP)
    error = _fails(loaded, {**generic_files(), "opportunities.csv": text[: text.index("Deal, with") + 6]})
    assert error.file.endswith("opportunities.csv") and error.line == 5
    _assert_quarantined(loaded, error, "unterminated quote")


def test_truncated_gzip(loaded):
    data = gzip.compress(csv_text(good_tables()["opportunities"], OPP).encode())
    files = {k: v for k, v in generic_files().items() if k != "opportunities.csv"}
    files["opportunities.csv.gz"] = data[: len(data) - 20]
    error = _fails(loaded, files)
    assert error.file.endswith("opportunities.csv.gz")
    _assert_quarantined(loaded, error, "")


def test_truncated_at_a_row_boundary_is_caught_by_the_manifest(loaded):
    """Cut exactly after a row, a CSV still parses: the manifest's row count tells."""
    rows = good_tables()["opportunities"]
    manifest = {"layout": "generic", "files": {"opportunities.csv": {"rows": 4}}}
    error = _fails(loaded, _opportunities(rows[:3]), manifest=manifest)
    assert error.file.endswith("opportunities.csv") and "manifest says 4" in error.message
    _assert_quarantined(loaded, error, "truncated")


def test_manifest_byte_count(loaded):
    files = _opportunities(good_tables()["opportunities"])
    manifest = {"files": {"opportunities.csv": {"bytes": len(files["opportunities.csv"]) + 10}}}
    error = _fails(loaded, files, manifest=manifest)
    assert "bytes" in error.message
    _assert_quarantined(loaded, error, "truncated")


def test_wrong_delimiter_in_the_rows(loaded):
    """Header with commas, rows with semicolons: the parser sees too few fields on line 2."""
    rows = good_tables()["opportunities"]
    text = ",".join(OPP) + "\n" + "".join(";".join(r) + "\n" for r in rows)
    error = _fails(loaded, {**generic_files(), "opportunities.csv": text})
    assert error.file.endswith("opportunities.csv") and error.line == 2
    _assert_quarantined(loaded, error, "Expected Number of Columns")


def test_wrong_declared_delimiter(loaded, tmp_path):
    """A mapping that declares ',' for a ';' file: one header field, a hint about the delimiter."""
    mapping = tmp_path / "semicolon_crm.yml"
    mapping.write_text(
        "layout: semicolon_crm\n"
        "csv: {delimiter: ','}\n"
        "sources:\n"
        "  deals: {file: deals.csv, required: true}\n"
        "entities:\n"
        "  opportunities:\n"
        "    from: deals\n"
        "    columns: {opportunity_id: id, stage: stage, created_at: created, amount: amount,\n"
        "              close_date: close, is_closed: {value: false}, is_won: {value: false}}\n"
        "  opportunity_stage_history:\n"
        "    from: deals\n"
        "    columns: {opportunity_id: id, changed_at: created, stage: stage}\n"
        "  stages:\n"
        "    rows: [{pipeline: default, stage: New, sort_order: 1, probability: 10, is_closed: false,\n"
        "            is_won: false}]\n"
    )
    settings = loaded.model_copy(update={"source_layout": str(mapping)})
    error = _fails(settings, {"deals.csv": "id;stage;created;amount;close\nD1;New;2026-01-01;5;2026-02-01\n"})
    assert error.file.endswith("deals.csv") and (error.line, error.column) == (1, "id")
    assert "wrong delimiter" in error.message and "';'" in error.message
    _assert_quarantined(settings, error, "wrong delimiter")


def test_manifest_file_name_escaping_the_landing_zone(loaded):
    secret = loaded.resolved_landing_dir.parent / "secret.csv"
    secret.write_text("x\n1\n")
    error = _fails(loaded, generic_files(), manifest={"files": {"../../secret.csv": {"rows": 1}}})
    assert "leaves the export folder" in error.message
    _assert_quarantined(loaded, error, "leaves the export folder")


def test_symlink_out_of_the_landing_zone(loaded, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text(csv_text(good_tables()["opportunities"], OPP))
    files = {k: v for k, v in generic_files().items() if k != "opportunities.csv"}
    folder = put_export(loaded.resolved_landing_dir, DAY, files)
    os.symlink(outside, folder / "opportunities.csv")
    with pytest.raises(IngestError) as caught:
        ingest_export(DAY, loaded)
    assert "outside the export folder" in caught.value.message
    _assert_quarantined(loaded, caught.value, "symlink")


def test_sql_in_file_names_is_data_not_sql(loaded, tmp_path):
    """A file name that is SQL is only ever a bound parameter: it is read, nothing is dropped."""
    mapping = tmp_path / "parts.yml"
    mapping.write_text(
        "layout: parts\n"
        "sources:\n"
        "  deals: {file: 'deals_*.csv', required: true}\n"
        "entities:\n"
        "  opportunities:\n"
        "    from: deals\n"
        "    columns: {opportunity_id: id, stage: {value: New}, created_at: {value: '2026-01-01'},\n"
        "              amount: {value: 1}, close_date: {value: '2026-02-01'}, is_closed: {value: false},\n"
        "              is_won: {value: false}}\n"
        "  opportunity_stage_history:\n"
        "    from: deals\n"
        "    columns: {opportunity_id: id, changed_at: {value: '2026-01-01'}, stage: {value: New}}\n"
        "  stages:\n"
        "    rows: [{pipeline: default, stage: New, sort_order: 1, probability: 10, is_closed: false,\n"
        "            is_won: false}]\n"
    )
    settings = loaded.model_copy(update={"source_layout": str(mapping)})
    name = "deals_x'); DROP TABLE raw.opportunities; --.csv"
    put_export(settings.resolved_landing_dir, DAY, {name: "id\nD1\n", "deals_2.csv": "id\nD2\n"})
    result = ingest_export(DAY, settings)
    assert result.rows["opportunities"] == 2
    assert query(settings, "select count(*) from raw.opportunities") == [(6,)]


def test_manifest_listing_a_missing_file(loaded):
    name = "x'); DROP TABLE raw.opportunities; --.csv"
    error = _fails(loaded, generic_files(), manifest={"files": {name: {"rows": 5}}})
    assert "no such file" in error.message and error.file.endswith(name)
    _assert_quarantined(loaded, error, "no such file")


def test_sql_in_values_loads_verbatim(loaded):
    rows = good_tables()["opportunities"]
    rows[0][OPP.index("name")] = "'); DROP TABLE raw.opportunities; --"
    put_export(loaded.resolved_landing_dir, DAY, _opportunities(rows))
    ingest_export(DAY, loaded)
    assert query(
        loaded, "select name from raw.opportunities where _export_date = ? and opportunity_id = 'O1'", [DAY]
    ) == [("'); DROP TABLE raw.opportunities; --",)]


def test_mapping_escaping_the_landing_zone_is_refused_and_the_export_stays(loaded, tmp_path):
    mapping = tmp_path / "evil.yml"
    mapping.write_text(
        "layout: evil\nsources:\n  deals: {file: ../../../etc/passwd, required: true}\nentities: {}\n"
    )
    settings = loaded.model_copy(update={"source_layout": str(mapping)})
    put_export(settings.resolved_landing_dir, DAY, generic_files())
    with pytest.raises(MappingError) as caught:
        ingest_export(DAY, settings)
    error = caught.value
    assert error.file == str(mapping) and error.line == 3 and error.column == "sources.deals.file"
    assert "relative" in error.message or "'..'" in error.message
    # A broken mapping is configuration, not data: the export stays to load once it is fixed.
    assert (settings.resolved_landing_dir / DAY.isoformat()).exists()
    assert query(settings, "select quarantined, line from audit.ingest_errors") == [(False, 3)]


HOSTILE_MAPPING = """
layout: hostile
sources:
  deals: {file: deals.csv, required: true}
entities:
  opportunities:
    from: deals
    columns:
      opportunity_id: ID_COLUMN
      name: {value: "'); DROP TABLE raw.opportunities; --"}
      stage:
        column: stage
        map: {"New'); DROP TABLE raw.stages; --": x, "Won": "Won'); DROP TABLE raw.stages; --"}
      created_at: {column: created, format: ["%Y'); DROP TABLE raw.stages; --", "%d.%m.%Y"]}
      amount: {value: 1}
      close_date: {value: '2026-01-01'}
      is_closed: {value: false}
      is_won: {value: false}
  opportunity_stage_history:
    from: deals
    columns: {opportunity_id: id, changed_at: {value: '2026-01-01'}, stage: stage}
  stages:
    rows: [{pipeline: default, stage: "New'); DROP TABLE raw.stages; --", sort_order: 1, probability: 10,
            is_closed: false, is_won: false}]
"""


def test_mapping_values_cannot_inject_sql(loaded, tmp_path):
    """Names are quoted and values escaped: hostile names and values are just names and values."""
    mapping = tmp_path / "hostile.yml"
    mapping.write_text(HOSTILE_MAPPING.replace("ID_COLUMN", "id"))
    settings = loaded.model_copy(update={"source_layout": str(mapping)})
    put_export(
        settings.resolved_landing_dir,
        DAY,
        {"deals.csv": "id,stage,created\nD1,New,02.01.2026\nD2,Won,03.01.2026\n"},
    )
    ingest_export(DAY, settings)
    assert query(
        settings,
        "select opportunity_id, name, stage, created_at::date::varchar from raw.opportunities "
        "where _export_date = ? order by 1",
        [DAY],
    ) == [
        ("D1", "'); DROP TABLE raw.opportunities; --", "New", "2026-01-02"),
        ("D2", "'); DROP TABLE raw.opportunities; --", "Won'); DROP TABLE raw.stages; --", "2026-01-03"),
    ]
    assert query(settings, "select stage from raw.stages where _export_date = ?", [DAY]) == [
        ("New'); DROP TABLE raw.stages; --",)
    ]
    assert query(settings, "select count(*) from raw.stages where _export_date = ?", [GOOD_DAY]) == [(4,)]


def test_hostile_column_name_is_only_a_name(loaded, tmp_path):
    mapping = tmp_path / "hostile.yml"
    mapping.write_text(HOSTILE_MAPPING.replace("ID_COLUMN", "'id\"\"); DROP TABLE raw.opportunities; --'"))
    settings = loaded.model_copy(update={"source_layout": str(mapping)})
    error = _fails(settings, {"deals.csv": "id,stage,created\nD1,New,02.01.2026\n"})
    assert error.column == 'id""); DROP TABLE raw.opportunities; --' and "missing" in error.message
    _assert_quarantined(settings, error, "missing")


def test_unreadable_manifest_is_a_bad_export(loaded):
    put_export(loaded.resolved_landing_dir, DAY, generic_files())
    (loaded.resolved_landing_dir / DAY.isoformat() / "manifest.json").write_text("{not json")
    with pytest.raises(IngestError, match="manifest is not valid JSON"):
        ingest_export(DAY, loaded)
    _assert_quarantined(loaded, *_last_error(loaded))


def _last_error(settings) -> tuple[IngestError, str]:
    [(file, line, column, reason)] = query(
        settings,
        "select file, line, column_name, reason from audit.quarantined_exports where export_date = ?",
        [DAY],
    )
    return IngestError(reason, file=file, line=line, column=column), ""


def test_quarantined_export_keeps_every_original_file(loaded):
    rows = good_tables()["opportunities"]
    rows[0][OPP.index("amount")] = "n/a"
    files = _opportunities(rows)
    _fails(loaded, files, manifest={"layout": "generic"})
    [folder] = loaded.quarantine_dir.glob(f"{DAY.isoformat()}_*")
    for name, content in files.items():
        assert (folder / name).read_text() == content
    assert json.loads((folder / "manifest.json").read_text()) == {"layout": "generic"}
    assert Path(folder / "_SUCCESS").exists()


def test_a_column_named_twice_in_the_header(loaded):
    header = OPP[:-1] + ["stage"]
    error = _fails(loaded, _opportunities(good_tables()["opportunities"], header))
    assert (error.line, error.column) == (1, "stage") and "twice" in error.message
    _assert_quarantined(loaded, error, "twice")


def test_truncated_json_lines(loaded):
    rows = good_tables()["opportunities"]
    lines = [json.dumps(dict(zip(OPP, r, strict=True))) for r in rows]
    files = {k: v for k, v in generic_files().items() if k != "opportunities.csv"}
    files["opportunities.jsonl"] = "\n".join(lines[:3]) + "\n" + lines[3][:40]
    error = _fails(loaded, files)
    assert error.file.endswith("opportunities.jsonl") and "JSON" in error.message
    _assert_quarantined(loaded, error, "JSON")
