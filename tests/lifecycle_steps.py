"""For fixtures that load exports without running raw validation (it is not what they test):
record the export as validated, with a reason saying so, so that dbt's staging serves it."""

from __future__ import annotations

from datetime import date

from pipecast.config import Settings
from pipecast.ingest import lifecycle


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
