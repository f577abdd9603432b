"""Small mart and ml tables for the validation tests, with the columns the real marts have.

The marts are built by dbt (dbt_project/models/marts); these stand-ins let the suites be tested
on good and bad rows without a dbt build. ``good_marts()`` returns every table as rows; tests
mutate them and ``create_tables`` writes them into a DuckDB (or any SQLAlchemy) warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

Tables = dict[str, list[dict[str, Any]]]  # "schema.table" -> rows

AS_OF = date(2026, 3, 2)


def _funnel() -> list[dict[str, Any]]:
    rows = []
    for cohort in (date(2026, 1, 1), date(2026, 2, 1)):
        reached = 100
        for rank, stage in enumerate(("Prospecting", "Qualification", "Proposal"), start=1):
            advanced = reached * 6 // 10
            won = advanced // 2
            rows.append(
                {
                    "funnel_conversion_key": f"{cohort}|SMB|default|{stage}",
                    "cohort_month": cohort,
                    "segment": "SMB",
                    "pipeline": "default",
                    "stage": stage,
                    "funnel_rank": rank,
                    "reached": reached,
                    "advanced": advanced,
                    "won": won,
                    "lost": reached - advanced,
                    "conversion_to_next": advanced / reached,
                    "conversion_to_won": won / reached,
                }
            )
            reached = advanced
    return rows


def _waterfall() -> list[dict[str, Any]]:
    rows = []
    open_start, open_count = 1000.0, 10
    for month in (1, 2, 3):
        flow = {"created": 500.0, "pulled_in": 50.0, "pushed_out": 80.0, "won": 300.0, "lost": 120.0}
        change = -25.5
        open_end = open_start + flow["created"] + flow["pulled_in"] - flow["pushed_out"]
        open_end += -flow["won"] - flow["lost"] + change
        counts = {"created": 5, "pulled_in": 1, "pushed_out": 2, "won": 3, "lost": 1}
        count_end = open_count + counts["created"] + counts["pulled_in"] - counts["pushed_out"]
        count_end += -counts["won"] - counts["lost"]
        rows.append(
            {
                "waterfall_key": f"month|2026-{month:02d}|SMB",
                "period_type": "month",
                "period_start": date(2026, month, 1),
                "segment": "SMB",
                "open_amount_at_start": open_start,
                **{f"{k}_amount": v for k, v in flow.items()},
                "amount_change": change,
                "open_amount_at_end": open_end,
                "open_count_at_start": open_count,
                **{f"{k}_count": v for k, v in counts.items()},
                "open_count_at_end": count_end,
            }
        )
        open_start, open_count = open_end, count_end
    return rows


def good_marts() -> Tables:
    """Marts with the real marts' columns (the others are missing: skipped)."""
    return {
        "marts.dim_stages": [
            {"pipeline": "default", "stage": s, "sort_order": i, "default_probability": p}
            for i, (s, p) in enumerate(
                (("Prospecting", 0.1), ("Closed Won", 1.0), ("Closed Lost", 0.0)), start=1
            )
        ],
        "marts.fct_opportunities": [
            {
                "opportunity_id": f"OPP-{i}",
                "is_closed": i >= 3,
                "is_won": i == 3,
                "amount": 100.0 * i,
                "crm_probability": 0.1 if i < 3 else float(i == 3),
                "age_days": 30,
                "cycle_days": 20 if i >= 3 else None,
                "as_of_date": AS_OF,
            }
            for i in range(5)
        ],
        "marts.fct_funnel_conversion": _funnel(),
        "marts.fct_pipeline_waterfall": _waterfall(),
        "marts.fct_win_rates": [
            {
                "period_type": "quarter",
                "period_start": date(2026, 1, 1),
                "dimension": dimension,
                "dimension_value": value,
                "closed_count": 10,
                "won_count": 4,
                "win_rate": 0.4,
                "win_rate_by_amount": 0.35,
            }
            for dimension, value in (("owner", "OWN-0"), ("owner", "OWN-1"), ("segment", "SMB"))
        ],
        "marts.fct_lead_funnel": [
            {
                "cohort_month": date(2026, 1, 1),
                "lead_source": source,
                "campaign": "Webinar",
                "leads": 20,
                "converted_leads": 6,
                "opportunities": 5,
                "won_opportunities": 2,
                "won_amount": 1000.0,
                "lead_conversion_rate": 0.3,
                "leads_per_won_deal": 10.0,
            }
            for source in ("Web", "Event")
        ],
        "marts.fct_pipeline_daily": [
            {"snapshot_date": day, "opportunity_id": f"OPP-{i}", "amount": 100.0, "crm_probability": 0.5}
            for day in (date(2026, 3, 1), AS_OF)
            for i in range(3)
        ],
    }


def drivers(i: int) -> dict[str, Any]:
    """A score's top three drivers (pipecast.forecast.writeback.DRIVER_COLUMNS), strongest first."""
    effects = {"lead source": 0.9 - 0.1 * i, "occupation": -0.5, "lead age": 0.1 * i}
    return {
        "driver_1": f"lead source = Source {i}",
        "driver_1_effect": effects["lead source"],
        "driver_2": "occupation = Student",
        "driver_2_effect": effects["occupation"],
        "driver_3": f"lead age = {i}",
        "driver_3_effect": effects["lead age"],
        "drivers": json.dumps(effects),
    }


def good_predictions(run_id: str = "run-1") -> Tables:
    """One night of ml.* scoring the open deals of good_marts()."""
    scored_at = datetime(2026, 3, 2, 7, 0)
    scores = [
        {
            "opportunity_id": f"OPP-{i}",
            "as_of": AS_OF,
            "stage": "Prospecting",
            "amount": 100.0 * i,
            "close_date": date(2026, 4, 1),
            "win_probability": 0.2 + 0.1 * i,
            "crm_probability": 0.1,
            "p_won_this_period": 0.1 + 0.1 * i,
            "expected_amount": 100.0 * i * (0.2 + 0.1 * i),
            "model_version": "win_probability.test.20260302",
            "run_id": run_id,
            "scored_at": scored_at,
        }
        | drivers(i)
        for i in range(3)
    ]
    forecast = [
        {
            "as_of": AS_OF,
            "period": period,
            "period_start": start,
            "period_end": end,
            "method": method,
            "closed_won_to_date": 300.0,
            "open_deals": 3,
            "expected": 420.0,
            "p10": 300.0 if method == "model" else None,
            "p50": 400.0 if method == "model" else None,
            "p90": 600.0 if method == "model" else None,
            "model_version": "win_probability.test.20260302"
            if method == "model"
            else "crm_stage_probability",
            "run_id": run_id,
        }
        for period, start, end in (
            ("2026Q1", date(2026, 1, 1), date(2026, 3, 31)),
            ("2026Q2", date(2026, 4, 1), date(2026, 6, 30)),
        )
        for method in ("model", "stage_weighted")
    ]
    version = {"model_version": "test.20260302", "run_id": run_id, "as_of": AS_OF}
    segments = [
        {"period": "2026Q1", "segment": segment, "closed_won_to_date": 100.0, "expected": 150.0}
        | {"p10": 110.0, "p50": 140.0, "p90": 200.0}
        | version
        for segment in ("SMB", "Enterprise", "All")
    ]
    propensity = [
        {"account_id": f"ACC-{a}", "product_id": f"PRD-{p}", "propensity": 0.1 * (a + p + 1)} | version
        for a in range(2)
        for p in range(3)
    ]
    leads = [
        {"lead_id": f"LEAD-{i}", "conversion_probability": 0.2 * i} | version | drivers(i) for i in range(4)
    ]
    return {
        "ml.opportunity_scores": scores,
        "ml.revenue_forecast": forecast,
        "ml.revenue_forecast_segments": segments,
        "ml.product_propensity": propensity,
        "ml.lead_scores": leads,
    }


def create_tables(url: str, tables: Mapping[str, list[dict[str, Any]]]) -> None:
    """(Re)create each ``schema.table`` from its rows (column types inferred by pandas)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for name, rows in tables.items():
                schema, table = name.split(".")
                conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {schema}.{table}"))
                frame = pd.DataFrame(rows)
                frame.to_sql(table, conn, schema=schema, index=False, dtype=_date_types(frame))
    finally:
        engine.dispose()


def _date_types(frame: pd.DataFrame) -> dict[str, Any]:
    """pandas writes python dates as text unless told: make them DATE columns."""
    return {
        c: sa.Date()
        for c in frame.columns
        if frame[c].map(lambda v: isinstance(v, date) and not isinstance(v, datetime)).any()
    }
