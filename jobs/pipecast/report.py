"""The morning report: a short text summary, a Markdown report and charts."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipecast.config import Settings
from pipecast.report_html import write_html_report
from pipecast.warehouse import TableRows, table_exists, workspace

log = logging.getLogger(__name__)


@dataclass
class Report:
    summary_text: str
    markdown_path: Path
    charts: list[Path]


# What the report reads (pulled into its DuckDB workspace when the warehouse is PostgreSQL).
REPORT_SOURCES = (
    TableRows("audit", "loads", "where export_date = (select max(export_date) from audit.loads)"),
    TableRows(
        "audit",
        "validation_results",
        "where validated_at::date = (select max(validated_at)::date from audit.validation_results)",
    ),
    *(TableRows("ml", table) for table in ("revenue_forecast", "backtests", "forecast_ledger")),
    TableRows("ml", "model_runs", "where as_of = (select max(as_of) from ml.model_runs)"),
)


def _query(con, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _accepted_drift(con) -> list[str]:
    """Drift checks an operator accepted (`pipecast accept`) among the newest day's results."""
    rows = _query(
        con,
        "select details from audit.validation_results "
        "where validated_at::date = (select max(validated_at)::date from audit.validation_results) "
        "and not success and details like '%(accepted: by %'",
    )
    descriptions = sorted({json.loads(d).get("description") or "" for d in rows["details"]})
    return [f"accepted on purpose: {d}" for d in descriptions if d]


def _dbt_counts(settings: Settings) -> str:
    path = settings.state_dir / "dbt" / "target" / "run_results.json"
    if not path.exists():
        return "dbt: not run yet"
    results = json.loads(path.read_text())["results"]
    models = sum(1 for r in results if r["unique_id"].startswith("model.") and r["status"] == "success")
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    passed = sum(1 for r in tests if r["status"] == "pass")
    return f"dbt: {models} models built, {passed}/{len(tests)} tests passed"


def _revenue_chart(revenue: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = revenue[revenue["method"] == "model"].reset_index(drop=True)
    baseline = revenue[revenue["method"] == "stage_weighted"].set_index("period")["expected"]
    fig, ax = plt.subplots(figsize=(7, 4))
    x = range(len(model))
    ax.bar(
        x, model["p90"] - model["p10"], bottom=model["p10"], width=0.5, color="#9ecae1", label="model P10-P90"
    )
    ax.scatter(x, model["p50"], color="#08519c", zorder=3, label="model P50")
    ax.scatter(
        x,
        [baseline.get(p) for p in model["period"]],
        marker="D",
        color="#e6550d",
        zorder=3,
        label="stage-weighted baseline",
    )
    ax.bar(x, model["closed_won_to_date"], width=0.5, color="#31a354", alpha=0.6, label="closed won to date")
    ax.set_xticks(list(x), model["period"])
    ax.set_ylabel("revenue")
    ax.set_title(f"Revenue forecast as of {pd.Timestamp(model['as_of'].iloc[0]).date()}")
    ax.legend(loc="upper left", fontsize=8)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:.1f}M"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _coverage_lines(con) -> list[str]:
    """The revenue backtest's P10-P90 coverage, with the count it rests on."""
    rows = _query(
        con,
        "select scope, value, n from ml.backtests where as_of = (select max(as_of) from ml.backtests) "
        "and forecaster = 'model' and metric = 'coverage_p10_p90' and cutoff is null "
        "and scope in ('revenue_at_period_start', 'revenue_all_cutoffs') order by scope",
    )
    return [
        f"revenue P10-P90 coverage ({r.scope.removeprefix('revenue_').replace('_', ' ')}): "
        f"{round(r.value * r.n):.0f} of {r.n} backtest forecasts ({100 * r.value:.0f}%)"
        for r in rows.itertuples()
    ]


def _model_run_lines(con) -> list[str]:
    """The night's horizons, the win model's champion decision and every fallback (ml.model_runs)."""
    if not table_exists(con, "ml", "model_runs"):
        return []
    runs = _query(
        con,
        "select * from ml.model_runs where as_of = (select max(as_of) from ml.model_runs) "
        "order by model_name",
    )
    lines: list[str] = []
    win = runs[runs["model_name"] == "win_probability"]
    if len(win) and "horizons" in runs and isinstance(win["horizons"].iloc[0], str):
        h = json.loads(win["horizons"].iloc[0])
        cycle = (
            f"P{100 * h['cycle_quantile']:.0f} cycle {h['cycle_days']:.0f} days"
            if h.get("cycle_days")
            else "no cycle"
        )
        cutoffs = h.get("backtest_cutoffs") or []
        lines.append(
            f"horizons: {cycle}; {h['grain']}s; label maturity {h['label_maturity_days']} days; "
            + (
                f"{len(cutoffs)} backtest cut-offs {cutoffs[0]} .. {cutoffs[-1]}"
                if cutoffs
                else "no backtest"
            )
        )
    if len(win):
        lines.append(f"win probability: {win['model_version'].iloc[0]}: {win['decision'].iloc[0]}")
    if "fallback_reason" in runs:
        for r in runs[runs["fallback_reason"].notna()].itertuples():
            lines += [f"fallback: {r.model_name}: {reason}" for reason in str(r.fallback_reason).split(" | ")]
    return lines


def _warehouse_name(settings: Settings) -> str:
    if settings.target == "postgres":
        from pipecast.targets import libpq_uri

        return libpq_uri(settings, hide_password=True)
    return str(settings.resolved_warehouse_path)


def write_report(settings: Settings, stale: str | None = None) -> Report:
    """The summary and report.md; ``stale`` (a night without a new export) heads both."""
    out = settings.reports_dir
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = [f"STALE DATA: {stale}"] if stale else []
    charts: list[Path] = []
    # Not read-only: in one process (airflow dags test) dbt-duckdb keeps the file open read-write,
    # and DuckDB refuses a second handle on the same file with another configuration.
    with workspace(settings, pulls=REPORT_SOURCES) as ws:
        con = ws.con
        if table_exists(con, "audit", "loads"):
            loads = _query(
                con,
                "select export_date, entity, row_count from audit.loads "
                "where export_date = (select max(export_date) from audit.loads) order by entity",
            )
            if len(loads):
                lines.append(
                    f"export {pd.Timestamp(loads['export_date'].iloc[0]).date()}: "
                    + ", ".join(
                        f"{e}={n:,}" for e, n in zip(loads["entity"], loads["row_count"], strict=True)
                    )
                )
        if table_exists(con, "audit", "validation_results"):
            v = _query(
                con,
                "select severity, success, count(*) as n from audit.validation_results "
                "where validated_at::date = (select max(validated_at)::date from audit.validation_results) "
                "group by all",
            )
            passed = int(v.loc[v["success"], "n"].sum())
            failed_errors = int(v.loc[~v["success"] & (v["severity"] == "error"), "n"].sum())
            failed_warnings = int(v.loc[~v["success"] & (v["severity"] != "error"), "n"].sum())
            lines.append(f"validations: {passed} passed, {failed_errors} errors, {failed_warnings} warnings")
            lines += _accepted_drift(con)
        lines.append(_dbt_counts(settings))
        if table_exists(con, "ml", "revenue_forecast"):
            revenue = _query(
                con,
                "select * from ml.revenue_forecast "
                "where as_of = (select max(as_of) from ml.revenue_forecast) order by period, method",
            )
            for period, group in revenue.groupby("period", sort=True):
                m = group[group["method"] == "model"].iloc[0]
                b = group[group["method"] == "stage_weighted"].iloc[0]
                lines.append(
                    f"forecast {period}: P50 {m.p50:,.0f} (P10 {m.p10:,.0f} - P90 {m.p90:,.0f}); "
                    f"stage-weighted {b.expected:,.0f}; closed won so far {m.closed_won_to_date:,.0f}"
                )
            if len(revenue):
                charts.append(_revenue_chart(revenue, out / "revenue_forecast.png"))
        if table_exists(con, "ml", "backtests"):
            from pipecast.forecast.charts import write_forecast_charts

            charts += write_forecast_charts(con, out)
            bt = _query(
                con,
                "select forecaster, metric, value from ml.backtests "
                "where as_of = (select max(as_of) from ml.backtests) and scope = 'deals_pooled'",
            )
            if len(bt):
                table = bt.pivot(index="forecaster", columns="metric", values="value")
                lines.append(
                    "backtest (deals open at past cut-offs): "
                    + "; ".join(
                        f"{name} Brier {row['brier']:.4f} AUC {row['auc']:.3f} ECE {row['ece']:.3f}"
                        for name, row in table.iterrows()
                    )
                )
            lines += _coverage_lines(con)
        lines += _model_run_lines(con)
    lines.append(f"warehouse: {_warehouse_name(settings)}")
    lines.append(f"dbt docs: `make docs` writes {settings.state_dir / 'dbt' / 'target' / 'index.html'}")
    lines.append(f"report: {out / 'report.md'}")
    lines.append(f"HTML report: {write_html_report(settings)}")
    summary = "\n".join(lines)
    md = ["# pipecast nightly report", "", *[f"- {line}" for line in lines], ""]
    md += [f"![{c.stem}]({c.name})" for c in charts]
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return Report(summary, out / "report.md", charts)
