"""`pipecast mapping check FILE [--export FOLDER]`: validate a mapping file without loading data.

Without an export it checks the file alone (YAML, options, names, required entities and columns).
With an export folder it also reads the files' headers and first bytes, as a load would plan
them: every required file present, every column, lookup key, filter and days column the chosen
definitions name present in its file, and each entity's SELECT valid over the files (run with
LIMIT 0, so no row is read into the warehouse). Problems are one line each; nothing is written.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import duckdb

from pipecast.ingest.compiler import EntityCompiler, entity_select
from pipecast.ingest.errors import IngestError
from pipecast.ingest.landing import Export
from pipecast.ingest.mapping import Layout, MappingError, load_mapping
from pipecast.ingest.plan import plan_export, readers

log = logging.getLogger(__name__)


def _export_date(folder: Path) -> date:
    try:
        return date.fromisoformat(folder.name)
    except ValueError:
        return date.today()


def check_mapping(path: Path, export_folder: Path | None = None) -> tuple[Layout | None, list[str]]:
    """(the layout if the file is valid, every problem as one line)."""
    try:
        layout = load_mapping(path)
    except MappingError as exc:
        return None, [f"{path}: {line}" for line in exc.problems]
    if export_folder is None:
        return layout, []
    if not export_folder.is_dir():
        return layout, [f"{export_folder}: not a folder"]
    return layout, export_problems(layout, export_folder)


def export_problems(layout: Layout, folder: Path) -> list[str]:
    """What a load of the export in folder would reject for this layout's reasons (not its data's)."""
    export = Export(_export_date(folder), folder)
    con = duckdb.connect()
    try:
        try:
            plan = plan_export(con, export, layout)
        except IngestError as exc:
            return [str(exc)]
        problems = []
        for entity_name, spec in plan.entities.items():
            try:
                compiled = EntityCompiler(layout, entity_name, spec, plan.sources, readers(plan)).compile()
                sql, params = entity_select(compiled)
                con.execute(f"SELECT * FROM ({sql}) LIMIT 0", params)
            except IngestError as exc:
                problems.append(f"entities.{entity_name}: {exc}")
            except duckdb.Error as exc:
                problems.append(f"entities.{entity_name}: {str(exc).splitlines()[0]}")
        problems += [f"warning: {w}" for w in plan.warnings]
        problems += [
            f"warning: {file}: column {column!r} is not mapped (kept in _extra; list it in "
            f"sources.{source}.known_columns to silence this)"
            for source, column, file in plan.new_columns
        ]
        return problems
    finally:
        con.close()
