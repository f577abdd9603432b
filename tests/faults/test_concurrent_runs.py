"""Two nights at once on one warehouse (issue 13, case 1): a second `pipecast run` started after the
first one's load, while the first validates, with real processes on DuckDB and on PostgreSQL.

The first run is held inside raw validation (its checkpoint ran, ``validated`` not recorded yet:
PIPECAST_FAULT_PAUSE_AT=ingest:validated). The second refuses at once, naming the first's pid
(exit 4, pipecast.ingest.night_lock), and touches nothing: the export stays loaded and unserved.
A third started with PIPECAST_NIGHT_LOCK_WAIT_SECONDS waits; the first is then killed (its
validation dies, as in the issue) and the waiting run takes over: it validates the export without
loading it again, and only then is it served. The next normal night loads as usual.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date

import pytest
from pipecast import pipeline
from pipecast.config import Settings
from pipecast.ingest import lifecycle
from pipecast.ingest.night_lock import lock_path, night_lock
from pipecast.ingest.schedule import plan

from tests.faults.killing import ROOT, paused_at, python_module
from tests.ingest.conftest import put_export
from tests.lifecycle_steps import (
    export_with_amount_of_o2,
    mark_validated,
    raw_opportunity_rows,
    served,
    settings_env,
)

DAY1, DAY2, DAY3 = date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)


def _env(settings: Settings) -> dict[str, str]:
    return {
        **settings_env(settings),
        "PIPECAST_STATE_DIR": str(settings.state_dir),
        "PIPECAST_NIGHT_LOCK_WAIT_SECONDS": "0",
    }


def _start(settings: Settings, *args: str, wait: float = 0) -> subprocess.Popen:
    env = {**os.environ, **_env(settings), "PIPECAST_NIGHT_LOCK_WAIT_SECONDS": str(wait)}
    env.pop("PIPECAST_FAULT_PAUSE_AT", None)
    return subprocess.Popen(
        python_module("pipecast.cli", *args),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _states(settings: Settings, day: date) -> list[str]:
    """The export's steps after it landed, oldest first."""
    return [s.state for s in lifecycle.history_on_target(settings, day) if s.state != lifecycle.LANDED]


def _scenario(settings: Settings) -> None:
    landing = settings.resolved_landing_dir
    put_export(landing, DAY1, export_with_amount_of_o2("2500.5"))
    pipeline.ingest(DAY1, settings, validate=False)
    mark_validated(settings, DAY1)
    put_export(landing, DAY2, export_with_amount_of_o2("7777"))

    first_run = python_module("pipecast.cli", "run", "--no-generate")
    with paused_at("ingest:validated", first_run, settings.state_dir, _env(settings), timeout=300) as first:
        # The first run loaded day 2 and ran its checkpoint; day 2 is not validated yet.
        assert _states(settings, DAY2) == [lifecycle.LOADED]

        second = _start(settings, "run", "--no-generate")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 4, (out, err)
        assert "another night is running since" in err and f"pid {first.pid}" in err, err
        assert "Traceback" not in err
        # The second run did nothing: day 2 is loaded once, not validated, not served.
        assert _states(settings, DAY2) == [lifecycle.LOADED]
        assert (raw_opportunity_rows(settings, DAY1), raw_opportunity_rows(settings, DAY2)) == (4, 4)
        serving = served(settings)
        assert ("O2", 2500.5) in serving and ("O2", 7777.0) not in serving

        # A run told to wait waits for the first instead of failing.
        waiting = _start(settings, "ingest", wait=120)
        time.sleep(3)
        assert waiting.poll() is None, waiting.communicate()
        # The first run dies inside its validation.
        first.send_signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
        out, err = waiting.communicate(timeout=180)
        assert waiting.returncode == 0, (out, err)

    # The waiting run resumed the lifecycle: day 2 validated without a second load (servable now:
    # staging serves the newest validated export, tests/orchestration/test_lifecycle_faults.py).
    assert _states(settings, DAY2) == [lifecycle.LOADED, lifecycle.VALIDATED]
    assert lifecycle.newest_servable(lifecycle.current_on_target(settings)) == DAY2
    assert plan(settings) == []
    assert (raw_opportunity_rows(settings, DAY1), raw_opportunity_rows(settings, DAY2)) == (4, 4)

    # The next normal night.
    put_export(landing, DAY3, export_with_amount_of_o2("8888"))
    assert [r.export_date for r in pipeline.ingest(settings=settings)] == [DAY3]
    assert _states(settings, DAY3)[-1] == lifecycle.VALIDATED
    assert raw_opportunity_rows(settings, DAY3) == 4


def test_a_second_run_during_validation_on_duckdb(settings):
    _scenario(settings)
    assert lock_path(settings).exists()


@pytest.mark.postgres
def test_a_second_run_during_validation_on_postgres(postgres_settings):
    _scenario(postgres_settings)


def test_the_night_lock_nests_in_a_process_and_refuses_another(settings):
    """Re-entrant for the steps of one run; another process gets NightRunning naming this one."""
    probe = (
        "from pipecast.config import Settings; from pipecast.ingest.night_lock import night_lock\n"
        f"with night_lock(Settings(warehouse_path={str(settings.resolved_warehouse_path)!r}), 'probe'):\n"
        "    pass\n"
    )
    with night_lock(settings, "run"):
        with night_lock(settings, "ingest"):  # a step of the same run
            refused = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
        assert refused.returncode != 0
        assert "NightRunning: another night is running since" in refused.stderr
        assert f"pid {os.getpid()}" in refused.stderr and "(run)" in refused.stderr
    with night_lock(settings, "again", wait=0):  # released
        pass
