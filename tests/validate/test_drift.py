"""Drift checks of raw validation: each export against the previous one, errors that stop the night.

A previous export of 40 deals is loaded, then tonight's with one drift planted; each test asserts
the exact drift checks that fail (as errors, in audit.validation_results) and that a good night
raises none.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import duckdb
import pytest
from pipecast.config import Settings
from pipecast.validate import acceptance, drift, target
from pipecast.validate.runner import validate_raw
from pipecast.validate.severity import ERROR, WARNING
from raw_warehouse import EXPORT_DATE, PREVIOUS_EXPORT_DATE, Export, LoadExport, good_export

N = 40
DRIFT = drift.EXPECTATION_TYPE
ROW_COUNT = "expect_table_row_count_to_be_between"
SUM = "expect_column_sum_to_be_between"


def _previous_and(load_export: LoadExport, tonight: Export) -> None:
    load_export(good_export(N), export_date=PREVIOUS_EXPORT_DATE)
    load_export(tonight)


def _drift_failures(settings: Settings, run_id: str, severity: str = ERROR) -> set[str]:
    """Names of the drift checks (GX's and raw.drift's) that failed with ``severity``."""
    con = duckdb.connect(str(settings.resolved_warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT details FROM audit.validation_results WHERE run_id = ? AND NOT success AND severity = ?",
            [run_id, severity],
        ).fetchall()
    finally:
        con.close()
    names = {drift.name_of(json.loads(r[0]).get("description")) for r in rows}
    return {n for n in names if n}


def _findings(settings: Settings, tonight: Export, load_export: LoadExport) -> dict[str, drift.Finding]:
    """The SQL drift checks of tonight's export against the previous one, without GX."""
    _previous_and(load_export, tonight)
    with target.connection(settings) as conn:
        found = drift.check_export(conn, EXPORT_DATE, sorted(tonight), drift.Limits.from_settings(settings))
    return {f.name: f for f in found}


def _failing(findings: dict[str, drift.Finding]) -> set[str]:
    return {name for name, f in findings.items() if not f.success}


def _validate(settings: Settings):
    return validate_raw(EXPORT_DATE, settings, today=EXPORT_DATE)


def test_a_good_next_night_has_no_drift(settings: Settings, load_export: LoadExport) -> None:
    tonight = good_export(N + 1)
    tonight["opportunities"][3]["amount"] *= 1.5  # one deal re-priced
    tonight["opportunities"][4]["account_id"] = None  # one account cleared

    found = _findings(settings, tonight, load_export)

    assert _failing(found) == set()
    assert {
        "opportunities.amount_unit.amount",
        "opportunities.currency_share.currency",
        "opportunities.column_fill.currency",
        "opportunities.orphans.account_id",
        "opportunities.orphans.owner_id",
        "opportunities.orphans.product_id",
        "line_items.amount_unit.unit_price",
        "targets.column_fill.amount",
    } <= set(found)


def test_a_90_percent_drop_stops_the_night(settings: Settings, load_export: LoadExport) -> None:
    """Through the whole raw checkpoint: GX's row count and sum bounds, and the audit rows."""
    _previous_and(load_export, good_export(N // 10))

    outcome = _validate(settings)

    assert not outcome.passed_errors
    assert {
        "opportunities.row_count",
        "opportunities.amount_total.amount",
        "opportunity_stage_history.row_count",
        "opportunity_stage_history.amount_total.amount",
        "line_items.row_count",
        "line_items.amount_total.unit_price",
    } <= _drift_failures(settings, outcome.run_id)
    drop = next(f for f in outcome.failures if "drift opportunities.row_count" in f)
    assert drop.startswith("raw.opportunities: error: ")
    assert "(40 rows)]: observed 4 (expected 12..200)" in drop


def _scaled(factor: float, currency: str | None = "EUR") -> Export:
    tonight = good_export(N)
    for row in tonight["opportunities"]:
        row["amount"] *= factor
        row["currency"] = currency
    for row in tonight["opportunity_stage_history"]:
        row["amount"] *= factor
    return tonight


def test_amounts_times_100_stop_the_night(settings: Settings, load_export: LoadExport) -> None:
    found = _findings(settings, _scaled(100), load_export)

    assert _failing(found) == {
        "opportunities.amount_unit.amount",
        "opportunity_stage_history.amount_unit.amount",
    }
    unit = found["opportunities.amount_unit.amount"].observed
    assert unit == "median ratio of 40 rows' amount to the same key's in the export of 2026-03-01: 100"


@pytest.mark.parametrize("factor", [1000, 1 / 100])
def test_other_units_stop_the_night(settings: Settings, load_export: LoadExport, factor: float) -> None:
    assert "opportunities.amount_unit.amount" in _failing(_findings(settings, _scaled(factor), load_export))


def test_re_keyed_deals_compare_medians(settings: Settings, load_export: LoadExport) -> None:
    tonight = _scaled(100)
    for row in tonight["opportunities"]:
        row["opportunity_id"] += "-NEW"

    found = _findings(settings, tonight, load_export)["opportunities.amount_unit.amount"]

    assert not found.success
    assert found.observed.startswith("ratio of the median amount to the median")


def test_a_switch_from_eur_to_jpy_stops_the_night(settings: Settings, load_export: LoadExport) -> None:
    found = _findings(settings, _scaled(160, "JPY"), load_export)

    assert _failing(found) == {
        "opportunities.currency_share.currency",
        "opportunities.amount_unit.amount",
        "opportunity_stage_history.amount_unit.amount",
    }
    share = found["opportunities.currency_share.currency"].observed
    assert share.endswith("EUR 100% -> 0%, JPY 0% -> 100%")


def test_a_small_new_currency_is_no_drift(settings: Settings, load_export: LoadExport) -> None:
    tonight = good_export(N)
    for row in tonight["opportunities"][:4]:
        row["currency"] = "GBP"  # 10% of the deals

    assert _failing(_findings(settings, tonight, load_export)) == set()


def test_a_renamed_currency_column_stops_the_night(settings: Settings, load_export: LoadExport) -> None:
    """currency -> curr in the source: ingest keeps curr in _extra and leaves currency null."""
    found = _findings(settings, _scaled(1, None), load_export)

    assert _failing(found) == {"opportunities.column_fill.currency", "opportunities.currency_share.currency"}
    fill = found["opportunities.column_fill.currency"]
    assert fill.column == "currency"
    assert fill.observed == (
        "currency filled in 0% of 40 rows, 100% of 40 in the export of 2026-03-01 "
        "(missing or renamed in the source?)"
    )
    assert "(none) 0% -> 100%" in found["opportunities.currency_share.currency"].observed


def test_orphan_accounts_stop_the_night(settings: Settings, load_export: LoadExport) -> None:
    tonight = good_export(N)
    for row in tonight["opportunities"][:5]:
        row["account_id"] = "ACC-GONE"

    found = _findings(settings, tonight, load_export)

    assert _failing(found) == {"opportunities.orphans.account_id"}
    assert found["opportunities.orphans.account_id"].observed == (
        "5 of 40 opportunities (12.5%) name a account_id missing from accounts; "
        "0 (0.0%) in the export of 2026-03-01"
    )


def test_limits_are_per_entity(settings: Settings, load_export: LoadExport) -> None:
    _previous_and(load_export, good_export(N))
    limits = drift.Limits.from_settings(
        settings.model_copy(update={"drift_max_row_drop": {"default": 0.7, "leads": 0.9}})
    )
    with target.connection(settings) as conn:
        leads = drift.baseline(conn, "leads", PREVIOUS_EXPORT_DATE, limits).row_count
        opportunities = drift.baseline(conn, "opportunities", PREVIOUS_EXPORT_DATE, limits).row_count

    assert leads is not None and opportunities is not None
    assert (leads.previous, round(leads.min_value, 6), leads.max_value) == (5, 0.5, 25)
    assert (opportunities.previous, round(opportunities.min_value, 6)) == (40, 12)


def test_limit_without_default_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="needs a 'default'"):
        drift.Limits.per_entity({"leads": 0.5}, "opportunities")


def test_first_export_has_no_drift_checks(settings: Settings, load_export: LoadExport) -> None:
    load_export(good_export(N))
    with target.connection(settings) as conn:
        assert (
            drift.check_export(conn, EXPORT_DATE, ["opportunities"], drift.Limits.from_settings(settings))
            == []
        )


def test_check_names_round_trip() -> None:
    name = drift.check_name("opportunities", "column_fill", "currency")
    assert drift.name_of(drift.describe(name, "anything: with colons")) == name
    assert drift.name_of("amount resolves to ...") is None


def test_accepted_checks_become_warnings_for_that_export_only(
    settings: Settings, load_export: LoadExport
) -> None:
    _previous_and(load_export, _scaled(100))
    first = _validate(settings)
    assert not first.passed_errors

    accepted = acceptance.accept(EXPORT_DATE, "ops@example.com", "prices moved to cents", settings)
    again = _validate(settings)

    flagged = {
        "opportunities.amount_total.amount",
        "opportunities.amount_unit.amount",
        "opportunity_stage_history.amount_total.amount",
        "opportunity_stage_history.amount_unit.amount",
    }
    assert set(accepted.checks) == flagged
    assert again.passed_errors, again.failures
    assert _drift_failures(settings, again.run_id, WARNING) == flagged
    assert _drift_failures(settings, again.run_id, ERROR) == set()
    accepted_lines = [f for f in again.failures if "drift " in f]
    assert accepted_lines and all("accepted: by ops@example.com on " in f for f in accepted_lines)
    assert all("prices moved to cents" in f for f in accepted_lines)
    # another export's drift is not accepted
    with target.connection(settings) as conn:
        assert acceptance.accepted_checks(conn, PREVIOUS_EXPORT_DATE) == {}


def test_only_drift_can_be_accepted(settings: Settings, load_export: LoadExport) -> None:
    tonight = _scaled(100)
    tonight["opportunities"][0]["amount"] = -5.0  # a content error: never accepted
    _previous_and(load_export, tonight)
    assert not _validate(settings).passed_errors

    with pytest.raises(
        acceptance.AcceptError, match=r"cannot be accepted \(not drift\).*between_?\w*\(amount\)"
    ):
        acceptance.accept(EXPORT_DATE, "ops", "cents", settings)
    with pytest.raises(acceptance.AcceptError, match="nothing to accept"):
        acceptance.accept(PREVIOUS_EXPORT_DATE, "ops", "cents", settings)
    with pytest.raises(acceptance.AcceptError, match="needs --by NAME and --reason"):
        acceptance.accept(EXPORT_DATE, "ops", " ", settings)


LIFECYCLE_DDL = (
    "CREATE TABLE audit.export_lifecycle (export_date DATE, state VARCHAR, changed_at TIMESTAMP, "
    "reason VARCHAR, content_hash VARCHAR, stat_fingerprint VARCHAR, location VARCHAR)"
)


def _lifecycle(settings: Settings, *steps: tuple[date, str, int]) -> None:
    """audit.export_lifecycle as pipecast.ingest.lifecycle keeps it: (export, state, hour)."""
    con = duckdb.connect(str(settings.resolved_warehouse_path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS audit")
        con.execute(f"{LIFECYCLE_DDL.replace('CREATE TABLE', 'CREATE TABLE IF NOT EXISTS')}")
        for day, state, hour in steps:
            con.execute(
                "INSERT INTO audit.export_lifecycle (export_date, state, changed_at) VALUES (?, ?, ?)",
                [day, state, datetime(2026, 3, 2, hour)],
            )
    finally:
        con.close()


def test_the_baseline_is_the_newest_validated_export(settings: Settings, load_export: LoadExport) -> None:
    older = PREVIOUS_EXPORT_DATE - timedelta(days=1)
    load_export(good_export(N), export_date=older)
    load_export(good_export(N // 10), export_date=PREVIOUS_EXPORT_DATE)  # loaded, never validated
    load_export(good_export(N))
    with target.connection(settings) as conn:
        assert drift.previous_export(conn, "opportunities", EXPORT_DATE) == PREVIOUS_EXPORT_DATE
    _lifecycle(settings, (older, "loaded", 1), (older, "validated", 2), (PREVIOUS_EXPORT_DATE, "loaded", 3))

    with target.connection(settings) as conn:
        assert drift.previous_export(conn, "opportunities", EXPORT_DATE) == older
        found = drift.check_export(conn, EXPORT_DATE, ["opportunities"], drift.Limits.from_settings(settings))
    assert {f.name for f in found if not f.success} == set()


def test_accepting_lands_a_quarantined_export_again(settings: Settings, load_export: LoadExport) -> None:
    """Where the lifecycle says quarantined, the acceptance lands the export again, so the next
    run loads it instead of finishing its quarantine."""
    from pipecast.validate import audit

    _previous_and(load_export, _scaled(100))
    with target.connection(settings) as conn:
        findings = drift.check_export(
            conn, EXPORT_DATE, ["opportunities"], drift.Limits.from_settings(settings)
        )
    audit.write(
        drift.result_rows(findings, run_id=acceptance.raw_run_id(EXPORT_DATE), stage="raw"),
        run_id=acceptance.raw_run_id(EXPORT_DATE),
        stage="raw",
        suite=drift.SUITE,
        settings=settings,
    )
    _lifecycle(settings, (EXPORT_DATE, "loaded", 1), (EXPORT_DATE, "quarantined", 2))
    quarantined = settings.quarantine_dir / f"{EXPORT_DATE.isoformat()}_20260302T020000000000Z"
    quarantined.mkdir(parents=True)
    (quarantined / "opportunities.csv").write_text("opportunity_id\n")

    accepted = acceptance.accept(EXPORT_DATE, "ops", "cents now", settings)

    assert accepted.checks == ("opportunities.amount_unit.amount",)
    assert accepted.restored_to == str(settings.resolved_landing_dir / EXPORT_DATE.isoformat())
    assert (settings.resolved_landing_dir / EXPORT_DATE.isoformat() / "opportunities.csv").is_file()
    con = duckdb.connect(str(settings.resolved_warehouse_path), read_only=True)
    try:
        newest = con.execute(
            "SELECT state, reason FROM audit.export_lifecycle WHERE export_date = ? ORDER BY changed_at DESC",
            [EXPORT_DATE],
        ).fetchone()
    finally:
        con.close()
    assert newest == ("landed", "accepted by ops: cents now")


def test_the_unit_check_stays_within_the_validation_memory_limit(tmp_path) -> None:
    """The median ratio over a large history runs under validation's DuckDB memory_limit (an exact
    ordered median ran out of memory at L, 5.5M history rows under 128MB; here 2M under 32MB)."""
    settings = Settings(
        state_dir=tmp_path, warehouse_path=tmp_path / "w.duckdb", validation_duckdb_memory_limit="32MB"
    )
    con = duckdb.connect(str(settings.resolved_warehouse_path))
    con.execute("CREATE SCHEMA raw")
    con.execute(
        """
        CREATE TABLE raw.opportunity_stage_history AS
        SELECT 'O' || (i % 1000000) AS opportunity_id,
               TIMESTAMP '2026-01-01' + to_minutes((i % 2000000) // 1000000) AS changed_at,
               (1000.0 + i % 997) * (CASE WHEN i >= 2000000 THEN 100 ELSE 1 END) AS amount,
               CASE WHEN i >= 2000000 THEN DATE '2026-03-02' ELSE DATE '2026-03-01' END AS _export_date
        FROM range(4000000) t(i)
        """
    )
    con.close()
    limits = drift.Limits.from_settings(settings)
    with target.connection(settings) as conn:
        found = drift._unit(conn, "opportunity_stage_history", date(2026, 3, 2), date(2026, 3, 1), limits)
    assert [f.success for f in found] == [False]
    assert "median ratio of 2,000,000 rows' amount" in found[0].observed
