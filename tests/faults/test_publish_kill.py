"""The marts switch nights all at once (pipecast.transform.publish): a `pipecast build` killed
(SIGKILL) after some marts were rebuilt, or during the switch itself, and a build whose
error-severity relationships test fails, and a build whose marts fail their Great Expectations
suite (checked in the slot, before the switch), all leave every mart on the previous night; the
next normal build publishes the whole new night. On the DuckDB warehouse, with real dbt builds."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest
from pipecast import pipeline
from pipecast.config import Settings
from pipecast.ingest import lifecycle
from pipecast.transform import DbtError
from pipecast.transform.publish import MartsRejected, published

from tests.dbt.demo_nights import write_demo_exports
from tests.faults.killing import kill_at
from tests.lifecycle_steps import mark_validated

PIPECAST = str(Path(sys.executable).with_name("pipecast"))


def _marts(settings: Settings) -> dict[str, tuple]:
    """Every mart BI sees: its row count and a hash of all its rows."""
    with duckdb.connect(str(settings.resolved_warehouse_path), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        return {
            n: con.execute(f"select count(*), sum(hash(t)::hugeint) from marts.{n} t").fetchone()
            for n in names
        }


def _as_of(settings: Settings) -> set:
    with duckdb.connect(str(settings.resolved_warehouse_path), read_only=True) as con:
        return {
            con.execute("select max(as_of_date) from marts.fct_opportunities").fetchone()[0],
            con.execute("select max(snapshot_date) from marts.fct_pipeline_daily").fetchone()[0],
        }


@pytest.fixture
def two_nights(tmp_path) -> Settings:
    """Night 1 built and published; night 2's export loaded, not built yet."""
    demo = write_demo_exports(tmp_path / "demo")
    settings = Settings(
        state_dir=tmp_path / "state",
        landing_dir=demo.landing,
        warehouse_path=tmp_path / "state" / "wh.duckdb",
    )
    pipeline.ingest(demo.first, settings, validate=False)
    mark_validated(settings, demo.first)  # staging serves validated exports only
    pipeline.build(settings)
    pipeline.ingest(demo.last, settings, validate=False)
    mark_validated(settings, demo.last)
    settings.__dict__["_demo"] = demo
    return settings


@pytest.mark.slow
def test_killed_builds_and_a_failed_test_publish_nothing_and_the_next_night_publishes_all(two_nights):
    settings = two_nights
    demo = settings.__dict__["_demo"]
    env = {
        "PIPECAST_LANDING_DIR": str(settings.landing_dir),
        "PIPECAST_WAREHOUSE_PATH": str(settings.resolved_warehouse_path),
    }
    night_one = _marts(settings)
    assert _as_of(settings) == {demo.first} and len(night_one) > 20
    serving = published(settings)

    # killed once fct_opportunities (and whatever ran before it) has been rebuilt in the slot
    kill_at("dbt:fct_opportunities", [PIPECAST, "build"], settings.state_dir, env)
    assert _marts(settings) == night_one and published(settings) == serving

    # killed inside the switch, after every view was replaced but before the commit
    kill_at("publish:swap", [PIPECAST, "build"], settings.state_dir, env)
    assert _marts(settings) == night_one and published(settings) == serving

    # an opportunity's stage missing from the stages (an orphan key): the relationships test fails
    with duckdb.connect(str(settings.resolved_warehouse_path)) as con:
        [(stage,)] = con.execute(
            "select stage from raw.opportunities where _export_date = ? limit 1", [demo.last]
        ).fetchall()
        saved = con.execute(
            "select * from raw.stages where _export_date = ? and stage = ?", [demo.last, stage]
        ).df()
        con.execute("delete from raw.stages where _export_date = ? and stage = ?", [demo.last, stage])
    with pytest.raises(DbtError, match="relationships.*nothing published|nothing published"):
        pipeline.build(settings)
    assert _marts(settings) == night_one and published(settings) == serving

    with duckdb.connect(str(settings.resolved_warehouse_path)) as con:
        con.register("saved", saved)
        con.execute("insert into raw.stages select * from saved")

    # a mart made wrong on purpose: one stage's probability in basis points (x100). dbt's tests
    # pass; the marts checkpoint fails dim_stages (a probability in [0, 1]) in tonight's slot,
    # before any view moves. (raw.stages is not snapshotted, so the night can be built again.)
    with duckdb.connect(str(settings.resolved_warehouse_path)) as con:
        [(stage,)] = con.execute(
            "select min(stage) from raw.stages where _export_date = ? and probability between 1 and 99",
            [demo.last],
        ).fetchall()
        con.execute(
            "update raw.stages set probability = probability * 100 where _export_date = ? and stage = ?",
            [demo.last, stage],
        )
    with pytest.raises(MartsRejected, match=r"nothing published.*dim_stages.*default_probability"):
        pipeline.build(settings)
    assert _marts(settings) == night_one and published(settings) == serving
    assert lifecycle.current_on_target(settings)[demo.last].state == lifecycle.VALIDATED  # not published

    # the next normal night: the data is right again, every mart moves to night 2 together
    with duckdb.connect(str(settings.resolved_warehouse_path)) as con:
        con.execute(
            "update raw.stages set probability = probability / 100 where _export_date = ? and stage = ?",
            [demo.last, stage],
        )
    result = pipeline.build(settings)
    assert result.published and published(settings) != serving
    night_two = _marts(settings)
    assert set(night_two) == set(night_one)
    assert _as_of(settings) == {demo.last}
    changed = [name for name in night_one if night_two[name] != night_one[name]]
    assert "fct_opportunities" in changed and "fct_pipeline_daily" in changed
    assert lifecycle.current_on_target(settings)[demo.last].state == lifecycle.PUBLISHED
