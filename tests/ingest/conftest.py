"""A tiny export of the generic canonical layout, written by hand so each test can break one thing."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from pipecast.canonical import COMPLETION_MARKER, ENTITIES

STAGES = [
    ["default", "Prospecting", "1", "10", "false", "false", "Pipeline"],
    ["default", "Proposal", "2", "50", "false", "false", "Best Case"],
    ["default", "Closed Won", "3", "100", "true", "true", "Closed"],
    ["default", "Closed Lost", "4", "0", "true", "false", "Omitted"],
]


def good_tables() -> dict[str, list[list[str]]]:
    opp = ENTITIES["opportunities"].columns
    row = dict.fromkeys(opp, "")
    rows = []
    for i, (stage, closed, won, amount) in enumerate(
        [
            ("Prospecting", "false", "false", "1000"),
            ("Proposal", "false", "false", "2500.5"),
            ("Closed Won", "true", "true", "4000"),
            ("Closed Lost", "true", "false", "300"),
        ],
        start=1,
    ):
        rows.append(
            list(
                {
                    **row,
                    "opportunity_id": f"O{i}",
                    "account_id": "A1",
                    "owner_id": "U1",
                    "name": f"Deal {i}",
                    "pipeline": "default",
                    "created_at": f"2026-01-0{i} 10:00:00",
                    "stage": stage,
                    "amount": amount,
                    "currency": "USD",
                    "close_date": "2026-03-31",
                    "is_closed": closed,
                    "is_won": won,
                    "probability": "10",
                    "last_modified_at": "2026-02-01 09:00:00",
                }.values()
            )
        )
    history = [
        [f"O{i}", f"2026-01-0{i} 10:00:00", "Prospecting", "1000", "2026-03-31", "10", "Pipeline"]
        for i in range(1, 5)
    ]
    return {"opportunities": rows, "opportunity_stage_history": history, "stages": STAGES}


def write_export(
    landing: Path,
    day: date,
    tables: dict[str, list[list[str]]] | None = None,
    header_override: dict[str, list[str]] | None = None,
    marker: bool = True,
) -> Path:
    folder = landing / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (tables or good_tables()).items():
        header = (header_override or {}).get(name, list(ENTITIES[name].columns))
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
    if marker:
        (folder / COMPLETION_MARKER).write_text("")
    return folder


@pytest.fixture
def export_writer():
    return write_export


def csv_text(tables_or_rows: list[list[str]], header: list[str], delimiter: str = ",") -> str:
    """CSV text (RFC 4180 quoting) of a header and rows."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(tables_or_rows)
    return buffer.getvalue()


def generic_files(tables: dict[str, list[list[str]]] | None = None) -> dict[str, str]:
    """The good generic export as {file name: CSV text}."""
    return {
        f"{name}.csv": csv_text(rows, list(ENTITIES[name].columns))
        for name, rows in (tables or good_tables()).items()
    }


def put_export(
    landing: Path,
    day: date,
    files: dict[str, str | bytes],
    manifest: dict | None = None,
    marker: bool = True,
) -> Path:
    """Write an export folder from {relative name: text or bytes} (text is written as UTF-8)."""
    import json

    folder = landing / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", newline="")
        else:
            path.write_bytes(content)
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    if marker:
        (folder / COMPLETION_MARKER).write_text("")
    return folder


DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def dataset_dir(name: str) -> Path:
    """A real public dataset of ../shared/datasets (read in place; tests copy it into tmp_path)."""
    import os

    root = Path(os.environ.get("PIPECAST_DATASETS_DIR", DATASETS))
    folder = root / name
    if not folder.is_dir():
        pytest.skip(f"dataset {name} not found under {root} (set PIPECAST_DATASETS_DIR)")
    return folder


def land_dataset(landing: Path, day: date, name: str, pattern: str = "*.csv") -> Path:
    """Copy a real dataset's files into a dated landing folder with the completion marker."""
    import shutil

    folder = landing / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    for file in sorted(dataset_dir(name).glob(pattern)):
        shutil.copy(file, folder / file.name)
    (folder / COMPLETION_MARKER).write_text("")
    return folder


def query(settings, sql: str, params=None):
    """Rows of a read-only query on the test warehouse."""
    import duckdb

    with duckdb.connect(str(settings.resolved_warehouse_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
