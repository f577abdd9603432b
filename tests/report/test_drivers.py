"""Drivers in plain words: the fact behind each driver, with its unit and what is usual."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
from pipecast.report_html.drivers import DriverContext, describe, top_drivers
from pipecast.report_html.formatting import money, pct, times

CTX = DriverContext(
    as_of=date(2026, 11, 27),
    currency="USD",
    win_rates={
        ("owner", "U1"): 0.07,
        ("team", "East"): 0.21,
        ("lead_source", "Event"): 0.12,
        ("all", "All"): 0.25,
    },
    overall_win_rate=0.25,
    usual_days_in_stage={"Proposal": 15.0},
    median_amount={"Enterprise": 200_000.0},
    median_won_cycle_days=90.0,
)
DEAL = pd.Series(
    {
        "owner_id": "U1",
        "owner_name": "Ada",
        "team": "East",
        "stage": "Proposal",
        "days_in_current_stage": 30,
        "amount": 1_200_000.0,
        "segment": "Enterprise",
        "lead_source": "Event",
        "crm_probability": 0.5,
        "close_date_pushes": 2,
        "close_date_slip_days": 45,
        "close_date": pd.Timestamp("2027-01-15"),
        "age_days": 200,
        "drivers": json.dumps({"owner's record": -0.9, "time in stage": -0.5, "stage": 0.3, "region": 0.0}),
    }
)


def test_owner_and_time_in_stage_as_the_issue_asks():
    assert describe("owner's record", DEAL, CTX) == "owner's win rate 7% vs team 21% (Ada)"
    assert describe("time in stage", DEAL, CTX) == "30 days in Proposal, twice the usual 15"


def test_other_drivers_carry_units():
    assert describe("deal size", DEAL, CTX) == "deal size $1.20M, 6.0 times the Enterprise median $200k"
    assert describe("close date", DEAL, CTX) == "close date pushed 2 times, 45 days later than first planned"
    assert describe("lead source", DEAL, CTX) == "lead source Event: win rate 12% vs 25% overall"
    assert describe("stage", DEAL, CTX) == "in Proposal (CRM probability 50%)"
    assert describe("deal age", DEAL, CTX) == "open 200 days (won deals close in 90)"
    unpushed = DEAL.copy()
    unpushed["close_date_pushes"] = 0
    assert describe("close date", unpushed, CTX) == "closes 2027-01-15, in 49 days"


def test_strongest_first_with_direction_and_odds():
    drivers = top_drivers(DEAL, CTX)
    assert [d.text.split(" ")[0] for d in drivers] == ["owner's", "30", "in"]
    assert [d.helps for d in drivers] == [False, False, True]
    assert drivers[0].odds == "odds ×0.41"
    assert top_drivers(DEAL.drop("drivers"), CTX) == []


def test_unknown_owner_history_is_said():
    deal = DEAL.copy()
    deal["owner_id"] = "U9"
    assert describe("owner's record", deal, CTX) == "owner Ada has little closed history"


def test_formatting():
    assert money(12_345_678, "USD") == "$12.35M"
    assert money(45_200, "EUR") == "€45k"
    assert money(-1_500, "SEK") == "−SEK 1.5k"
    assert money(None, "USD") == "–"
    assert pct(0.2134) == "21%"
    assert times(2.03) == "twice" and times(3.4) == "3.4 times"
