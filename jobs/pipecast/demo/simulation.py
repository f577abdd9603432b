"""One chunk of opportunities: their features, their whole life, the leads they came from.

Everything is vectorised over the chunk's deals; the only Python loops run over the five open
stages and over successive close-date slips (each pass handles every deal at once).

The life of a deal is a Markov chain over the open stages. In stage k the deal stays for a
duration drawn independently of the outcome, then advances with probability a_k(x) or is lost
(after Commit, advancing means won). x holds only what is known when the deal is created, so the
true probability of winning for a deal open in stage k is exactly prod_{j>=k} a_j(x), whatever
happened to it so far; that is the ground truth the forecasts are scored against.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np

from pipecast.demo import world
from pipecast.demo.reference import Company
from pipecast.demo.timeline import (
    DAY,
    HOUR,
    Window,
    at_business_time,
    month_end,
    next_business_day,
    office_hours,
    pull_into_quarter_end,
)

EXISTING_CUSTOMER = world.OPPORTUNITY_SOURCES.index(world.EXISTING_CUSTOMER_SOURCE)
OTHER_REP_SHARE = 0.15  # deals owned by another rep of the segment than the account's
SORT_KEY_STRIDE = np.int64(1) << 34  # > any timestamp in seconds we produce


@dataclass(frozen=True)
class DealTiming:
    """How long stage decisions take, relative to the world's: ``stage_days_factor`` scales every
    stage's time (below 1: a fast funnel); ``lost_days_factor`` scales the time to a decision
    that loses the deal (below 1: losses come faster than advances, so a short history holds
    mostly the losses; 1: timing independent of the outcome, the world's default). With a
    ``lost_days_factor`` other than 1 the time already spent in a stage carries information,
    and the ground truth's p_win_<stage> is the probability on entering the stage."""

    stage_days_factor: float = 1.0
    lost_days_factor: float = 1.0


WORLD_TIMING: Final = DealTiming()


# ------------------------------------------------------------------------------------ helpers
def categorical(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One draw per row of a (n, k) probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(probabilities.shape[0])[:, None] * cumulative[:, -1:]
    return np.minimum((u >= cumulative).sum(axis=1), probabilities.shape[1] - 1)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def maybe_month_end(days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reps like to put deals on the last day of a month."""
    snap = rng.random(days.size) < world.MONTH_END_SNAP_PROBABILITY
    return np.where(snap, month_end(days), days)


@cache
def product_mix() -> np.ndarray:
    """(segment, product) purchase probabilities: popularity x closeness to the segment's price."""
    log_price = np.log(world.PRODUCT_LIST_PRICE)
    distance = log_price[None, :] - np.log(world.SEGMENT_TARGET_PRICE)[:, None]
    weight = world.PRODUCT_POPULARITY[None, :] * np.exp(-0.5 * distance**2)
    return weight / weight.sum(axis=1, keepdims=True)


@cache
def campaign_mix() -> tuple[np.ndarray, np.ndarray]:
    """Per source: the campaign mix of converted leads, and each campaign's conversion rate."""
    n_sources, n_campaigns = len(world.LEAD_SOURCES), len(world.CAMPAIGNS)
    mix = np.zeros((n_sources, n_campaigns))
    mix[world.CAMPAIGN_SOURCE, np.arange(n_campaigns)] = world.CAMPAIGN_QUALITY
    mix /= mix.sum(axis=1, keepdims=True)
    rate = np.clip(world.LEAD_CONVERSION[world.CAMPAIGN_SOURCE] * world.CAMPAIGN_QUALITY, 0.05, 0.9)
    return mix, rate


@cache
def _segment_log_amount_centre() -> np.ndarray:
    """Mean log amount of a new deal per segment (a fixed Monte Carlo, independent of the seed),
    so the size effect compares a deal with its own segment's usual size."""
    rng = np.random.default_rng(20_240_101)
    n = 50_000
    centre = np.empty(len(world.SEGMENTS))
    for s in range(len(world.SEGMENTS)):
        segment = np.full(n, s)
        product = categorical(rng, product_mix()[segment])
        centre[s] = np.log(_price(rng, segment, product)[3]).mean()
    return centre


def typical_log_amount(segment: np.ndarray) -> np.ndarray:
    return _segment_log_amount_centre()[segment]


# -------------------------------------------------------------------------------------- deals
@dataclass(frozen=True)
class Deals:
    """What is known about each deal when it is created (plus its hidden advance probabilities)."""

    index: np.ndarray  # global 0-based opportunity number
    created: np.ndarray  # seconds
    account: np.ndarray
    owner: np.ndarray
    segment: np.ndarray
    type: np.ndarray  # index into world.OPPORTUNITY_TYPES
    source: np.ndarray  # index into world.OPPORTUNITY_SOURCES
    product: np.ndarray
    quantity: np.ndarray
    unit_price: np.ndarray
    amount: np.ndarray
    discount: np.ndarray
    advance: np.ndarray  # (n, 5): a_k(x), probability of advancing from each open stage

    @property
    def size(self) -> int:
        return self.index.size


def _pick_accounts(rng: np.random.Generator, created: np.ndarray, company: Company) -> np.ndarray:
    """An account that exists when the deal is created, weighted by how active accounts are."""
    accounts = company.accounts
    cumulative = accounts.weight_cumsum
    eligible = np.searchsorted(accounts.created, created, side="right")
    eligible = np.maximum(eligible, 1)
    u = rng.random(created.size) * cumulative[eligible - 1]
    return np.minimum(np.searchsorted(cumulative, u, side="right"), eligible - 1)


def _pick_owners(
    rng: np.random.Generator, account: np.ndarray, segment: np.ndarray, company: Company
) -> np.ndarray:
    """Mostly the account's rep, sometimes another rep selling to the same segment."""
    owners = company.owners
    by_segment = [owners.reps_of_segment(s) for s in range(len(world.SEGMENTS))]
    width = max(r.size for r in by_segment)
    table = np.stack([np.pad(r, (0, width - r.size), mode="edge") for r in by_segment])
    counts = np.array([r.size for r in by_segment])
    other = table[segment, (rng.random(segment.size) * counts[segment]).astype(np.int64)]
    use_other = rng.random(segment.size) < OTHER_REP_SHARE
    return np.where(use_other, other, company.accounts.owner[account])


def _price(
    rng: np.random.Generator, segment: np.ndarray, product: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quantity, discount, unit price and amount (= quantity x unit price) of the line item."""
    n = segment.size
    services = world.PRODUCT_FAMILY_INDEX[product] == world.PRODUCT_FAMILIES.index("Services")
    seats = np.round(np.exp(rng.normal(world.SEGMENT_QUANTITY_LOG_MEDIAN[segment], 0.6)))
    seats = np.maximum(1.0, seats)
    packages = 1.0 + rng.poisson(0.3, n)
    quantity = np.where(services, packages, seats)
    discount = np.clip(rng.normal(world.SEGMENT_DISCOUNT_MEAN[segment], 0.06), 0.0, 0.45)
    discount = np.where((segment == 0) & (rng.random(n) < 0.3), 0.0, discount)
    unit_price = np.round(world.PRODUCT_LIST_PRICE[product] * (1.0 - discount), 2)
    return quantity, discount, unit_price, np.round(quantity * unit_price, 2)


def advance_probabilities(
    segment: np.ndarray,
    source: np.ndarray,
    deal_type: np.ndarray,
    product: np.ndarray,
    skill: np.ndarray,
    fit: np.ndarray,
    amount: np.ndarray,
    discount: np.ndarray,
) -> np.ndarray:
    """a_k(x) for every deal and open stage k: sigmoid of a stage base plus additive effects."""
    relative_size = np.log(amount) - typical_log_amount(segment)
    relative_discount = discount - world.SEGMENT_DISCOUNT_MEAN[segment]
    logit = (
        world.ADVANCE_BASE[None, :]
        + (world.SEGMENT_ADVANCE_EFFECT[segment] + world.TYPE_ADVANCE_EFFECT[deal_type])[:, None]
        + (world.FAMILY_ADVANCE_EFFECT[world.PRODUCT_FAMILY_INDEX[product]] + fit)[:, None]
        + world.SOURCE_ADVANCE_EFFECT[source][:, None] * world.SOURCE_STAGE_WEIGHT[None, :]
        + skill[:, None] * world.SKILL_STAGE_WEIGHT[None, :]
        + world.LOG_AMOUNT_EFFECT * relative_size[:, None] * world.LOG_AMOUNT_STAGE_WEIGHT[None, :]
        + world.DISCOUNT_EFFECT * relative_discount[:, None] * world.DISCOUNT_STAGE_WEIGHT[None, :]
    )
    return sigmoid(logit)


def draw_deals(rng: np.random.Generator, index: np.ndarray, created: np.ndarray, company: Company) -> Deals:
    n = index.size
    account = _pick_accounts(rng, created, company)
    segment = company.accounts.segment[account]
    owner = _pick_owners(rng, account, segment, company)
    deal_type = rng.choice(len(world.OPPORTUNITY_TYPES), n, p=world.OPPORTUNITY_TYPE_SHARE)
    lead_source = categorical(rng, world.SOURCE_MIX_BY_SEGMENT[segment])
    source = np.where(deal_type == 0, lead_source, EXISTING_CUSTOMER)
    product = categorical(rng, product_mix()[segment])
    quantity, discount, unit_price, amount = _price(rng, segment, product)
    advance = advance_probabilities(
        segment,
        source,
        deal_type,
        product,
        company.owners.skill[owner],
        company.accounts.fit[account],
        amount,
        discount,
    )
    return Deals(
        index,
        created,
        account,
        owner,
        segment,
        deal_type,
        source,
        product,
        quantity,
        unit_price,
        amount,
        discount,
        advance,
    )


def expected_won_amount_by_segment(
    company: Company, window: Window, rng: np.random.Generator, n: int = 8_000
) -> np.ndarray:
    """E[amount x P(win)] of a new deal per segment (Monte Carlo), for setting quotas."""
    created = window.times_at_quantiles(rng.random(n), rng)
    deals = draw_deals(rng, np.arange(n), created, company)
    value = deals.amount * deals.advance.prod(axis=1)
    sums = np.bincount(deals.segment, weights=value, minlength=len(world.SEGMENTS))
    counts = np.bincount(deals.segment, minlength=len(world.SEGMENTS))
    return sums / np.maximum(counts, 1)


# ----------------------------------------------------------------------------------- lifecycle
@dataclass(frozen=True)
class History:
    """Every change of every deal, sorted by deal then time, values as after the change."""

    opp: np.ndarray  # local deal index
    changed_at: np.ndarray  # seconds, strictly increasing within a deal
    stage: np.ndarray  # stage code: 0..4 open, 5 won, 6 lost
    amount: np.ndarray
    close_day: np.ndarray  # expected close date while open, actual close date once closed
    start: np.ndarray  # (n,) first row of each deal
    count: np.ndarray  # (n,) rows per deal

    @property
    def last(self) -> np.ndarray:
        return self.start + self.count - 1


class _Changes:
    """Collects change rows; a field left as None is unchanged by that row."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        opp: np.ndarray,
        at: np.ndarray,
        stage: np.ndarray | None = None,
        amount: np.ndarray | None = None,
        close_day: np.ndarray | None = None,
    ) -> None:
        n = opp.size
        self.parts.append(
            (
                opp,
                at,
                np.full(n, -1, np.int8) if stage is None else stage.astype(np.int8),
                np.full(n, np.nan) if amount is None else amount,
                np.full(n, -1, np.int64) if close_day is None else close_day,
            )
        )

    def sorted_history(self, n: int) -> History:
        columns = (np.concatenate(c) for c in zip(*self.parts, strict=True))
        opp, at, stage, amount, close_day = columns
        order = np.lexsort((at, opp))
        opp, at = opp[order], at[order]
        stage = _forward_fill(stage[order], stage[order] >= 0)
        amount = _forward_fill(amount[order], ~np.isnan(amount[order]))
        close_day = _forward_fill(close_day[order], close_day[order] >= 0)
        count = np.bincount(opp, minlength=n)
        start = np.concatenate([[0], np.cumsum(count)[:-1]])
        at = _strictly_increasing(at, opp, start)
        last = start + count - 1
        close_day[last] = at[last] // DAY  # the last row closes the deal: its actual close date
        return History(opp.astype(np.int32), at, stage, amount, close_day, start, count)


def _forward_fill(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Carry the last valid value forward (every deal's first row is valid, so no leaking)."""
    source = np.where(valid, np.arange(values.size), 0)
    np.maximum.accumulate(source, out=source)
    return values[source]


def _strictly_increasing(at: np.ndarray, opp: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Nudge equal timestamps within a deal apart by whole seconds (rare coincidences)."""
    position = np.arange(at.size) - start[opp]
    offset = opp.astype(np.int64) * SORT_KEY_STRIDE
    running = np.maximum.accumulate(at - position + offset) - offset
    return running + position


def _stage_times(
    rng: np.random.Generator, deals: Deals, qstarts: np.ndarray, stage_days_factor: float = 1.0
) -> np.ndarray:
    """(n, 6): entry time of each open stage, then the decision time after Commit.

    Column k+1 is when the decision at stage k falls, whether that decision is to advance or to
    lose the deal: timing never depends on the outcome.
    """
    n = deals.size
    relative_size = np.log(deals.amount) - typical_log_amount(deals.segment)
    median = (
        world.STAGE_MEDIAN_DAYS[None, :]
        * stage_days_factor
        * (
            world.SEGMENT_DURATION_FACTOR[deals.segment]
            * world.TYPE_DURATION_FACTOR[deals.type]
            * np.exp(0.1 * relative_size)
        )[:, None]
    )
    days = median * np.exp(world.DURATION_SIGMA * rng.standard_normal((n, world.N_OPEN)))
    times = np.empty((n, world.N_OPEN + 1), dtype=np.int64)
    times[:, 0] = deals.created
    for k in range(world.N_OPEN):
        raw = times[:, k] + (days[:, k] * DAY).astype(np.int64)
        decided = at_business_time(raw, times[:, k], rng)
        times[:, k + 1] = pull_into_quarter_end(decided, times[:, k], qstarts, rng)
    return times


def _slips(
    rng: np.random.Generator,
    expected: np.ndarray,
    open_now: np.ndarray,
    stage_end: np.ndarray,
    changes: _Changes,
) -> np.ndarray:
    """While a deal is open past its expected close date, the rep pushes the date out."""
    expected = expected.copy()
    active = open_now.copy()
    while True:
        trigger_day = next_business_day(expected + 1)
        candidates = np.flatnonzero(active & (trigger_day * DAY < stage_end))
        if candidates.size == 0:
            return expected
        at = trigger_day[candidates] * DAY + office_hours(rng, candidates.size)
        hit = at < stage_end[candidates]
        active[candidates[~hit]] = False
        slipped, at = candidates[hit], at[hit]
        pushed = expected[slipped] + rng.integers(world.SLIP_MIN_DAYS, world.SLIP_MAX_DAYS + 1, slipped.size)
        pushed = maybe_month_end(pushed, rng)
        expected[slipped] = pushed
        changes.add(slipped, at, close_day=pushed)


def simulate_history(
    rng: np.random.Generator, deals: Deals, qstarts: np.ndarray, timing: DealTiming = WORLD_TIMING
) -> tuple[History, np.ndarray]:
    """Play every deal's life to its end; returns the change history and whether each was won.
    cycle_factor scales the stages' durations (DemoShape.cycle_factor)."""
    n = deals.size
    rows = np.arange(n)
    times = _stage_times(rng, deals, qstarts, timing.stage_days_factor)
    advanced = rng.random((n, world.N_OPEN)) < deals.advance
    first_failure = np.where(advanced.all(axis=1), world.N_OPEN, np.argmin(advanced, axis=1))
    won = first_failure == world.N_OPEN
    last_open = np.minimum(first_failure, world.N_OPEN - 1)
    if timing.lost_days_factor != 1.0:  # the losing decision comes sooner (or later)
        lost = np.flatnonzero(~won)
        entered = times[lost, last_open[lost]]
        decided = entered + ((times[lost, last_open[lost] + 1] - entered) * timing.lost_days_factor).astype(
            np.int64
        )
        times[lost, last_open[lost] + 1] = np.maximum(decided, entered + HOUR)
    closed_at = times[rows, last_open + 1]

    changes = _Changes()
    expected = _estimate_close(rng, times[:, 0], times[:, -1], world.INITIAL_ESTIMATE_LOG_MEAN, 7)
    changes.add(rows, times[:, 0], stage=np.zeros(n), amount=deals.amount, close_day=expected)
    amount = deals.amount.copy()
    for k in range(world.N_OPEN):
        reached = k <= last_open
        if k > 0:
            expected, amount = _enter_stage(rng, k, reached, times, expected, amount, changes)
        expected = _close_date_changes(rng, k, reached, times, expected, changes)

    adjust = won & (rng.random(n) < world.WON_AMOUNT_ADJUST_PROBABILITY)
    final = np.where(adjust, np.round(amount * np.exp(rng.normal(-0.02, 0.08, n)), 2), np.nan)
    stage = np.where(won, world.WON_CODE, world.LOST_CODE)
    changes.add(rows, closed_at, stage=stage, amount=final, close_day=closed_at // DAY)
    return changes.sorted_history(n), won


def _estimate_close(
    rng: np.random.Generator, now: np.ndarray, decision_if_won: np.ndarray, log_bias: float, min_days: int
) -> np.ndarray:
    """A rep's close-date estimate made at `now`: a noisy (biased) guess of the remaining cycle,
    often rounded to the end of a month."""
    remaining = (decision_if_won - now) / DAY
    guess = remaining * np.exp(rng.normal(log_bias, world.ESTIMATE_LOG_SD, now.size))
    days = now // DAY + np.maximum(min_days, np.round(guess)).astype(np.int64)
    return maybe_month_end(days, rng)


def _enter_stage(
    rng: np.random.Generator,
    k: int,
    reached: np.ndarray,
    times: np.ndarray,
    expected: np.ndarray,
    amount: np.ndarray,
    changes: _Changes,
) -> tuple[np.ndarray, np.ndarray]:
    """Stage k entry, on which the rep sometimes re-estimates the close date and sometimes
    revises the amount (multiplicatively); both land on the stage-change row."""
    n = reached.size
    reestimate = reached & (rng.random(n) < world.CLOSE_DATE_REESTIMATE_PROBABILITY[k])
    fresh = _estimate_close(rng, times[:, k], times[:, -1], world.LATER_ESTIMATE_LOG_MEAN, 3)
    expected = np.where(reestimate, fresh, expected)
    revise = reached & (rng.random(n) < world.AMOUNT_REVISION_PROBABILITY[k])
    factor = np.exp(rng.normal(world.AMOUNT_REVISION_LOG_MEAN[k], world.AMOUNT_REVISION_LOG_SD, n))
    amount = np.where(revise, np.round(amount * factor, 2), amount)
    entered = np.flatnonzero(reached)
    changes.add(
        entered,
        times[entered, k],
        stage=np.full(entered.size, k),
        amount=np.where(revise, amount, np.nan)[entered],
        close_day=np.where(reestimate, fresh, -1)[entered],
    )
    return expected, amount


def _close_date_changes(
    rng: np.random.Generator,
    k: int,
    reached: np.ndarray,
    times: np.ndarray,
    expected: np.ndarray,
    changes: _Changes,
) -> np.ndarray:
    """Close-date changes while in stage k: a slip whenever the date passes, and at the weekly
    pipeline reviews an occasional re-forecast (mostly later, sometimes earlier: a pull-in)."""
    n = reached.size
    start, end = times[:, k], times[:, k + 1]
    for r in range(world.MAX_REVIEWS_PER_STAGE):
        jitter = rng.integers(-DAY // 2, DAY // 2, n)
        at = np.minimum(start + (r + 1) * world.REVIEW_INTERVAL_DAYS * DAY + jitter, end - 1)
        in_stage = reached & (at < end - 1)
        if not in_stage.any():
            break
        expected = _slips(rng, expected, in_stage, at, changes)
        fresh = _estimate_close(rng, at, times[:, -1], world.LATER_ESTIMATE_LOG_MEAN, 3)
        # Reps are reluctant to pull a date in: most earlier re-forecasts are not entered.
        keep = (fresh > expected) | (rng.random(n) < world.PULL_IN_ACCEPT_PROBABILITY)
        reforecast = rng.random(n) < world.CLOSE_DATE_REFORECAST_PROBABILITY[k]
        changed = in_stage & reforecast & keep & (fresh != expected)
        chosen = np.flatnonzero(changed)
        changes.add(chosen, at[chosen], close_day=fresh[chosen])
        expected = np.where(changed, fresh, expected)
    return _slips(rng, expected, reached, end, changes)


def true_win_probabilities(advance: np.ndarray) -> np.ndarray:
    """(n, 5): P(win | open in stage k) = prod_{j>=k} a_j."""
    return np.cumprod(advance[:, ::-1], axis=1)[:, ::-1]


# -------------------------------------------------------------------------------------- leads
@dataclass(frozen=True)
class Leads:
    """The chunk's leads, sorted by creation. Status until decided_at is Open."""

    created: np.ndarray
    source: np.ndarray  # index into world.LEAD_SOURCES
    campaign: np.ndarray  # index into world.CAMPAIGNS
    owner: np.ndarray
    decided_at: np.ndarray  # conversion or disqualification/nurture decision time
    final_status: np.ndarray  # index into world.LEAD_STATUSES
    opportunity: np.ndarray  # global opportunity index if converted, else -1

    @property
    def size(self) -> int:
        return self.created.size


def draw_leads(
    rng: np.random.Generator, deals: Deals, quantiles: tuple[float, float], window: Window, company: Company
) -> Leads:
    """Converted leads behind the new-business deals, plus the leads that never converted.

    Unconverted leads per campaign are drawn so that each campaign converts at its own rate, and
    arrive over the same stretch of the company's activity as the chunk's deals.
    """
    mix, rate = campaign_mix()
    converted = np.flatnonzero(deals.source != EXISTING_CUSTOMER)
    source = deals.source[converted]
    campaign = categorical(rng, mix[source])
    lag = np.maximum(HOUR, rng.exponential(world.LEAD_TO_CONVERSION_MEAN_DAYS[source]) * DAY)
    converted_at = deals.created[converted]

    per_campaign = np.bincount(campaign, minlength=len(world.CAMPAIGNS))
    unconverted_count = rng.poisson(per_campaign * (1.0 / rate - 1.0))
    u_campaign = np.repeat(np.arange(len(world.CAMPAIGNS)), unconverted_count)
    u_source = world.CAMPAIGN_SOURCE[u_campaign]
    m = u_campaign.size
    u_created = window.times_at_quantiles(rng.uniform(quantiles[0], quantiles[1], m), rng)
    reps = company.owners.reps
    u_owner = reps[rng.integers(0, reps.size, m)]
    u_decided = u_created + (rng.exponential(world.LEAD_REVIEW_MEAN_DAYS, m) * DAY).astype(np.int64)
    nurture = rng.random(m) < world.LEAD_NURTURE_SHARE[u_source]
    status = world.LEAD_STATUSES
    u_status = np.where(nurture, status.index("Nurturing"), status.index("Disqualified"))

    created = np.concatenate([converted_at - lag.astype(np.int64), u_created])
    order = np.argsort(created, kind="stable")
    return Leads(
        created=created[order],
        source=np.concatenate([source, u_source])[order],
        campaign=np.concatenate([campaign, u_campaign])[order],
        owner=np.concatenate([deals.owner[converted], u_owner])[order],
        decided_at=np.concatenate([converted_at, u_decided])[order],
        final_status=np.concatenate([np.full(converted.size, status.index("Converted")), u_status])[order],
        opportunity=np.concatenate([deals.index[converted], np.full(m, -1)])[order],
    )


# -------------------------------------------------------------------------------------- chunk
@dataclass(frozen=True)
class Chunk:
    deals: Deals
    history: History
    won: np.ndarray
    p_win: np.ndarray  # (n, 5) truth
    leads: Leads


def simulate_chunk(
    rng: np.random.Generator,
    first: int,
    stop: int,
    total: int,
    window: Window,
    qstarts: np.ndarray,
    company: Company,
    timing: DealTiming = WORLD_TIMING,
) -> Chunk:
    """Deals first..stop-1 of total. Deal i is created at activity quantile (i + u) / total, so
    ids follow creation time and every chunk covers its own stretch of the calendar."""
    index = np.arange(first, stop)
    quantile = (index + rng.random(index.size)) / total
    created = window.times_at_quantiles(quantile, rng)
    deals = draw_deals(rng, index, created, company)
    history, won = simulate_history(rng, deals, qstarts, timing)
    leads = draw_leads(rng, deals, (first / total, stop / total), window, company)
    return Chunk(deals, history, won, true_win_probabilities(deals.advance), leads)
