"""Which rows of an export a failed raw expectation means: their keys, and the lines of the file
they came from (``opportunity_id O-17 on line 6 of opportunities.csv``).

Raw validation reports values (``between(amount): 1 unexpected, e.g. [-5000.0]``); an operator
needs the rows. The keys come from raw.* (the export's rows holding those values); the lines from
the export's own file, found by key when the file is a CSV whose header names the key column (the
generic layout; a mapped layout's file names its key otherwise, and only the key is given).
Runs only after a failed validation, on a handful of values.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipecast.canonical import ENTITIES
from pipecast.config import Settings
from pipecast.warehouse import query_on_target

log = logging.getLogger(__name__)

MAX_ROWS = 3
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class Located:
    key: tuple[str, ...]
    file: str | None
    line: int | None

    def describe(self, key_columns: Sequence[str]) -> str:
        key = ", ".join(f"{c} {v}" for c, v in zip(key_columns, self.key, strict=True))
        if self.line is None or self.file is None:
            return key + (f" in {Path(self.file).name}" if self.file else "")
        return f"{key} on line {self.line} of {Path(self.file).name}"


def failed_rows(settings: Settings, export_date: date, run_id: str) -> dict[tuple[str, str], list[str]]:
    """For each failed error expectation of a raw run with a column and unexpected values:
    (suite, column) -> the rows it means, described. Empty when nothing can be located."""
    rows = query_on_target(
        settings,
        "select suite, column_name, details from audit.validation_results where run_id = $1 "
        "and stage = 'raw' and not success and severity = 'error' and column_name is not null",
        [run_id],
    )
    found: dict[tuple[str, str], list[str]] = {}
    for suite, column, details in rows:
        entity = suite.split(".", 1)[-1]
        if entity not in ENTITIES or column not in ENTITIES[entity].columns:
            continue
        result = (json.loads(details or "{}").get("result")) or {}
        values = [v for v in result.get("partial_unexpected_list") or [] if v is not None][:MAX_ROWS]
        if not values:
            continue
        try:
            located = locate(settings, export_date, entity, column, values)
        except Exception as exc:  # naming rows is a courtesy: never hide the failure itself
            log.warning("could not locate the rows of %s(%s): %s", suite, column, exc)
            continue
        if located:
            key = ENTITIES[entity].key
            found[(suite, column)] = [r.describe(key) for r in located]
    return found


def locate(settings: Settings, export_date: date, entity: str, column: str, values: list) -> list[Located]:
    """The export's rows of ``entity`` whose ``column`` holds one of ``values`` (at most
    MAX_ROWS), with their file and line."""
    key = ENTITIES[entity].key
    keys_sql = ", ".join(f'cast("{k}" as varchar)' for k in key)
    marks = ", ".join(f"${i}" for i in range(2, len(values) + 2))
    rows = query_on_target(
        settings,
        f'select {keys_sql}, _source_file from raw."{entity}" '
        f'where _export_date = $1 and "{column}" in ({marks}) order by 1 limit {MAX_ROWS}',
        [export_date, *values],
    )
    by_file: dict[str | None, list[tuple[str, ...]]] = {}
    for row in rows:
        by_file.setdefault(row[-1], []).append(tuple(row[:-1]))
    located = []
    for file, keys in by_file.items():
        lines = _lines_of(Path(file), key, keys) if file and len(key) == 1 else {}
        located += [Located(k, file, lines.get(k)) for k in keys]
    return located


def _lines_of(path: Path, key: Sequence[str], keys: list[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
    """The physical line each key's record starts on, in a CSV whose header names the key."""
    if not path.is_file() or not any(path.name.endswith(s) for s in (".csv", ".csv.gz", ".txt", ".tsv")):
        return {}
    wanted = {k[0]: k for k in keys}
    found: dict[tuple[str, ...], int] = {}
    with _text(path) as fh:
        sample = fh.read(_SNIFF_BYTES)
        fh.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(fh, dialect)
        header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
        if key[0] not in header:
            return {}
        index = header.index(key[0])
        start = reader.line_num + 1
        for record in reader:
            value = record[index] if index < len(record) else None
            if value in wanted and wanted[value] not in found:
                found[wanted[value]] = start
                if len(found) == len(wanted):
                    break
            start = reader.line_num + 1
    return found


def _text(path: Path) -> io.TextIOWrapper:
    raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def describe_failures(
    failures: Iterator[str] | list[str], rows: dict[tuple[str, str], list[str]]
) -> list[str]:
    """The stage's failure lines with the rows each means: ``...: 1 unexpected, e.g. [-5000.0];
    rows: opportunity_id O-17 on line 6 of opportunities.csv``."""
    described = []
    for line in failures:
        extra = [
            ", ".join(located)
            for (suite, column), located in rows.items()
            if line.startswith(f"{suite}: error: ") and f"({column})" in line
        ]
        described.append(line + (f"; rows: {'; '.join(extra)}" if extra else ""))
    return described
