"""Expectation suites for the marts BI reads (schema ``marts``), run after every dbt build.

Loaded by the runner with ``pipecast.validate.suites.load("mart_suites")``. Each mart has a
``MartSpec``: its key, and checks written against *logical* columns, each with the names the mart
may give it (``COLUMNS``). ``mart_suite(spec, columns)`` resolves them against the mart's actual
columns: a check whose columns the mart does not have is left out and reported as skipped (a
warning in the audit), so a renamed column shows up instead of silently passing.

Every mart: a key that is not null and unique, one row per key (error); every rate (a column named
like ``*_rate``, ``conversion_*``, ``*_probability``, ``*_share``) within [0, 1] (error).
Beyond that: the funnel never rises and its counts nest (won <= advanced <= reached); the
waterfall balances, in amounts and in counts (open at start + created + pulled in - pushed out -
won - lost + amount changes = open at end; a period's pipeline is the deals closing in it, so one
period's end is not the next one's start); lead-funnel and win-rate counts nest; forecast ranges
are ordered (P10 <= P50 <= P90).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import great_expectations as gx
import great_expectations.expectations as gxe
from pipecast.validate.expect import BATCH, between, key_expectations, q, unexpected_rows
from pipecast.validate.severity import ERROR, WARNING, Severity, tag

SCHEMA = "marts"

# A column holding a rate or probability: must lie within [0, 1] (numeric columns only).
RATE_COLUMN = re.compile(r"(^|_)(rate|rates|conversion|probability|share)(_|$)")
NUMERIC_TYPE = re.compile(r"^(DOUBLE|FLOAT|REAL|DECIMAL|NUMERIC)", re.IGNORECASE)

# Logical column -> the names a mart may give it, in order of preference. A logical name ending in
# "?" is optional: used when the mart has it (e.g. period_type in a grain), ignored otherwise.
COLUMNS: dict[str, tuple[str, ...]] = {
    "opportunity_id": ("opportunity_id",),
    "account_id": ("account_id",),
    "owner_id": ("owner_id",),
    "product_id": ("product_id",),
    "pipeline": ("pipeline",),
    "stage": ("stage",),
    "sort_order": ("funnel_rank", "sort_order", "stage_sort_order"),
    "cohort": ("cohort_month", "cohort"),
    "segment": ("segment",),
    "period_type": ("period_type",),
    "period": ("period_start", "period", "period_month", "month"),
    "date_day": ("date_day",),
    "day": ("snapshot_date", "date_day", "day", "pipeline_date", "as_of_date"),
    "dimension": ("dimension", "dimension_name"),
    "value": ("dimension_value", "value"),
    "source": ("lead_source", "source"),
    "campaign": ("campaign",),
    "team": ("team",),
    "entered_at": ("entered_at", "stage_entered_at", "entered_date"),
    "duration_days": ("duration_days", "days_in_stage", "duration"),
    "amount": ("amount",),
    "is_closed": ("is_closed",),
    "is_won": ("is_won",),
    "age_days": ("age_days",),
    "cycle_days": ("cycle_days",),
    # funnel
    "reached": ("reached", "reached_count"),
    "advanced": ("advanced", "advanced_count"),
    "won": ("won", "won_count", "won_opportunities", "won_deals"),
    "lost": ("lost", "lost_here", "lost_count", "lost_opportunities"),
    # waterfall: amounts and counts
    "open_start": ("open_amount_at_start", "open_at_start", "open_start", "open_start_amount"),
    "created": ("created_amount", "created"),
    "pulled_in": ("pulled_in_amount", "pulled_in"),
    "pushed_out": ("pushed_out_amount", "pushed_out"),
    "won_amount": ("won_amount", "won"),
    "lost_amount": ("lost_amount", "lost"),
    "amount_change": ("amount_change", "amount_changes", "amount_changed", "net_amount_change"),
    "open_end": ("open_amount_at_end", "open_at_end", "open_end", "open_end_amount"),
    "open_count_start": ("open_count_at_start",),
    "created_count": ("created_count",),
    "pulled_in_count": ("pulled_in_count",),
    "pushed_out_count": ("pushed_out_count",),
    "won_count": ("won_count",),
    "lost_count": ("lost_count",),
    "open_count_end": ("open_count_at_end",),
    # lead funnel and win rates
    "leads": ("leads", "lead_count"),
    "converted": ("converted_leads", "converted"),
    "opportunities": ("opportunities", "opportunity_count"),
    "closed": ("closed_count", "closed", "closed_deals"),
    "revenue": ("won_amount", "revenue", "won_revenue"),
    # forecast
    "p10": ("p10",),
    "p50": ("p50",),
    "p90": ("p90",),
}

Resolved = Mapping[str, str]  # logical column -> the mart's column name


@dataclass(frozen=True)
class Check:
    """Expectations over logical columns, built only when the mart has every required one."""

    name: str
    columns: tuple[str, ...]
    build: Callable[[Resolved], list[gxe.Expectation]]


@dataclass(frozen=True)
class MartSpec:
    table: str
    key: tuple[str, ...]  # logical columns ("name?" optional)
    checks: tuple[Check, ...] = ()
    required: bool = False  # an empty mart is an error (else: it may be empty, e.g. no leads)
    latest: str | None = None  # logical column: validate only the rows of its newest value
    not_rates: tuple[str, ...] = ()  # numeric columns named like rates that are not in [0, 1]
    # logical key columns that may be null (documented so in the mart's yml), e.g. the cohort of
    # deals the CRM gives no creation date (the Maven sample's Prospecting deals)
    nullable_key: tuple[str, ...] = ()

    @property
    def suite_name(self) -> str:
        return f"{SCHEMA}.{self.table}"


@dataclass
class MartSuite:
    suite: gx.ExpectationSuite | None  # None: the key cannot be resolved, nothing to validate
    skipped: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (check, missing columns)
    latest_column: str | None = None


def resolve(logical: Iterable[str], columns: Iterable[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """(logical -> actual for those found, the required logical columns not found)."""
    present = set(columns)
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in logical:
        base = name.rstrip("?")
        actual = next((c for c in COLUMNS.get(base, (base,)) if c in present), None)
        if actual is not None:
            found[base] = actual
        elif not name.endswith("?"):
            missing.append(base)
    return found, tuple(missing)


def mart_suite(spec: MartSpec, columns: Mapping[str, str]) -> MartSuite:
    """The suite of one mart given its actual columns (name -> SQL type)."""
    key, missing_key = resolve(spec.key, columns)
    if missing_key:
        return MartSuite(None, [("key", missing_key)])
    expectations: list[gxe.Expectation] = key_expectations(
        list(key.values()), nullable=[key[name] for name in spec.nullable_key if name in key]
    )
    if spec.required:
        expectations.append(gxe.ExpectTableRowCountToBeBetween(min_value=1, **tag(ERROR)))
    expectations += [
        between(name, ERROR, min_value=0, max_value=1)
        for name, sql_type in columns.items()
        if RATE_COLUMN.search(name) and NUMERIC_TYPE.match(sql_type) and name not in spec.not_rates
    ]
    skipped: list[tuple[str, tuple[str, ...]]] = []
    for check in spec.checks:
        found, missing = resolve(check.columns, columns)
        if missing:
            skipped.append((check.name, missing))
        else:
            expectations += check.build(found)
    latest = resolve([spec.latest], columns)[0].get(spec.latest) if spec.latest else None
    return MartSuite(gx.ExpectationSuite(name=spec.suite_name, expectations=expectations), skipped, latest)


# -- checks ---------------------------------------------------------------------------------------


def _partition(c: Resolved, *names: str) -> str:
    """PARTITION BY the named logical columns the mart has (optional ones may be absent)."""
    return ", ".join(q(c[n]) for n in names if n in c)


def _not_after(earlier: str, later: str, description: str, severity: Severity = ERROR) -> Check:
    """Count or amount ``later`` never exceeds ``earlier`` on a row (e.g. won <= reached)."""
    return Check(
        description,
        (earlier, later),
        lambda c: [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=c[earlier],
                column_B=c[later],
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                description=description,
                **tag(severity),
            )
        ],
    )


def _non_negative(column: str, severity: Severity = ERROR) -> Check:
    return Check(f"{column} >= 0", (column,), lambda c: [between(c[column], severity, min_value=0)])


def _funnel_never_rises() -> Check:
    def build(c: Resolved) -> list[gxe.Expectation]:
        within = _partition(c, "cohort", "segment", "pipeline")
        order, reached = q(c["sort_order"]), q(c["reached"])
        return [
            unexpected_rows(
                "The funnel never rises: within a cohort and segment, a later stage never counts "
                "more than an earlier one",
                f"SELECT {within}, {q(c['stage'])}, {reached}, earlier_reached FROM ("
                f"SELECT *, lag({reached}) OVER (PARTITION BY {within} ORDER BY {order}) "
                f"AS earlier_reached FROM {BATCH}) ordered_stages WHERE {reached} > earlier_reached",
                ERROR,
                [c["reached"], c["sort_order"]],
            )
        ]

    return Check(
        "funnel never rises", ("cohort", "segment", "pipeline?", "stage", "sort_order", "reached"), build
    )


# Amounts are sums of floats: a cent, plus a millionth of the pipeline, is balance.
_TOLERANCE = "0.01 + 1e-6 * abs({value})"
# (logical columns of: open at start, + created, + pulled in, - pushed out, - won, - lost,
#  + amount changes, = open at end)
_AMOUNT_FLOW = (
    "open_start", "created", "pulled_in", "pushed_out", "won_amount", "lost_amount", "amount_change",
    "open_end",
)  # fmt: skip
_COUNT_FLOW = (
    "open_count_start", "created_count", "pulled_in_count", "pushed_out_count", "won_count", "lost_count",
    None, "open_count_end",
)  # fmt: skip


def _waterfall_balances(flow: tuple[str | None, ...], what: str) -> Check:
    terms = tuple(t for t in flow if t)

    def build(c: Resolved) -> list[gxe.Expectation]:
        v = [f"coalesce({q(c[t])}, 0)" if t else "0" for t in flow]
        computed = f"{v[0]} + {v[1]} + {v[2]} - {v[3]} - {v[4]} - {v[5]} + {v[6]}"
        keys = _partition(c, "period_type", "period", "segment")
        return [
            unexpected_rows(
                f"The waterfall balances ({what}): open at start + created + pulled in - pushed out "
                "- won - lost + amount changes = open at end",
                f"SELECT {keys}, {computed} AS computed_open_at_end, {v[7]} AS open_at_end FROM {BATCH} "
                f"WHERE abs({computed} - {v[7]}) > {_TOLERANCE.format(value=v[7])}",
                ERROR,
                [c[t] for t in terms],
            )
        ]

    return Check(f"waterfall balances ({what})", ("period_type?", "period", "segment", *terms), build)


def _ordered_range() -> Check:
    def build(c: Resolved) -> list[gxe.Expectation]:
        return [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=c[high],
                column_B=c[low],
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                description=f"{low} <= {high}",
                **tag(ERROR),
            )
            for low, high in (("p10", "p50"), ("p50", "p90"))
        ]

    return Check("P10 <= P50 <= P90", ("p10", "p50", "p90"), build)


def _won_implies_closed() -> Check:
    return Check(
        "won implies closed",
        ("opportunity_id", "is_won", "is_closed"),
        lambda c: [
            unexpected_rows(
                "A won opportunity is closed",
                f"SELECT {q(c['opportunity_id'])} FROM {BATCH} "
                f"WHERE {q(c['is_won'])} AND {q(c['is_closed'])} IS NOT TRUE",
                ERROR,
                [c["is_won"], c["is_closed"]],
            )
        ],
    )


_FUNNEL_CHECKS = (
    _funnel_never_rises(),
    _not_after("reached", "advanced", "advanced <= reached"),
    _not_after("advanced", "won", "won <= advanced"),
    _not_after("reached", "lost", "lost <= reached"),
    _non_negative("reached"),
)
_PERIOD = ("period_type?", "period")

SPECS: tuple[MartSpec, ...] = (
    MartSpec("dim_stages", ("pipeline", "stage"), required=True),
    MartSpec("dim_accounts", ("account_id",)),
    MartSpec("dim_owners", ("owner_id",)),
    MartSpec("dim_products", ("product_id",)),
    MartSpec("dim_dates", ("date_day",)),
    MartSpec("dim_periods", _PERIOD),
    MartSpec(
        "fct_opportunities",
        ("opportunity_id",),
        (
            _won_implies_closed(),
            _non_negative("amount"),
            _non_negative("age_days", WARNING),
            _non_negative("cycle_days", WARNING),
        ),
        required=True,
    ),
    MartSpec("fct_stage_funnel", ("cohort", "segment", "stage"), _FUNNEL_CHECKS, nullable_key=("cohort",)),
    MartSpec(
        "fct_funnel_conversion",
        ("cohort", "segment", "pipeline?", "stage"),
        _FUNNEL_CHECKS,
        nullable_key=("cohort",),
    ),
    MartSpec(
        "fct_opportunity_stage_transitions",
        ("opportunity_id", "entered_at"),
        (_non_negative("duration_days"),),
    ),
    MartSpec("fct_pipeline_daily", ("day", "opportunity_id"), (_non_negative("amount"),), latest="day"),
    MartSpec(
        "fct_pipeline_waterfall",
        (*_PERIOD, "segment"),
        (
            _waterfall_balances(_AMOUNT_FLOW, "amounts"),
            _waterfall_balances(_COUNT_FLOW, "counts"),
        ),
    ),
    MartSpec(
        "fct_lead_funnel",
        ("cohort", "source", "campaign"),
        (
            _not_after("leads", "converted", "converted <= leads"),
            _not_after("converted", "opportunities", "opportunities <= converted leads"),
            _not_after("opportunities", "won", "won <= opportunities"),
            _non_negative("revenue"),
        ),
        nullable_key=("cohort",),
    ),
    MartSpec("fct_sales_velocity", (*_PERIOD, "segment")),
    MartSpec(
        "fct_win_rates",
        (*_PERIOD, "dimension", "value"),
        (_not_after("closed", "won", "won <= closed"),),
    ),
    MartSpec("fct_product_performance", ("product_id", *_PERIOD)),
    MartSpec("fct_owner_performance", ("owner_id", *_PERIOD)),
    MartSpec("fct_pipeline_coverage", (*_PERIOD, "team")),
    MartSpec("fct_forecast", (*_PERIOD, "segment"), (_ordered_range(),)),
)
