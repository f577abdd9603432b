"""The dbt semantic layer on a real night (DuckDB): `mf validate-configs` passes against the
warehouse, `mf query` answers every metric and agrees with the marts, the report is an exposure,
the docs have their own overview, and `dbt source freshness` judges the raw exports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from pipecast.config import Settings
from pipecast.transform.dbt_runner import dbt_env
from pipecast.warehouse import connect

BIN = Path(sys.executable).parent
# mf reads <project>/target/semantic_manifest.json (a fixed path): the tests parse a copy of the
# project so that the repository's dbt_project/ stays untouched.
IGNORED = shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml")


@dataclass(frozen=True)
class MetricFlow:
    settings: Settings
    project: Path
    env: dict[str, str]

    def run(self, *args: str, tool: str = "mf") -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(BIN / tool), *args],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (
            f"{tool} {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        return result

    def query(self, metrics: list[str], group_by: str, out: Path, *extra: str) -> pd.DataFrame:
        self.run("query", "--metrics", ",".join(metrics), "--group-by", group_by, "--csv", str(out), *extra)
        return pd.read_csv(out)

    def sql(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with connect(self.settings) as con:
            return con.execute(sql, params or []).df()


@pytest.fixture(scope="module")
def mf(night: Settings, tmp_path_factory: pytest.TempPathFactory) -> MetricFlow:
    state = tmp_path_factory.mktemp("semantic") / "state"
    shutil.copytree(night.state_dir, state, ignore=shutil.ignore_patterns("dbt", "mlflow", "models"))
    settings = night.model_copy(update={"state_dir": state, "warehouse_path": state / "warehouse.duckdb"})
    project = state.parent / "dbt_project"
    shutil.copytree(settings.dbt_project_dir, project, ignore=IGNORED)
    env = {
        **os.environ,
        **dbt_env(settings),
        "DBT_PROJECT_DIR": str(project),
        "DBT_PROFILES_DIR": str(project),
        "DBT_LOG_PATH": str(state / "dbt-logs"),
    }
    flow = MetricFlow(settings, project, env)
    flow.run("parse", tool="dbt")
    return flow


def test_semantic_manifest_holds_the_metrics(mf: MetricFlow):
    manifest = json.loads((mf.project / "target" / "semantic_manifest.json").read_text())
    metrics = {m["name"] for m in manifest["metrics"]}
    assert {
        "pipeline",
        "weighted_pipeline",
        "bookings",
        "win_rate",
        "coverage",
        "sales_velocity",
        "attainment",
        "forecast_p10",
        "forecast_p50",
        "forecast_p90",
        "forecast_error",
    } <= metrics
    assert len(manifest["semantic_models"]) == 5
    assert manifest["project_configuration"]["time_spines"]
    full = json.loads((mf.project / "target" / "manifest.json").read_text())
    exposure = next(e for e in full["exposures"].values() if e["name"] == "morning_report")
    assert "model.pipecast.fct_forecast" in exposure["depends_on"]["nodes"]
    overview = full["docs"]["doc.pipecast.__overview__"]
    assert "the sales-pipeline warehouse" in overview["block_contents"]


def test_validate_configs_against_the_warehouse(mf: MetricFlow):
    out = mf.run("validate-configs").stdout
    assert "ERRORS: 0" in out and "Successfully validated metrics against data warehouse" in out


def test_deal_metrics_agree_with_the_marts(mf: MetricFlow, tmp_path: Path):
    got = mf.query(
        ["pipeline", "weighted_pipeline", "bookings", "win_rate", "average_won_deal"],
        "metric_time__quarter",
        tmp_path / "deals.csv",
    )
    got["quarter"] = pd.to_datetime(got["metric_time__quarter"])
    want = mf.sql(
        "select date_trunc('quarter', close_date)::date as quarter, "
        "sum(case when not is_closed then amount else 0 end) as want_pipeline, "
        "sum(case when not is_closed then stage_weighted_amount else 0 end) as want_weighted_pipeline, "
        "sum(case when is_won then amount else 0 end) as want_bookings, "
        "sum(case when is_won then 1 else 0 end) "
        "/ nullif(sum(case when is_closed then 1 else 0 end), 0) as want_win_rate "
        "from marts.fct_opportunities group by 1"
    )
    want["quarter"] = pd.to_datetime(want["quarter"])
    merged = want.merge(got, on="quarter")
    assert len(merged) == len(want) > 8
    assert merged["pipeline"].sum() > 0 and merged["bookings"].sum() > 0
    for metric in ("pipeline", "weighted_pipeline", "bookings", "win_rate"):
        ours = merged[f"want_{metric}"].fillna(0).to_numpy()
        assert merged[metric].fillna(0).to_numpy() == pytest.approx(ours, rel=1e-9), metric


def test_coverage_attainment_and_velocity_are_the_quarter_rows(mf: MetricFlow, tmp_path: Path):
    got = mf.query(
        ["target", "attainment", "coverage", "weighted_coverage", "sales_velocity"],
        "metric_time__quarter",
        tmp_path / "coverage.csv",
    )
    got["quarter"] = pd.to_datetime(got["metric_time__quarter"])
    want = mf.sql(
        "select period_start as quarter, sum(target_amount) as target_sum, "
        "sum(won_amount) / sum(target_amount) as attainment_sum, "
        "sum(open_amount) / nullif(sum(remaining_target), 0) as coverage_sum "
        "from marts.fct_pipeline_coverage where period_type = 'quarter' group by 1"
    )
    want["quarter"] = pd.to_datetime(want["quarter"])
    merged = want.merge(got, on="quarter")
    with_target = merged[merged["target_sum"] > 0]
    assert len(with_target) >= 4
    assert with_target["target"].to_numpy() == pytest.approx(with_target["target_sum"].to_numpy())
    assert with_target["attainment"].to_numpy() == pytest.approx(with_target["attainment_sum"].to_numpy())
    covered = with_target[with_target["coverage_sum"].notna()]
    assert covered["coverage"].to_numpy() == pytest.approx(covered["coverage_sum"].to_numpy())
    assert (got["sales_velocity"].dropna() > 0).any()


def test_forecast_metrics_and_error_by_forecaster(mf: MetricFlow, tmp_path: Path):
    got = mf.query(
        ["forecast_p10", "forecast_p50", "forecast_p90", "forecast_attainment"],
        "metric_time__quarter",
        tmp_path / "forecast.csv",
        "--order",
        "metric_time__quarter",
    )
    want = mf.sql(
        "select p10, p50, p90, p50_attainment from marts.fct_forecast "
        "where segment = 'All' order by period_start"
    )
    assert len(got) == 2
    assert got["forecast_p50"].to_numpy() == pytest.approx(want["p50"].to_numpy())
    assert got["forecast_attainment"].to_numpy() == pytest.approx(want["p50_attainment"].to_numpy())
    assert (got["forecast_p10"] <= got["forecast_p50"]).all() and (
        got["forecast_p50"] <= got["forecast_p90"]
    ).all()
    errors = mf.query(["forecast_error", "forecast_bias"], "ledger_row__forecaster", tmp_path / "error.csv")
    errors = errors.set_index("ledger_row__forecaster")
    assert {"model", "stage_weighted"} <= set(errors.index)
    ledger = mf.sql(
        "select forecaster, sum(abs_error) / sum(actual) as wape from marts.fct_forecast_accuracy "
        "where segment = 'All' group by forecaster"
    ).set_index("forecaster")
    assert errors.loc["model", "forecast_error"] == pytest.approx(ledger.loc["model", "wape"])


def test_source_freshness_fails_on_a_stale_export(mf: MetricFlow):
    fresh = mf.run("source", "freshness", "--target-path", str(mf.project / "target"), tool="dbt")
    assert "PASS" in fresh.stdout
    with connect(mf.settings) as con:
        con.execute("update raw.opportunities set _loaded_at = _loaded_at - interval 4 day")
    stale = subprocess.run(
        [str(BIN / "dbt"), "source", "freshness"], cwd=mf.project, env=mf.env, capture_output=True, text=True
    )
    assert stale.returncode != 0
    assert "ERROR STALE" in stale.stdout and "crm.opportunities" in stale.stdout
