"""Expectation results as rows of ``audit.validation_results``, and writing them.

One row per expectation per run; re-running a (run_id, stage, suite) replaces its rows. Rows are
written through SQLAlchemy on the warehouse URL (``pipecast.validate.target``), so the same table is
kept on DuckDB and on PostgreSQL. A suite or check that could not run is recorded too, as one
failed row (``SKIPPED``, a warning unless the missing data is itself an error) whose observed value
says why, so BI sees what went unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pipecast.config import Settings
from pipecast.validate import target
from pipecast.validate.severity import WARNING, Severity, severity_of

SCHEMA = "audit"
TABLE = f"{SCHEMA}.validation_results"
# expectation_type of the row recording a suite or check that could not run.
SKIPPED = "pipecast_skipped"

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    run_id VARCHAR NOT NULL,
    validated_at TIMESTAMP NOT NULL,  -- UTC
    stage VARCHAR NOT NULL,
    suite VARCHAR NOT NULL,
    expectation_type VARCHAR NOT NULL,
    column_name VARCHAR,
    severity VARCHAR NOT NULL,
    success BOOLEAN NOT NULL,
    observed_value VARCHAR,
    unexpected_count BIGINT,
    details VARCHAR  -- JSON: kwargs, description, result, exception
)
"""

_MAX_SAMPLE = 3
_MAX_MESSAGE = 200


@dataclass(frozen=True)
class ResultRow:
    run_id: str
    validated_at: datetime
    stage: str
    suite: str
    expectation_type: str
    column_name: str | None
    severity: Severity
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    details: str

    def describe(self) -> str:
        """Short human-readable line naming the expectation, its column and why it failed."""
        details = json.loads(self.details)
        if self.expectation_type == SKIPPED:
            return f"{self.severity}: {details.get('description')}: {self.observed_value}"
        label = f"{self.severity}: {self.expectation_type}"
        if self.column_name:
            label += f"({self.column_name})"
        if details.get("description"):
            label += f" [{details['description']}]"
        if details.get("exception"):
            return f"{label}: raised {details['exception'].splitlines()[0][:_MAX_MESSAGE]}"
        if self.unexpected_count is not None:
            sample = (details.get("result") or {}).get("partial_unexpected_list") or []
            more = f", e.g. {sample[:_MAX_SAMPLE]}" if sample else ""
            return f"{label}: {self.unexpected_count} unexpected{more}"
        if self.observed_value is None:
            return f"{label}: failed"
        kwargs = details.get("kwargs") or {}
        bounds = (kwargs.get("min_value"), kwargs.get("max_value"))
        expected = f" (expected {bounds[0]}..{bounds[1]})" if bounds != (None, None) else ""
        return f"{label}: observed {self.observed_value}{expected}"


def result_row(
    result: dict[str, Any], *, run_id: str, validated_at: datetime, stage: str, suite: str
) -> ResultRow:
    """One row from an ExpectationValidationResult's ``to_json_dict()``."""
    config = result["expectation_config"]
    kwargs: dict[str, Any] = config.get("kwargs") or {}
    meta: dict[str, Any] = config.get("meta") or {}
    outcome: dict[str, Any] = result.get("result") or {}
    observed = outcome.get("observed_value")
    unexpected = outcome.get("unexpected_count")
    if unexpected is None and config["type"] == "unexpected_rows_expectation":
        unexpected = observed  # that expectation observes the number of unexpected rows
    details = {
        "kwargs": kwargs,
        "description": config.get("description"),
        "result": outcome,
        "exception": _exception_message(result.get("exception_info")),
    }
    return ResultRow(
        run_id=run_id,
        validated_at=validated_at,
        stage=stage,
        suite=suite,
        expectation_type=config["type"],
        column_name=_column_name(kwargs, meta),
        severity=severity_of(meta, config["type"]),
        success=bool(result["success"]),
        observed_value=None if observed is None else _text(observed),
        unexpected_count=None if unexpected is None else int(unexpected),
        details=json.dumps(details, default=str),
    )


def skipped_row(
    reason: str,
    *,
    run_id: str,
    validated_at: datetime,
    stage: str,
    suite: str,
    check: str | None = None,
    columns: Iterable[str] = (),
    severity: Severity = WARNING,
) -> ResultRow:
    """The failed row recording that a suite (or one ``check`` of it) did not run, and why."""
    return ResultRow(
        run_id=run_id,
        validated_at=validated_at,
        stage=stage,
        suite=suite,
        expectation_type=SKIPPED,
        column_name=",".join(columns) or None,
        severity=severity,
        success=False,
        observed_value=reason,
        unexpected_count=None,
        details=json.dumps({"description": f"skipped: {check or 'suite'}", "kwargs": {}}),
    )


def write(rows: list[ResultRow], *, run_id: str, stage: str, suite: str, settings: Settings) -> None:
    """Replace the rows of (run_id, stage, suite) with ``rows``, in one transaction."""
    replace(rows, run_id=run_id, stage=stage, suites=[suite], settings=settings)


def replace(
    rows: list[ResultRow], *, run_id: str, stage: str, suites: Iterable[str], settings: Settings
) -> None:
    """Replace the rows of every (run_id, stage, suite) in ``suites`` with ``rows``, atomically."""
    columns = [f.name for f in fields(ResultRow)]
    insert = sa.text(
        f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    )
    delete = sa.text(f"DELETE FROM {TABLE} WHERE run_id = :run_id AND stage = :stage AND suite = :suite")
    with target.engine(settings) as engine, engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        conn.execute(sa.text(DDL))
        for suite in dict.fromkeys(suites):
            conn.execute(delete, {"run_id": run_id, "stage": stage, "suite": suite})
        if rows:
            conn.execute(insert, [asdict(r) for r in rows])


def _column_name(kwargs: dict[str, Any], meta: dict[str, Any]) -> str | None:
    if kwargs.get("column"):
        return str(kwargs["column"])
    columns = [kwargs[k] for k in ("column_A", "column_B") if kwargs.get(k)]
    columns = columns or kwargs.get("column_list") or meta.get("columns") or []
    return ",".join(map(str, columns)) or None


def _exception_message(info: dict[str, Any] | None) -> str | None:
    """GX reports one exception dict, or one per failed metric keyed by metric id."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    messages = [str(e.get("exception_message")) for e in entries if e.get("raised_exception")]
    return "; ".join(dict.fromkeys(messages)) or None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)
