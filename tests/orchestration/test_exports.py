"""Which export a run waits for, and when the sensor is satisfied."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

from pipecast.canonical import COMPLETION_MARKER
from pipecast.orchestration.exports import export_date_for, export_landed, run_time_of


def landed(landing: Path, day: str, complete: bool = True) -> None:
    folder = landing / day
    folder.mkdir(parents=True)
    (folder / "opportunities.csv").write_text("opportunity_id\n")
    if complete:
        (folder / COMPLETION_MARKER).write_text("")


def test_the_run_processes_the_export_of_the_day_before_in_the_schedule_timezone():
    run = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 03:00 in Berlin on the 28th
    assert export_date_for(run, "UTC", 1) == date(2026, 11, 27)
    assert export_date_for(run, "Europe/Berlin", 1) == date(2026, 11, 27)
    late_evening_utc = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # already the 28th in Berlin
    assert export_date_for(late_evening_utc, "UTC", 1) == date(2026, 11, 26)
    assert export_date_for(late_evening_utc, "Europe/Berlin", 1) == date(2026, 11, 27)
    assert export_date_for(datetime(2026, 11, 28, 3, 0), "UTC", 0) == date(2026, 11, 28)  # naive = UTC


def test_a_run_without_logical_date_uses_run_after():
    run_after = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    assert run_time_of({"logical_date": None, "dag_run": SimpleNamespace(run_after=run_after)}) == run_after
    logical = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    assert run_time_of({"logical_date": logical, "dag_run": SimpleNamespace(run_after=run_after)}) == logical


def test_the_sensor_waits_for_the_completion_marker(tmp_path):
    landing = tmp_path / "landing"
    assert not export_landed(landing, date(2026, 11, 27))  # no landing zone yet
    landed(landing, "2026-11-26")
    landed(landing, "2026-11-27", complete=False)  # still being written
    assert not export_landed(landing, date(2026, 11, 27))
    (landing / "2026-11-27" / COMPLETION_MARKER).write_text("")
    assert export_landed(landing, date(2026, 11, 27))


def test_a_newer_export_ends_the_wait_for_one_that_will_not_come(tmp_path):
    landing = tmp_path / "landing"
    landed(landing, "2026-11-27")  # Friday; the CRM exports no weekends
    assert export_landed(landing, date(2026, 11, 25))  # backfilling an older night
    assert not export_landed(landing, date(2026, 11, 29))
    landed(landing, "2026-11-30")
    assert export_landed(landing, date(2026, 11, 29))


def test_the_sensor_reads_object_storage_through_the_landing_zone():
    import fsspec
    from pipecast.config import Settings
    from pipecast.ingest.landing import LandingZone

    fs = fsspec.filesystem("memory")
    fs.pipe("/pipecast-sensor-test/2026-11-27/opportunities.csv", b"opportunity_id\n")
    zone = LandingZone.from_settings(Settings(landing_url="memory://pipecast-sensor-test"))
    assert not export_landed(zone, date(2026, 11, 27))
    fs.pipe(f"/pipecast-sensor-test/2026-11-27/{COMPLETION_MARKER}", b"")
    assert export_landed(zone, date(2026, 11, 27))
