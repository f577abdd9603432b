"""Amounts in one reporting currency: a real ingest of a small multi-currency export with dated
exchange rates, the dbt staging models built on DuckDB, and the amounts checked by hand.

- a deal is converted at the rate in effect on its close date (the rate's date inclusive, until
  the currency's next rate); the original amount and currency are kept;
- amounts in the reporting currency, or without a currency, are kept as they are;
- stage history and line items follow their opportunity's currency;
- a currency without a rate on a deal's date stops the export in raw validation, naming the
  currency, the date and a row, and dbt's has_exchange_rate test fails on it too.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import psycopg
import pytest
from pipecast.canonical import COMPLETION_MARKER, ENTITIES
from pipecast.config import Settings
from pipecast.pipeline import ValidationFailed, ingest
from pipecast.warehouse import connect

from tests.dbt.dbt_run import run_dbt
from tests.dbt.postgres_server import PostgresServer
from tests.dbt.raw_copy import copy_raw_to_postgres
from tests.lifecycle_steps import mark_validated

DAY = date(2026, 3, 2)
STAGES = [
    ["default", "Prospecting", "1", "10", "false", "false", "Pipeline"],
    ["default", "Closed Won", "2", "100", "true", "true", "Closed"],
    ["default", "Closed Lost", "3", "0", "true", "false", "Omitted"],
]
# opportunity_id, stage, amount, currency, close_date
DEALS = [
    ("O1", "Closed Won", "1000", "EUR", "2025-06-30"),  # EUR at the 2025-01-01 rate
    ("O2", "Prospecting", "1000", "EUR", "2026-06-30"),  # EUR at the 2026-01-01 rate
    ("O3", "Closed Won", "50000", "JPY", "2026-01-01"),  # the rate's own date
    ("O4", "Closed Lost", "700", "USD", "2025-03-31"),  # the reporting currency: as is
    ("O5", "Prospecting", "300", "", "2026-05-31"),  # no currency: the CRM's one currency
]
RATES = [
    ["EUR", "2025-01-01", "0.8", "USD"],
    ["EUR", "2026-01-01", "0.9", "USD"],
    ["JPY", "2026-01-01", "150", "USD"],
]


def _write(folder: Path, entity: str, rows: list[list[str]]) -> None:
    with open(folder / f"{entity}.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(ENTITIES[entity].columns))
        writer.writerows(rows)


def write_export(landing: Path, rates: list[list[str]]) -> None:
    folder = landing / DAY.isoformat()
    folder.mkdir(parents=True)
    blank = dict.fromkeys(ENTITIES["opportunities"].columns, "")
    deals = []
    for i, (key, stage, amount, currency, close) in enumerate(DEALS, start=1):
        closed = "true" if stage.startswith("Closed") else "false"
        won = "true" if stage == "Closed Won" else "false"
        deals.append(
            list(
                (
                    blank
                    | {
                        "opportunity_id": key,
                        "owner_id": "U1",
                        "name": f"Deal {i}",
                        "pipeline": "default",
                        "created_at": "2025-01-02 10:00:00",
                        "stage": stage,
                        "amount": amount,
                        "currency": currency,
                        "close_date": close,
                        "is_closed": closed,
                        "is_won": won,
                        "probability": "10",
                        "last_modified_at": "2026-03-01 09:00:00",
                    }
                ).values()
            )
        )
    _write(folder, "opportunities", deals)
    _write(
        folder,
        "opportunity_stage_history",
        [[d[0], "2025-01-02 10:00:00", "Prospecting", d[2], d[4], "10", "Pipeline"] for d in DEALS],
    )
    _write(folder, "stages", STAGES)
    _write(folder, "line_items", [[f"L{d[0]}", d[0], "", "2", str(float(d[2]) / 2)] for d in DEALS])
    if rates:
        _write(folder, "exchange_rates", rates)
    (folder / COMPLETION_MARKER).write_text("")


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path,
        landing_dir=tmp_path / "landing",
        warehouse_path=tmp_path / "w.duckdb",
        raw_export_max_age_days=100_000,
    )


def _query(settings: Settings, sql: str) -> dict:
    with connect(settings) as con:
        return {row[0]: row[1:] for row in con.execute(sql).fetchall()}


EXPECTED_USD = {"O1": 1000 / 0.8, "O2": 1000 / 0.9, "O3": 50000 / 150, "O4": 700.0, "O5": 300.0}


def test_amounts_are_converted_at_the_rate_of_their_close_date(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_export(settings.resolved_landing_dir, RATES)
    ingest(export_date=DAY, settings=settings)  # raw validation passes: every amount has a rate

    run_dbt(settings, "build", "--select", "staging")

    deals = _query(
        settings,
        "select opportunity_id, amount, amount_original, currency, exchange_rate "
        "from staging.stg_crm__opportunities",
    )
    assert {k: v[0] for k, v in deals.items()} == pytest.approx(EXPECTED_USD)
    assert deals["O1"][1:] == (1000.0, "EUR", 0.8)
    assert deals["O5"][1:] == (300.0, None, 1.0)
    history = _query(
        settings,
        "select opportunity_id, amount, amount_original from staging.stg_crm__opportunity_stage_history",
    )
    assert {k: v[0] for k, v in history.items()} == pytest.approx(EXPECTED_USD)
    lines = _query(settings, "select opportunity_id, unit_price * quantity from staging.stg_crm__line_items")
    assert {k: v[0] for k, v in lines.items()} == pytest.approx(EXPECTED_USD)


def test_another_reporting_currency(tmp_path: Path) -> None:
    settings = _settings(tmp_path).model_copy(update={"reporting_currency": "EUR"})
    # the same rates quoted against EUR: one EUR buys 1.25 USD and 187.5 JPY
    write_export(
        settings.resolved_landing_dir,
        [["USD", "2025-01-01", "1.25", "EUR"], ["JPY", "2025-01-01", "187.5", "EUR"]],
    )
    ingest(export_date=DAY, settings=settings)

    run_dbt(settings, "run", "--select", "stg_crm__exchange_rates", "stg_crm__opportunities")

    deals = _query(settings, "select opportunity_id, amount from staging.stg_crm__opportunities")
    assert {k: v[0] for k, v in deals.items()} == pytest.approx(
        {"O1": 1000.0, "O2": 1000.0, "O3": 50000 / 187.5, "O4": 700 / 1.25, "O5": 300.0}
    )


def test_a_currency_without_a_rate_fails_clearly(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    write_export(
        settings.resolved_landing_dir,
        [r for r in RATES if r[0] != "JPY"] + [RATES[2][:1] + ["2026-02-01", "150", "USD"]],
    )

    with pytest.raises(ValidationFailed) as failed:
        ingest(export_date=DAY, settings=settings)

    reason = str(failed.value)
    assert "raw.currency: error: pipecast_exchange_rate(currency)" in reason
    assert "no JPY -> USD rate on or before 2026-01-01 (1 opportunities rows, e.g. O3 in " in reason
    assert "opportunities.csv" in reason
    assert [p.name[:10] for p in settings.quarantine_dir.iterdir()] == [DAY.isoformat()]

    # dbt's own test names the currency and dates too: the second guard, should an export without
    # the rate ever be served (staging serves validated exports only, so the test marks it so)
    write_export(settings.resolved_landing_dir, [r for r in RATES if r[0] != "JPY"])
    ingest(export_date=DAY, settings=settings, validate=False)
    mark_validated(settings, DAY, why="dbt's own exchange-rate test is under test")
    with pytest.raises(AssertionError, match=r"has_exchange_rate_stg_crm__opportunities_amount\w*: fail"):
        run_dbt(settings, "build", "--select", "staging")
    with connect(settings) as con:
        rows = con.execute(
            "select currency, conversion_date from staging.stg_crm__opportunities where amount is null"
        ).fetchall()
    assert rows == [("JPY", date(2026, 1, 1))]


@pytest.mark.postgres
def test_amounts_are_converted_on_postgres(tmp_path: Path, postgres: PostgresServer) -> None:
    """The same staging SQL on PostgreSQL, in a database of its own on the session's server."""
    settings = _settings(tmp_path)
    write_export(settings.resolved_landing_dir, RATES)
    ingest(export_date=DAY, settings=settings, validate=False)
    database = f"currency_{tmp_path.name.lower().replace('-', '_')[-30:]}"
    with psycopg.connect(**_pg(postgres, postgres.database), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        with connect(settings) as duck, psycopg.connect(**_pg(postgres, database)) as pg:
            copy_raw_to_postgres(duck, pg, [DAY])
        pg_settings = settings.model_copy(
            update={"target": "postgres", **postgres.settings_fields, "pg_database": database}
        )

        run_dbt(pg_settings, "build", "--select", "staging")

        with psycopg.connect(**_pg(postgres, database)) as pg:
            deals = dict(
                pg.execute("select opportunity_id, amount from staging.stg_crm__opportunities").fetchall()
            )
            lines = dict(
                pg.execute(
                    "select opportunity_id, unit_price * quantity from staging.stg_crm__line_items"
                ).fetchall()
            )
        assert deals == pytest.approx(EXPECTED_USD)
        assert lines == pytest.approx(EXPECTED_USD)
    finally:
        with psycopg.connect(**_pg(postgres, postgres.database), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def _pg(server: PostgresServer, database: str) -> dict:
    return {"host": server.host, "port": server.port, "user": server.user, "dbname": database}
