"""A corrected re-delivery of an export date that was already built (issue 12/13 follow-up), with
real dbt builds, on DuckDB and on PostgreSQL.

Night 2's export is built, then re-delivered in the same date folder with one amount corrected.
Ingest loads it again (its content hash changed) and the next build's snapshot rewinds the versions
night 2 made before taking it again (dbt_project/macros/snapshot_rewind.sql): the history shows the
corrected export, with no second version for the same deal and validity start, and the night
succeeds (before, the snapshot's unique_combination test failed that night and every later one).
A build killed (SIGKILL) after the rewind, inside the snapshot's transaction, leaves the snapshot
and every mart as they were; the next build finishes the job. A correction that fails raw
validation is quarantined and the export before it serves again, its history rewound to it. The
next normal night builds as usual.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from pipecast import pipeline
from pipecast.config import Settings
from pipecast.ingest import lifecycle
from pipecast.ingest.schedule import LOAD, plan
from pipecast.pipeline import ValidationFailed
from pipecast.warehouse import query_on_target

from tests.faults.killing import kill_at
from tests.ingest.conftest import put_export
from tests.lifecycle_steps import export_with_amount_of_o2, settings_env

DAY1, DAY2, DAY3, DAY4 = date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3), date(2026, 5, 4)
PIPECAST = str(Path(sys.executable).with_name("pipecast"))


def _versions(settings: Settings) -> list[tuple]:
    """Every snapshot version: deal, amount, validity."""
    return [
        (o, float(a), f, t)
        for o, a, f, t in query_on_target(
            settings,
            "select opportunity_id, amount, dbt_valid_from, dbt_valid_to "
            "from snapshots.snp_crm__opportunities order by 1, 3",
        )
    ]


def _o2(versions: list[tuple]) -> list[tuple]:
    return [(a, f.date(), t.date() if t else None) for o, a, f, t in versions if o == "O2"]


def _served_amount(settings: Settings) -> float:
    [(amount,)] = query_on_target(
        settings, "select amount from marts.fct_opportunities where opportunity_id = 'O2'"
    )
    return float(amount)


def _o2_history(settings: Settings) -> list[float]:
    """O2's amounts in the history the marts derive from the snapshot (it has no CRM history)."""
    rows = query_on_target(
        settings,
        "select amount, history_source from intermediate.int_opportunity_changes_classified "
        "where opportunity_id = 'O2' order by changed_at",
    )
    assert {source for _, source in rows} == {"snapshot"}
    return [float(a) for a, _ in rows]


def _o2_daily(settings: Settings) -> dict[date, float]:
    """O2's amount per day in marts.fct_pipeline_daily (incremental), on the export days."""
    rows = query_on_target(
        settings,
        "select snapshot_date, amount from marts.fct_pipeline_daily where opportunity_id = 'O2' "
        "and snapshot_date >= $1",
        [DAY1],
    )
    return {(d.date() if isinstance(d, datetime) else d): float(a) for d, a in rows}


def _state(settings: Settings, day: date) -> str:
    return lifecycle.current_on_target(settings)[day].state


def _export(amount_of_o2: str) -> dict[str, str]:
    return export_with_amount_of_o2(amount_of_o2, o2_history=False)


def _night(settings: Settings, day: date, amount_of_o2: str) -> None:
    put_export(settings.resolved_landing_dir, day, _export(amount_of_o2))
    assert [r.export_date for r in pipeline.ingest(settings=settings)] == [day]
    result = pipeline.build(settings)
    # the night runs the data tests, not dbt's unit tests (those run in CI: tests/dbt)
    assert result.tests_passed > 100 and "unit_test" not in result.statuses


def _scenario(settings: Settings) -> None:
    landing = settings.resolved_landing_dir
    _night(settings, DAY1, "2500.5")
    _night(settings, DAY2, "3000")
    before = _versions(settings)
    assert _o2(before) == [(2500.5, DAY1, DAY2), (3000.0, DAY2, None)]
    assert _served_amount(settings) == 3000.0
    assert _o2_history(settings) == [2500.5, 3000.0]
    assert _o2_daily(settings) == {DAY1: 2500.5, DAY2: 3000.0}

    # Night 2 re-delivered in place, O2's amount corrected: loaded again by its content hash.
    put_export(landing, DAY2, _export("3333"))
    assert plan(settings) == [(DAY2, LOAD)]
    assert [r.export_date for r in pipeline.ingest(settings=settings)] == [DAY2]
    assert _state(settings, DAY2) == lifecycle.VALIDATED

    # A build killed after the rewind, inside the snapshot's transaction: nothing of it committed.
    env = settings_env(settings)
    kill_at("dbt:snp_crm__opportunities:rewound", [PIPECAST, "build"], settings.state_dir, env)
    assert _versions(settings) == before
    assert _served_amount(settings) == 3000.0 and _o2_history(settings) == [2500.5, 3000.0]

    # The next build rewinds night 2's versions and takes the corrected export: the history shows
    # it, every other version is as it was, and the night succeeds.
    result = pipeline.build(settings)
    assert result.tests_failed == 0
    corrected = _versions(settings)
    assert _o2(corrected) == [(2500.5, DAY1, DAY2), (3333.0, DAY2, None)]
    assert [v for v in corrected if v[0] != "O2"] == [v for v in before if v[0] != "O2"]
    assert _served_amount(settings) == 3333.0
    assert _o2_history(settings) == [2500.5, 3333.0]
    assert _o2_daily(settings) == {DAY1: 2500.5, DAY2: 3333.0}
    assert _state(settings, DAY2) == lifecycle.PUBLISHED
    # Built again with nothing new, the snapshot is unchanged (the rewind takes back what it re-adds).
    pipeline.build(settings)
    assert _versions(settings) == corrected

    # The next night: a new version on top of the corrected one.
    _night(settings, DAY3, "4000")
    assert _o2(_versions(settings)) == [(2500.5, DAY1, DAY2), (3333.0, DAY2, DAY3), (4000.0, DAY3, None)]

    # Night 3 re-delivered with a negative amount: quarantined, night 2 serves again, and the next
    # build rewinds night 3's versions (the deal's night-2 version is open again).
    put_export(landing, DAY3, _export("-5"))
    with pytest.raises(ValidationFailed):
        pipeline.ingest(settings=settings)
    assert _state(settings, DAY3) == lifecycle.QUARANTINED
    pipeline.build(settings)
    assert _versions(settings) == corrected
    assert _served_amount(settings) == 3333.0 and _o2_history(settings) == [2500.5, 3333.0]

    # And the next normal night.
    _night(settings, DAY4, "4100")
    assert _o2(_versions(settings)) == [(2500.5, DAY1, DAY2), (3333.0, DAY2, DAY4), (4100.0, DAY4, None)]
    assert max(f for _, _, f, _ in _versions(settings)) == datetime(2026, 5, 4)


@pytest.mark.slow
def test_a_corrected_redelivery_replaces_the_history_on_duckdb(settings):
    _scenario(settings)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_corrected_redelivery_replaces_the_history_on_postgres(postgres_settings):
    _scenario(postgres_settings)
