"""Great Expectations' routine INFO lines (some 200 while it imports) stay out of the night's logs."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging
logging.basicConfig(level=logging.INFO)
from pipecast.validate import runner
logging.getLogger("great_expectations").warning("a GX warning still shows")
"""


def test_importing_validation_logs_no_gx_info_but_keeps_its_warnings():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    lines = [line for line in done.stderr.splitlines() if "great_expectations" in line]
    assert lines == ["WARNING:great_expectations:a GX warning still shows"], lines[:5]
