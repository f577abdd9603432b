"""Run a pipecast process that stops at a named point (PIPECAST_FAULT_PAUSE_AT) and SIGKILL it there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pipecast.faults import MARKER

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def paused_at(
    point: str, args: list[str], state_dir: Path, env: Mapping[str, str], timeout: float = 600
) -> Iterator[subprocess.Popen]:
    """Start ``args`` with PIPECAST_FAULT_PAUSE_AT=point and yield it once it pauses there (it
    sleeps until killed); SIGKILL it on exit if it still runs. Its output goes to
    ``killed-at-<point>.log`` beside ``state_dir``. Fails if it ends before reaching the point."""
    marker = state_dir / MARKER
    marker.unlink(missing_ok=True)
    environ = {**os.environ, **env, "PIPECAST_FAULT_PAUSE_AT": point, "PIPECAST_STATE_DIR": str(state_dir)}
    log = state_dir.parent / f"killed-at-{point.replace(':', '-').replace('.', '-')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(args, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not marker.exists():
                if process.poll() is not None:
                    raise AssertionError(
                        f"ended ({process.returncode}) before {point}:\n{log.read_text()[-3000:]}"
                    )
                if time.monotonic() > deadline:
                    raise AssertionError(f"did not reach {point} in {timeout} s")
                time.sleep(0.1)
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(30)
            marker.unlink(missing_ok=True)


def kill_at(
    point: str, args: list[str], state_dir: Path, env: Mapping[str, str], timeout: float = 600
) -> str:
    """Start ``args`` with PIPECAST_FAULT_PAUSE_AT=point, wait until it pauses there, SIGKILL it;
    return its output. Fails if the process ends before reaching the point."""
    with paused_at(point, args, state_dir, env, timeout) as process:
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
    log = state_dir.parent / f"killed-at-{point.replace(':', '-').replace('.', '-')}.log"
    return log.read_text()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
