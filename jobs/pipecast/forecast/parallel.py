"""The forecast's own parallel loops: as many threads as the job allows its native libraries.

The nightly job runs inside ``threadpool_limits(PIPECAST_FORECAST_THREADS)`` (forecast/job.py),
which caps OpenMP (scikit-learn's tree traversal) and BLAS. Loops that pipecast spreads over threads
itself (blocks of rows through the trees, blocks of Monte-Carlo draws) take the same number, so
one setting says how many cores the forecast uses. Their work is numpy and scikit-learn calls that
release the GIL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_limits

T = TypeVar("T")
R = TypeVar("R")

MIN_ROWS = 20_000  # fewer rows than this go through the trees on one thread


def allowed_threads() -> int:
    """The threads OpenMP may use here (threadpool_limits, OMP_NUM_THREADS, the CPUs)."""
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
