"""A night (or a backfill run) loads only the exports up to its date, in order, and forecasts as of
the newest of them: real demo exports, real ingest into a real DuckDB warehouse."""

from __future__ import annotations

from datetime import date

import pytest
from pipecast import pipeline
from pipecast.demo.generator import generate_demo_exports
from pipecast.orchestration.nightly import forecast_as_of, ingest_through
from pipecast.warehouse import connect

from tests.lifecycle_steps import mark_validated


def _loaded_at(settings) -> list[tuple]:
    with connect(settings, read_only=True) as con:
        return con.execute("select export_date, entity, loaded_at from audit.loads order by 1, 2").fetchall()


def test_backfill_nights_load_in_date_order_and_forecast_as_of_their_own_export(settings):
    generate_demo_exports(
        settings.resolved_landing_dir,
        settings.ground_truth_path,
        size=2000,
        as_of=date(2026, 11, 27),
        nights=3,
    )
    with pytest.raises(RuntimeError, match="no export loaded on or before 2026-11-25"):
        forecast_as_of(date(2026, 11, 25), settings)

    assert ingest_through(date(2026, 11, 26), settings) == [date(2026, 11, 25), date(2026, 11, 26)]
    # Loaded, not validated yet (the DAG's validate_raw task does that): a re-run returns them
    # again, to validate, without loading them again.
    loads = _loaded_at(settings)
    assert ingest_through(date(2026, 11, 26), settings) == [date(2026, 11, 25), date(2026, 11, 26)]
    assert _loaded_at(settings) == loads
    mark_validated(settings, date(2026, 11, 25), date(2026, 11, 26), why="the DAG's validate_raw task")
    assert pipeline.pending_exports(settings) == [date(2026, 11, 27)]  # the later night stays pending
    assert forecast_as_of(date(2026, 11, 26), settings) == date(2026, 11, 26)
    assert ingest_through(date(2026, 11, 26), settings) == []  # a re-run loads nothing twice

    assert ingest_through(date(2026, 11, 28), settings) == [date(2026, 11, 27)]
    assert forecast_as_of(date(2026, 11, 28), settings) == date(2026, 11, 27)  # 11-28 never came
    with connect(settings, read_only=True) as con:
        order = con.execute(
            "select export_date from audit.loads group by export_date order by min(loaded_at)"
        ).fetchall()
    assert [r[0] for r in order] == [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)]
