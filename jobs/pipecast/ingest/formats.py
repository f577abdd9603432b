"""File formats: recognise how a source file is written and build the DuckDB reader for it.

Python only looks at the first mebibyte of a CSV (encoding, byte-order mark, delimiter, header);
DuckDB then parses the whole file with that dialect fixed (``auto_detect = false``), in parallel
and streaming, every column as text so that a bad value is found and reported by the loader,
not guessed into another type. Parquet and JSON lines are read by their own DuckDB readers
(JSON values as text too).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import logging
import zlib
from dataclasses import dataclass, field
from typing import Any

import duckdb

from pipecast.ingest.errors import IngestError, NulByteError
from pipecast.ingest.mapping import CsvOptions

log = logging.getLogger(__name__)

SNIFF_BYTES = 1 << 20
DELIMITER_CANDIDATES = (",", ";", "\t", "|")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd"}


@dataclass(frozen=True)
class FileFormat:
    """A source file's format, as the reader needs it."""

    kind: str  # csv | parquet | jsonl
    columns: tuple[str, ...]  # source column names, in file order
    types: dict[str, str] = field(default_factory=dict)  # native types (parquet); CSV/JSON: VARCHAR
    compression: str = "none"
    encoding: str = "utf-8"
    encoding_guessed: bool = False  # auto-detected from a sample that had no non-ASCII byte
    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    header: bool = True
    skip_rows: int = 0
    null_values: tuple[str, ...] = ("",)

    @property
    def first_data_line(self) -> int:
        """Physical line of the first record (1-based): what error lines count from."""
        if self.kind != "csv":
            return 1
        return self.skip_rows + (1 if self.header else 0) + 1

    def is_text(self, column: str) -> bool:
        return self.types.get(column, "VARCHAR") == "VARCHAR"


def file_kind(name: str, declared: str = "auto") -> tuple[str, str]:
    """(kind, compression) from the declared format or the file name's suffixes."""
    lower = name.lower()
    compression = "none"
    for suffix, codec in _COMPRESSIONS.items():
        if lower.endswith(suffix):
            compression = codec
            lower = lower[: -len(suffix)]
    if declared != "auto":
        return declared, compression
    if lower.endswith(_PARQUET_SUFFIXES):
        return "parquet", compression
    if lower.endswith(_JSONL_SUFFIXES):
        return "jsonl", compression
    if lower.endswith(_CSV_SUFFIXES):
        return "csv", compression
    raise IngestError(
        f"cannot tell the format of {name!r} from its name: declare format in the mapping", file=name
    )


def sniff(
    con: duckdb.DuckDBPyConnection,
    fs: Any,
    location: str,
    declared_format: str,
    options: CsvOptions,
) -> FileFormat:
    """Recognise one file's format and columns. Raises IngestError for empty or unreadable files."""
    kind, compression = file_kind(location, declared_format)
    if int(fs.size(location)) == 0:
        raise IngestError("file is empty (0 bytes): truncated or not written", file=location, line=1)
    if kind == "csv":
        return _sniff_csv(fs, location, compression, options)
    reader = "read_parquet(?)" if kind == "parquet" else "read_json(?, format = 'newline_delimited')"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}", [location]).fetchall()
    except duckdb.Error as exc:
        raise IngestError(
            f"cannot read {kind} file: {first_line(exc)}", file=location, line=error_line(exc)
        ) from exc
    columns = tuple(row[0] for row in described)
    types = {row[0]: str(row[1]) for row in described} if kind == "parquet" else {}
    return FileFormat(kind=kind, columns=columns, types=types, compression=compression)


def _sample(fs: Any, location: str, compression: str) -> bytes:
    with fs.open(location, "rb") as raw:
        if compression == "gzip":
            try:
                return gzip.GzipFile(fileobj=raw).read(SNIFF_BYTES)
            except (OSError, EOFError, zlib.error) as exc:
                raise IngestError(f"gzip file is corrupt or truncated: {exc}", file=location) from exc
        if compression == "zstd":
            raise IngestError(
                "zstd-compressed CSV: declare csv options, sniffing needs gzip or none", file=location
            )
        return raw.read(SNIFF_BYTES)


def _decode(sample: bytes, declared: str, location: str) -> tuple[str, str, bool]:
    """(text, duckdb encoding, guessed) of a sample; the BOM decides when present."""
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return sample.decode("utf-16", errors="replace"), "utf-16", False
    if declared == "utf-16":
        return sample.decode("utf-16", errors="replace"), "utf-16", False
    if declared == "latin-1":
        return sample.decode("latin-1"), "latin-1", False
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        text = decoder.decode(sample, final=False)
    except UnicodeDecodeError as exc:
        if declared == "utf-8":
            line = sample[: exc.start].count(b"\n") + 1
            raise IngestError(
                f"not valid UTF-8 (byte {sample[exc.start]:#x})", file=location, line=line
            ) from exc
        log.info("%s is not UTF-8: reading it as Latin-1", location)
        return sample.decode("latin-1"), "latin-1", False
    # Pure ASCII says nothing about the rest of the file: the loader retries as Latin-1 if
    # DuckDB later meets an invalid UTF-8 byte.
    return text, "utf-8", declared == "auto" and sample.isascii()


def _records(text: str, delimiter: str, quote: str, escape: str, limit: int = 50) -> list[list[str]]:
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1] or text
    reader = csv.reader(
        io.StringIO(complete),
        delimiter=delimiter,
        quotechar=quote or None,
        doublequote=escape == quote,
        escapechar=None if escape == quote else (escape or None),
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        strict=False,
    )
    rows = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows


def _detect_delimiter(text: str, quote: str, escape: str) -> str:
    """The candidate that splits the header into the most fields with the rows agreeing."""
    best, best_score = ",", (0, 0)
    for candidate in DELIMITER_CANDIDATES:
        rows = [r for r in _records(text, candidate, quote, escape) if r]
        if not rows:
            continue
        width = len(rows[0])
        agreeing = sum(1 for r in rows[1:] if len(r) == width)
        score = (width if width > 1 else 0, agreeing)
        if score > best_score:
            best, best_score = candidate, score
    return best


def _sniff_csv(fs: Any, location: str, compression: str, options: CsvOptions) -> FileFormat:
    sample = _sample(fs, location, compression)
    text, encoding, guessed = _decode(sample, options.encoding, location)
    text = text.lstrip("\ufeff")
    quote = options.quote
    escape = options.escape if options.escape is not None else quote
    lines = text.split("\n")
    body = "\n".join(lines[options.skip_rows :])
    delimiter = options.delimiter
    if delimiter == "auto":
        delimiter = _detect_delimiter(body, quote, escape)
    records = _records(body, delimiter, quote, escape, limit=2)
    if not records or not any(field.strip() for field in records[0]):
        raise IngestError("file has no header line", file=location, line=options.skip_rows + 1)
    if options.header:
        columns = _check_header(
            tuple(c.strip() for c in records[0]), location, options.skip_rows + 1, delimiter
        )
    else:
        columns = tuple(options.column_names or ())
        if len(records[0]) != len(columns):
            raise IngestError(
                f"first record has {len(records[0])} fields, column_names lists {len(columns)}",
                file=location,
                line=options.skip_rows + 1,
            )
    return FileFormat(
        kind="csv",
        columns=columns,
        compression=compression,
        encoding=encoding,
        encoding_guessed=guessed,
        delimiter=delimiter,
        quote=quote,
        escape=escape,
        header=options.header,
        skip_rows=options.skip_rows,
        null_values=tuple(options.null_values),
    )


def _check_header(columns: tuple[str, ...], location: str, line: int, delimiter: str) -> tuple[str, ...]:
    """Header names as loaded: an empty name (a trailing delimiter, as spreadsheet exports write)
    becomes column<N>; a repeated name is an error, since a value could not be told apart."""
    named = tuple(name or f"column{index}" for index, name in enumerate(columns, start=1))
    for index, name in enumerate(named, start=1):
        if "\x00" in name:
            raise NulByteError(
                f"header name {index} ({name.replace(chr(0), '<NUL>')!r}) contains a NUL byte (0x00)",
                file=location,
                line=line,
                column=f"column{index}",
            )
    seen: set[str] = set()
    for name in named:
        if name in seen:
            raise IngestError(f"header names column {name!r} twice", file=location, line=line, column=name)
        seen.add(name)
    return named


def delimiter_hint(fmt: FileFormat) -> str:
    """When a header splits into one field, say which other delimiter it contains."""
    if fmt.kind != "csv" or len(fmt.columns) != 1:
        return ""
    others = [d for d in DELIMITER_CANDIDATES if d != fmt.delimiter and d in fmt.columns[0]]
    if not others:
        return ""
    shown = {"\t": "\\t"}.get(others[0], others[0])
    return (
        f" (the header is one field with delimiter {fmt.delimiter!r} but contains {shown!r}: "
        "wrong delimiter?)"
    )


def reader_sql(fmt: FileFormat, locations: list[str], encoding: str | None = None) -> tuple[str, list[Any]]:
    """A DuckDB table function reading the files, and its bound parameters (no value is ever
    pasted into the SQL text)."""
    files: Any = locations if len(locations) > 1 else locations[0]
    if fmt.kind == "parquet":
        return "read_parquet(?)", [files]
    if fmt.kind == "jsonl":
        return (
            "read_json(?, format = 'newline_delimited', columns = ?, compression = ?)",
            [files, dict.fromkeys(fmt.columns, "VARCHAR"), _duck_compression(fmt.compression)],
        )
    sql = (
        "read_csv(?, header = ?, auto_detect = false, delim = ?, quote = ?, escape = ?, "
        "columns = ?, encoding = ?, compression = ?, nullstr = ?, skip = ?, strict_mode = true, "
        "parallel = true)"
    )
    params = [
        files,
        fmt.header,
        fmt.delimiter,
        fmt.quote,
        fmt.escape,
        dict.fromkeys(fmt.columns, "VARCHAR"),
        encoding or fmt.encoding,
        _duck_compression(fmt.compression),
        list(fmt.null_values),
        fmt.skip_rows,
    ]
    return sql, params


def _duck_compression(compression: str) -> str:
    return {"none": "none", "gzip": "gzip", "zstd": "zstd"}[compression]


def first_line(exc: BaseException) -> str:
    """The first line of a DuckDB error message (the rest is advice and the parser's settings)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def reader_error_message(exc: BaseException) -> str:
    """A reader error in one sentence: DuckDB's first line, its reason and the offending line."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    if not lines:
        return type(exc).__name__
    reason = ""
    original = ""
    for line in lines[1:]:
        if line.startswith("Original Line:"):
            original = line.removeprefix("Original Line:").strip()
        elif (
            line
            and not line.startswith(("Possible", "*", "file =", "LINE "))
            and not reason
            and "=" not in line
        ):
            reason = line
    message = lines[0]
    if reason:
        message += f": {reason}"
    if original:
        message += f" (line text: {original[:200]!r})"
    return message


def missing_field(exc: BaseException, columns: tuple[str, ...]) -> str | None:
    """The first column a too-short CSV record lacks ("Expected Number of Columns: 3 Found: 2")."""
    import re

    match = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", str(exc))
    if match and int(match.group(2)) < int(match.group(1)) and int(match.group(2)) < len(columns):
        return columns[int(match.group(2))]
    return None


def error_line(exc: BaseException) -> int | None:
    """The line number a DuckDB reader error names, if any."""
    import re

    match = re.search(r"(?:CSV Error on Line|in line|Line):? (\d+)", str(exc))
    return int(match.group(1)) if match else None
