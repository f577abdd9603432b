"""Ingest of the generic canonical layout: loads, metadata, idempotence, and bad input."""

from __future__ import annotations

import hashlib
from datetime import date

import duckdb
import pytest
from pipecast.ingest import IngestError, ingest_export
from pipecast.pipeline import pending_exports

from tests.ingest.conftest import good_tables, query

DAY = date(2026, 2, 1)


def _count(settings, sql: str, params=None):
    with duckdb.connect(str(settings.resolved_warehouse_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchone()[0]


def test_loads_every_entity_with_load_metadata(settings, export_writer):
    export_writer(settings.resolved_landing_dir, DAY)
    result = ingest_export(DAY, settings)
    assert result.rows == {"opportunities": 4, "opportunity_stage_history": 4, "stages": 4}
    assert (
        _count(
            settings,
            "select count(*) from raw.opportunities where _export_date = ? "
            "and _source_file like '%opportunities.csv' and _loaded_at is not null "
            "and length(_row_hash) = 32",
            [DAY],
        )
        == 4
    )
    assert _count(settings, "select amount from raw.opportunities where opportunity_id = 'O2'") == 2500.5
    assert (settings.archive_dir / DAY.isoformat() / "opportunities.csv").exists()


def test_row_hash_is_the_md5_of_the_row_text(settings, export_writer):
    """Pinned to md5 computed outside DuckDB: the hash stays the same across runs and DuckDB
    versions (fields in canonical order, joined by the unit separator, an empty field as '')."""
    export_writer(settings.resolved_landing_dir, DAY)
    ingest_export(DAY, settings)
    tables = good_tables()
    for entity, key in (("opportunities", "opportunity_id"), ("opportunity_stage_history", "opportunity_id")):
        expected = {row[0]: hashlib.md5("\x1f".join(row).encode()).hexdigest() for row in tables[entity]}
        loaded = dict(query(settings, f"select {key}, _row_hash from raw.{entity}"))
        assert loaded == expected, entity


def test_a_bad_value_late_in_a_large_file_names_its_line(settings, export_writer):
    """Files big enough for DuckDB to read in parallel chunks (rows appended out of file order)
    still report the physical line of the bad value."""
    tables = good_tables()
    rows = 400_000
    tables["opportunity_stage_history"] = [
        [f"O{i}", "2026-01-01 10:00:00", "Prospecting", str(1000 + i), "2026-03-31", "10", "Pipeline"]
        for i in range(1, rows + 1)
    ]
    tables["opportunity_stage_history"][rows - 3][3] = "n/a"
    error = _bad_export(settings, export_writer, tables=tables)
    assert error.file.endswith("opportunity_stage_history.csv")
    assert (error.line, error.column) == (rows - 1, "amount")


def test_rerunning_a_date_replaces_it_and_other_dates_stay(settings, export_writer):
    export_writer(settings.resolved_landing_dir, DAY)
    export_writer(settings.resolved_landing_dir, date(2026, 2, 2))
    ingest_export(DAY, settings)
    ingest_export(date(2026, 2, 2), settings)
    ingest_export(DAY, settings)
    assert _count(settings, "select count(*) from raw.opportunities") == 8
    assert _count(settings, "select count(distinct _export_date) from raw.opportunities") == 2


def test_pending_exports_are_oldest_first_and_skip_incomplete(settings, export_writer):
    export_writer(settings.resolved_landing_dir, date(2026, 2, 3))
    export_writer(settings.resolved_landing_dir, date(2026, 2, 1))
    export_writer(settings.resolved_landing_dir, date(2026, 2, 4), marker=False)
    assert pending_exports(settings) == [date(2026, 2, 1), date(2026, 2, 3)]


def _bad_export(settings, export_writer, **kwargs):
    export_writer(settings.resolved_landing_dir, DAY, **kwargs)
    with pytest.raises(IngestError) as caught:
        ingest_export(DAY, settings)
    return caught.value


def test_unparseable_date_names_file_line_and_column(settings, export_writer):
    tables = good_tables()
    tables["opportunities"][2][list(good_tables_columns()).index("close_date")] = "31/03/2026"
    error = _bad_export(settings, export_writer, tables=tables)
    assert error.file.endswith("opportunities.csv")
    assert (error.line, error.column) == (4, "close_date")
    assert "31/03/2026" in str(error)


def test_unparseable_number_is_rejected(settings, export_writer):
    tables = good_tables()
    tables["opportunities"][0][list(good_tables_columns()).index("amount")] = "1,000 USD"
    error = _bad_export(settings, export_writer, tables=tables)
    assert (error.line, error.column) == (2, "amount")


def test_missing_required_column(settings, export_writer):
    header = [c for c in good_tables_columns() if c != "stage"]
    tables = good_tables()
    index = list(good_tables_columns()).index("stage")
    tables["opportunities"] = [r[:index] + r[index + 1 :] for r in tables["opportunities"]]
    error = _bad_export(settings, export_writer, tables=tables, header_override={"opportunities": header})
    assert error.column == "stage" and "missing" in error.message


def test_duplicate_keys_within_an_export(settings, export_writer):
    tables = good_tables()
    tables["opportunities"][3][0] = "O1"
    error = _bad_export(settings, export_writer, tables=tables)
    assert "duplicate key" in error.message and error.line == 5


def test_empty_file_and_missing_marker(settings, export_writer):
    tables = good_tables()
    tables["opportunities"] = []
    error = _bad_export(settings, export_writer, tables=tables)
    assert "no data rows" in error.message
    export_writer(settings.resolved_landing_dir, date(2026, 2, 9), marker=False)
    with pytest.raises(IngestError, match="incomplete"):
        ingest_export(date(2026, 2, 9), settings)


def test_bad_export_is_quarantined_and_earlier_data_stays(settings, export_writer):
    export_writer(settings.resolved_landing_dir, date(2026, 1, 31))
    ingest_export(date(2026, 1, 31), settings)
    tables = good_tables()
    tables["opportunities"][0][list(good_tables_columns()).index("is_won")] = "maybe"
    _bad_export(settings, export_writer, tables=tables)
    assert not (settings.resolved_landing_dir / DAY.isoformat()).exists()
    quarantined = list(settings.quarantine_dir.glob(f"{DAY.isoformat()}_*"))
    assert len(quarantined) == 1
    assert "is_won" in (quarantined[0] / "QUARANTINE_REASON.txt").read_text()
    assert (quarantined[0] / "opportunities.csv").exists()  # nothing lost
    assert _count(settings, "select count(*) from raw.opportunities") == 4
    assert _count(settings, "select count(*) from raw.opportunities where _export_date = ?", [DAY]) == 0
    assert _count(settings, "select column_name from audit.quarantined_exports") == "is_won"


def good_tables_columns():
    from pipecast.canonical import ENTITIES

    return ENTITIES["opportunities"].columns
