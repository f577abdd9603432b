"""The HTML morning report on a real night: written by the report step beside report.md, rendered
by a headless Chromium with no console error and no request leaving the file, its numbers those of
the marts, deals at risk with drivers in plain words, and a young warehouse told, not crashed."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pipecast.config import Settings
from pipecast.report import write_report
from pipecast.report_html import write_html_report
from pipecast.report_html.formatting import money
from pipecast.warehouse import connect

from tests.browser import keep_artifact
from tests.forecast.conftest import AS_OF, make_settings


@dataclass
class Rendered:
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    text: str = ""
    screenshot: Path | None = None


def render(context, page_path: Path, screenshot: Path) -> Rendered:
    """Open the page in Chromium; record console messages, page errors and every request."""
    out = Rendered()
    page = context.new_page()
    page.on("console", lambda m: out.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: out.console.append(f"pageerror: {e}"))
    page.on("request", lambda r: out.requests.append(r.url))
    page.goto(page_path.as_uri(), wait_until="load")
    out.text = page.inner_text("body")
    page.screenshot(path=str(screenshot), full_page=True)
    out.screenshot = screenshot
    page.close()
    return out


def query(settings: Settings, sql: str, params: list | None = None) -> pd.DataFrame:
    with connect(settings) as con:
        return con.execute(sql, params or []).df()


@pytest.fixture(scope="module")
def page(night: Settings) -> Path:
    report = write_report(night)
    html = night.reports_dir / "report.html"
    assert html.exists() and report.markdown_path.exists()
    assert f"HTML report: {html}" in report.summary_text
    return html


def test_page_renders_in_chromium_without_errors_or_requests(page: Path, browser_context, tmp_path):
    shown = render(browser_context, page, tmp_path / "report.png")
    kept = keep_artifact(shown.screenshot, "report_html.png")
    assert shown.console == [], shown.console
    assert shown.requests == [page.as_uri()], "the page must not load anything else"
    assert kept.stat().st_size > 50_000  # a full page, charts drawn
    for heading in (
        "Revenue forecast against target",
        "Pipeline: coverage, weighted, commit and best case",
        "Pipeline waterfall",
        "Funnel conversion, time in stage and trends",
        "Deals at risk",
        "Slipped deals",
        "Forecast accuracy: model against stage-weighted",
        "Data freshness, validation and models",
    ):
        assert heading in shown.text, heading
    assert "All amounts in USD." in shown.text
    # self-contained: no external reference in the file itself (the CSP forbids it too)
    source = page.read_text()
    assert not re.search(r"""(src|href)=["'](https?:)?//""", source)
    assert source.count("<svg") >= 4


def test_numbers_are_the_marts(night: Settings, page: Path):
    text = page.read_text()
    forecast = query(night, "select * from marts.fct_forecast where segment = 'All' order by period_start")
    assert len(forecast) == 2
    for row in forecast.itertuples():
        assert money(row.p50, "USD") in text
        assert money(row.target, "USD") in text
        assert f"{row.p50_attainment * 100:.0f}%" in text
    coverage = query(
        night,
        "select sum(open_amount) / sum(remaining_target) as coverage from marts.fct_pipeline_coverage "
        "where period_type = 'quarter' and period_start = ?",
        [forecast["period_start"].iloc[0]],
    )
    assert f"{coverage['coverage'].iloc[0]:.1f}x" in text
    waterfall = query(
        night,
        "select sum(created_amount) as created from marts.fct_pipeline_waterfall "
        "where period_type = 'quarter' and period_start = ?",
        [forecast["period_start"].iloc[0]],
    )
    assert "+" + money(waterfall["created"].iloc[0], "USD") in text  # the chart's label


def test_deals_at_risk_have_drivers_in_plain_words(night: Settings, page: Path):
    text = page.read_text()
    section = text[text.index('id="deals"') : text.index("Slipped deals")]
    drivers = re.findall(r'<li class="(?:up|down)">([^<]+)<span class="odds">', section)
    assert len(drivers) >= 3
    # no raw feature values ("owner's record = 0.07", "deal size = 1,934,099")
    assert not any(" = " in d for d in drivers), drivers
    worded = [d for d in drivers if "%" in d or "days" in d or "$" in d or d.startswith("in ")]
    assert len(worded) >= len(drivers) // 2, drivers


def test_falling_probability_puts_a_large_deal_at_risk(night: Settings, tmp_path: Path):
    """A second night where the largest open deal had a much higher probability the night before."""
    settings = make_settings(tmp_path / "state")
    shutil.copytree(night.state_dir, settings.state_dir, ignore=shutil.ignore_patterns("mlflow", "models"))
    with connect(settings) as con:
        deal = con.execute(
            "select s.opportunity_id, s.win_probability from ml.opportunity_scores s "
            "join marts.fct_opportunities o using (opportunity_id) where s.as_of = ? "
            "and o.close_date_pushes = 0 and s.win_probability <= 0.69 "
            "and o.close_date <= (select max(period_end) from ml.revenue_forecast where as_of = ?) "
            "order by s.amount desc limit 1",
            [AS_OF, AS_OF],
        ).fetchone()
        assert deal is not None
        con.execute(
            "insert into ml.opportunity_scores select * replace (as_of - 1 as as_of, "
            "least(win_probability + 0.3, 0.99) as win_probability) from ml.opportunity_scores "
            "where as_of = ? and opportunity_id = ?",
            [AS_OF, deal[0]],
        )
    text = write_html_report(settings).read_text()
    section = text[text.index('id="deals"') : text.index("Slipped deals")]
    assert (
        deal[0] in section
        or query(
            settings,
            "select opportunity_name from marts.fct_opportunities where opportunity_id = ?",
            [deal[0]],
        )["opportunity_name"].iloc[0]
        in section
    )
    assert f"win probability fell from {min(deal[1] + 0.3, 0.99):.0%} to {deal[1]:.0%}" in section


def test_a_warehouse_without_forecast_says_so(demo_warehouse, tmp_path: Path, browser_context):
    """Marts built, no forecast run, no targets: the page says what is missing and still renders."""
    settings = demo_warehouse.copy(tmp_path / "state")
    with connect(settings) as con:
        con.execute("drop schema if exists ml cascade")
        con.execute("update marts.fct_pipeline_coverage set target_amount = null, remaining_target = null")
    shown = render(browser_context, write_html_report(settings), tmp_path / "young.png")
    assert shown.console == [], shown.console
    assert "No revenue forecast yet" in shown.text
    assert "No backtest yet" in shown.text
    assert "No deal scores yet" in shown.text
    assert "no target loaded, so no coverage" in shown.text
    assert "Deals at risk" in shown.text and "Pipeline waterfall" in shown.text


def test_an_empty_warehouse_renders(tmp_path: Path):
    settings = make_settings(tmp_path / "state")
    settings.state_dir.mkdir(parents=True)
    duckdb.connect(str(settings.resolved_warehouse_path)).close()
    text = write_html_report(settings).read_text()
    assert "No revenue forecast yet" in text
    assert "No export loaded yet" in text
    assert "dbt has not run yet" in text
