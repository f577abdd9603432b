"""The demo company's exports as the warehouse tests load them.

A small company (pipecast.demo) exported over a week; the tests load the first and the last export,
two nights a week apart. Two things real CRMs do are cut into the files (with the manifests' row
counts fixed):

- every tenth opportunity has no stage history in any export, as for a CRM that exports none: the
  warehouse must derive their history from its nightly snapshots;
- every hundredth opportunity is gone from the last export (deleted or merged in the CRM): the
  incremental tables must drop it as a full refresh would.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipecast.demo.generator import generate_demo_exports

AS_OF = date(2026, 5, 20)  # fixed, so no test depends on the day it runs
NIGHTS = 8
SIZE = 2000
SEED = 11


def without_history(opportunity_id: str) -> bool:
    """The opportunities whose history the exports leave out: every tenth."""
    return opportunity_id.endswith("7")


def deleted_at_last(opportunity_id: str) -> bool:
    """The opportunities the last export no longer has: every hundredth."""
    return opportunity_id.endswith("13")


@dataclass(frozen=True)
class DemoExports:
    landing: Path
    truth: Path
    export_dates: list[date]

    @property
    def first(self) -> date:
        return self.export_dates[0]

    @property
    def last(self) -> date:
        return self.export_dates[-1]


def write_demo_exports(root: Path) -> DemoExports:
    landing, truth = root / "landing", root / "truth.csv"
    summary = generate_demo_exports(landing, truth, size=SIZE, seed=SEED, as_of=AS_OF, nights=NIGHTS)
    for export_date in summary.export_dates:
        folder = landing / export_date.isoformat()
        _drop_rows(folder, "opportunity_stage_history.csv", without_history)
        if export_date == summary.export_dates[-1]:
            for name in ("opportunities.csv", "opportunity_stage_history.csv", "line_items.csv"):
                _drop_rows(folder, name, deleted_at_last)
    return DemoExports(landing, truth, summary.export_dates)


def _drop_rows(folder: Path, name: str, dropped: Callable[[str], bool]) -> None:
    """Rewrite one CSV without the rows whose opportunity_id is dropped; fix the manifest."""
    path = folder / name
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        column = header.index("opportunity_id")
        kept = [row for row in reader if not dropped(row[column])]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(kept)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entry = manifest["files"][name]
    entry["rows"] = len(kept)
    if "bytes" in entry:
        entry["bytes"] = path.stat().st_size
    if "sha256" in entry:
        entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
