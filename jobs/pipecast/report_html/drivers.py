"""Deal drivers in plain words for the morning report.

The forecast stores each deal's driver effects (log-odds, per driver group; ml.opportunity_scores
``drivers``). A sales leader needs the fact behind a driver, with its unit and what is usual:
"owner's win rate 7% vs team 21%", "30 days in Proposal, twice the usual 15". The facts come from
the marts (win rates of the last four quarters, median days in stage, the segment's deal sizes).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from pipecast.report_html.formatting import day, missing, money, pct, times


@dataclass(frozen=True)
class Driver:
    text: str
    effect: float  # log-odds: > 0 makes the deal likelier to win

    @property
    def helps(self) -> bool:
        return self.effect > 0

    @property
    def odds(self) -> str:
        """The effect as an odds multiplier, e.g. 'odds x0.4'."""
        return f"odds ×{math.exp(self.effect):.2f}"


@dataclass
class DriverContext:
    """What is usual, to say a deal's value against: win rates (share won of closed deals) per
    dimension value, median days in each stage, median deal size per segment."""

    as_of: date
    currency: str | None = None
    win_rates: dict[tuple[str, str], float] = field(default_factory=dict)  # (dimension, value)
    overall_win_rate: float | None = None
    usual_days_in_stage: dict[str, float] = field(default_factory=dict)
    median_amount: dict[str, float] = field(default_factory=dict)  # segment -> median open deal size
    median_won_cycle_days: float | None = None

    def rate(self, dimension: str, value: object) -> float | None:
        return None if missing(value) else self.win_rates.get((dimension, str(value)))


def _vs_overall(ctx: DriverContext, label: str, dimension: str, value: object) -> str:
    rate = ctx.rate(dimension, value)
    if rate is None:
        return f"{label} {value}"
    return f"{label} {value}: win rate {pct(rate)} vs {pct(ctx.overall_win_rate)} overall"


def describe(name: str, deal: pd.Series, ctx: DriverContext) -> str:
    """One driver of one deal as a sentence fragment with units."""
    get = deal.get
    if name == "owner's record":
        owner = get("owner_name") if not missing(get("owner_name")) else get("owner_id")
        owner_rate, team_rate = ctx.rate("owner", get("owner_id")), ctx.rate("team", get("team"))
        if owner_rate is None:
            return f"owner {owner} has little closed history"
        against = (
            f"team {pct(team_rate)}" if team_rate is not None else f"{pct(ctx.overall_win_rate)} overall"
        )
        return f"owner's win rate {pct(owner_rate)} vs {against} ({owner})"
    if name == "time in stage":
        days, stage = get("days_in_current_stage"), get("stage")
        usual = ctx.usual_days_in_stage.get(str(stage))
        if missing(days):
            return f"time in {stage}"
        if not usual:
            return f"{int(days)} days in {stage}"
        share = float(days) / usual
        if share >= 1.25:
            return f"{int(days)} days in {stage}, {times(share)} the usual {usual:.0f}"
        return f"{int(days)} days in {stage} (usual {usual:.0f})"
    if name == "stage":
        crm = get("crm_probability")
        return f"in {get('stage')}" + ("" if missing(crm) else f" (CRM probability {pct(crm)})")
    if name == "close date":
        pushes, slip, close = get("close_date_pushes"), get("close_date_slip_days"), get("close_date")
        if not missing(pushes) and int(pushes) > 0:
            times_word = "once" if int(pushes) == 1 else f"{int(pushes)} times"
            slipped = (
                "" if missing(slip) or int(slip) <= 0 else f", {int(slip)} days later than first planned"
            )
            return f"close date pushed {times_word}{slipped}"
        if missing(close):
            return "close date"
        away = (pd.Timestamp(close).date() - ctx.as_of).days
        if away < 0:
            return f"close date {day(close)} passed {-away} days ago"
        return f"closes {day(close)}, in {away} days"
    if name == "deal size":
        amount, segment = get("amount"), get("segment")
        median = ctx.median_amount.get(str(segment))
        if missing(amount):
            return "deal size"
        if not median:
            return f"deal size {money(amount, ctx.currency)}"
        return (
            f"deal size {money(amount, ctx.currency)}, {times(float(amount) / median)} the {segment} "
            f"median {money(median, ctx.currency)}"
        )
    if name == "deal age":
        age = get("age_days")
        if missing(age):
            return "deal age"
        usual = ctx.median_won_cycle_days
        return f"open {int(age)} days" + ("" if not usual else f" (won deals close in {usual:.0f})")
    if name == "lead source":
        return _vs_overall(ctx, "lead source", "lead_source", get("lead_source"))
    if name == "product":
        product = get("product_id")
        label = get("product_name") if not missing(get("product_name")) else product
        rate = ctx.rate("product", product)
        if rate is None:
            return f"product {label}"
        return f"product {label}: win rate {pct(rate)} vs {pct(ctx.overall_win_rate)} overall"
    if name == "segment":
        return _vs_overall(ctx, "segment", "segment", get("segment"))
    if name == "industry":
        return f"industry {get('industry')}"
    if name == "region":
        return f"region {get('region')}"
    if name == "deal type":
        return f"deal type {get('opportunity_type')}"
    if name == "company size":
        return "company size"
    if name == "discount":
        return "discount off list price"
    if name == "account's record":
        account = get("account_name") if not missing(get("account_name")) else get("account_id")
        return f"past deals with {account}"
    return name


def top_drivers(deal: pd.Series, ctx: DriverContext, top: int = 3) -> list[Driver]:
    """The deal's strongest drivers (largest |effect|) in plain words."""
    raw = deal.get("drivers")
    if missing(raw) or not raw:
        return []
    try:
        effects = {k: float(v) for k, v in json.loads(raw).items()}
    except (ValueError, AttributeError):
        return []
    strongest = sorted(
        ((n, e) for n, e in effects.items() if math.isfinite(e) and e != 0), key=lambda kv: -abs(kv[1])
    )
    return [Driver(describe(name, deal, ctx), effect) for name, effect in strongest[:top]]
