"""File formats: CSV dialects and encodings, gzip, Parquet and JSON lines, all loaded the same."""

from __future__ import annotations

import codecs
import gzip
from datetime import date

import duckdb
import pytest
from pipecast.canonical import ENTITIES
from pipecast.ingest import IngestError, ingest_export

from tests.ingest.conftest import csv_text, generic_files, good_tables, put_export, query

DAY = date(2026, 3, 2)
OPP_COLUMNS = list(ENTITIES["opportunities"].columns)


def _with_opportunities(
    text_or_bytes: str | bytes, name: str = "opportunities.csv"
) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = dict(generic_files())
    del files["opportunities.csv"]
    files[name] = text_or_bytes
    return files


def _names(settings) -> dict[str, str]:
    return dict(query(settings, "select opportunity_id, name from raw.opportunities order by 1"))


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiters_are_detected(settings, delimiter):
    text = csv_text(good_tables()["opportunities"], OPP_COLUMNS, delimiter=delimiter)
    put_export(settings.resolved_landing_dir, DAY, _with_opportunities(text))
    assert ingest_export(DAY, settings).rows["opportunities"] == 4
    assert query(settings, "select amount from raw.opportunities where opportunity_id = 'O2'") == [(2500.5,)]


def test_quoted_fields_with_delimiters_quotes_and_line_breaks(settings):
    rows = good_tables()["opportunities"]
    rows[0][OPP_COLUMNS.index("name")] = 'Acme, Inc. "big" deal\nsecond line'
    put_export(settings.resolved_landing_dir, DAY, _with_opportunities(csv_text(rows, OPP_COLUMNS)))
    ingest_export(DAY, settings)
    assert _names(settings)["O1"] == 'Acme, Inc. "big" deal\nsecond line'


def test_utf8_with_bom_and_crlf(settings):
    rows = good_tables()["opportunities"]
    rows[1][OPP_COLUMNS.index("name")] = "Müller GmbH – Café"
    text = csv_text(rows, OPP_COLUMNS).replace("\n", "\r\n")
    put_export(
        settings.resolved_landing_dir, DAY, _with_opportunities(codecs.BOM_UTF8 + text.encode("utf-8"))
    )
    ingest_export(DAY, settings)
    assert _names(settings)["O2"] == "Müller GmbH – Café"
    assert query(settings, "select count(*) from raw.opportunities where last_modified_at is null") == [(0,)]


def test_latin1_is_recognised(settings):
    rows = good_tables()["opportunities"]
    rows[2][OPP_COLUMNS.index("name")] = "Société Générale à Zürich"
    put_export(
        settings.resolved_landing_dir, DAY, _with_opportunities(csv_text(rows, OPP_COLUMNS).encode("latin-1"))
    )
    ingest_export(DAY, settings)
    assert _names(settings)["O3"] == "Société Générale à Zürich"


def test_latin1_after_an_ascii_first_mebibyte_is_retried(settings):
    """The sniffer sees pure ASCII; DuckDB meets the Latin-1 byte later: one retry as Latin-1."""
    rows = good_tables()["opportunities"]
    rows[0][OPP_COLUMNS.index("name")] = "x" * (1 << 20)
    rows[3][OPP_COLUMNS.index("name")] = "Crème"
    put_export(
        settings.resolved_landing_dir, DAY, _with_opportunities(csv_text(rows, OPP_COLUMNS).encode("latin-1"))
    )
    result = ingest_export(DAY, settings)
    assert _names(settings)["O4"] == "Crème"
    assert any("Latin-1" in w for w in result.warnings)


def test_utf16_with_bom(settings):
    text = csv_text(good_tables()["opportunities"], OPP_COLUMNS, delimiter="\t")
    put_export(settings.resolved_landing_dir, DAY, _with_opportunities(text.encode("utf-16")))
    assert ingest_export(DAY, settings).rows["opportunities"] == 4


def test_gzip_csv(settings):
    text = csv_text(good_tables()["opportunities"], OPP_COLUMNS)
    put_export(
        settings.resolved_landing_dir,
        DAY,
        _with_opportunities(gzip.compress(text.encode()), "opportunities.csv.gz"),
    )
    assert ingest_export(DAY, settings).rows["opportunities"] == 4
    assert query(settings, "select _source_file from raw.opportunities limit 1")[0][0].endswith(
        "opportunities.csv.gz"
    )


def test_parquet_and_json_lines(settings, tmp_path):
    text = csv_text(good_tables()["opportunities"], OPP_COLUMNS)
    source = tmp_path / "opps.csv"
    source.write_text(text)
    parquet = tmp_path / "opps.parquet"
    with duckdb.connect() as con:
        # Typed columns (timestamps, doubles, booleans) as a Parquet writer would store them.
        con.execute(
            f"COPY (SELECT * FROM read_csv('{source}', header = true, auto_detect = true)) TO '{parquet}'"
        )
        history = tmp_path / "history.jsonl"
        hist_csv = tmp_path / "history.csv"
        hist_csv.write_text(
            csv_text(
                good_tables()["opportunity_stage_history"],
                list(ENTITIES["opportunity_stage_history"].columns),
            )
        )
        con.execute(
            f"COPY (SELECT * FROM read_csv('{hist_csv}', header = true, all_varchar = true)) TO '{history}' "
            "(FORMAT json)"
        )
    files = {k: v for k, v in generic_files().items() if k == "stages.csv"}
    files["opportunities.parquet"] = parquet.read_bytes()
    files["opportunity_stage_history.jsonl"] = history.read_bytes()
    put_export(settings.resolved_landing_dir, DAY, files)
    result = ingest_export(DAY, settings)
    assert result.rows == {"opportunities": 4, "opportunity_stage_history": 4, "stages": 4}
    assert query(settings, "select amount, is_won from raw.opportunities where opportunity_id = 'O3'") == [
        (4000.0, True)
    ]
    # Same canonical values, same hash, whatever the format: compare with a CSV load.
    parquet_hashes = query(settings, "select _row_hash from raw.opportunity_stage_history order by 1")
    put_export(settings.resolved_landing_dir, date(2026, 3, 3), generic_files())
    ingest_export(date(2026, 3, 3), settings)
    csv_hashes = query(
        settings,
        "select _row_hash from raw.opportunity_stage_history where _export_date = ? order by 1",
        [date(2026, 3, 3)],
    )
    assert parquet_hashes == csv_hashes


def test_error_line_counts_physical_lines_after_multiline_fields(settings):
    rows = good_tables()["opportunities"]
    rows[0][OPP_COLUMNS.index("name")] = "three\nline\nname"
    rows[2][OPP_COLUMNS.index("amount")] = "lots"
    put_export(settings.resolved_landing_dir, DAY, _with_opportunities(csv_text(rows, OPP_COLUMNS)))
    with pytest.raises(IngestError) as caught:
        ingest_export(DAY, settings)
    # header (1), record 1 spans lines 2-4, record 2 is line 5, record 3 line 6.
    assert (caught.value.line, caught.value.column) == (6, "amount")


def test_trailing_delimiter_in_every_line(settings):
    """Spreadsheet exports often end every line with a delimiter: an unnamed, empty last column."""
    text = csv_text(good_tables()["opportunities"], OPP_COLUMNS).replace("\n", ",\n")
    put_export(settings.resolved_landing_dir, DAY, _with_opportunities(text))
    assert ingest_export(DAY, settings).rows["opportunities"] == 4
    assert query(settings, "select distinct _extra from raw.opportunities") == [('{"column19":null}',)]
