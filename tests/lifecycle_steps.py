"""Steps of the export lifecycle for tests.

``mark_validated``: for fixtures that load exports without running raw validation (it is not what
they test), record the export as validated, with a reason saying so, so that dbt's staging serves
it. The fault tests' probes: an export whose second deal has a given amount, the raw rows of an
export, and what dbt's staging serves."""

from __future__ import annotations

from datetime import date

from pipecast.canonical import ENTITIES
from pipecast.config import Settings
from pipecast.ingest import lifecycle
from pipecast.warehouse import query_on_target

from tests.ingest.conftest import generic_files, good_tables

AMOUNT = list(ENTITIES["opportunities"].columns).index("amount")


def mark_validated(settings: Settings, *days: date, why: str = "raw validation not under test") -> None:
    steps = lifecycle.current_on_target(settings)
    for day in days:
        loaded = steps[day]
        assert loaded.state == lifecycle.LOADED, f"export {day} is {loaded.state}, not loaded"
        lifecycle.record_on_target(
            settings,
            lifecycle.step(
                day,
                lifecycle.VALIDATED,
                f"test fixture: {why}",
                content_hash=loaded.content_hash,
                stat_fingerprint=loaded.stat_fingerprint,
                location=loaded.location,
            ),
        )


def export_with_amount_of_o2(amount: str, o2_history: bool = True) -> dict[str, str]:
    """The good generic export (tests.ingest.conftest) with the second deal's amount as given;
    without O2's stage history rows when ``o2_history`` is false (its history is then derived from
    the nightly snapshots, as for a CRM that exports none)."""
    tables = good_tables()
    tables["opportunities"][1][AMOUNT] = amount
    if not o2_history:
        history = tables["opportunity_stage_history"]
        tables["opportunity_stage_history"] = [row for row in history if row[0] != "O2"]
    return generic_files(tables)


def raw_opportunity_rows(settings: Settings, day: date) -> int:
    [(n,)] = query_on_target(
        settings, "select count(*) from raw.opportunities where _export_date = $1", [day]
    )
    return int(n)


def served(settings: Settings) -> list[tuple]:
    """What dbt's staging (and so every mart) serves: built for real, the model and the staging
    models it reads."""
    from pipecast.transform import dbt_invoke

    assert dbt_invoke(["run", "--select", "+stg_crm__opportunities"], settings).success
    return query_on_target(
        settings, "select distinct opportunity_id, amount from staging.stg_crm__opportunities order by 1"
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The PIPECAST_* variables that point a pipecast process at ``settings``' landing zone and
    warehouse (DuckDB file, or the PostgreSQL server)."""
    env = {
        "PIPECAST_LANDING_DIR": str(settings.resolved_landing_dir),
        "PIPECAST_WAREHOUSE_PATH": str(settings.resolved_warehouse_path),
        "PIPECAST_TARGET": settings.target,
    }
    if settings.target == "postgres":
        env |= {
            "PIPECAST_PG_HOST": settings.pg_host,
            "PIPECAST_PG_PORT": str(settings.pg_port),
            "PIPECAST_PG_USER": settings.pg_user,
            "PIPECAST_PG_PASSWORD": settings.pg_password,
            "PIPECAST_PG_DATABASE": settings.pg_database,
        }
    return env
