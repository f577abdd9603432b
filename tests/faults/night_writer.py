"""A forecast night's write-back without the models: one row per ml.* table for the night, written
as the forecast job writes them (an atomic workspace, writeback.replace_night per table). The fault
tests run it as a process and kill it between two tables.

    python -m tests.faults.night_writer <as_of> <run_id>
"""

from __future__ import annotations

import sys
from datetime import date

import pandas as pd
from pipecast.config import Settings, get_settings
from pipecast.forecast.writeback import ML_TABLES, ensure_ml_tables, replace_night
from pipecast.warehouse import workspace


def write_night(as_of: date, run_id: str, settings: Settings) -> None:
    with workspace(settings, atomic=True) as ws:
        ensure_ml_tables(ws.con)
        for table in ML_TABLES:
            frame = pd.DataFrame({"as_of": [as_of], "run_id": [run_id]})
            replace_night(ws.con, table, as_of, frame, settings=settings)
            ws.publish("ml", table, "where as_of = $1", [as_of])


if __name__ == "__main__":
    write_night(date.fromisoformat(sys.argv[1]), sys.argv[2], get_settings())
