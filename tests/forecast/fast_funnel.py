"""A fast funnel with a short history, as weekly CRM exports in the generic layout.

Real CRMs send what the demo company does not: a funnel whose deals close in days, a history of
a few weeks, owners with a handful of deals. This writes such a CRM: ``size`` deals created over
``weeks`` weeks, one full export per week (each export shows every deal as it stood that day,
with its stage history so far), owners of very different sizes, and CRM stage probabilities that
are not calibrated (the usual case: 20/50/80% where the funnel wins less).

The process: a deal has a hidden quality (its owner's and segment's effect plus noise); in each
open stage it either advances or is lost, the likelier to advance the better it is; a deal that is
going to be lost lingers in its stage about three times as long as one that advances, so time in
stage carries signal that the CRM's stage probability ignores.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
from pipecast.canonical import COMPLETION_MARKER

OPEN_STAGES = (("Qualify", 20, "Pipeline"), ("Propose", 50, "Best Case"), ("Negotiate", 80, "Commit"))
WON, LOST = "Closed Won", "Closed Lost"
SEGMENTS = {"SMB": 0.3, "Mid-Market": 0.0, "Enterprise": -0.4}
ADVANCE_LOGIT = (-0.1, 0.2, 0.6)  # per open stage, for a deal of average quality
MEAN_DAYS_ADVANCING = 3.0
MEAN_DAYS_LOSING = 9.0


@dataclass(frozen=True)
class Deal:
    opportunity_id: str
    owner_id: str
    account_id: str
    created_at: datetime
    amount: float
    events: list[tuple[datetime, str]]  # (changed_at, stage), first = creation

    def state_at(self, moment: datetime) -> list[tuple[datetime, str]]:
        return [e for e in self.events if e[0] <= moment]


def simulate(size: int, weeks: int, as_of: date, seed: int = 3) -> list[Deal]:
    rng = np.random.default_rng(seed)
    end = datetime.combine(as_of, datetime.min.time()) + timedelta(days=1)
    start = end - timedelta(weeks=weeks)
    owners = [f"USR{i:03d}" for i in range(24)]
    # a few big owners, many small ones (a new owner has two or three deals)
    weights = np.array([30.0] * 4 + [8.0] * 10 + [1.0] * 10)
    owner_effect = dict(zip(owners, rng.normal(0, 0.5, len(owners)), strict=True))
    accounts = [f"ACC{i:04d}" for i in range(300)]
    deals = []
    for i in range(size):
        created = start + timedelta(seconds=float(rng.uniform(0, (end - start).total_seconds())))
        owner = owners[rng.choice(len(owners), p=weights / weights.sum())]
        account = accounts[int(rng.integers(len(accounts)))]
        segment = list(SEGMENTS)[int(account[3:]) % len(SEGMENTS)]
        quality = owner_effect[owner] + SEGMENTS[segment] + rng.normal(0, 0.8)
        events = [(created, OPEN_STAGES[0][0])]
        moment = created
        for k, (_, _, _) in enumerate(OPEN_STAGES):
            advance = rng.random() < 1 / (1 + np.exp(-(ADVANCE_LOGIT[k] + quality)))
            mean = MEAN_DAYS_ADVANCING if advance else MEAN_DAYS_LOSING
            moment = moment + timedelta(days=float(rng.exponential(mean)) + 0.05)
            if not advance:
                events.append((moment, LOST))
                break
            events.append((moment, OPEN_STAGES[k + 1][0] if k + 1 < len(OPEN_STAGES) else WON))
        amount = float(np.round(rng.lognormal(9.5, 0.7), -2))
        deals.append(Deal(f"OPP{i:06d}", owner, account, created, amount, events))
    return deals


def _probability(stage: str) -> int:
    return {name: p for name, p, _ in OPEN_STAGES}.get(stage, 100 if stage == WON else 0)


def _category(stage: str) -> str:
    return {name: c for name, _, c in OPEN_STAGES}.get(stage, "Closed" if stage == WON else "Omitted")


def _close_date(deal: Deal, events: list[tuple[datetime, str]]) -> date:
    last_time, last_stage = events[-1]
    if last_stage in (WON, LOST):
        return last_time.date()
    return (deal.created_at + timedelta(days=14)).date()  # the rep's guess, set at creation


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_exports(
    landing: Path, size: int = 1500, weeks: int = 10, as_of: date = date(2026, 11, 29)
) -> list[date]:
    """One export per week ending at ``as_of``; returns the export dates (oldest first)."""
    deals = simulate(size, weeks, as_of)
    export_dates = [as_of - timedelta(weeks=w) for w in reversed(range(weeks))]
    stages = [["default", name, k + 1, p, "false", "false", c] for k, (name, p, c) in enumerate(OPEN_STAGES)]
    stages += [
        ["default", WON, 4, 100, "true", "true", "Closed"],
        ["default", LOST, 5, 0, "true", "false", "Omitted"],
    ]
    owners = [[f"USR{i:03d}", f"Rep {i}", "", "Sales", "EMEA" if i % 2 else "NA"] for i in range(24)]
    accounts = [
        [f"ACC{i:04d}", f"Account {i}", "Software", list(SEGMENTS)[i % len(SEGMENTS)], "DE", 50 + i, "", ""]
        for i in range(300)
    ]
    for day in export_dates:
        moment = datetime.combine(day, datetime.min.time()) + timedelta(days=1)
        folder = landing / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        opportunities, history = [], []
        for deal in deals:
            events = deal.state_at(moment)
            if not events:
                continue
            stage = events[-1][1]
            closed = stage in (WON, LOST)
            close = _close_date(deal, events)
            opportunities.append(
                [
                    deal.opportunity_id,
                    deal.account_id,
                    deal.owner_id,
                    f"Deal {deal.opportunity_id}",
                    "default",
                    f"{deal.created_at:%Y-%m-%d %H:%M:%S}",
                    stage,
                    deal.amount,
                    "USD",
                    close.isoformat(),
                    str(closed).lower(),
                    str(stage == WON).lower(),
                    _probability(stage),
                    _category(stage),
                    "Web",
                    "New Business",
                    "",
                    f"{events[-1][0]:%Y-%m-%d %H:%M:%S}",
                ]
            )
            for k, (changed, name) in enumerate(events):
                history.append(
                    [
                        deal.opportunity_id,
                        f"{changed:%Y-%m-%d %H:%M:%S}",
                        name,
                        deal.amount,
                        _close_date(deal, events[: k + 1]).isoformat(),
                        _probability(name),
                        _category(name),
                    ]
                )
        _write(
            folder / "opportunities.csv",
            [
                "opportunity_id",
                "account_id",
                "owner_id",
                "name",
                "pipeline",
                "created_at",
                "stage",
                "amount",
                "currency",
                "close_date",
                "is_closed",
                "is_won",
                "probability",
                "forecast_category",
                "lead_source",
                "type",
                "product_id",
                "last_modified_at",
            ],
            opportunities,
        )
        _write(
            folder / "opportunity_stage_history.csv",
            [
                "opportunity_id",
                "changed_at",
                "stage",
                "amount",
                "close_date",
                "probability",
                "forecast_category",
            ],
            history,
        )
        _write(
            folder / "stages.csv",
            ["pipeline", "stage", "sort_order", "probability", "is_closed", "is_won", "forecast_category"],
            stages,
        )
        _write(folder / "owners.csv", ["owner_id", "name", "manager_id", "team", "region"], owners)
        _write(
            folder / "accounts.csv",
            [
                "account_id",
                "name",
                "industry",
                "segment",
                "country",
                "employees",
                "annual_revenue",
                "created_at",
            ],
            accounts,
        )
        (folder / COMPLETION_MARKER).write_text("")
    return export_dates
