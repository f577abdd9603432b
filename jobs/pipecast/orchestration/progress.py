"""Progress of a DAG run for a person at a terminal: `airflow dags test` prints hundreds of
Airflow log lines per task; this filter keeps every line in a log file and shows only what a person
waiting for the night wants to see: each task as it starts and ends (with its seconds), pipecast's
own messages (rows loaded, checkpoints, models), warnings and errors, and the run's final state.

    airflow dags test pipecast_nightly 2026-12-01 2>&1 \
        | python -m pipecast.orchestration.progress --log run.log

It exits 1 when a task failed or the run's final state is not success, so a Makefile pipeline can
stop on it (with `set -o pipefail` the DAG command's own exit status counts too).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

# Airflow 3 (structlog) console lines: "<timestamp> [<level>   ] <message> [<logger>] key=value ..."
_LINE = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<message>.*?)\s+\[(?P<logger>[\w.]+)\](?P<rest>.*)$")
_TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(?P<task>\S+)")
_TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(?P<task>\S+)")
_NEW_STATE = re.compile(r"new_state=(?P<state>\w+)")
_RUN_STATE = re.compile(r"Marking run <DagRun .*?> (?P<state>successful|failed)")
_KEEP_LEVELS = {"warning", "error", "critical"}


@dataclass
class RunProgress:
    """What has been seen of the run so far."""

    clock: Callable[[], float] = time.monotonic
    started: dict[str, float] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    run_state: str | None = None
    current: str | None = None
    run_started: float | None = None

    def feed(self, line: str) -> str | None:
        """The text to show for one log line, or None to keep it in the log only."""
        now = self.clock()
        if self.run_started is None:
            self.run_started = now
        parsed = _LINE.match(line.rstrip("\n"))
        if parsed is None:
            return None
        message, logger, level = parsed["message"], parsed["logger"], parsed["level"].lower()
        if start := _TASK_START.search(message):
            self.current = start["task"]
            self.started[self.current] = now
            return f"{self._elapsed(now)}  > {self.current}"
        if end := _TASK_END.search(message):
            task = end["task"]
            seconds = now - self.started.get(task, now)
            state = self.states.get(task, "done")
            mark = "ok" if state in ("success", "done", "skipped") else state.upper()
            self.current = None
            return f"{self._elapsed(now)}  {mark:>2} {task} ({seconds:,.1f} s)"
        if (new_state := _NEW_STATE.search(parsed["rest"])) and self.current:
            self.states[self.current] = new_state["state"]
        if run := _RUN_STATE.search(message):
            self.run_state = "success" if run["state"] == "successful" else "failed"
            return None
        if logger.startswith("pipecast") or level in _KEEP_LEVELS:
            return f"{self._elapsed(now)}       {message}"
        return None

    def failed(self) -> bool:
        bad = ("failed", "upstream_failed")
        return self.run_state == "failed" or any(state in bad for state in self.states.values())

    def summary(self) -> str:
        done = sum(1 for s in self.states.values() if s == "success")
        total = self.clock() - (self.run_started or self.clock())
        verdict = "FAILED" if self.failed() else "finished"
        return f"DAG run {verdict}: {done} of {len(self.started)} tasks succeeded in {total:,.0f} s"

    def _elapsed(self, now: float) -> str:
        seconds = int(now - (self.run_started or now))
        return f"[{seconds // 60:02d}:{seconds % 60:02d}]"


def follow(lines: Iterable[str], log: TextIO, out: TextIO, progress: RunProgress) -> Iterator[str]:
    """Copy every line to ``log`` and yield the ones to show."""
    for line in lines:
        log.write(line)
        log.flush()
        shown = progress.feed(line)
        if shown is not None:
            yield shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, required=True, help="file that keeps every line")
    args = parser.parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    progress = RunProgress()
    with args.log.open("w", encoding="utf-8") as log:
        for shown in follow(sys.stdin, log, sys.stdout, progress):
            print(shown[:200], flush=True)
    print(progress.summary(), f"(full log: {args.log})", flush=True)
    return 1 if progress.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
