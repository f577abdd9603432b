"""Cost of the export lifecycle's additions on one export: its content hash, its stat fingerprint,
the NUL-byte checks of the load, reading the lifecycle (what every step does first) and taking the
warehouse's night lock.

    .venv/bin/pipecast generate --size 20000 --nights 1 --as-of 2026-11-28   # PIPECAST_STATE_DIR=...
    .venv/bin/python bench/lifecycle_cost.py $PIPECAST_STATE_DIR 2026-11-28 --load [--json out.json]

With ``--load`` the export is loaded into that state dir's warehouse first (timed); without it, the
export must be loaded already (bench/run_bench.py runs it after its measured night) and nothing in
the warehouse is written. The publishing side (the marts checkpoint on tonight's slot and the
switch) is measured by run_bench.py from the build's own log lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
from pipecast.canonical import ENTITIES
from pipecast.config import Settings
from pipecast.ingest import ingest_export, lifecycle
from pipecast.ingest.landing import LandingZone
from pipecast.ingest.night_lock import night_lock

log = logging.getLogger("lifecycle_cost")
REPEAT = 20  # the sub-millisecond steps: the median of this many


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def _median(work: Callable[[], Any], n: int = REPEAT) -> float:
    times = sorted(_timed(work)[0] for _ in range(n))
    return times[n // 2]


def _lock_once(settings: Settings) -> None:
    with night_lock(settings, "lifecycle_cost", wait=0):
        pass


def measure(state_dir: str | Path, day: date, load: bool = False) -> dict[str, Any]:
    settings = Settings(state_dir=state_dir)
    export = LandingZone.from_settings(settings).export(day)
    megabytes = sum(p.stat().st_size for p in export.path.iterdir()) / 1e6
    out: dict[str, Any] = {"export_mb": megabytes}
    out["content_hash_s"], _ = _timed(export.content_hash)
    out["stat_fingerprint_ms"] = _median(export.stat_fingerprint) * 1000
    log.info(
        "export %.1f MB: content hash %.3f s (%.0f MB/s)",
        megabytes,
        out["content_hash_s"],
        megabytes / out["content_hash_s"],
    )
    log.info("stat fingerprint %.2f ms", out["stat_fingerprint_ms"])
    if load:
        out["ingest_export_s"], result = _timed(lambda: ingest_export(day, settings))
        out["rows"] = sum(result.rows.values())
        log.info("ingest_export %.1f s, %s rows", out["ingest_export_s"], f"{out['rows']:,}")
    total = 0.0
    with duckdb.connect(str(settings.resolved_warehouse_path), read_only=True) as con:
        for name, entity in ENTITIES.items():
            text = [c for c, t in entity.columns.items() if t == "VARCHAR"] + ["_extra"]
            nul = " OR ".join(f'contains("{c}", chr(0))' for c in text)
            sql = f"SELECT 1 FROM raw.{name} WHERE _export_date = ? AND ({nul}) LIMIT 1"
            seconds, _ = _timed(lambda sql=sql: con.execute(sql, [day]).fetchone())
            total += seconds
    out["nul_checks_s"] = total
    log.info("NUL checks, every entity: %.3f s", total)
    out["lifecycle_read_ms"] = _median(lambda: lifecycle.current_on_target(settings), 5) * 1000
    out["lifecycle_rows"] = len(lifecycle.history_on_target(settings, day))
    log.info("reading the lifecycle (every export's state): %.1f ms", out["lifecycle_read_ms"])
    out["night_lock_ms"] = _median(lambda: _lock_once(settings)) * 1000
    log.info("night lock taken and released: %.2f ms", out["night_lock_ms"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("state_dir")
    parser.add_argument("day", type=date.fromisoformat)
    parser.add_argument("--load", action="store_true", help="load the export first (timed)")
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args(argv)
    result = measure(args.state_dir, args.day, load=args.load)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raise SystemExit(main())
