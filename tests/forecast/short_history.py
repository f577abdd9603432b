"""A generated CRM with a short history: a fast funnel whose exports start a few weeks ago.

The demo generator with a fast funnel (stage times x ``stage_days_factor``, the shape's
cycle_factor) in which losses are decided sooner than advances (``lost_days_factor``), loaded,
and then every deal created before the last ``history_days`` taken out of raw (a CRM adopted
that recently), before dbt builds.
The deals left are still played to their end in the ground truth, so scores of the deals open at
the export can be checked against what became of them.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from pipecast.config import Settings
from pipecast.demo.generator import generate_demo_exports
from pipecast.demo.shapes import DemoShape
from pipecast.ingest import lifecycle
from pipecast.pipeline import ingest
from pipecast.warehouse import connect

from tests.forecast.conftest import build_warehouse, make_settings
from tests.lifecycle_steps import mark_validated

FORGET = """
delete from raw.opportunity_stage_history where opportunity_id in
    (select opportunity_id from raw.opportunities where created_at < $start);
delete from raw.line_items where opportunity_id in
    (select opportunity_id from raw.opportunities where created_at < $start);
delete from raw.opportunities where created_at < $start;
delete from raw.leads where created_at < $start
"""


def build_short_history(
    state: Path,
    as_of: date,
    size: int,
    history_days: int,
    stage_days_factor: float,
    lost_days_factor: float,
    seed: int = 11,
    **overrides,
) -> Settings:
    settings = make_settings(state, **overrides)
    generate_demo_exports(
        landing_dir=settings.resolved_landing_dir,
        truth_path=settings.ground_truth_path,
        size=size,
        seed=seed,
        as_of=as_of,
        nights=1,
        shape=DemoShape(cycle_factor=stage_days_factor, lost_days_factor=lost_days_factor),
    )
    ingest(settings=settings, validate=False)
    # raw validation is not under test here; staging serves validated exports only
    mark_validated(settings, *lifecycle.current_on_target(settings))
    start = as_of - timedelta(days=history_days - 1)
    with connect(settings) as con:
        for statement in FORGET.split(";"):
            con.execute(statement.replace("$start", f"timestamp '{start}'"))
    build_warehouse(settings)
    return settings
