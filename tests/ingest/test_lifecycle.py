"""The export lifecycle in one process: NUL bytes, a full disk at load and at validation, a
quarantine stopped before its move, a stale night, folders not named by a date.

Kills of real processes are in tests/orchestration/test_lifecycle_faults.py."""

from __future__ import annotations

import errno
from datetime import date

import duckdb
import pytest
from pipecast import cli, pipeline
from pipecast.canonical import ENTITIES
from pipecast.config import get_settings
from pipecast.ingest import IngestError, ingest_export, lifecycle, loader
from pipecast.ingest.errors import NulByteError, WarehouseError
from pipecast.ingest.schedule import LOAD, plan
from pipecast.validate import runner

from tests.ingest.conftest import csv_text, generic_files, good_tables, put_export, query
from tests.lifecycle_steps import mark_validated

DAY1, DAY2 = date(2026, 4, 1), date(2026, 4, 2)
OPP = list(ENTITIES["opportunities"].columns)


def _state(settings, day: date) -> str | None:
    step = lifecycle.current_on_target(settings).get(day)
    return step.state if step else None


def _good_night(settings) -> None:
    put_export(settings.resolved_landing_dir, DAY1, generic_files())
    ingest_export(DAY1, settings)
    mark_validated(settings, DAY1)


def test_a_nul_byte_in_a_value_quarantines_naming_file_line_and_column(settings):
    _good_night(settings)
    tables = good_tables()
    tables["opportunities"][2][OPP.index("name")] = "Deal\x003"
    put_export(settings.resolved_landing_dir, DAY2, generic_files(tables))
    with pytest.raises(NulByteError) as caught:
        ingest_export(DAY2, settings)
    error = caught.value
    assert error.file.endswith("opportunities.csv") and error.line == 4 and error.column == "name"
    assert "NUL byte" in error.message
    assert query(
        settings, "select line, column_name from audit.quarantined_exports where export_date = ?", [DAY2]
    ) == [(4, "name")]
    assert _state(settings, DAY2) == lifecycle.QUARANTINED
    assert query(settings, "select count(*) from raw.opportunities where _export_date = ?", [DAY2]) == [(0,)]
    assert not (settings.resolved_landing_dir / DAY2.isoformat()).exists()


def test_a_nul_byte_in_a_header_is_an_ingest_error_not_a_bare_value_error(settings):
    header = list(OPP)
    header[OPP.index("stage")] = "sta\x00ge"
    files = dict(generic_files())
    files["opportunities.csv"] = csv_text(good_tables()["opportunities"], header)
    put_export(settings.resolved_landing_dir, DAY2, files)
    with pytest.raises(IngestError) as caught:
        ingest_export(DAY2, settings)
    error = caught.value
    assert isinstance(error, NulByteError)
    assert error.line == 1 and error.column == f"column{OPP.index('stage') + 1}"
    assert _state(settings, DAY2) == lifecycle.QUARANTINED
    assert list(settings.quarantine_dir.glob(f"{DAY2.isoformat()}_*"))


def test_a_full_disk_while_loading_fails_the_export_and_the_next_run_loads_it(settings, monkeypatch):
    _good_night(settings)
    put_export(settings.resolved_landing_dir, DAY2, generic_files())

    def disk_full(*args, **kwargs):
        raise duckdb.IOException('Could not write file "warehouse.duckdb.wal": No space left on device')

    # The write boundary: DuckDB's insert into raw.* inside the load transaction.
    monkeypatch.setattr(loader, "_load_entity", disk_full)
    with pytest.raises(WarehouseError) as caught:
        ingest_export(DAY2, settings)
    assert not caught.value.data and "No space left" in str(caught.value)
    # Not quarantined: the export stays, its failure is recorded, nothing of it is in raw.
    assert (settings.resolved_landing_dir / DAY2.isoformat()).exists()
    assert _state(settings, DAY2) == lifecycle.FAILED
    assert query(settings, "select quarantined from audit.ingest_errors where export_date = ?", [DAY2]) == [
        (False,)
    ]
    assert query(settings, "select count(*) from raw.opportunities where _export_date = ?", [DAY2]) == [(0,)]
    assert plan(settings) == [(DAY2, LOAD)]

    monkeypatch.undo()
    ingest_export(DAY2, settings)
    assert _state(settings, DAY2) == lifecycle.LOADED


def test_a_full_disk_during_raw_validation_leaves_the_export_unserved_and_pending(settings, monkeypatch):
    _good_night(settings)
    put_export(settings.resolved_landing_dir, DAY2, generic_files())
    ingest_export(DAY2, settings)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner, "validate_raw", disk_full)
    with pytest.raises(OSError):
        pipeline.validate_raw(DAY2, settings)
    step = lifecycle.current_on_target(settings)[DAY2]
    assert step.state == lifecycle.FAILED and "No space left" in step.reason
    assert lifecycle.newest_servable(lifecycle.current_on_target(settings)) == DAY1
    assert plan(settings) == [(DAY2, LOAD)]


def test_a_quarantine_stopped_before_its_move_is_finished_by_the_next_run(settings, monkeypatch):
    _good_night(settings)
    tables = good_tables()
    tables["opportunities"][0][OPP.index("amount")] = "lots"
    put_export(settings.resolved_landing_dir, DAY2, generic_files(tables))

    def killed(*args, **kwargs):
        raise SystemExit("killed between the audit rows and the move")

    monkeypatch.setattr(loader, "quarantine_export", killed)
    with pytest.raises(SystemExit):
        ingest_export(DAY2, settings)
    monkeypatch.undo()
    # Audit says quarantined (with the reason), the folder is still in the landing zone.
    assert _state(settings, DAY2) == lifecycle.QUARANTINED
    assert (settings.resolved_landing_dir / DAY2.isoformat()).exists()
    assert plan(settings) == []  # not loaded again
    assert pipeline.finish_quarantines(settings) == [DAY2]
    assert not (settings.resolved_landing_dir / DAY2.isoformat()).exists()
    [moved] = settings.quarantine_dir.glob(f"{DAY2.isoformat()}_*")
    assert "lots" in (moved / "QUARANTINE_REASON.txt").read_text()


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("PIPECAST_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("PIPECAST_LANDING_DIR", str(settings.resolved_landing_dir))
    monkeypatch.setenv("PIPECAST_WAREHOUSE_PATH", str(settings.resolved_warehouse_path))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def test_a_night_without_a_new_export_is_stale_exit_3_nothing_rebuilt(cli_env, monkeypatch, capsys, caplog):
    settings = cli_env
    _good_night(settings)
    for odd in ("20261201", "latest"):
        (settings.resolved_landing_dir / odd).mkdir()

    def no_build(*args, **kwargs):
        raise AssertionError("a stale night must not rebuild")

    monkeypatch.setattr(pipeline, "build", no_build)
    monkeypatch.setattr(pipeline, "forecast", no_build)
    assert cli.main(["run", "--no-generate"]) == cli.EXIT_STALE == 3
    out = capsys.readouterr().out
    assert "STALE" in out and "serves export 2026-04-01" in out
    assert "20261201" in out and "latest" in out
    report = (settings.reports_dir / "report.md").read_text()
    assert "STALE DATA" in report and "2026-04-01" in report
    assert "not named by an export date" in caplog.text
    assert sorted(r[0] for r in query(settings, "select name from audit.unrecognised_folders")) == [
        "20261201",
        "latest",
    ]


def test_an_empty_or_missing_landing_zone_is_stale_too(cli_env, monkeypatch, capsys):
    monkeypatch.setattr(pipeline, "build", lambda *a, **k: pytest.fail("a stale night must not rebuild"))
    assert cli.main(["run", "--no-generate"]) == 3  # no landing folder at all
    assert "was ever validated" in capsys.readouterr().out
    cli_env.resolved_landing_dir.mkdir(parents=True)
    assert cli.main(["run", "--no-generate"]) == 3


def test_an_export_failing_raw_validation_is_quarantined_with_audit_rows_naming_its_rows(settings):
    """Raw validation (the real checkpoint) fails on a negative amount: the export is taken out
    of raw.*, moved aside, recorded in audit.quarantined_exports and the lifecycle, the reason
    names the row by key and line, and the next check calls the date quarantined, not missing."""
    _good_night(settings)
    tables = good_tables()
    extra = list(tables["opportunities"][0])
    tables["opportunities"] += [
        [f"O-{n}" if c == "opportunity_id" else v for c, v in zip(OPP, extra, strict=True)] for n in (15, 16)
    ]
    bad = [
        "O-17" if c == "opportunity_id" else ("-5000" if c == "amount" else v)
        for c, v in zip(OPP, extra, strict=True)
    ]
    tables["opportunities"].append(bad)  # line 8 of the file (header, 4 good, O-15, O-16)
    put_export(settings.resolved_landing_dir, DAY2, generic_files(tables))
    ingest_export(DAY2, settings)
    with pytest.raises(pipeline.ValidationFailed) as caught:
        pipeline.validate_raw(DAY2, settings)
    assert "opportunity_id O-17 on line 8 of opportunities.csv" in str(caught.value)
    [(reason,)] = query(
        settings, "select reason from audit.quarantined_exports where export_date = ?", [DAY2]
    )
    assert "between(amount)" in reason or "amount" in reason
    assert "O-17 on line 8" in reason
    assert _state(settings, DAY2) == lifecycle.QUARANTINED
    assert query(settings, "select count(*) from raw.opportunities where _export_date = ?", [DAY2]) == [(0,)]
    assert query(settings, "select count(*) from audit.loads where export_date = ?", [DAY2]) == [(0,)]
    assert not (settings.resolved_landing_dir / DAY2.isoformat()).exists()
    [moved] = settings.quarantine_dir.glob(f"{DAY2.isoformat()}_*")
    assert "O-17" in (moved / "QUARANTINE_REASON.txt").read_text()
    gaps = pipeline.missing_exports(settings, through=DAY2)
    assert [(g.export_date, g.status) for g in gaps] == [(DAY2, "quarantined")]
    assert plan(settings) == []


def test_after_a_build_the_newest_validated_export_is_published(settings):
    """pipeline.build calls mark_published after dbt succeeded: the newest validated export
    becomes published; a loaded-but-unvalidated newer one does not."""
    _good_night(settings)
    put_export(settings.resolved_landing_dir, DAY2, generic_files())
    ingest_export(DAY2, settings)  # loaded, not validated
    assert pipeline.mark_published(settings) == DAY1
    steps = lifecycle.current_on_target(settings)
    assert (steps[DAY1].state, steps[DAY2].state) == (lifecycle.PUBLISHED, lifecycle.LOADED)
    assert pipeline.mark_published(settings) == DAY1  # once
    assert [s.state for s in lifecycle.history_on_target(settings, DAY1)].count(lifecycle.PUBLISHED) == 1
