"""Named points where a fault test can stop the process and kill it (SIGKILL), deterministically.

``PIPECAST_FAULT_PAUSE_AT=<name>``: on reaching ``pause_point(name)`` the process writes
``<state_dir>/fault-paused`` (holding the name and its pid) and sleeps until it is killed. Unset (the
default), a pause point costs one string comparison.
"""

from __future__ import annotations

import logging
import os
import time

from pipecast.config import Settings

log = logging.getLogger(__name__)

MARKER = "fault-paused"


def pause_point(name: str, settings: Settings) -> None:
    """Stop here, forever, when PIPECAST_FAULT_PAUSE_AT names this point."""
    if settings.fault_pause_at != name:
        return
    marker = settings.state_dir / MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{name} {os.getpid()}\n")
    log.warning("paused at %s (PIPECAST_FAULT_PAUSE_AT) until killed", name)
    while True:
        time.sleep(60)
