"""The demo company's reference data: stages, owners (a sales org), accounts, products, quotas.

These tables are small (accounts are size/8 rows) and stay in memory for the whole run; the
hidden attributes the simulation needs (a rep's skill, an account's fit and deal weight) live
beside the exported tables and never reach the landing zone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipecast.demo import world
from pipecast.demo.timeline import DAY, Window, daily_intensity, office_hours, quarter_starts

MIN_REPS = 12
OPPORTUNITIES_PER_REP = 250
REPS_PER_TEAM = 7
MIN_ACCOUNTS = 200
OPPORTUNITIES_PER_ACCOUNT = 8
ACCOUNTS_BEFORE_WINDOW_SHARE = 0.65
ACCOUNTS_BEFORE_WINDOW_YEARS = 4
BOOKING_LAG_DAYS = 70  # quotas follow the deal flow of about one sales cycle earlier


def prefixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """IDs like OPP00000042 from integers, vectorised."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


@dataclass(frozen=True)
class Owners:
    table: pa.Table
    ids: pa.Array
    skill: np.ndarray  # hidden: shifts every advance logit of the owner's deals
    region: np.ndarray  # index into world.REGIONS, -1 for the global leadership
    reps: np.ndarray  # owner indices of the quota-carrying reps
    rep_segment: np.ndarray  # segment each rep's team sells to (aligned with reps)
    team: tuple[str, ...]  # team of every owner

    def reps_of_segment(self, segment: int) -> np.ndarray:
        return self.reps[self.rep_segment == segment]


@dataclass(frozen=True)
class Accounts:
    table: pa.Table
    ids: pa.Array
    names: pa.Array
    created: np.ndarray  # seconds, ascending (ids follow creation order)
    segment: np.ndarray
    owner: np.ndarray  # owner index of the account's rep
    fit: np.ndarray  # hidden: shifts every advance logit of the account's deals
    weight: np.ndarray  # hidden: how often the account opens deals

    @property
    def weight_cumsum(self) -> np.ndarray:
        return np.cumsum(self.weight)


@dataclass(frozen=True)
class Company:
    stages: pa.Table
    owners: Owners
    accounts: Accounts
    products: pa.Table
    product_ids: pa.Array
    product_names: pa.Array


def build_company(
    size: int, window: Window, seeds: tuple[int, ...], opportunities_per_rep: int = OPPORTUNITIES_PER_REP
) -> Company:
    owners = build_owners(size, np.random.default_rng([*seeds, 1]), opportunities_per_rep)
    accounts = build_accounts(size, owners, window, np.random.default_rng([*seeds, 2]))
    products = build_products()
    return Company(
        stages=build_stages(),
        owners=owners,
        accounts=accounts,
        products=products,
        product_ids=products.column("product_id").combine_chunks(),
        product_names=products.column("name").combine_chunks(),
    )


def build_stages() -> pa.Table:
    names = list(world.STAGE_NAMES)
    return pa.table(
        {
            "pipeline": [world.PIPELINE] * len(names),
            "stage": names,
            "sort_order": pa.array([world.STAGE_SORT_ORDER[s] for s in names], pa.int32()),
            "probability": [world.STAGE_PROBABILITY[s] for s in names],
            "is_closed": [s in world.CLOSED_STAGES for s in names],
            "is_won": [s == world.CLOSED_WON for s in names],
            "forecast_category": [world.STAGE_FORECAST_CATEGORY[s] for s in names],
        }
    )


def build_products() -> pa.Table:
    n = len(world.PRODUCT_CATALOGUE)
    return pa.table(
        {
            "product_id": prefixed_ids("PRD", np.arange(1, n + 1), 3),
            "name": [p[0] for p in world.PRODUCT_CATALOGUE],
            "family": [world.PRODUCT_FAMILIES[p[1]] for p in world.PRODUCT_CATALOGUE],
            "list_price": world.PRODUCT_LIST_PRICE,
        }
    )


def _person_names(n: int, rng: np.random.Generator) -> list[str]:
    first = rng.integers(0, len(world.FIRST_NAMES), n)
    last = rng.integers(0, len(world.LAST_NAMES), n)
    return [f"{world.FIRST_NAMES[f]} {world.LAST_NAMES[la]}" for f, la in zip(first, last, strict=True)]


def _team_names(team_segment: np.ndarray, team_region: np.ndarray) -> list[str]:
    seen: dict[tuple[int, int], int] = {}
    names = []
    for seg, reg in zip(team_segment.tolist(), team_region.tolist(), strict=True):
        seen[(reg, seg)] = seen.get((reg, seg), 0) + 1
        names.append(f"{world.REGIONS[reg]} {world.SEGMENTS[seg]} {seen[(reg, seg)]}")
    return names


def build_owners(
    size: int, rng: np.random.Generator, opportunities_per_rep: int = OPPORTUNITIES_PER_REP
) -> Owners:
    """A sales org: a CRO, a VP per region, a manager per team and the reps (who own deals)."""
    n_reps = max(MIN_REPS, round(size / opportunities_per_rep))
    n_teams = max(3, math.ceil(n_reps / REPS_PER_TEAM))
    team_segment = np.arange(n_teams) % len(world.SEGMENTS)
    rotation = np.array(world.REGION_ROTATION)
    team_region = rotation[(np.arange(n_teams) // len(world.SEGMENTS)) % rotation.size]
    team_name = _team_names(team_segment, team_region)
    regions = sorted(set(team_region.tolist()))

    # Owner rows in id order: CRO, VPs, team managers, reps.
    manager_of: list[int | None] = [None]
    teams = ["Executive"]
    region = [-1]
    vp_of_region = {}
    for reg in regions:
        vp_of_region[reg] = len(manager_of)
        manager_of.append(0)
        teams.append(f"{world.REGIONS[reg]} Leadership")
        region.append(reg)
    manager_of_team = []
    for t in range(n_teams):
        manager_of_team.append(len(manager_of))
        manager_of.append(vp_of_region[int(team_region[t])])
        teams.append(team_name[t])
        region.append(int(team_region[t]))
    rep_team = np.arange(n_reps) % n_teams
    first_rep = len(manager_of)
    for t in rep_team.tolist():
        manager_of.append(manager_of_team[t])
        teams.append(team_name[t])
        region.append(int(team_region[t]))

    n_owners = len(manager_of)
    ids = prefixed_ids("USR", np.arange(1, n_owners + 1), 5)
    id_list = ids.to_pylist()
    skill = np.zeros(n_owners)
    skill[first_rep:] = rng.normal(0.0, world.OWNER_SKILL_SD, n_reps)
    table = pa.table(
        {
            "owner_id": ids,
            "name": _person_names(n_owners, rng),
            "manager_id": [None if m is None else id_list[m] for m in manager_of],
            "team": teams,
            "region": ["Global" if r < 0 else world.REGIONS[r] for r in region],
        }
    )
    return Owners(
        table=table,
        ids=ids,
        skill=skill,
        region=np.array(region),
        reps=np.arange(first_rep, n_owners),
        rep_segment=team_segment[rep_team],
        team=tuple(teams),
    )


def _account_names(n: int, rng: np.random.Generator) -> pa.Array:
    first = pa.array(world.ACCOUNT_NAME_FIRST).take(rng.integers(0, len(world.ACCOUNT_NAME_FIRST), n))
    second = pa.array(world.ACCOUNT_NAME_SECOND).take(rng.integers(0, len(world.ACCOUNT_NAME_SECOND), n))
    p = world.ACCOUNT_NAME_SUFFIX_WEIGHT / world.ACCOUNT_NAME_SUFFIX_WEIGHT.sum()
    suffix = pa.array(world.ACCOUNT_NAME_SUFFIX).take(rng.choice(len(world.ACCOUNT_NAME_SUFFIX), n, p=p))
    return pc.binary_join_element_wise(pc.binary_join_element_wise(first, second, " "), suffix, "")


def _countries(owner_region: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """A country in the region of the account's rep."""
    flat = [c for r in world.REGIONS for c in world.REGION_COUNTRIES[r]]
    start = np.cumsum([0] + [len(world.REGION_COUNTRIES[r]) for r in world.REGIONS])
    count = np.diff(start)
    pick = start[owner_region] + (rng.random(owner_region.size) * count[owner_region]).astype(int)
    return pa.array(flat).take(pick)


def _account_created(n: int, window: Window, rng: np.random.Generator) -> np.ndarray:
    """Most accounts exist before the window; the rest are created over it, with the business."""
    before = rng.random(n) < ACCOUNTS_BEFORE_WINDOW_SHARE
    before[0] = True  # every deal needs an existing account
    days_before = rng.integers(1, 365 * ACCOUNTS_BEFORE_WINDOW_YEARS, n)
    early = (window.start_day - days_before) * DAY + office_hours(rng, n)
    late = window.times_at_quantiles(rng.random(n), rng)
    return np.where(before, early, late)


def build_accounts(size: int, owners: Owners, window: Window, rng: np.random.Generator) -> Accounts:
    n = max(MIN_ACCOUNTS, size // OPPORTUNITIES_PER_ACCOUNT)
    segment = rng.choice(len(world.SEGMENTS), n, p=world.SEGMENT_SHARE)
    owner = np.empty(n, dtype=np.int64)
    for s in range(len(world.SEGMENTS)):
        members = np.flatnonzero(segment == s)
        candidates = owners.reps_of_segment(s)
        owner[members] = candidates[rng.integers(0, candidates.size, members.size)]
    low = np.array([r[0] for r in world.SEGMENT_EMPLOYEES_RANGE])[segment]
    high = np.array([r[1] for r in world.SEGMENT_EMPLOYEES_RANGE])[segment]
    employees = np.clip(
        np.round(np.exp(rng.normal(world.SEGMENT_EMPLOYEES_LOG_MEDIAN[segment], 0.7))), low, high
    ).astype(np.int64)
    revenue = np.round(employees * np.exp(rng.normal(np.log(180_000.0), 0.5, n)), -3)
    industry = rng.integers(0, len(world.INDUSTRIES), n)
    created = _account_created(n, window, rng)
    weight = world.SEGMENT_DEAL_WEIGHT[segment] * np.exp(rng.normal(0.0, 0.6, n))
    fit = rng.normal(0.0, world.ACCOUNT_FIT_SD, n)
    names = _account_names(n, rng)
    countries = _countries(owners.region[owner], rng)

    order = np.argsort(created, kind="stable")
    ids = prefixed_ids("ACC", np.arange(1, n + 1), 7)
    names = names.take(order)
    table = pa.table(
        {
            "account_id": ids,
            "name": names,
            "industry": pa.array(world.INDUSTRIES).take(industry[order]),
            "segment": pa.array(world.SEGMENTS).take(segment[order]),
            "country": countries.take(order),
            "employees": pa.array(employees[order], pa.int32()),
            "annual_revenue": revenue[order],
            "created_at": pa.array(created[order], pa.timestamp("s")),
        }
    )
    return Accounts(
        table=table,
        ids=ids,
        names=names,
        created=created[order],
        segment=segment[order],
        owner=owner[order],
        fit=fit[order],
        weight=weight[order],
    )


def _booking_share(window: Window, first_day: int, stop_day: int) -> float:
    """Share of the window's deals whose bookings fall in [first_day, stop_day): the deals
    created a typical sales cycle earlier (none before the window: the CRM starts with it)."""
    days = np.arange(first_day, stop_day) - BOOKING_LAG_DAYS
    window_days = np.arange(window.start_day, window.end_day + 1)
    weights = np.where(days >= window.start_day, daily_intensity(days, window.start_day), 0.0)
    return float(weights.sum() / daily_intensity(window_days, window.start_day).sum())


def build_targets(
    owners: Owners,
    accounts: Accounts,
    window: Window,
    size: int,
    won_amount_per_deal: np.ndarray,
    rng: np.random.Generator,
) -> pa.Table:
    """Quarterly quota per rep for every quarter of the window and the next one.

    A quota is the rep's expected bookings (their share of the company's deal flow in that
    quarter times the expected won amount per deal in their segment) with a stretch and noise.
    """
    covered = quarter_starts(window.start_day, window.end_day).size
    # Quarter boundaries: the covered quarters, the next one, and the end of that one.
    bounds = quarter_starts(window.start_day, window.end_day + 400)[: covered + 2]
    quarter_share = np.array(
        [_booking_share(window, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    )
    deal_weight = np.bincount(accounts.owner, weights=accounts.weight, minlength=len(owners.ids))
    rep_share = deal_weight[owners.reps] / deal_weight.sum()
    rep_noise = np.exp(rng.normal(0.0, 0.10, owners.reps.size))
    n_q, n_r = quarter_share.size, owners.reps.size
    expected = (
        size
        * quarter_share[:, None]
        * (rep_share * won_amount_per_deal[owners.rep_segment] * rep_noise)[None, :]
    )
    quota = expected * world.QUOTA_STRETCH * np.exp(rng.normal(0.0, 0.05, (n_q, n_r)))
    quota = np.maximum(1_000.0, np.round(quota, -3))
    rep_teams = [owners.team[r] for r in owners.reps.tolist()]
    return pa.table(
        {
            "period_start": pa.array(np.repeat(bounds[:-1], n_r).astype(np.int32), pa.date32()),
            "period_end": pa.array(np.repeat(bounds[1:] - 1, n_r).astype(np.int32), pa.date32()),
            "owner_id": owners.ids.take(pa.array(np.tile(owners.reps, n_q))),
            "team": rep_teams * n_q,
            "amount": quota.reshape(-1),
        }
    )
