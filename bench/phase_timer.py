"""Wall time and peak memory of the phases of one process (Linux), for the benchmark's child scripts.

A phase's peak memory is the process's peak resident set size while the phase ran: before each
phase the kernel's high-water mark (VmHWM) is reset to the current RSS by writing "5" to
/proc/self/clear_refs, and read back when the phase ends. The reset also lowers what the parent's
os.wait4 reports as the child's ru_maxrss, so the process peak is kept here (``process_peak_mb``)
and the child hands it back in its JSON. Where the reset is refused, a phase's peak is the process
peak so far (``peaks_per_phase`` is False).

Phases do not nest: a wrapped function called while another phase runs in the same thread counts
in the outer one. Phases in different threads (the forecast's independent models beside the deal
models) are timed each on its own; the high-water mark is reset only when no phase is running, so
a phase that overlaps another shares its peak window: its peak is the process's peak since the
first of them began.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in {STATUS}")


@dataclass
class Phase:
    name: str
    category: str
    seconds: float = 0.0
    peak_mb: float = 0.0
    calls: int = 0
    beside: bool = False  # ran on a thread other than the main one (overlapping the main one's phases)


class PhaseTimer:
    def __init__(self) -> None:
        self.phases: dict[str, Phase] = {}
        self._process_peak_kb = _status_kb("VmHWM")
        self._local = threading.local()  # this thread's phase depth
        self._running = 0  # phases running, in every thread
        self._lock = threading.Lock()
        self.peaks_per_phase = self._reset_peak()

    def _reset_peak(self) -> bool:
        self._process_peak_kb = max(self._process_peak_kb, _status_kb("VmHWM"))
        try:
            CLEAR_REFS.write_text("5")
        except OSError:
            return False
        return True

    @property
    def process_peak_mb(self) -> float:
        return max(self._process_peak_kb, _status_kb("VmHWM")) / 1024

    @contextmanager
    def phase(self, name: str, category: str) -> Iterator[None]:
        if getattr(self._local, "depth", 0):
            yield
            return
        with self._lock:
            if not self._running:
                self._reset_peak()
            self._running += 1
        self._local.depth = 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self._local.depth = 0
            seconds = time.perf_counter() - started
            with self._lock:
                self._running -= 1
                peak_kb = _status_kb("VmHWM")
                self._process_peak_kb = max(self._process_peak_kb, peak_kb)
                beside = threading.current_thread() is not threading.main_thread()
                record = self.phases.setdefault(name, Phase(name, category, beside=beside))
                record.seconds += seconds
                record.peak_mb = max(record.peak_mb, peak_kb / 1024)
                record.calls += 1

    def wrap(self, fn: Callable[..., Any], name: str, category: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name, category):
                return fn(*args, **kwargs)

        return timed

    def as_dict(self) -> dict[str, Any]:
        return {
            "phases": [asdict(p) for p in self.phases.values()],
            "process_peak_mb": self.process_peak_mb,
            "peaks_per_phase": self.peaks_per_phase,
        }


class ModuleProxy:
    """Stands in for a module in one caller's namespace: the given names are replaced (wrapped),
    every other attribute is the module's own. Other callers of the module are not affected."""

    def __init__(self, module: Any, overrides: dict[str, Any]) -> None:
        self._module = module
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)
