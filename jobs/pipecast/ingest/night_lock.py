"""One night at a time on a warehouse: the steps that move an export's lifecycle (load, validate,
build and publish, forecast) hold the warehouse's night lock while they run.

Two runs on one warehouse would otherwise race: one validating an export while the other
quarantines it, or one recording ``published`` for an export the other validated after its build
began. The lock makes the second run refuse, at once, with who holds it
(``NightRunning``: ``another night is running since ..., pid ...``; the CLI exits 4), or wait
for it up to ``PIPECAST_NIGHT_LOCK_WAIT_SECONDS``.

- DuckDB: an exclusive ``flock`` on ``<warehouse>.night-lock`` beside the warehouse file, which
  holds the holder's pid, host, command and start time.
- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection of its own,
  named ``pipecast pid <pid>@<host>: <command>``; runs on other machines see it too.

Both are released by the operating system or the server when the holder dies (kill -9, OOM, a
lost worker): a lock is never left behind. The lock is re-entrant within a process, so
``pipecast run`` holds it once for the whole night and its steps nest inside.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipecast.config import Settings
from pipecast.errors import PipecastError

log = logging.getLogger(__name__)

# The advisory lock's key on PostgreSQL ("pcst"): one bigint below 2**31, so pg_locks shows it as
# classid 0, objid KEY.
ADVISORY_KEY = 0x70637374
SUFFIX = ".night-lock"
_POLL_SECONDS = 0.5

# lock identity -> how many times this process holds it (re-entrancy)
_held: dict[str, int] = {}


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as far as it is known."""

    pid: int | None
    host: str | None
    since: datetime | None
    command: str | None

    def describe(self) -> str:
        since = f"{self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since else "an unknown time"
        pid = str(self.pid) if self.pid is not None else "unknown"
        where = f" on {self.host}" if self.host else ""
        what = f" ({self.command})" if self.command else ""
        return f"since {since}, pid {pid}{where}{what}"


class NightRunning(PipecastError):
    """Another night holds the warehouse's night lock: nothing was done; retry when it is over."""

    def __init__(self, holder: Holder, warehouse: str, waited: float) -> None:
        self.holder = holder
        waited_text = f" (waited {waited:.0f} s)" if waited >= 1 else ""
        super().__init__(
            f"another night is running {holder.describe()} on {warehouse}{waited_text}: "
            "nothing done; run again when it has finished"
        )


def _me(command: str) -> Holder:
    return Holder(os.getpid(), socket.gethostname(), datetime.now(UTC).replace(tzinfo=None), command)


def lock_path(settings: Settings) -> Path:
    warehouse = settings.resolved_warehouse_path
    return warehouse.with_name(warehouse.name + SUFFIX)


def _identity(settings: Settings) -> str:
    if settings.target == "duckdb":
        return f"duckdb:{lock_path(settings).resolve()}"
    return f"postgres:{settings.pg_host}:{settings.pg_port}/{settings.pg_database}"


def _until(deadline: float, attempt: Callable[[], bool]) -> bool:
    """Call ``attempt`` until it returns True or the deadline (monotonic) has passed."""
    while True:
        if attempt():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)


@contextmanager
def _file_lock(settings: Settings, me: Holder, wait: float) -> Iterator[None]:
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:

        def attempt() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    return False
                raise
            return True

        started = time.monotonic()
        if not _until(started + wait, attempt):
            raise NightRunning(
                _read_holder(path), str(settings.resolved_warehouse_path), time.monotonic() - started
            )
        record = {"pid": me.pid, "host": me.host, "since": me.since.isoformat(), "command": me.command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(path: Path) -> Holder:
    try:
        record = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        record = {}
    since = record.get("since")
    return Holder(
        record.get("pid"),
        record.get("host"),
        datetime.fromisoformat(since) if since else None,
        record.get("command"),
    )


@contextmanager
def _advisory_lock(settings: Settings, me: Holder, wait: float) -> Iterator[None]:
    import psycopg2

    from pipecast.targets import libpq_uri

    name = f"pipecast pid {me.pid}@{me.host}: {me.command}"[:63]  # NAMEDATALEN - 1
    conn: Any = psycopg2.connect(libpq_uri(settings), application_name=name)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:

            def attempt() -> bool:
                cursor.execute("select pg_try_advisory_lock(%s)", (ADVISORY_KEY,))
                return bool(cursor.fetchone()[0])

            started = time.monotonic()
            if not _until(started + wait, attempt):
                holder = _advisory_holder(cursor)
                where = f"PostgreSQL {settings.pg_host}:{settings.pg_port}/{settings.pg_database}"
                raise NightRunning(holder, where, time.monotonic() - started)
            try:
                yield
            finally:
                cursor.execute("select pg_advisory_unlock(%s)", (ADVISORY_KEY,))
    finally:
        conn.close()


def _advisory_holder(cursor: Any) -> Holder:
    cursor.execute(
        "select a.application_name, a.backend_start at time zone 'UTC' from pg_locks l "
        "join pg_stat_activity a on a.pid = l.pid where l.locktype = 'advisory' and l.granted "
        "and l.classid = 0 and l.objid = %s and l.database = "
        "(select oid from pg_database where datname = current_database())",
        (ADVISORY_KEY,),
    )
    row = cursor.fetchone()
    if row is None:  # released meanwhile
        return Holder(None, None, None, None)
    name, since = row
    pid = host = command = None
    if name.startswith("pipecast pid "):
        who, _, command = name.removeprefix("pipecast pid ").partition(": ")
        pid_text, _, host = who.partition("@")
        pid = int(pid_text) if pid_text.isdigit() else None
    return Holder(pid, host or None, since, command or name)


@contextmanager
def night_lock(settings: Settings, command: str, wait: float | None = None) -> Iterator[None]:
    """Hold the warehouse's night lock for ``command`` (what this process does, for the message
    another run shows); raise NightRunning when another process holds it after ``wait`` seconds
    (default: ``settings.night_lock_wait_seconds``). Re-entrant within a process."""
    key = _identity(settings)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    wait = settings.night_lock_wait_seconds if wait is None else wait
    lock = _file_lock if settings.target == "duckdb" else _advisory_lock
    with lock(settings, _me(command), wait):
        log.debug("night lock taken for %s", command)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
