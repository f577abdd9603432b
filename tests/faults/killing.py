"""Run a pipecast process that stops at a named point (PIPECAST_FAULT_PAUSE_AT) and SIGKILL it there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from pipecast.faults import MARKER

ROOT = Path(__file__).resolve().parents[2]


def kill_at(
    point: str, args: list[str], state_dir: Path, env: Mapping[str, str], timeout: float = 600
) -> str:
    """Start ``args`` with PIPECAST_FAULT_PAUSE_AT=point, wait until it pauses there, SIGKILL it;
    return its output. Fails if the process ends before reaching the point."""
    marker = state_dir / MARKER
    marker.unlink(missing_ok=True)
    environ = {**os.environ, **env, "PIPECAST_FAULT_PAUSE_AT": point, "PIPECAST_STATE_DIR": str(state_dir)}
    log = state_dir.parent / f"killed-at-{point.replace(':', '-').replace('.', '-')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(args, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if process.poll() is not None:
                raise AssertionError(
                    f"ended ({process.returncode}) before {point}:\n{log.read_text()[-3000:]}"
                )
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"did not reach {point} in {timeout} s")
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
    marker.unlink()
    return log.read_text()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
