"""The forecast's two thread settings: its own loops and OpenMP's, set apart (forecast/parallel.py)."""

from __future__ import annotations

import os

from pipecast.forecast import parallel
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_info

from tests.forecast.conftest import make_settings


def _openmp_limits() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"}


def test_own_threads_and_openmp_threads_are_set_apart_and_restored(tmp_path):
    """Three threads for pipecast's own loops beside one OpenMP thread for the fits (the default),
    and the other way round; both as before once the block ends."""
    before_own, before_openmp = parallel.allowed_threads(), _openmp_effective_n_threads()
    with parallel.forecast_limits(make_settings(tmp_path, forecast_threads=3)):
        assert parallel.allowed_threads() == 3
        assert _openmp_effective_n_threads() == 1
        assert _openmp_limits() == {1}
    assert (parallel.allowed_threads(), _openmp_effective_n_threads()) == (before_own, before_openmp)

    cores = min(2, os.cpu_count() or 1)
    settings = make_settings(tmp_path, forecast_threads=1, forecast_openmp_threads=cores)
    with parallel.forecast_limits(settings):
        assert parallel.allowed_threads() == 1
        assert _openmp_effective_n_threads() == cores
    assert (parallel.allowed_threads(), _openmp_effective_n_threads()) == (before_own, before_openmp)


def test_the_loops_take_the_own_threads_not_openmps(tmp_path):
    """run_all with allowed_threads() spreads blocks over that many threads, OpenMP on one inside."""
    import threading

    both = threading.Barrier(2, timeout=10)  # passed only when two blocks run at once

    def work(block: tuple[int, int]) -> int:
        assert _openmp_effective_n_threads() == 1
        both.wait()
        return block[1] - block[0]

    with parallel.forecast_limits(make_settings(tmp_path, forecast_threads=2)):
        blocks = parallel.row_bounds(100_000, parallel.allowed_threads())
        assert parallel.run_all(work, blocks, len(blocks)) == [50_000, 50_000]
