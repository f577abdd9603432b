"""The landing zone: which layout, which exports, in which order, what is missing; object storage."""

from __future__ import annotations

import filecmp
import logging
import os
import uuid
from datetime import date

import duckdb
import fsspec
import pytest
from pipecast.ingest import IngestError, ingest_export
from pipecast.ingest.schedule import LOAD, VALIDATE, plan
from pipecast.pipeline import ingest, loaded_export_dates, missing_exports, pending_exports

from tests.ingest.conftest import generic_files, good_tables, land_dataset, put_export, query
from tests.lifecycle_steps import export_with_amount_of_o2, mark_validated


def _day(n: int) -> date:
    return date(2026, 5, n)


def test_layout_from_the_manifest_beats_detection(settings):
    files = generic_files()
    files["sales_pipeline.csv"] = "opportunity_id\nX\n"  # would also look like another layout
    put_export(settings.resolved_landing_dir, _day(1), files, manifest={"layout": "generic"})
    assert ingest_export(_day(1), settings).layout == "generic"


def test_manifest_naming_an_unregistered_layout_is_refused(settings, tmp_path):
    put_export(settings.resolved_landing_dir, _day(1), generic_files(), manifest={"layout": "../../evil"})
    with pytest.raises(IngestError) as caught:
        ingest_export(_day(1), settings)
    assert caught.value.column == "layout" and "not registered" in caught.value.message
    assert list(settings.quarantine_dir.glob("2026-05-01_*"))


def test_configured_layout_and_unrecognised_exports(settings):
    land_dataset(settings.resolved_landing_dir, _day(1), "maven_crm_pipeline")
    forced = settings.model_copy(update={"source_layout": "generic"})
    with pytest.raises(IngestError, match="missing required file"):
        ingest_export(_day(1), forced)
    put_export(settings.resolved_landing_dir, _day(2), {"notes.txt": "hello"})
    with pytest.raises(IngestError, match="no layout recognises"):
        ingest_export(_day(2), settings)


def test_rerunning_a_date_replaces_it_entirely(settings):
    put_export(settings.resolved_landing_dir, _day(1), generic_files())
    put_export(settings.resolved_landing_dir, _day(2), generic_files())
    ingest_export(_day(1), settings)
    ingest_export(_day(2), settings)
    # Day 1 is re-delivered corrected (one opportunity and three history rows fewer): its re-run
    # leaves exactly the new content for that date, and day 2 as it was.
    tables = good_tables()
    tables["opportunities"] = tables["opportunities"][:3]
    tables["opportunity_stage_history"] = tables["opportunity_stage_history"][:1]
    for name in ("opportunities.csv", "opportunity_stage_history.csv"):
        (settings.resolved_landing_dir / _day(1).isoformat() / name).unlink()
    put_export(settings.resolved_landing_dir, _day(1), generic_files(tables))
    ingest_export(_day(1), settings)
    assert query(settings, "select _export_date, count(*) from raw.opportunities group by 1 order by 1") == [
        (_day(1), 3),
        (_day(2), 4),
    ]
    assert query(
        settings, "select count(*) from raw.opportunity_stage_history where _export_date = ?", [_day(1)]
    ) == [(1,)]
    assert query(settings, "select count(*) from audit.loads where export_date = ?", [_day(1)]) == [(3,)]


def test_late_and_out_of_order_exports_load_in_date_order(settings):
    landing = settings.resolved_landing_dir
    put_export(landing, _day(3), generic_files())
    put_export(landing, _day(1), generic_files())
    put_export(landing, _day(4), generic_files(), marker=False)  # still being written
    assert pending_exports(settings) == [_day(1), _day(3)]
    loaded = [r.export_date for r in ingest(settings=settings, validate=False)]
    assert loaded == [_day(1), _day(3)]
    # Loaded but not validated: still pending, to validate (not to load again).
    assert plan(settings) == [(_day(1), VALIDATE), (_day(3), VALIDATE)]
    mark_validated(settings, _day(1), _day(3))
    # Day 2 arrives late, after day 3 was loaded: it is pending and loads on the next run.
    put_export(landing, _day(2), generic_files())
    assert pending_exports(settings) == [_day(2)]
    ingest(settings=settings, validate=False)
    mark_validated(settings, _day(2))
    assert loaded_export_dates(settings) == {_day(1), _day(2), _day(3)}
    assert pending_exports(settings) == []


def test_a_redelivered_export_is_pending_again(settings):
    folder = put_export(settings.resolved_landing_dir, _day(1), generic_files())
    ingest(settings=settings, validate=False)
    mark_validated(settings, _day(1))
    assert pending_exports(settings) == []
    stat = os.stat(folder / "opportunities.csv")
    (folder / "opportunities.csv").write_text(generic_files()["opportunities.csv"] + "\n")
    os.utime(folder / "opportunities.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert plan(settings) == [(_day(1), LOAD)]


def test_a_correction_of_an_export_older_than_the_served_one_says_its_history_is_kept(settings, caplog):
    """The snapshot rewinds only the export it takes (the newest served): a corrected older export
    is loaded again, with a warning that the opportunity history keeps its first versions."""
    landing = settings.resolved_landing_dir
    put_export(landing, _day(1), generic_files())
    put_export(landing, _day(2), generic_files())
    ingest(settings=settings, validate=False)
    mark_validated(settings, _day(1), _day(2))
    put_export(landing, _day(2), export_with_amount_of_o2("3000"))  # the newest: rewound, no warning
    with caplog.at_level("WARNING", logger="pipecast.ingest.schedule"):
        assert plan(settings) == [(_day(2), LOAD)]
    assert not _schedule_warnings(caplog)
    put_export(landing, _day(1), export_with_amount_of_o2("2000"))
    with caplog.at_level("WARNING", logger="pipecast.ingest.schedule"):
        assert plan(settings) == [(_day(1), LOAD), (_day(2), LOAD)]
    [warning] = _schedule_warnings(caplog)
    assert warning.startswith(
        "export 2026-05-01 was re-delivered after a newer export (2026-05-02) was served"
    )
    assert "keeps the versions first taken from it" in warning


def _schedule_warnings(caplog) -> list[str]:
    """The schedule's warnings only: another test's import (Airflow's) may leave the root logger
    at INFO, so caplog also holds other loggers' records."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "pipecast.ingest.schedule" and r.levelno >= logging.WARNING
    ]


def test_a_same_size_correction_with_the_old_mtime_is_pending_again(settings):
    """Re-delivery is told by content: a corrected file of the same size, its modification time
    set back (cp -p, rsync -t), is loaded again; a file only touched is not."""
    folder = put_export(settings.resolved_landing_dir, _day(1), generic_files())
    ingest(settings=settings, validate=False)
    mark_validated(settings, _day(1))
    path = folder / "opportunities.csv"
    before = os.stat(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))  # touched only
    assert pending_exports(settings) == []
    text = path.read_text()
    corrected = text.replace("2500.5", "2500.7")
    assert len(corrected) == len(text) and corrected != text
    path.write_text(corrected)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_mtime_ns == before.st_mtime_ns
    assert plan(settings) == [(_day(1), LOAD)]
    ingest(settings=settings, validate=False)
    assert query(settings, "select amount from raw.opportunities where opportunity_id = 'O2'") == [(2500.7,)]


def test_missing_exports_are_reported_never_skipped(settings, caplog):
    landing = settings.resolved_landing_dir
    for n in (1, 2, 5):
        put_export(landing, _day(n), generic_files())
    put_export(landing, _day(4), generic_files(), marker=False)
    bad = good_tables()
    bad["opportunities"][0][0] = ""
    put_export(landing, _day(6), generic_files(bad))
    put_export(landing, _day(7), generic_files())
    with pytest.raises(IngestError):
        ingest(settings=settings, validate=False)  # stops at the bad export of day 6
    ingest(settings=settings, validate=False)  # day 6 is quarantined now: day 7 loads
    gaps = missing_exports(settings)
    assert [(g.export_date, g.status) for g in gaps] == [
        (_day(3), "missing"),
        (_day(4), "incomplete"),
        (_day(6), "quarantined"),
    ]
    assert "export 2026-05-03 is missing" in caplog.text
    assert query(settings, "select export_date, status from audit.missing_exports order by 1") == [
        (_day(3), "missing"),
        (_day(4), "incomplete"),
        (_day(6), "quarantined"),
    ]
    # Day 3 arrives at last: loaded, and no longer missing.
    put_export(landing, _day(3), generic_files())
    ingest(settings=settings, validate=False)
    assert [g.export_date for g in missing_exports(settings)] == [_day(4), _day(6)]
    # The cadence is configurable (weekly exports have six quiet days between them).
    weekly = settings.model_copy(update={"export_interval_days": 7})
    assert missing_exports(weekly) == []


def test_archive_keeps_the_original_bytes(settings):
    folder = land_dataset(settings.resolved_landing_dir, date(2017, 12, 31), "maven_crm_pipeline")
    ingest_export(date(2017, 12, 31), settings)
    archived = settings.archive_dir / "2017-12-31"
    names = sorted(p.name for p in folder.iterdir())
    assert sorted(p.name for p in archived.iterdir()) == names
    assert all(filecmp.cmp(folder / n, archived / n, shallow=False) for n in names)


def test_archive_is_a_copy_a_file_rewritten_in_place_leaves_it_whole(settings):
    """The archive copies (or reflinks), never hard-links: a corrected file written over the
    landing copy in place (cp over it) leaves the archived original as it was."""
    folder = put_export(settings.resolved_landing_dir, _day(1), generic_files())
    ingest_export(_day(1), settings)
    archived = settings.archive_dir / "2026-05-01"
    original = (archived / "opportunities.csv").read_bytes()
    for path in folder.iterdir():
        assert not os.path.samefile(archived / path.name, path)
        assert (archived / path.name).read_bytes() == path.read_bytes()
    with open(folder / "opportunities.csv", "r+b") as fh:  # in place: same inode
        fh.write(b"opportunity_id\nO9\n")
    assert (archived / "opportunities.csv").read_bytes() == original
    (folder / "stages.csv").unlink()
    assert (archived / "stages.csv").read_text() == generic_files()["stages.csv"]
    assert not list(settings.archive_dir.glob(".*partial*"))


def test_archive_copies_when_the_filesystem_has_no_reflink(settings, monkeypatch):
    import fcntl

    def no_reflink(*args):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(fcntl, "ioctl", no_reflink)
    folder = put_export(settings.resolved_landing_dir, _day(1), generic_files())
    ingest_export(_day(1), settings)
    archived = settings.archive_dir / "2026-05-01"
    assert sorted(p.name for p in archived.iterdir()) == sorted(p.name for p in folder.iterdir())
    for path in folder.iterdir():
        assert not os.path.samefile(archived / path.name, path)
        assert (archived / path.name).read_bytes() == path.read_bytes()


def test_raw_tables_of_an_older_version_gain_the_new_columns(settings):
    settings.resolved_warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.resolved_warehouse_path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.stages (pipeline VARCHAR, stage VARCHAR, sort_order INTEGER, "
            "probability DOUBLE, is_closed BOOLEAN, is_won BOOLEAN, forecast_category VARCHAR, "
            "_export_date DATE, _source_file VARCHAR, _loaded_at TIMESTAMP, _row_hash VARCHAR)"
        )
        con.execute("INSERT INTO raw.stages (stage, _export_date) VALUES ('Old', DATE '2026-01-01')")
    put_export(settings.resolved_landing_dir, _day(1), generic_files())
    ingest_export(_day(1), settings)
    assert query(settings, "select stage, _source_layout from raw.stages order by _export_date limit 2") == [
        ("Old", None),
        ("Prospecting", "generic"),
    ]


def test_object_storage_landing_zone(settings):
    """An fsspec URL as the landing zone: DuckDB reads the files through the same filesystem."""
    fs = fsspec.filesystem("memory")
    root = f"memory://pipecast-test-{uuid.uuid4().hex}/exports"
    try:
        for name, text in generic_files().items():
            fs.pipe(f"{root}/2026-05-01/{name}", text.encode())
        fs.pipe(f"{root}/2026-05-01/_SUCCESS", b"")
        bad = good_tables()
        bad["opportunities"][1][7] = "lots"
        for name, text in generic_files(bad).items():
            fs.pipe(f"{root}/2026-05-02/{name}", text.encode())
        fs.pipe(f"{root}/2026-05-02/_SUCCESS", b"")
        remote = settings.model_copy(update={"landing_url": root})
        assert pending_exports(remote) == [_day(1), _day(2)]
        result = ingest_export(_day(1), remote)
        assert result.rows["opportunities"] == 4
        assert query(remote, "select _source_file from raw.opportunities limit 1")[0][0].startswith(
            "memory://"
        )
        assert (remote.archive_dir / "2026-05-01" / "opportunities.csv").read_text() == generic_files()[
            "opportunities.csv"
        ]
        with pytest.raises(IngestError) as caught:
            ingest_export(_day(2), remote)
        assert (caught.value.line, caught.value.column) == (3, "amount")
        assert not fs.exists(f"{root}/2026-05-02")
        [quarantined] = remote.quarantine_dir.glob("2026-05-02_*")
        assert (quarantined / "opportunities.csv").exists()
    finally:
        fs.rm(root.rsplit("/", 1)[0], recursive=True)
