"""Measure the raw checkpoint's time and peak memory on a synthetic raw.opportunities of any size.

    python -m pipecast.validate.memory_probe --rows 100000 1000000

For each size it builds, with DuckDB SQL alone, a throwaway warehouse holding two exports of
``rows`` opportunities each (and their stage configuration), then runs ``validate_raw`` on the newer
export in a fresh process and reports wall time, peak RSS (before and after validating) and the
peak of Python's own allocations (tracemalloc, which also slows the run down). Python's peak staying
flat from size to size is the evidence that validation runs in the warehouse and pulls no table
into Python; RSS also holds DuckDB's in-process buffer pool, which caches the blocks a query read
up to the connection's memory_limit (the setting ``validation_duckdb_memory_limit``): with it, peak
RSS stays flat from 1M to 10M rows. The benchmark (bench/run_bench.py) calls ``measure`` for its
validation-memory goal.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

log = logging.getLogger(__name__)
MODULE = "pipecast.validate.memory_probe"

EXPORT_DATE = date(2026, 3, 2)
STAGES = [
    ("Prospecting", 1, 10.0, False, False, "Pipeline"),
    ("Negotiation", 2, 60.0, False, False, "Commit"),
    ("Closed Won", 3, 100.0, True, True, "Closed"),
    ("Closed Lost", 4, 0.0, True, False, "Omitted"),
]


@dataclass
class Measurement:
    rows: int  # opportunities per export (the table holds two exports)
    defective: bool
    seconds: float  # validate_raw, wall time
    rss_before_mb: float  # after imports, before validating
    peak_rss_mb: float  # peak of the whole process (Python, and DuckDB's buffer pool in-process)
    python_peak_mb: float  # peak of Python's own allocations while validating (tracemalloc)
    expectations: int
    failed_errors: int
    failed_warnings: int


def build_warehouse(path: Path, rows: int, defective: bool = False) -> None:
    """raw.opportunities (two exports of ``rows``) and raw.stages, in DuckDB SQL.

    ``defective``: every closed deal of the newer export closes before it was created and every
    lost one has amount 0, so open-ended queries return hundreds of thousands of unexpected rows.
    """
    import duckdb

    from pipecast.canonical import LOAD_METADATA_COLUMNS, OPPORTUNITIES
    from pipecast.canonical import STAGES as STAGE_ENTITY

    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA raw")
        for entity in (OPPORTUNITIES, STAGE_ENTITY):
            ddl = ", ".join(f'"{c}" {t}' for c, t in (entity.columns | LOAD_METADATA_COLUMNS).items())
            con.execute(f"CREATE TABLE raw.{entity.name} ({ddl})")
        stages = ", ".join(f"('{s}', {o}, {p}, {c}, {w}, '{f}')" for s, o, p, c, w, f in STAGES)
        for day in (EXPORT_DATE - timedelta(days=1), EXPORT_DATE):
            con.execute(
                f"INSERT INTO raw.stages SELECT 'default', *, DATE '{day}', 'stages.csv', now(), '' "
                f"FROM (VALUES {stages})"
            )
            con.execute(
                f"""
                INSERT INTO raw.opportunities
                SELECT
                    'OPP-' || i, 'ACC-' || (i % 50000), 'OWN-' || (i % 500), 'Deal ' || i, 'default',
                    TIMESTAMP '2024-01-01' + INTERVAL (i % 700) DAY,
                    s.stage, 1000.0 + (i % 997) * 10, 'USD',
                    CAST(TIMESTAMP '2024-01-01' + INTERVAL (i % 700 + 60) DAY AS DATE),
                    s.is_closed, s.is_won, s.probability, s.forecast_category, 'Web', 'New Business',
                    'PRD-' || (i % 10), TIMESTAMP '{day}' - INTERVAL 1 HOUR,
                    DATE '{day}', 'opportunities.csv', now(), md5(CAST(i AS VARCHAR))
                FROM range({rows}) t(i)
                JOIN raw.stages s ON s._export_date = DATE '{day}' AND s.sort_order = 1 + i % 4
                """
            )
        if defective:
            con.execute(
                "UPDATE raw.opportunities SET close_date = DATE '2023-01-01', "
                "amount = CASE WHEN is_won THEN amount ELSE 0 END "
                f"WHERE is_closed AND _export_date = DATE '{EXPORT_DATE}'"
            )
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _validate_in_this_process(state_dir: Path) -> Measurement:
    from pipecast.config import Settings
    from pipecast.validate.runner import validate_raw

    settings = Settings(state_dir=state_dir, warehouse_path=state_dir / "warehouse.duckdb")
    before = _peak_rss_mb()
    tracemalloc.start()
    started = time.perf_counter()
    outcome = validate_raw(EXPORT_DATE, settings, today=EXPORT_DATE)
    seconds = time.perf_counter() - started
    python_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return Measurement(
        rows=0,
        defective=False,
        seconds=round(seconds, 2),
        rss_before_mb=before,
        peak_rss_mb=_peak_rss_mb(),
        python_peak_mb=round(python_peak / 2**20, 1),
        expectations=outcome.n_expectations,
        failed_errors=outcome.n_failed_errors,
        failed_warnings=outcome.n_failed_warnings,
    )


def _peak_rss_mb() -> float:
    """This process's peak resident set: VmHWM where /proc has it, else ru_maxrss.

    ru_maxrss survives exec on Linux, so a process started by a large parent (the one that built
    the warehouse) would report the parent's peak; VmHWM belongs to this process's own memory map.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure(rows: int, work_dir: Path | None = None, defective: bool = False) -> Measurement:
    """Build the warehouse, then validate it in a fresh process (so its peak is validation's)."""
    with tempfile.TemporaryDirectory(prefix="pipecast-validate-probe-", dir=work_dir) as folder:
        state = Path(folder)
        build_warehouse(state / "warehouse.duckdb", rows, defective)
        done = subprocess.run(
            [sys.executable, "-m", MODULE, "--validate-only", str(state)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"validating {rows} rows failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    return Measurement(**(result | {"rows": rows, "defective": defective}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--defective", action="store_true", help="plant defects in every closed deal")
    parser.add_argument("--validate-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.validate_only:
        print(json.dumps(asdict(_validate_in_this_process(args.validate_only))))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for rows in args.rows:
        m = measure(rows, defective=args.defective)
        log.info(
            "%d rows/export: validate_raw %.2f s (traced), RSS %.0f MB after imports, peak %.0f MB, "
            "Python allocations peak %.1f MB (%d expectations, %d error and %d warning failures)",
            m.rows,
            m.seconds,
            m.rss_before_mb,
            m.peak_rss_mb,
            m.python_peak_mb,
            m.expectations,
            m.failed_errors,
            m.failed_warnings,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
