"""Cost of the export lifecycle's additions on one export: its content hash, its stat fingerprint
and the NUL-byte checks of the load.

    .venv/bin/pipecast generate --size 20000 --nights 1 --as-of 2026-11-28   # PIPECAST_STATE_DIR=...
    .venv/bin/python bench/lifecycle_cost.py $PIPECAST_STATE_DIR 2026-11-28

The export is loaded into that state dir's warehouse.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import date

import duckdb
from pipecast.canonical import ENTITIES
from pipecast.config import Settings
from pipecast.ingest import ingest_export
from pipecast.ingest.landing import LandingZone

log = logging.getLogger("lifecycle_cost")


def _timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def main(state_dir: str, day: date) -> None:
    settings = Settings(state_dir=state_dir)
    export = LandingZone.from_settings(settings).export(day)
    megabytes = sum(p.stat().st_size for p in export.path.iterdir()) / 1e6
    hashing, _ = _timed(export.content_hash)
    stat, _ = _timed(export.stat_fingerprint)
    log.info("export %.1f MB: content hash %.3f s (%.0f MB/s)", megabytes, hashing, megabytes / hashing)
    log.info("stat fingerprint %.2f ms", stat * 1000)
    loading, result = _timed(lambda: ingest_export(day, settings))
    log.info("ingest_export %.1f s, %s rows", loading, f"{sum(result.rows.values()):,}")
    total = 0.0
    with duckdb.connect(str(settings.resolved_warehouse_path), read_only=True) as con:
        for name, entity in ENTITIES.items():
            text = [c for c, t in entity.columns.items() if t == "VARCHAR"] + ["_extra"]
            nul = " OR ".join(f'contains("{c}", chr(0))' for c in text)
            sql = f"SELECT 1 FROM raw.{name} WHERE _export_date = ? AND ({nul}) LIMIT 1"
            seconds, _ = _timed(lambda sql=sql: con.execute(sql, [day]).fetchone())
            total += seconds
    log.info("NUL checks, every entity: %.3f s", total)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(sys.argv[1], date.fromisoformat(sys.argv[2]))
