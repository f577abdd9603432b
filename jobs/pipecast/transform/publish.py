"""Atomic publishing of the marts: a reader sees last night's marts or tonight's, never a mix.

BI, the report and the checkpoints read ``marts.<model>``: views. The tables behind them are
built by dbt into one of two slot schemas per unit (``marts__a`` / ``marts__b`` for
models/marts, ``marts_forecast__a`` / ``marts_forecast__b`` for models/forecast), always the slot
the views do not point at. Only when every model and every error-severity test of the build has
passed, and the marts checkpoint (Great Expectations, expectations/mart_suites.py) has validated
the new slot's marts where they are (``check_slots``), are the unit's views switched to the new
slot, all in one transaction (views are
catalogue entries: DuckDB and PostgreSQL both switch them transactionally, in milliseconds,
whatever the tables hold). A failed or killed build, or a failed test, leaves the views, and so
every mart, on the previous night, and so does a mart that fails its suite (``MartsRejected``); a
kill during the switch rolls back.

The slot a build writes held the night before last: the incremental models
(fct_pipeline_daily, fct_opportunity_stage_transitions) catch up from what they hold there (they
recompute from their own newest row), so no table is copied. Each switch is recorded in
``audit.marts_publications`` (unit, slot schema, models, time), in the same transaction; the
newest row per unit is what the views point at.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipecast.config import Settings
from pipecast.errors import DbtError, InputError, PipecastError

log = logging.getLogger(__name__)

PUBLIC_SCHEMA = "marts"
# unit (the folder under dbt_project/models, fqn[1]) -> the prefix of its slot schemas
UNITS: dict[str, str] = {"marts": "marts", "forecast": "marts_forecast"}
SLOTS = ("a", "b")
LEDGER = "audit.marts_publications"
_LEDGER_DDL = (
    f"create table if not exists {LEDGER} (unit varchar, schema_name varchar, models varchar, "
    "published_at timestamp)"
)


class PublishError(PipecastError):
    """The switch to tonight's marts failed: the previous night's marts still serve."""


class MartsRejected(DbtError, InputError):
    """Tonight's marts failed an error-severity expectation of the marts checkpoint in their slot:
    nothing was published (a bad-data error, not retried; a DbtError to the callers of a build)."""


@dataclass(frozen=True)
class Publication:
    unit: str
    schema: str
    models: tuple[str, ...]


def slot_schema(unit: str, slot: str) -> str:
    return f"{UNITS[unit]}__{slot}"


class _Sql:
    """$1-style statements on the warehouse, inside one transaction (DuckDB or PostgreSQL)."""

    def __init__(self, cursor: Any, target: str) -> None:
        self.cursor, self.target = cursor, target

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.target == "duckdb":
            self.cursor.execute(sql, list(params))
        else:
            self.cursor.execute(sql, tuple(params))

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        self.execute(sql, params)
        return [tuple(r) for r in self.cursor.fetchall()]


@contextmanager
def _transaction(settings: Settings) -> Iterator[_Sql]:
    if settings.target == "duckdb":
        from pipecast.warehouse import connect, transaction

        with connect(settings) as con, transaction(con):
            yield _Sql(con, "duckdb")
        return
    from pipecast.pg_transfer import pg_connect

    with pg_connect(settings) as pg, pg.cursor() as cursor:  # committed on success, else rolled back
        yield _Sql(cursor, "postgres")


def _ledger_exists(sql: _Sql) -> bool:
    return sql.rows(
        "select count(*) from information_schema.tables where table_schema = 'audit' "
        "and table_name = 'marts_publications'"
    ) != [(0,)]


def _published(sql: _Sql) -> dict[str, Publication]:
    if not _ledger_exists(sql):
        return {}
    rows = sql.rows(f"select unit, schema_name, models, published_at from {LEDGER} order by published_at")
    return {
        unit: Publication(unit, schema, tuple(filter(None, models.split(","))))
        for unit, schema, models, _ in rows
    }


def published(settings: Settings) -> dict[str, Publication]:
    """What the views point at, per unit (empty before the first publication)."""
    with _transaction(settings) as sql:
        return _published(sql)


def next_schemas(settings: Settings, units: Iterable[str]) -> dict[str, str]:
    """The slot schema each unit's build writes: the one its views do not point at."""
    current = published(settings)
    schemas = {}
    for unit in units:
        now = current.get(unit)
        slot = SLOTS[1] if now is not None and now.schema == slot_schema(unit, SLOTS[0]) else SLOTS[0]
        schemas[unit] = slot_schema(unit, slot)
    return schemas


def _relations(sql: _Sql, schema: str) -> dict[str, str]:
    rows = sql.rows(
        "select table_name, table_type from information_schema.tables where table_schema = $1", [schema]
    )
    return {name: ("view" if "VIEW" in kind.upper() else "table") for name, kind in rows}


def _ident(name: str) -> str:
    from pipecast.pg_transfer import _ident as quoted  # plain identifiers only, quoted

    return quoted(name)


def check_slots(settings: Settings, built: dict[str, tuple[str, Sequence[str]]]):
    """Run the marts checkpoint on the marts of ``built`` (unit -> (slot schema, its models)) in
    their slot schemas, before anything is published; raise MartsRejected on an error-severity
    failure. The audit rows carry the public names (``marts.<model>``); returns the StageOutcome,
    or None when none of the models is a mart (models/marts), which have the suites."""
    from pipecast.transform.manifest import marts as dbt_marts

    started = time.perf_counter()
    tables = {model: schema for schema, models in built.values() for model in models}
    if not {mart.name for mart in dbt_marts(settings)} & set(tables):
        # the forecast's marts (models/forecast) have no suite in this checkpoint: their checks
        # are their dbt tests, and the predictions checkpoint checks the ml.* rows they read.
        # Returning here spares the forecast step Great Expectations' import: 5-6 s on 2 cores
        log.info(
            "marts checkpoint on tonight's slots (%s): none of their models is a mart with a suite",
            ", ".join(schema for schema, _ in built.values()),
        )
        return None
    from pipecast.validate.marts import validate_marts

    outcome = validate_marts(settings, tables=tables)
    log.info(
        "marts checkpoint on tonight's slots (%s): %d suites, %s in %.3f s",
        ", ".join(schema for schema, _ in built.values()),
        len(outcome.outcomes),
        "passed" if outcome.passed_errors else "failed",
        time.perf_counter() - started,
    )
    if not outcome.passed_errors:
        raise MartsRejected(
            "marts validation failed (nothing published: the previous night's marts still serve): "
            + "; ".join(outcome.failures)
        )
    return outcome


def publish(settings: Settings, built: dict[str, tuple[str, Sequence[str]]]) -> float:
    """Point ``marts.<model>`` at the slot each unit was built in, for every unit in ``built``
    (unit -> (slot schema, its models)), in one transaction; return the seconds it took.

    A unit's models that its previous publication had and this one lacks lose their view. Raises
    PublishError (and nothing switches) when a relation cannot be replaced, e.g. a view someone
    built on a mart depends on it."""
    from pipecast.faults import pause_point

    started = time.perf_counter()
    try:
        with _transaction(settings) as sql:
            sql.execute(f"create schema if not exists {PUBLIC_SCHEMA}")
            sql.execute("create schema if not exists audit")
            sql.execute(_LEDGER_DDL)
            before = _published(sql)
            existing = _relations(sql, PUBLIC_SCHEMA)
            now = datetime.now(UTC).replace(tzinfo=None)
            for unit, (schema, models) in built.items():
                built_tables = _relations(sql, schema)
                missing = [m for m in models if m not in built_tables]
                if missing:
                    raise PublishError(f"{schema} lacks {', '.join(missing)}: not published")
                gone = set(before[unit].models) - set(models) if unit in before else set()
                for name in [*sorted(gone), *models]:
                    kind = existing.pop(name, None)
                    if kind is not None:
                        sql.execute(f"drop {kind} {_ident(PUBLIC_SCHEMA)}.{_ident(name)}")
                for name in models:
                    sql.execute(
                        f"create view {_ident(PUBLIC_SCHEMA)}.{_ident(name)} as "
                        f"select * from {_ident(schema)}.{_ident(name)}"
                    )
                sql.execute(
                    f"insert into {LEDGER} values ($1, $2, $3, $4)", [unit, schema, ",".join(models), now]
                )
            pause_point("publish:swap", settings)
    except PublishError:
        raise
    except Exception as exc:  # noqa: BLE001 - any database error: nothing switched
        raise PublishError(f"publishing the marts failed, the previous night's serve: {exc}") from exc
    seconds = time.perf_counter() - started
    log.info(
        "published %s in %.3f s",
        ", ".join(f"{unit} -> {schema} ({len(models)} models)" for unit, (schema, models) in built.items()),
        seconds,
    )
    return seconds
