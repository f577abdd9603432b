"""The demo company's CRM: a B2B seller simulated over three years, exported nightly.

``generate_demo_exports`` writes what a CRM would hand over each night, in pipecast's generic
layout (one CSV per canonical entity, see ``pipecast.canonical``), plus a ground-truth file that
no real CRM has: the true probability that each deal wins from each open stage, and its outcome.

The simulation (details in ``simulation``, parameters in ``world``):

* a sales org (CRO, regional VPs, team managers, reps with a hidden skill), accounts in three
  segments (SMB, Mid-Market, Enterprise) and twelve products in four families;
* opportunities created over three years with growth, seasonality and quiet weekends; each
  new-business deal comes from a converted lead (sources convert at different rates), expansions
  and renewals come from the installed base;
* stage progression is a Markov chain: at the end of its (outcome-independent) time in open
  stage k a deal advances with probability a_k(x) = sigmoid(base_k + effects of segment, rep
  skill, account fit, lead source, product, type, size and discount), else it is lost. The true
  P(win | open in stage k) is therefore exactly prod_{j>=k} a_j(x);
* close dates are estimated at creation (optimistically), re-estimated on some stage changes,
  pushed out 2-8 weeks whenever an open deal passes its date, and decisions in the first two weeks
  of a quarter are often pulled into the last days of the quarter before; amounts are revised
  at some stages and on winning (lost deals keep theirs);
* deals still open at ``as_of`` are played to the end for the ground truth, but every export shows
  only what was known at the end of its day.

Deals are generated in fixed-size chunks, each from its own RNG (``default_rng([seed, chunk])``),
and every chunk is written to every night's files before the next one is drawn, so memory does
not grow with size. Each export is written into a hidden temporary folder, completed with its
manifest and the ``_SUCCESS`` marker, and only then renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipecast import canonical
from pipecast.demo import world
from pipecast.demo.csv_text import CsvFile, render_lines
from pipecast.demo.reference import OPPORTUNITIES_PER_REP, Company, build_company, build_targets
from pipecast.demo.rendering import RenderedChunk, truth_lines
from pipecast.demo.shapes import DemoShape
from pipecast.demo.simulation import Chunk, DealTiming, expected_won_amount_by_segment, simulate_chunk
from pipecast.demo.timeline import DAY, Window, quarter_starts, to_day

log = logging.getLogger("pipecast.demo")

CHUNK_SIZE = 50_000
REFERENCE_STREAM = 1_000_000_007  # RNG streams for reference data: [seed, REFERENCE_STREAM, k]

ProgressCallback = Callable[[str], None]


@dataclass(frozen=True)
class GenerationSummary:
    export_dates: list[date]
    rows: dict[str, int]  # entity -> rows in the last export
    truth_rows: int
    seconds: float


def generate_demo_exports(
    landing_dir: Path,
    truth_path: Path,
    size: int = 20_000,
    seed: int = 42,
    as_of: date | None = None,
    nights: int = 3,
    progress: ProgressCallback | None = None,
    shape: DemoShape | None = None,
) -> GenerationSummary:
    """Write `nights` nightly full exports ending at as_of (default: yesterday) into landing_dir
    (one YYYY-MM-DD folder each) and the ground truth for every deal to truth_path.

    Deterministic for a given (seed, size, as_of, nights, shape); re-running replaces the
    folders. ``shape`` (pipecast.demo.shapes) gives short histories, weekly exports, fast
    funnels, sparse owners or a history file without close dates; the default is the demo company.
    """
    return _generate(landing_dir, truth_path, size, seed, as_of, nights, progress, CHUNK_SIZE, shape)


def _generate(
    landing_dir: Path,
    truth_path: Path,
    size: int,
    seed: int,
    as_of: date | None,
    nights: int,
    progress: ProgressCallback | None,
    chunk_size: int,
    shape: DemoShape | None = None,
) -> GenerationSummary:
    if size < 1 or nights < 1 or chunk_size < 1:
        raise ValueError("size, nights and chunk_size must be positive")
    shape = shape or DemoShape()
    started = time.perf_counter()
    report = _reporter(progress)
    as_of = as_of or date.today() - timedelta(days=1)
    window = _window(as_of, shape)
    step = shape.export_interval_days
    export_dates = [as_of - timedelta(days=step * (nights - 1 - i)) for i in range(nights)]
    company, targets = _reference_data(size, seed, window, shape)
    report(
        f"reference data: {len(company.accounts.ids):,} accounts, "
        f"{len(company.owners.ids):,} owners, {len(company.product_ids)} products"
    )

    landing_dir.mkdir(parents=True, exist_ok=True)
    exports: list[NightlyExport] = []
    truth = TruthFile(truth_path)
    try:
        for export_date in export_dates:
            exports.append(NightlyExport(landing_dir, export_date, shape.history_close_dates))
            exports[-1].write_reference(company, targets)
        _write_deals(exports, truth, company, window, size, seed, chunk_size, report, shape)
        for export in exports:
            export.publish()
        truth.publish()
    except BaseException:
        # Nothing half-written is left behind; published folders are complete.
        for export in exports:
            export.discard()
        truth.discard()
        raise

    seconds = time.perf_counter() - started
    report(
        f"wrote {len(exports)} exports ({', '.join(map(str, export_dates))}) to {landing_dir} "
        f"in {seconds:.1f} s"
    )
    return GenerationSummary(
        export_dates=export_dates,
        rows=dict(exports[-1].rows),
        truth_rows=truth.rows,
        seconds=seconds,
    )


def _window(as_of: date, shape: DemoShape) -> Window:
    if shape.history_days is None:
        return Window.ending(as_of)
    return Window(start=as_of - timedelta(days=shape.history_days - 1), as_of=as_of)


def _reference_data(
    size: int, seed: int, window: Window, shape: DemoShape | None = None
) -> tuple[Company, pa.Table]:
    per_rep = (shape.opportunities_per_rep if shape else None) or OPPORTUNITIES_PER_REP
    company = build_company(size, window, (seed, REFERENCE_STREAM), per_rep)
    won_per_deal = expected_won_amount_by_segment(
        company, window, np.random.default_rng([seed, REFERENCE_STREAM, 3])
    )
    targets = build_targets(
        company.owners,
        company.accounts,
        window,
        size,
        won_per_deal,
        np.random.default_rng([seed, REFERENCE_STREAM, 4]),
    )
    return company, targets


def _write_deals(
    exports: list[NightlyExport],
    truth: TruthFile,
    company: Company,
    window: Window,
    size: int,
    seed: int,
    chunk_size: int,
    report: ProgressCallback,
    shape: DemoShape | None = None,
) -> None:
    """Simulate the deals chunk by chunk, each chunk written everywhere before the next."""
    shape = shape or DemoShape()
    qstarts = quarter_starts(window.start_day - 366, window.end_day + 5 * 366)
    leads_so_far = 0
    for chunk_index, first in enumerate(range(0, size, chunk_size)):
        stop = min(size, first + chunk_size)
        rng = np.random.default_rng([seed, chunk_index])
        timing = DealTiming(shape.cycle_factor, shape.lost_days_factor)
        chunk = simulate_chunk(rng, first, stop, size, window, qstarts, company, timing)
        leads_so_far += _write_chunk(chunk, company, leads_so_far, exports, truth, shape.history_close_dates)
        del chunk  # free this chunk before drawing the next: memory stays one chunk deep
        report(f"opportunities {stop:,}/{size:,}")


def _write_chunk(
    chunk: Chunk,
    company: Company,
    first_lead: int,
    exports: list[NightlyExport],
    truth: TruthFile,
    history_close_dates: bool = True,
) -> int:
    rendered = RenderedChunk(chunk, company, first_lead, history_close_dates)
    for export in exports:
        export.write_chunk(rendered)
    truth.write(chunk)
    return chunk.leads.size


def _reporter(progress: ProgressCallback | None) -> ProgressCallback:
    def report(message: str) -> None:
        log.info("%s", message)
        if progress is not None:
            progress(message)

    return report


# ------------------------------------------------------------------------------------ exports
class NightlyExport:
    """One export folder, written into a hidden temporary folder and renamed when complete."""

    def __init__(self, landing_dir: Path, export_date: date, history_close_dates: bool = True) -> None:
        self.export_date = export_date
        self.final_path = landing_dir / export_date.isoformat()
        self.work_path = landing_dir / f".{export_date.isoformat()}.partial"
        self.cutoff = (to_day(export_date) + 1) * DAY  # end of the export's day, exclusive
        if self.work_path.exists():
            shutil.rmtree(self.work_path)
        self.work_path.mkdir(parents=True)
        # Without history close dates, the history file has no close_date column at all.
        dropped = set() if history_close_dates else {("opportunity_stage_history", "close_date")}
        self.files = {
            name: CsvFile(
                self.work_path / entity.file_name, [c for c in entity.columns if (name, c) not in dropped]
            )
            for name, entity in canonical.ENTITIES.items()
        }
        self.rows: dict[str, int] = {}

    def write_reference(self, company: Company, targets: pa.Table) -> None:
        """The small entities, whole (accounts only once created)."""
        accounts = company.accounts
        visible = pa.array(accounts.created < self.cutoff)
        self._write_table("stages", company.stages)
        self._write_table("accounts", accounts.table.filter(visible))
        self._write_table("owners", company.owners.table)
        self._write_table("products", company.products)
        self._write_table("targets", targets)

    def _write_table(self, name: str, table: pa.Table) -> None:
        columns = list(canonical.ENTITIES[name].columns)
        self.files[name].write(render_lines([table.column(c).combine_chunks() for c in columns]))

    def write_chunk(self, rendered: RenderedChunk) -> None:
        self.files["opportunities"].write(rendered.opportunity_lines(self.cutoff))
        self.files["opportunity_stage_history"].write(rendered.history_lines_before(self.cutoff))
        self.files["line_items"].write(rendered.line_item_lines_before(self.cutoff))
        self.files["leads"].write(rendered.lead_lines(self.cutoff))

    def publish(self) -> None:
        """Close the files, write the manifest and the completion marker, then move into place."""
        for file in self.files.values():
            file.close()
        self.rows = {name: file.rows for name, file in self.files.items()}
        manifest = {
            "export_date": self.export_date.isoformat(),
            "source": world.SOURCE_NAME,
            "layout": "generic",
            # The simulated end of the export's day, so re-runs are byte-identical.
            "generated_at": f"{self.export_date.isoformat()}T23:59:59",
            "files": {canonical.ENTITIES[name].file_name: {"rows": rows} for name, rows in self.rows.items()},
        }
        (self.work_path / canonical.MANIFEST_FILE).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
        (self.work_path / canonical.COMPLETION_MARKER).write_text("", encoding="utf-8")
        if self.final_path.exists():
            retired = self.final_path.with_name(f".{self.final_path.name}.old")
            if retired.exists():
                shutil.rmtree(retired)
            os.replace(self.final_path, retired)
            os.replace(self.work_path, self.final_path)
            shutil.rmtree(retired)
        else:
            os.replace(self.work_path, self.final_path)

    def discard(self) -> None:
        for file in self.files.values():
            file.close()
        shutil.rmtree(self.work_path, ignore_errors=True)


class TruthFile:
    """The ground truth: one row per deal created up to as_of (written aside, then renamed)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.work_path = path.with_name(f".{path.name}.partial")
        self.file = CsvFile(self.work_path, world.TRUTH_COLUMNS)

    @property
    def rows(self) -> int:
        return self.file.rows

    def write(self, chunk: Chunk) -> None:
        self.file.write(truth_lines(chunk))

    def publish(self) -> None:
        self.file.close()
        os.replace(self.work_path, self.path)

    def discard(self) -> None:
        self.file.close()
        self.work_path.unlink(missing_ok=True)
