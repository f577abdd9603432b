"""The morning report as one self-contained HTML page (``reports/report.html``), beside report.md.

For this and the next period: the forecast range against target with attainment; coverage,
weighted pipeline, commit and best case; the waterfall; funnel conversion and time in stage with
win-rate and velocity trends; slipped deals; the top deals at risk with their drivers in plain
words; forecast accuracy against the stage-weighted baseline; data freshness, validation status and
every model fallback. Charts are inline SVG and the styles inline: the page makes no request.

``write_html_report(settings)`` reads the warehouse (on PostgreSQL, the rows it needs are pulled
into a DuckDB workspace) and writes the page atomically.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from pipecast.config import Settings
from pipecast.report_html import formatting, sections
from pipecast.warehouse import TableRows, workspace

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"

_NEWEST = "where as_of = (select max(as_of) from {schema}.{table})"
# What the page reads (pulled into the DuckDB workspace when the warehouse is PostgreSQL).
HTML_REPORT_SOURCES = (
    *(
        TableRows("marts", t)
        for t in (
            "fct_pipeline_coverage",
            "fct_pipeline_waterfall",
            "fct_funnel_conversion",
            "fct_sales_velocity",
        )
    ),
    TableRows("marts", "dim_periods"),
    TableRows("marts", "fct_win_rates", "where period_type in ('quarter', 'month')"),
    TableRows("marts", "fct_opportunities", "where not is_closed or close_date >= current_date - 400"),
    *(
        TableRows(s, t, _NEWEST.format(schema=s, table=t))
        for s, t in (
            ("marts", "fct_forecast"),
            ("ml", "revenue_forecast"),
            ("ml", "revenue_forecast_segments"),
            ("ml", "forecast_ledger"),
            ("ml", "model_runs"),
        )
    ),
    TableRows(
        "ml",
        "opportunity_scores",
        "where as_of in (select distinct as_of from ml.opportunity_scores order by as_of desc limit 2)",
    ),
    TableRows("audit", "loads", "where export_date = (select max(export_date) from audit.loads)"),
    TableRows(
        "audit",
        "validation_results",
        "where validated_at >= (select min(at) from (select max(validated_at)::date as at "
        "from audit.validation_results group by stage) as newest)",
    ),
)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipecast.report_html", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        money=formatting.money,
        pct=formatting.pct,
        ratio=formatting.ratio,
        count=formatting.count,
        day=formatting.day,
        stamp=formatting.stamp,
    )
    env.tests["missing"] = formatting.missing
    return env


def render(settings: Settings, con) -> str:
    """The page for what ``con`` (a DuckDB connection to the warehouse or a workspace) holds."""
    period_type = sections.forecast_period_type(con, settings.forecast_period)
    as_of = sections.as_of_date(con)
    ps = sections.periods(con, period_type)
    cur, currency_note = sections.currency(con, getattr(settings, "reporting_currency", None))
    forecast = sections.forecast_section(con, cur)
    funnel = sections.funnel_section(con, as_of)
    ctx = sections.driver_context(con, as_of or datetime.now(UTC).date(), cur, funnel)
    context = {
        "as_of": as_of,
        "generated_at": datetime.now(UTC),
        "periods": ps,
        "cur": cur,
        "currency_note": currency_note,
        "forecast": forecast,
        "pipeline": sections.pipeline_section(con, ps, period_type, forecast),
        "waterfall": sections.waterfall_section(con, ps, period_type, cur),
        "funnel": funnel,
        "trends": sections.trends_section(con, period_type, ps, cur),
        "slipped": sections.slipped_section(con, ps, cur),
        "at_risk": sections.at_risk_section(con, ps, ctx),
        "accuracy": sections.accuracy_section(con, cur),
        "ops": sections.operations_section(con, settings.state_dir, settings.raw_export_max_age_days),
    }
    return _environment().get_template("report.html.j2").render(**context)


def write_html_report(settings: Settings) -> Path:
    """Write ``reports/report.html`` for the warehouse's newest night; return its path."""
    out = settings.reports_dir
    out.mkdir(parents=True, exist_ok=True)
    with workspace(settings, pulls=HTML_REPORT_SOURCES) as ws:
        page = render(settings, ws.con)
    path = out / REPORT_FILE
    temporary = path.with_suffix(".html.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)
    log.info("HTML report written to %s (%d kB)", path, len(page) // 1024)
    return path
