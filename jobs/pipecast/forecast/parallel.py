"""The forecast's threads: its own parallel loops, and OpenMP's in scikit-learn's fits.

Two kinds, two settings (``forecast_limits``, which forecast/job.py and the benchmarks enter):

- pipecast's own loops (blocks of rows through the trees, blocks of Monte-Carlo draws, DuckDB's
  threads for the drivers' JSON) take ``PIPECAST_FORECAST_THREADS``. They are plain threads running
  numpy, Numba and scikit-learn calls that release the GIL; each takes its share of the rows and
  they meet once, at the end, so when other work shares the cores they slow down in proportion.
- OpenMP (scikit-learn's boosting fits) and BLAS take ``PIPECAST_FORECAST_OPENMP_THREADS``, default
  1. A boosting fit is thousands of OpenMP parallel regions, each ending at a barrier where libgomp's
  threads spin; with another process on the cores, one of the fit's threads is descheduled at nearly
  every barrier and the other spins until it returns. Measured on a 2-core host with two busy loops
  beside it: three fits of 30,000 rows x 20 features x 100 iterations took 33.0 s on two OpenMP
  threads against 1.5 s on one (0.8 and 1.1 s on the quiet machine), and the demo's first-night
  forecast (`pipecast forecast --full-backtest`) 687 s on two against 104 s on one (56 and 66 s
  quiet; README, "Benchmark"). More OpenMP threads pay only where the forecast has the cores to
  itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_limits

from pipecast.config import Settings

T = TypeVar("T")
R = TypeVar("R")

MIN_ROWS = 20_000  # fewer rows than this go through the trees on one thread

_own_threads: int | None = None  # forecast_limits' own threads; None: as many as OpenMP may use


@contextmanager
def forecast_limits(settings: Settings) -> Iterator[None]:
    """Inside: pipecast's own loops on ``forecast_threads`` threads (``allowed_threads``), OpenMP and
    BLAS on ``forecast_openmp_threads`` (threadpoolctl). Restores both on exit."""
    global _own_threads
    before = _own_threads
    _own_threads = settings.forecast_threads
    try:
        with threadpool_limits(settings.forecast_openmp_threads):
            yield
    finally:
        _own_threads = before


def allowed_threads() -> int:
    """The threads pipecast's own loops may use: ``forecast_limits``' threads inside it, else the
    threads OpenMP may use here (threadpool_limits, OMP_NUM_THREADS, the CPUs)."""
    if _own_threads is not None:
        return _own_threads
    return max(1, int(_openmp_effective_n_threads()))


def run_all(work: Callable[[T], R], items: Iterable[T], threads: int) -> list[R]:
    """``work`` of each item in order, on ``threads`` threads (in this thread when 1). While they
    run, OpenMP and BLAS are held to one thread each: the threads are the parallelism, and BLAS
    threads inside them oversubscribe the cores (1M deals x 2,000 draws on 2 cores: 4.8 s so,
    8.4 s with BLAS on 2 threads as well, 10.4 s on one thread)."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    # BLAS's limit is the process's (set here, restored after); OpenMP's is each thread's own, so
    # each worker sets it as it starts (a new thread would take OMP_NUM_THREADS or the CPUs)
    workers = ThreadPoolExecutor(min(threads, len(items)), initializer=_one_openmp_thread)
    with threadpool_limits(1), workers as pool:
        return list(pool.map(work, items))


def _one_openmp_thread() -> None:
    threadpool_limits(1, user_api="openmp")


def side_thread(settings: Settings, name: str) -> ThreadPoolExecutor:
    """One worker thread for the forecast's work beside its main thread (the independent models,
    the revenue backtest's fits ahead), with OpenMP held there to ``forecast_openmp_threads`` as it
    is on the main thread (each thread has its own limit; a new one would take OMP_NUM_THREADS or
    the CPUs)."""
    threads = settings.forecast_openmp_threads
    return ThreadPoolExecutor(1, name, initializer=_openmp_threads, initargs=(threads,))


def _openmp_threads(threads: int) -> None:
    threadpool_limits(threads, user_api="openmp")


def row_bounds(rows: int, threads: int) -> list[tuple[int, int]]:
    """(start, stop) of ``threads`` consecutive blocks of ``rows`` rows (one block when there are
    fewer than MIN_ROWS)."""
    if threads <= 1 or rows < MIN_ROWS:
        return [(0, rows)]
    bounds = np.linspace(0, rows, threads + 1).astype(int)
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def row_blocks(X: np.ndarray, threads: int) -> list[np.ndarray]:
    """``X`` cut into the blocks of rows of ``row_bounds``."""
    return [X[lo:hi] for lo, hi in row_bounds(len(X), threads)]
