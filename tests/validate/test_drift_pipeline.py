"""Drift through the real pipeline: CSV exports in a landing zone, ``pipeline.ingest`` (load and
raw validation), quarantine, ``pipecast accept`` and the next run.

A good night is loaded once; each case then delivers a second night with one drift. The bad night
must be quarantined with a reason naming the check, and leave raw.* exactly as the good night left
it (row hashes); after ``pipecast accept`` the next run loads it.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pytest
from pipecast import cli, report
from pipecast.canonical import COMPLETION_MARKER, ENTITIES
from pipecast.config import Settings
from pipecast.pipeline import ValidationFailed, ingest

GOOD, BAD = date(2026, 3, 1), date(2026, 3, 2)
N = 40
Tables = dict[str, list[dict[str, str]]]
STAGES = [
    ("Prospecting", "1", "10", "false", "false"),
    ("Closed Won", "2", "100", "true", "true"),
    ("Closed Lost", "3", "0", "true", "false"),
]


def tables(day: date) -> Tables:
    opportunities = []
    for i in range(N):
        stage, _, probability, closed, won = STAGES[i % 3]
        opportunities.append(
            {
                "opportunity_id": f"O{i:03d}",
                "account_id": f"A{i % 5}",
                "owner_id": f"U{i % 2}",
                "name": f"Deal {i}",
                "pipeline": "default",
                "created_at": "2026-01-05 10:00:00",
                "stage": stage,
                "amount": str(1000 * (i + 1)),
                "currency": "USD",
                "close_date": "2026-04-30",
                "is_closed": closed,
                "is_won": won,
                "probability": probability,
                "last_modified_at": f"{day.isoformat()} 09:00:00",
            }
        )
    return {
        "opportunities": opportunities,
        "opportunity_stage_history": [
            {
                "opportunity_id": o["opportunity_id"],
                "changed_at": "2026-01-05 10:00:00",
                "stage": "Prospecting",
                "amount": o["amount"],
                "close_date": o["close_date"],
                "probability": "10",
            }
            for o in opportunities
        ],
        "stages": [
            {
                "pipeline": "default",
                "stage": s,
                "sort_order": o,
                "probability": p,
                "is_closed": c,
                "is_won": w,
            }
            for s, o, p, c, w in STAGES
        ],
        "accounts": [{"account_id": f"A{i}", "name": f"Account {i}", "segment": "SMB"} for i in range(5)],
        "owners": [{"owner_id": f"U{i}", "name": f"Rep {i}", "team": "EMEA"} for i in range(2)],
    }


def write(landing: Path, day: date, export: Tables, renamed: dict[str, str] | None = None) -> None:
    folder = landing / day.isoformat()
    folder.mkdir(parents=True)
    for entity, rows in export.items():
        header = [c for c in ENTITIES[entity].columns if any(c in r for r in rows)]
        with open(folder / f"{entity}.csv", "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow([(renamed or {}).get(c, c) for c in header])
            out.writerows([[r.get(c, "") for c in header] for r in rows])
    (folder / COMPLETION_MARKER).write_text("")


def raw_hashes(settings: Settings) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(settings.resolved_warehouse_path), read_only=True)
    try:
        return {
            e: con.execute(f"SELECT _export_date, _row_hash FROM raw.{e} ORDER BY ALL").fetchall()
            for e in ("opportunities", "opportunity_stage_history", "accounts", "owners", "stages")
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def good_night(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("good_night")
    settings = _settings(root)
    write(settings.resolved_landing_dir, GOOD, tables(GOOD))
    ingest(settings=settings)
    return settings


def _settings(root: Path) -> Settings:
    return Settings(
        state_dir=root / "state",
        landing_dir=root / "landing",
        warehouse_path=root / "w.duckdb",
        raw_export_max_age_days=100_000,
    )


@pytest.fixture
def after_good_night(good_night: Settings, tmp_path: Path) -> Settings:
    """A copy of the warehouse and landing zone after the good night."""
    settings = _settings(tmp_path)
    shutil.copy(good_night.resolved_warehouse_path, settings.resolved_warehouse_path)
    shutil.copytree(good_night.resolved_landing_dir, settings.resolved_landing_dir)
    return settings


def _times(factor: float, currency: str = "USD") -> Callable[[Tables], None]:
    def plant(t: Tables) -> None:
        for row in t["opportunities"] + t["opportunity_stage_history"]:
            row["amount"] = str(float(row["amount"]) * factor)
        for row in t["opportunities"]:
            row["currency"] = currency

    return plant


def _drop(t: Tables) -> None:
    t["opportunities"] = t["opportunities"][: N // 10]
    t["opportunity_stage_history"] = t["opportunity_stage_history"][: N // 10]


def _orphans(t: Tables) -> None:
    for row in t["opportunities"][:8]:
        row["account_id"] = "A-GONE"


CASES: dict[str, tuple[Callable[[Tables], None], dict[str, str], list[str]]] = {
    "90% drop": (_drop, {}, ["drift opportunities.row_count", "observed 4 (expected 12..200)"]),
    "amounts x100": (
        _times(100),
        {},
        ["drift opportunities.amount_unit.amount", "same key's in the export of"],
    ),
    "USD -> JPY": (_times(150, "JPY"), {}, ["drift opportunities.currency_share.currency", "JPY 0% -> 100%"]),
    "currency renamed": (
        lambda t: None,
        {"currency": "curr"},
        ["currency filled in 0% of 40 rows, 100% of 40"],
    ),
    "orphan accounts": (_orphans, {}, ["drift opportunities.orphans.account_id", "8 of 40 opportunities"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_drift_quarantines_the_export_and_keeps_the_good_night(after_good_night: Settings, case: str) -> None:
    settings = after_good_night
    plant, renamed, expected = CASES[case]
    before = raw_hashes(settings)
    bad = tables(BAD)
    plant(bad)
    write(settings.resolved_landing_dir, BAD, bad, renamed)

    with pytest.raises(ValidationFailed) as failed:
        ingest(settings=settings)

    reason = str(failed.value)
    for part in expected:
        assert part in reason
    assert raw_hashes(settings) == before
    [quarantined] = settings.quarantine_dir.glob(f"{BAD.isoformat()}_*")
    assert "drift opportunities." in (quarantined / "QUARANTINE_REASON.txt").read_text()
    assert not (settings.resolved_landing_dir / BAD.isoformat()).exists()


def test_an_accepted_export_loads_on_the_next_run(
    after_good_night: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = after_good_night
    bad = tables(BAD)
    _times(100)(bad)
    write(settings.resolved_landing_dir, BAD, bad)
    with pytest.raises(ValidationFailed):
        ingest(settings=settings)

    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert (
        cli.main(["accept", BAD.isoformat(), "--by", "Dana (RevOps)", "--reason", "prices now in cents"]) == 0
    )
    assert (settings.resolved_landing_dir / BAD.isoformat() / "opportunities.csv").is_file()
    with caplog.at_level("WARNING", logger="pipecast"):
        [loaded] = ingest(settings=settings)

    assert loaded.export_date == BAD
    assert "accepted on purpose" in caplog.text and "Dana (RevOps)" in caplog.text
    con = duckdb.connect(str(settings.resolved_warehouse_path), read_only=True)
    try:
        assert con.execute(
            "SELECT count(*) FROM raw.opportunities WHERE _export_date = ?", [BAD]
        ).fetchone() == (N,)
        accepted = con.execute("SELECT accepted_by, reason, checks FROM audit.accepted_exports").fetchall()
        warned = con.execute(
            "SELECT count(*) FROM audit.validation_results WHERE run_id = ? AND severity = 'warning' "
            "AND NOT success AND details LIKE '%accepted: by Dana (RevOps)%'",
            [f"raw-{BAD.isoformat()}"],
        ).fetchone()
        report_lines = report._accepted_drift(con)
    finally:
        con.close()
    assert any(
        line.startswith("accepted on purpose: drift opportunities.amount_unit.amount: ")
        and "(accepted: by Dana (RevOps) on " in line
        for line in report_lines
    ), report_lines
    assert accepted[0][:2] == ("Dana (RevOps)", "prices now in cents")
    assert "opportunities.amount_unit.amount" in accepted[0][2]
    assert warned[0] >= 2


def test_accepting_an_export_without_drift_is_refused(after_good_night: Settings, monkeypatch) -> None:
    monkeypatch.setattr(cli, "get_settings", lambda: after_good_night)
    assert cli.main(["accept", GOOD.isoformat(), "--by", "Dana", "--reason", "why not"]) == 2
