"""The marts checkpoint before a switch (publish.check_slots) runs where there is a mart to check."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.lifecycle_steps import settings_env

# A fresh process: the test session has imported Great Expectations long before.
CHECK_FORECAST_SLOTS = """
import logging
import sys
from pipecast.config import get_settings
from pipecast.transform import publish

logging.basicConfig(level=logging.INFO)
built = {"forecast": ("marts_forecast__a", ["fct_forecast", "fct_opportunity_scores"])}
assert publish.check_slots(get_settings(), built) is None
assert "great_expectations" not in sys.modules, "imported Great Expectations for nothing"
"""


def test_the_forecast_marts_alone_skip_the_checkpoint_and_its_import(demo_warehouse):
    settings = demo_warehouse.settings
    env = {**os.environ, **settings_env(settings), "PIPECAST_STATE_DIR": str(settings.state_dir)}
    run = subprocess.run(
        [sys.executable, "-c", CHECK_FORECAST_SLOTS], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "none of their models is a mart with a suite" in run.stderr
