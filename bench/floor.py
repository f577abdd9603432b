"""DuckDB's own floor on a night's data: the least work any pipeline must do with it.

Read every file of the night's export once (``create table ... as select * from read_csv(...)``,
DuckDB's own CSV reader, types sniffed) and write each mart's rows once (``create table ... as
select * from`` the mart, read from the warehouse attached read-only), into a fresh DuckDB file
beside nothing else. Plain SQL, no dbt, no Python per row: what the night's ingest and build would
cost if they did nothing but move the bytes in and out. The benchmark reports the night (and its
ingest + dbt build) as a multiple of it.

    python bench/floor.py --export <landing>/<date> --warehouse <warehouse.duckdb> \\
        --work-dir /tmp/floor --json floor.json
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

log = logging.getLogger("bench.floor")

MARTS_SCHEMA = "marts"


@dataclass
class Floor:
    read_seconds: float  # every export file read once (into a table)
    write_seconds: float  # every mart's rows written once
    export_files: int
    export_rows: int
    marts: int
    mart_rows: int
    threads: int
    memory_limit: str

    @property
    def seconds(self) -> float:
        return self.read_seconds + self.write_seconds


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def measure(
    export_dir: Path,
    warehouse: Path,
    work_dir: Path,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> Floor:
    """Time reading every CSV of ``export_dir`` once and writing every relation of the warehouse's
    marts schema once, into a fresh database in ``work_dir`` (removed first)."""
    files = sorted(export_dir.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"{export_dir}: no CSV files to read")
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    config: dict[str, str] = {}
    if threads:
        config["threads"] = str(threads)
    if memory_limit:
        config["memory_limit"] = memory_limit
    with duckdb.connect(str(work_dir / "floor.duckdb"), config=config) as con:
        started = time.perf_counter()
        export_rows = 0
        for path in files:
            table = _quote(f"export_{path.stem}")
            con.execute(f"create table {table} as select * from read_csv({_literal(str(path))})")
            export_rows += con.execute(f"select count(*) from {table}").fetchone()[0]
        con.execute("checkpoint")
        read_seconds = time.perf_counter() - started

        con.execute(f"attach {_literal(str(warehouse))} as warehouse (read_only)")
        marts = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = 'warehouse' and table_schema = ? order by table_name",
                [MARTS_SCHEMA],
            ).fetchall()
        ]
        started = time.perf_counter()
        mart_rows = 0
        for name in marts:
            table = _quote(f"mart_{name}")
            con.execute(f"create table {table} as select * from warehouse.{MARTS_SCHEMA}.{_quote(name)}")
            mart_rows += con.execute(f"select count(*) from {table}").fetchone()[0]
        con.execute("checkpoint")
        write_seconds = time.perf_counter() - started
        actual_threads = int(con.execute("select current_setting('threads')").fetchone()[0])
        actual_limit = str(con.execute("select current_setting('memory_limit')").fetchone()[0])
    return Floor(
        read_seconds,
        write_seconds,
        len(files),
        export_rows,
        len(marts),
        mart_rows,
        actual_threads,
        actual_limit,
    )


def multiple(seconds: float, floor_seconds: float) -> float | None:
    """How many floors ``seconds`` is (None when the floor is not positive)."""
    return seconds / floor_seconds if floor_seconds > 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--export", type=Path, required=True, help="the night's export folder (CSV files)")
    parser.add_argument("--warehouse", type=Path, required=True, help="the warehouse whose marts to write")
    parser.add_argument("--work-dir", type=Path, required=True, help="scratch folder (emptied first)")
    parser.add_argument("--json", type=Path, required=True, help="where to write the result")
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: DuckDB's)")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit (default: DuckDB's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    floor = measure(args.export, args.warehouse, args.work_dir, args.threads, args.memory_limit)
    args.json.write_text(json.dumps({**asdict(floor), "seconds": floor.seconds}, indent=1))
    log.info(
        "floor %.1f s: read %d files (%d rows) in %.1f s, wrote %d marts (%d rows) in %.1f s",
        floor.seconds,
        floor.export_files,
        floor.export_rows,
        floor.read_seconds,
        floor.marts,
        floor.mart_rows,
        floor.write_seconds,
    )
    shutil.rmtree(args.work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
