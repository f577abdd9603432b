"""What the morning report shows, read from the marts and ml.* in one DuckDB connection.

Each ``*_section`` function returns a dict for the template. An input that is not there yet (no
targets, no forecast, no backtest) gives the section a ``missing`` sentence instead of numbers;
nothing here raises on an empty or young warehouse.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from pipecast.report_html import charts
from pipecast.report_html.drivers import DriverContext, top_drivers
from pipecast.report_html.formatting import missing
from pipecast.warehouse import table_exists

log = logging.getLogger(__name__)

Section = dict[str, Any]

# The open deals the report may list (slipped, at risk): the whole open pipeline would not fit a page.
LISTED_DEALS = 10
# A deal is "at risk" when large (at least this quantile of open deal sizes in the two periods) and
# its win probability fell, sits well below the CRM's, or its close date was pushed.
AT_RISK_SIZE_QUANTILE = 0.75
AT_RISK_PROBABILITY_FALL = 0.05
AT_RISK_BELOW_CRM = 0.15
# Trends and funnel look back this many periods / months.
TREND_PERIODS = 8
FUNNEL_MONTHS = 12
# Win rates behind the drivers' "usual": the last four complete quarters.
CONTEXT_QUARTERS = 4


@dataclass(frozen=True)
class Period:
    label: str
    start: date
    end: date
    horizon: str  # current / next

    @property
    def title(self) -> str:
        return f"{self.label} ({'this' if self.horizon == 'current' else 'next'} period)"


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


def _has(con: duckdb.DuckDBPyConnection, *tables: str) -> bool:
    return all(table_exists(con, *t.split(".", 1)) for t in tables)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if missing(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _date(value: object) -> date:
    return pd.Timestamp(value).date()  # type: ignore[arg-type]


# --- the night and its periods -----------------------------------------------------------------


def as_of_date(con: duckdb.DuckDBPyConnection) -> date | None:
    for table, column in (
        ("marts.fct_forecast", "as_of"),
        ("ml.revenue_forecast", "as_of"),
        ("marts.dim_periods", "as_of_date"),
        ("audit.loads", "export_date"),
    ):
        if _has(con, table):
            value = con.execute(f"select max({column}) from {table}").fetchone()
            if value and not missing(value[0]):
                return _date(value[0])
    return None


def forecast_period_type(con: duckdb.DuckDBPyConnection, configured: str | None) -> str:
    """The period type the page shows: the configured one, else the one whose calendar periods
    (marts.dim_periods) are the newest forecast's periods (the forecast picks its grain from the
    data when none is configured), else quarters."""
    if configured:
        return configured
    for table in ("marts.fct_forecast", "ml.revenue_forecast"):
        if _has(con, table) and _has(con, "marts.dim_periods"):
            frame = query(
                con,
                f"select d.period_type from marts.dim_periods d join {table} f "
                "on f.period_start = d.period_start and f.period_end = d.period_end "
                f"where f.as_of = (select max(as_of) from {table}) limit 1",
            )
            if len(frame):
                return str(frame["period_type"].iloc[0])
    return "quarter"


def periods(con: duckdb.DuckDBPyConnection, period_type: str) -> list[Period]:
    """This and next period: as the forecast has them, else from the calendar."""
    for table in ("marts.fct_forecast", "ml.revenue_forecast"):
        if _has(con, table):
            frame = query(
                con,
                f"select distinct period, period_start, period_end, horizon from {table} "
                f"where as_of = (select max(as_of) from {table}) order by period_start",
            )
            if len(frame):
                return [
                    Period(str(r.period), _date(r.period_start), _date(r.period_end), str(r.horizon))
                    for r in frame.itertuples()
                ]
    if _has(con, "marts.dim_periods"):
        frame = query(
            con,
            "select period_label, period_start, period_end from marts.dim_periods "
            "where period_type = ? and period_start >= (select period_start from marts.dim_periods "
            "where period_type = ? and is_current) order by period_start limit 2",
            [period_type, period_type],
        )
        return [
            Period(str(r.period_label), _date(r.period_start), _date(r.period_end), h)
            for r, h in zip(frame.itertuples(), ("current", "next"), strict=False)
        ]
    return []


def currency(con: duckdb.DuckDBPyConnection, configured: str | None) -> tuple[str | None, str]:
    """The currency amounts are shown in, and a sentence saying so."""
    if configured:
        return configured, f"All amounts in {configured}."
    if not _has(con, "marts.fct_opportunities"):
        return None, "Currency unknown (no opportunities yet)."
    found = query(
        con,
        "select currency, count(*) as n from marts.fct_opportunities "
        "where currency is not null group by currency order by n desc",
    )
    if len(found) == 0:
        return None, "The CRM export names no currency."
    if len(found) == 1:
        return str(found["currency"].iloc[0]), f"All amounts in {found['currency'].iloc[0]}."
    main = str(found["currency"].iloc[0])
    others = ", ".join(found["currency"].iloc[1:].astype(str))
    return main, f"Amounts as exported: mostly {main}, also {others} (not converted)."


# --- forecast against target -------------------------------------------------------------------


def forecast_section(con: duckdb.DuckDBPyConnection, cur: str | None) -> Section:
    if _has(con, "marts.fct_forecast"):
        frame = query(
            con,
            "select * from marts.fct_forecast where as_of = (select max(as_of) from marts.fct_forecast) "
            "order by period_start, segment",
        )
    elif _has(con, "ml.revenue_forecast_segments"):
        frame = query(
            con,
            "select *, case when target > 0 then p50 / target end as p50_attainment "
            "from ml.revenue_forecast_segments "
            "where as_of = (select max(as_of) from ml.revenue_forecast_segments) "
            "order by period_start, segment",
        )
    else:
        return {"missing": "No revenue forecast yet: the forecast step has not run on this warehouse."}
    if len(frame) == 0:
        return {
            "missing": "No revenue forecast yet: the forecast table is empty (the forecast step has not run)."
        }
    total = frame[frame["segment"] == "All"]
    if len(total) == 0:
        return {"missing": "The revenue forecast has no all-segments row ('All') for this night."}
    rows = _records(total)
    notes = []
    if total["target"].isna().all() or (total["target"].fillna(0) <= 0).all():
        notes.append("No targets loaded (targets.csv): attainment cannot be shown.")
    return {
        "rows": rows,
        "segments": _records(frame[frame["segment"] != "All"]),
        "chart": charts.forecast_chart(total, cur),
        "notes": notes,
        "model_version": None if missing(total["model_version"].iloc[0]) else total["model_version"].iloc[0],
    }


# --- pipeline: coverage, weighted, commit and best case ---------------------------------------


def pipeline_section(
    con: duckdb.DuckDBPyConnection, ps: list[Period], period_type: str, forecast: Section
) -> Section:
    if not ps:
        return {"missing": "No current period known yet."}
    if not _has(con, "marts.fct_pipeline_coverage"):
        return {"missing": "No pipeline coverage mart yet (dbt has not built marts.fct_pipeline_coverage)."}
    frame = query(
        con,
        "select period_start, sum(target_amount) as target, sum(won_amount) as won, "
        "sum(open_amount) as open_amount, sum(weighted_open_amount) as weighted, "
        "sum(remaining_target) as remaining, sum(open_amount_at_start) as open_at_start, "
        "sum(open_count) as open_count, count(target_amount) as teams_with_target "
        "from marts.fct_pipeline_coverage where period_type = ? and period_start in (?, ?) "
        "group by period_start",
        [period_type, ps[0].start, ps[-1].start],
    )
    by_start = {_date(r["period_start"]): r for r in _records(frame)}
    crm = {(r["period"]): r for r in forecast.get("rows", [])}
    rows = []
    notes = []
    for p in ps:
        r = by_start.get(p.start, {})
        f = crm.get(p.label, {})
        remaining = r.get("remaining")
        has_target = bool(r.get("teams_with_target"))
        rows.append(
            {
                "period": p,
                "target": r.get("target") if has_target else None,
                "won": r.get("won"),
                "remaining": remaining if has_target else None,
                "open": r.get("open_amount"),
                "open_count": r.get("open_count"),
                "weighted": r.get("weighted"),
                "coverage": (r.get("open_amount") or 0) / remaining if has_target and remaining else None,
                "weighted_coverage": (r.get("weighted") or 0) / remaining
                if has_target and remaining
                else None,
                "commit": f.get("commit"),
                "best_case": f.get("best_case"),
            }
        )
        if not has_target:
            notes.append(f"{p.label}: no target loaded, so no coverage.")
    return {"rows": rows, "notes": notes}


# --- the waterfall ------------------------------------------------------------------------------

WATERFALL_STEPS = (
    ("open at start", "open_amount_at_start", "open_count_at_start"),
    ("created", "created_amount", "created_count"),
    ("pulled in", "pulled_in_amount", "pulled_in_count"),
    ("pushed out", "pushed_out_amount", "pushed_out_count"),
    ("won", "won_amount", "won_count"),
    ("lost", "lost_amount", "lost_count"),
    ("amount changes", "amount_change", None),
    ("open at end", "open_amount_at_end", "open_count_at_end"),
)


def waterfall_section(
    con: duckdb.DuckDBPyConnection, ps: list[Period], period_type: str, cur: str | None
) -> Section:
    if not ps:
        return {"missing": "No current period known yet."}
    if not _has(con, "marts.fct_pipeline_waterfall"):
        return {"missing": "No waterfall mart yet (marts.fct_pipeline_waterfall)."}
    sums = ", ".join(f"sum({c}) as {c}" for _, a, n in WATERFALL_STEPS for c in (a, n) if c)
    frame = query(
        con,
        f"select period_start, max(period_label) as period_label, {sums} from marts.fct_pipeline_waterfall "
        "where period_type = ? and period_start <= ? "
        "group by period_start order by period_start desc limit 2",
        [period_type, ps[0].start],
    )
    if len(frame) == 0:
        return {"missing": "The waterfall has no rows for this period yet."}
    out = []
    for r in _records(frame):
        steps = [
            {"label": label, "amount": r.get(a) or 0.0, "count": r.get(n) if n else None}
            for label, a, n in WATERFALL_STEPS
        ]
        out.append({"label": r["period_label"], "steps": steps, "chart": charts.waterfall_chart(steps, cur)})
    return {"periods": out}


# --- funnel, time in stage and trends ------------------------------------------------------------


def funnel_section(con: duckdb.DuckDBPyConnection, as_of: date | None) -> Section:
    if not _has(con, "marts.fct_funnel_conversion"):
        return {"missing": "No funnel mart yet (marts.fct_funnel_conversion)."}
    since = pd.Timestamp(as_of or date.today()) - pd.DateOffset(months=FUNNEL_MONTHS)
    frame = query(
        con,
        "select pipeline, stage, min(funnel_rank) as funnel_rank, sum(reached) as reached, "
        "sum(advanced) as advanced, sum(won) as won, sum(lost_at_stage) as lost_here, "
        "sum(median_days_in_stage * reached) / nullif(sum(case when median_days_in_stage is not null "
        "then reached end), 0) as days_in_stage "
        "from marts.fct_funnel_conversion where cohort_month >= ? group by pipeline, stage "
        "order by pipeline, funnel_rank",
        [since.date()],
    )
    if len(frame) == 0:
        return {"missing": f"No opportunities created in the last {FUNNEL_MONTHS} months."}
    frame["to_next"] = frame["advanced"] / frame["reached"].replace(0, np.nan)
    frame["to_won"] = frame["won"] / frame["reached"].replace(0, np.nan)
    top = frame.groupby("pipeline")["reached"].transform("max").replace(0, np.nan)
    frame["width"] = (frame["reached"] / top * 100).fillna(0).round(1)
    return {"rows": _records(frame), "months": FUNNEL_MONTHS, "pipelines": frame["pipeline"].nunique()}


def trends_section(
    con: duckdb.DuckDBPyConnection, period_type: str, ps: list[Period], cur: str | None
) -> Section:
    if not (_has(con, "marts.fct_win_rates") and _has(con, "marts.fct_sales_velocity")) or not ps:
        return {"missing": "No win-rate or velocity marts yet."}
    rates = query(
        con,
        "select period_start, period_label, win_rate, win_rate_by_amount, closed_count "
        "from marts.fct_win_rates where dimension = 'all' and period_type = ? and period_start <= ? "
        "order by period_start desc limit ?",
        [period_type, ps[0].start, TREND_PERIODS],
    )
    velocity = query(
        con,
        "select period_start, sum(sales_velocity_per_day) as velocity_per_day, "
        "sum(won_amount) / nullif(sum(won_count), 0) as average_won_deal, "
        "sum(average_cycle_days * won_count) / nullif(sum(case when average_cycle_days is not null "
        "then won_count end), 0) as cycle_days "
        "from marts.fct_sales_velocity where period_type = ? and period_start <= ? "
        "group by period_start",
        [period_type, ps[0].start],
    )
    frame = rates.merge(velocity, on="period_start", how="left").sort_values("period_start")
    if len(frame) == 0:
        return {"missing": "No closed deals yet: no win rates."}
    return {"rows": _records(frame), "chart": charts.trends_chart(frame, cur)}


# --- deals: slipped and at risk ----------------------------------------------------------------


def driver_context(
    con: duckdb.DuckDBPyConnection, as_of: date, cur: str | None, funnel: Section
) -> DriverContext:
    ctx = DriverContext(as_of=as_of, currency=cur)
    if _has(con, "marts.fct_win_rates"):
        rates = query(
            con,
            "with recent as (select distinct period_start from marts.fct_win_rates "
            "where period_type = 'quarter' and period_end < ? order by period_start desc limit ?) "
            "select dimension, dimension_value, sum(won_count) / nullif(sum(closed_count), 0) as rate "
            "from marts.fct_win_rates where period_type = 'quarter' "
            "and period_start in (select period_start from recent) group by dimension, dimension_value",
            [as_of, CONTEXT_QUARTERS],
        )
        for r in rates.itertuples():
            if not missing(r.rate):
                ctx.win_rates[(str(r.dimension), str(r.dimension_value))] = float(r.rate)
        ctx.overall_win_rate = ctx.win_rates.get(("all", "All"))
    for row in funnel.get("rows", []):
        if row.get("days_in_stage"):
            ctx.usual_days_in_stage[str(row["stage"])] = float(row["days_in_stage"])
    if _has(con, "marts.fct_opportunities"):
        sizes = query(
            con,
            "select segment, median(amount) as m from marts.fct_opportunities "
            "where not is_closed and amount > 0 group by segment",
        )
        ctx.median_amount = {str(r.segment): float(r.m) for r in sizes.itertuples() if not missing(r.m)}
        cycle = con.execute(
            "select median(cycle_days) from marts.fct_opportunities where is_won and close_date >= ?",
            [as_of - pd.Timedelta(days=365)],
        ).fetchone()
        ctx.median_won_cycle_days = None if not cycle or missing(cycle[0]) else float(cycle[0])
    return ctx


OPEN_DEAL_COLUMNS = (
    "opportunity_id, opportunity_name, account_id, account_name, owner_id, owner_name, team, segment, "
    "industry, region, lead_source, opportunity_type, product_id, product_name, stage, forecast_category, "
    "amount, crm_probability, close_date, first_close_date, close_date_pushes, close_date_slip_days, "
    "days_in_current_stage, age_days"
)


def slipped_section(con: duckdb.DuckDBPyConnection, ps: list[Period], cur: str | None) -> Section:
    if not ps or not _has(con, "marts.fct_opportunities"):
        return {"missing": "No opportunities mart yet."}
    end = ps[0].end
    frame = query(
        con,
        f"select {OPEN_DEAL_COLUMNS} from marts.fct_opportunities "
        "where not is_closed and close_date_slip_days > 0 and first_close_date <= ? "
        "order by amount desc nulls last, opportunity_id",
        [end],
    )
    total = float(frame["amount"].sum()) if len(frame) else 0.0
    return {
        "rows": _records(frame.head(LISTED_DEALS)),
        "count": len(frame),
        "amount": total,
        "period": ps[0],
    }


def at_risk_section(con: duckdb.DuckDBPyConnection, ps: list[Period], ctx: DriverContext) -> Section:
    if not ps or not _has(con, "marts.fct_opportunities"):
        return {"missing": "No opportunities mart yet."}
    deals = query(
        con,
        f"select {OPEN_DEAL_COLUMNS} from marts.fct_opportunities where not is_closed and close_date <= ?",
        [ps[-1].end],
    )
    scored = _has(con, "ml.opportunity_scores")
    notes = []
    if scored:
        nights = [
            _date(r[0])
            for r in con.execute(
                "select distinct as_of from ml.opportunity_scores order by as_of desc limit 2"
            ).fetchall()
        ]
        now = query(
            con,
            "select opportunity_id, win_probability, drivers from ml.opportunity_scores where as_of = ?",
            [nights[0]] if nights else [None],
        )
        deals = deals.merge(now, on="opportunity_id", how="left")
        if len(nights) > 1:
            before = query(
                con,
                "select opportunity_id, win_probability as previous_probability "
                "from ml.opportunity_scores where as_of = ?",
                [nights[1]],
            )
            deals = deals.merge(before, on="opportunity_id", how="left")
            notes.append(f"Probability change since the night of {nights[1]}.")
        else:
            deals["previous_probability"] = np.nan
            notes.append("One night of scores so far: no probability trend yet.")
    else:
        deals["win_probability"] = np.nan
        deals["previous_probability"] = np.nan
        deals["drivers"] = None
        notes.append("No deal scores yet (forecast not run): risk judged on close-date slips only.")
    if len(deals) == 0:
        return {"missing": "No open deals close in this or the next period.", "notes": notes}
    threshold = float(deals["amount"].quantile(AT_RISK_SIZE_QUANTILE))
    fell = (deals["previous_probability"] - deals["win_probability"]) >= AT_RISK_PROBABILITY_FALL
    below = (deals["crm_probability"] - deals["win_probability"]) >= AT_RISK_BELOW_CRM
    slipping = deals["close_date_pushes"].fillna(0) > 0
    risky = deals[(deals["amount"] >= threshold) & (fell | below | slipping)].copy()
    probability = risky["win_probability"].fillna(risky["crm_probability"]).fillna(0.5)
    risky["at_stake"] = risky["amount"] * (1 - probability)
    risky = risky.sort_values(["at_stake", "opportunity_id"], ascending=[False, True]).head(LISTED_DEALS)
    rows = []
    for _, deal in risky.iterrows():
        reasons = []
        if not missing(deal["previous_probability"]) and fell[deal.name]:
            was, now = deal["previous_probability"], deal["win_probability"]
            reasons.append(f"win probability fell from {was:.0%} to {now:.0%}")
        if below[deal.name]:
            reasons.append(f"model {deal['win_probability']:.0%} vs CRM {deal['crm_probability']:.0%}")
        if slipping[deal.name]:
            n = int(deal["close_date_pushes"])
            reasons.append("close date pushed " + ("once" if n == 1 else f"{n} times"))
        record = {k: (None if missing(v) else v) for k, v in deal.items()}
        record["reasons"] = reasons
        record["drivers"] = top_drivers(deal, ctx)
        rows.append(record)
    return {"rows": rows, "threshold": threshold, "notes": notes, "scored": scored}


# --- forecast accuracy history ------------------------------------------------------------------


def accuracy_section(con: duckdb.DuckDBPyConnection, cur: str | None) -> Section:
    if not _has(con, "ml.forecast_ledger"):
        return {"missing": "No backtest yet: forecast accuracy appears once past periods can be replayed."}
    ledger = query(
        con,
        "select * from ml.forecast_ledger where as_of = (select max(as_of) from ml.forecast_ledger) "
        "and segment = 'All' and actual is not null",
    )
    if len(ledger) == 0:
        return {"missing": "The backtest has no finished periods yet: no accuracy history."}
    horizon = "next" if (ledger["horizon"] == "next").any() else ledger["horizon"].iloc[0]
    at_start = ledger[ledger["horizon"] == horizon]
    # the earliest cut-off per period: the forecast made when the period started
    first = at_start.groupby("period")["cutoff"].transform("min") == at_start["cutoff"]
    at_start = at_start[first]
    wide = at_start.pivot_table(
        index=["period", "period_start", "actual"], columns="forecaster", values="expected"
    )
    wide = wide.reset_index().sort_values("period_start")
    model = at_start[at_start["forecaster"] == "model"].set_index("period")[["p10", "p50", "p90"]]
    wide = wide.join(model, on="period")
    scores = []
    for forecaster, group in at_start.groupby("forecaster"):
        actual = group["actual"].sum()
        wape = (group["expected"] - group["actual"]).abs().sum() / actual if actual else None
        bias = (group["expected"] - group["actual"]).sum() / actual if actual else None
        scores.append({"forecaster": forecaster, "wape": wape, "bias": bias, "periods": len(group)})
    scores.sort(key=lambda s: (s["wape"] is None, s["wape"]))
    inside = at_start[at_start["forecaster"] == "model"]["within_p10_p90"]
    return {
        "rows": _records(wide),
        "scores": scores,
        "inside": (int(inside.sum()), len(inside)),
        "horizon": horizon,
        "chart": charts.accuracy_chart(wide, cur),
    }


# --- operations: freshness, validation, models --------------------------------------------------


NEWEST_VALIDATION = (
    "with runs as (select stage, max(validated_at) as at from audit.validation_results group by stage)"
)


def operations_section(con: duckdb.DuckDBPyConnection, state_dir: Path, max_age_days: int) -> Section:
    out: Section = {}
    if _has(con, "audit.loads"):
        loads = query(
            con,
            "select export_date, max(loaded_at) as loaded_at, sum(row_count) as rows, count(*) as entities "
            "from audit.loads group by export_date order by export_date desc limit 1",
        )
        if len(loads):
            newest = _records(loads)[0]
            age = (date.today() - _date(newest["export_date"])).days
            newest["age_days"] = age
            newest["stale"] = age > max_age_days
            out["freshness"] = newest
    if "freshness" not in out:
        out["freshness_missing"] = "No export loaded yet (audit.loads is empty)."
    if _has(con, "audit.validation_results"):
        latest = query(
            con,
            f"{NEWEST_VALIDATION} "
            "select v.stage, max(v.validated_at) as validated_at, "
            "sum(case when v.success then 1 else 0 end) as passed, "
            "sum(case when not v.success and v.severity = 'error' then 1 else 0 end) as errors, "
            "sum(case when not v.success and v.severity <> 'error' then 1 else 0 end) as warnings "
            "from audit.validation_results v join runs on v.stage = runs.stage "
            "and v.validated_at::date = runs.at::date group by v.stage order by v.stage",
        )
        failures = query(
            con,
            f"{NEWEST_VALIDATION} "
            "select v.stage, v.suite, v.expectation_type, v.column_name, v.severity, v.observed_value "
            "from audit.validation_results v join runs on v.stage = runs.stage "
            "and v.validated_at::date = runs.at::date where not v.success "
            "order by v.severity, v.stage limit 20",
        )
        out["validation"] = _records(latest)
        out["failures"] = _records(failures)
    else:
        out["validation_missing"] = "No validation results yet (audit.validation_results)."
    if _has(con, "ml.model_runs"):
        have = columns(con, "ml", "model_runs")
        reason = "fallback_reason" if "fallback_reason" in have else "null"
        models = query(
            con,
            "select model_name, model_version, recipe_id, decision, score, is_current, "
            f"{reason} as fallback_reason "
            "from ml.model_runs where as_of = (select max(as_of) from ml.model_runs) "
            "order by model_name, is_current desc, model_version",
        )
        out["models"] = _records(models)
        out["fallbacks"] = [m for m in out["models"] if m.get("fallback_reason")]
        out["fallback_column"] = "fallback_reason" in have
    else:
        out["models_missing"] = "No model runs yet (ml.model_runs)."
    out["dbt"] = _dbt_results(state_dir)
    return out


def _dbt_results(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / "dbt" / "target" / "run_results.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    results = data.get("results", [])
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    return {
        "models": sum(1 for r in results if r["unique_id"].startswith("model.") and r["status"] == "success"),
        "tests": len(tests),
        "passed": sum(1 for r in tests if r["status"] == "pass"),
        "failed": [r["unique_id"] for r in results if r["status"] in ("fail", "error")][:10],
        "at": data.get("metadata", {}).get("generated_at"),
    }
