"""All configuration in one place: environment variables prefixed PIPECAST_, or a `pipecast.env`
file in the working directory (environment variables win).

pipecast never reads `.env`: that file belongs to docker compose (`cp .env.example .env`), whose
values (PIPECAST_TARGET=postgres, container paths) describe the containers, not a local run.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = "pipecast.env"  # local settings file; `.env` is docker compose's and is never read


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIPECAST_", env_file=ENV_FILE, extra="ignore")

    # Where everything the pipeline writes lives (git-ignored by default).
    state_dir: Path = Field(default=PROJECT_ROOT / ".state")
    # The landing zone: one dated folder (YYYY-MM-DD) per CRM export. Defaults to the demo's.
    landing_dir: Path | None = None
    # DuckDB warehouse file (embedded default target).
    warehouse_path: Path | None = None
    # The warehouse of record: "duckdb" (the file above) or "postgres" (the server below). This one
    # setting moves the whole night: ingest, dbt, validation, forecast and report.
    target: Literal["duckdb", "postgres"] = "duckdb"
    # The PostgreSQL warehouse (target postgres); dbt's profiles.yml reads the same PIPECAST_PG_*.
    pg_host: str = "localhost"
    pg_port: int = 5432
    pg_user: str = "pipecast"
    pg_password: str = ""
    pg_database: str = "pipecast"

    dbt_project_dir: Path = Field(default=PROJECT_ROOT / "dbt_project")

    # Demo data generator defaults.
    demo_size: int = 20_000
    demo_seed: int = 42
    demo_nights: int = 3

    # Orchestration (Airflow; dags/ and jobs/pipecast/orchestration/). Read when the DAG files are
    # parsed: a change applies on the next parse. The nightly run is a cron expression in
    # schedule_timezone; the run on day D waits for the export dated D - export_lag_days (a CRM
    # exports "yesterday" during the night).
    nightly_schedule: str = "0 3 * * *"
    retrain_schedule: str = "0 5 * * 0"  # weekly retraining: Sundays 05:00
    schedule_timezone: str = "UTC"
    export_lag_days: int = Field(default=1, ge=0)
    # The export sensor pokes every sensor_poke_minutes in reschedule mode (no worker slot held
    # while waiting) and fails, with an alert, when the export is not there after the timeout.
    sensor_poke_minutes: float = Field(default=5, gt=0)
    sensor_timeout_minutes: float = Field(default=360, gt=0)
    # Retries with exponential backoff, for every task.
    task_retries: int = Field(default=2, ge=0)
    retry_delay_minutes: float = Field(default=2, ge=0)
    max_retry_delay_minutes: float = Field(default=30, ge=0)
    # Deadline (Airflow 3's successor of the SLA): alert when a run is not finished this long
    # after it was queued. 0: no deadline (`airflow dags test` in Airflow 3.3.2 crashes at the end
    # of a successful run of a DAG that has one; `make run` sets 0).
    run_deadline_minutes: float = Field(default=240, ge=0)
    # Alerts on task failure and missed deadline: a webhook (JSON POST with a "text" field, as
    # Slack, Mattermost and Teams incoming webhooks take it) and/or email (comma-separated
    # recipients, through alert_smtp_host). Neither set: alerts are only logged.
    alert_webhook_url: str | None = None
    alert_email_to: str | None = None
    alert_email_from: str = "pipecast@localhost"
    alert_smtp_host: str = "localhost"
    alert_smtp_port: int = 25
    alert_smtp_user: str | None = None
    alert_smtp_password: str | None = None
    alert_smtp_starttls: bool = False

    # Validation (Great Expectations; see expectations/ and jobs/pipecast/validate/).
    # SQLAlchemy URL of the warehouse for validation and audit writes; default: the DuckDB file,
    # or PIPECAST_PG_* (as dbt's profiles.yml reads them) when target is postgres.
    validation_warehouse_url: str | None = None
    # DuckDB's memory_limit for the validation connections (its size syntax: 256MB, 1GB). It bounds
    # the buffer pool, which otherwise caches every block a check scans (up to 80% of RAM), so
    # validation's peak memory stays flat as tables grow; larger aggregates spill to disk.
    # None: DuckDB's default. PostgreSQL ignores it (the server manages its own memory).
    validation_duckdb_memory_limit: str | None = Field(
        default="128MB", pattern=r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$"
    )

    # dbt on DuckDB within bounds (issue 14; dbt_project/profiles.yml reads them as
    # PIPECAST_DBT_DUCKDB_*, the runner sets them). DuckDB's memory_limit for dbt's database (its
    # size syntax, 3GB, or a share of RAM, 50%): past it, joins, aggregates and sorts spill to the
    # temp directory beside the warehouse file (<file>.tmp) instead of growing. DuckDB's own
    # default is 80% of RAM. threads: DuckDB's worker threads (dbt's model concurrency stays at the
    # profile's threads). PostgreSQL ignores both.
    dbt_duckdb_memory_limit: str = Field(
        default="3GB", pattern=r"^\s*(\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)|\d+(\.\d+)?\s*%)\s*$"
    )
    dbt_duckdb_threads: int = Field(default=2, ge=1)
    # The same bounds for the Python steps' warehouse connections (ingest, forecast, report;
    # pipecast.warehouse.connect and workspace): DuckDB's buffer pool caches every block a step
    # reads (the forecast's point-in-time models, read at every cut-off, among them); past the
    # limit it evicts, and what a query builds spills to the temp directory. The forecast's
    # pandas frames and models come on top (the bench reports each step's peak). PostgreSQL ignores both.
    duckdb_memory_limit: str = Field(
        default="1500MB", pattern=r"^\s*(\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)|\d+(\.\d+)?\s*%)\s*$"
    )
    duckdb_threads: int = Field(default=2, ge=1)
    # Warn when an export's row count per entity moves more than this share from the previous one.
    raw_row_count_tolerance: float = Field(default=0.5, ge=0)
    # Warn when the export being validated is older than this many days (the landing zone is stale).
    raw_export_max_age_days: int = Field(default=3, ge=0)
    # Warn when an export's newest change (last_modified_at) is this many days older than the export.
    raw_max_staleness_days: int = Field(default=7, ge=0)
    # Dates before this are parse failures (epoch or year-1 defaults), not CRM records: an error.
    raw_min_date: date = date(1990, 1, 1)
    # Warn when an expected close date lies further than this in the future.
    raw_close_date_horizon_days: int = Field(default=3650, ge=0)
    # Warn on deal amounts above this (in the deal's currency): typos and test records.
    raw_max_plausible_amount: float = Field(default=1e9, gt=0)

    # Ingest (jobs/pipecast/ingest/). Which layout maps the exports onto the canonical model:
    # "auto" (an export's manifest `layout`, else detected from its file names), "generic", the
    # name of a mapping in mappings_dir (e.g. "salesforce", "hubspot"), or a mapping file's path.
    source_layout: str = "auto"
    mappings_dir: Path = Field(default=PROJECT_ROOT / "mappings")
    # Object storage as the landing zone: an fsspec URL (s3://bucket/exports, memory://...);
    # overrides landing_dir. Options (credentials, endpoint) go to fsspec as given.
    landing_url: str | None = None
    landing_storage_options: dict[str, Any] = Field(default_factory=dict)
    # Days between two expected exports: calendar gaps at this cadence are reported as missing.
    export_interval_days: int = Field(default=1, ge=1)

    # The fiscal year's first month (1 = calendar year); a fiscal year is named by the calendar
    # year it ends in (start month 2: February 2026 to January 2027 is FY2027). The one home of
    # this fact: dbt gets it as the var fiscal_year_start_month (transform/dbt_runner.py), the
    # forecast's periods read it from here.
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)

    # Forecasting (jobs/pipecast/forecast/). "This period" and "next period" of the revenue
    # forecast and of close timing: fiscal quarters (fiscal_year_start_month above), months or
    # ISO weeks; None: from the cycle lengths in the warehouse (forecast/horizons.py).
    forecast_period: Literal["quarter", "month", "week"] | None = None
    # Deal-level backtest: the deals open at this many past cut-offs (period-ends), pooled.
    forecast_backtest_cutoffs: int = Field(default=4, ge=1)
    # Revenue backtest: this many past periods, each forecast from the month-ends before and in it.
    forecast_backtest_periods: int = Field(default=8, ge=1)
    # A deal-level backtest cut-off (and a snapshot training row) must be this old, so that most
    # outcomes of the deals open then are known. None: the observed cycle (forecast/horizons.py).
    forecast_label_maturity_days: int | None = Field(default=None, ge=0)
    # Upper bound on the rows of any training set: deals are sampled by a hash of their id.
    forecast_max_training_rows: int = Field(default=200_000, ge=1_000)
    # Monte-Carlo draws behind each revenue range.
    forecast_simulations: int = Field(default=2000, ge=100)
    # Win-probability recipes that compete on the backtest (champion/challenger).
    forecast_win_candidates: list[str] = Field(default_factory=lambda: ["stage_chain", "snapshot"])
    # Products written per account in ml.product_propensity (the k most likely).
    forecast_propensity_top_k: int = Field(default=3, ge=1)
    # Background rows behind each deal's driver contributions.
    forecast_explain_background: int = Field(default=5, ge=1)
    # Model versions tracked in MLflow (sqlite store in state_dir/mlflow); off: joblib files only.
    forecast_mlflow: bool = True
    # Rebuild the dbt forecast marts (dbt_project/models/forecast) after writing ml.*.
    forecast_build_marts: bool = True
    # Threads of the forecast's own loops (blocks of rows through the trees and of Monte-Carlo draws,
    # forecast/parallel.py): plain threads, which slow down in proportion when other work shares the cores.
    forecast_threads: int = Field(default=1, ge=1)
    # OpenMP threads of scikit-learn's boosting fits (and BLAS): they spin at each of a fit's thousands
    # of barriers, and with other work on the cores a fit on more than one crawls (forecast/parallel.py:
    # 20x and more). Raise it only where the forecast has the cores to itself.
    forecast_openmp_threads: int = Field(default=1, ge=1)
    # The models that read only the warehouse (product propensity, lead conversion: ``independent``)
    # run on a thread of their own beside the deal models, each thread on one core's worth of work
    # (forecast/job.py, run_models). Off: every model in turn on one thread.
    forecast_models_beside: bool = True
    # The revenue backtest's periods backtested afresh fit their models two at a time: the next
    # period's on a thread of its own while this one's fit runs here (forecast/backtests.py,
    # run_revenue_backtest). Off: one period's fits after the other's.
    forecast_backtest_fits_beside: bool = True
    forecast_seed: int = 0

    # Publishing and failure handling (atomic marts and ml.*, fault tests).
    # Tests only: the process stops at this named point (pipecast.faults.pause_point, e.g.
    # "writeback:revenue_forecast" or "publish:swap") and waits there to be killed.
    fault_pause_at: str = ""

    # Drift and currencies (jobs/pipecast/validate/drift.py, acceptance.py; dbt var
    # reporting_currency). Each export is compared with the previous export in raw.* during raw
    # validation; a check beyond its limit is an error (the export is quarantined) unless an
    # operator accepted that export (`pipecast accept`). Per-entity limits are JSON objects,
    # {"default": x, "<entity>": y}: a share of the previous export's value (0.7 = a 70% drop).
    drift_max_row_drop: dict[str, float] = Field(default_factory=lambda: {"default": 0.7})
    drift_max_row_rise: dict[str, float] = Field(default_factory=lambda: {"default": 4.0})
    drift_max_amount_drop: dict[str, float] = Field(default_factory=lambda: {"default": 0.7})
    drift_max_amount_rise: dict[str, float] = Field(default_factory=lambda: {"default": 4.0})
    # A change of unit: the median ratio of amounts to the previous export's (key by key, else of
    # the two medians) beyond this factor either way (x100, x1000, /100).
    drift_max_unit_ratio: float = Field(default=5.0, gt=1)
    # The share of amounts in any one currency moving by more than this (0.2 = 20 points).
    drift_max_currency_share_shift: float = Field(default=0.2, gt=0, le=1)
    # A column filled in this much less of the rows than in the previous export (1.0 -> 0.0 is a
    # column missing or renamed).
    drift_max_fill_drop: float = Field(default=0.5, gt=0, le=1)
    # The share of opportunities whose account, owner or product is unknown rising by more.
    drift_max_orphan_rise: float = Field(default=0.01, ge=0, le=1)
    # The currency the marts report amounts in (dbt var reporting_currency): amounts in other
    # currencies are converted at the dated rates of the exports' exchange_rates entity.
    reporting_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    # Forecast trust (issue 12: forecast/horizons.py, forecast/stage_model.py, champion choice,
    # revenue range prior). Horizons follow the cycle: this quantile of created-to-closed days of
    # the deals closed by the night sets the label maturity and the forecast grain.
    forecast_cycle_quantile: float = Field(default=0.9, gt=0, lt=1)
    # The deal backtest's cut-offs are the ends of these periods; None: the forecast grain, or a
    # finer one when the window holds fewer than forecast_backtest_cutoffs of them.
    forecast_cutoff_spacing: Literal["quarter", "month", "week"] | None = None
    # The first backtest cut-off lies this many days after the first deal; None: one label maturity
    # (shortened when the history is too short for both).
    forecast_backtest_warmup_days: int | None = Field(default=None, ge=0)
    # Sparse groups (an owner, a segment with few deals) shrink towards their parent's rate with
    # this prior weight in deals when the data cannot estimate it (empirical Bayes otherwise).
    forecast_group_prior_deals: float = Field(default=20.0, gt=0)
    # Revenue ranges: the sd of a period's shared error relative to its expected revenue assumed
    # when fewer than forecast_spread_min_periods backtest periods measured it. The range is
    # widened to this prior, never narrowed below what the backtests showed. 0.25 puts about 80% of
    # periods within +-32% of the expected revenue (P10-P90 of a log-normal factor).
    forecast_spread_prior: float = Field(default=0.25, ge=0)
    forecast_spread_min_periods: int = Field(default=4, ge=1)

    # MLflow (issue 15, model registry): where model versions are tracked and registered. None: a
    # local SQLite store in state_dir/mlflow (no server); a team sets its tracking server, e.g.
    # http://mlflow.internal:5000 (the registry defaults to the tracking URI).
    mlflow_tracking_uri: str | None = None
    mlflow_registry_uri: str | None = None

    # Concurrent runs (issue 13, concurrency; pipecast.ingest.night_lock): how long a step waits
    # for another night holding the warehouse's night lock before it gives up (the CLI exits 4).
    # 0: refuse at once.
    night_lock_wait_seconds: float = Field(default=0, ge=0)

    @property
    def resolved_landing_dir(self) -> Path:
        return self.landing_dir or self.state_dir / "landing"

    @property
    def resolved_warehouse_path(self) -> Path:
        return self.warehouse_path or self.state_dir / "warehouse.duckdb"

    @property
    def quarantine_dir(self) -> Path:
        return self.state_dir / "quarantine"

    @property
    def archive_dir(self) -> Path:
        return self.state_dir / "archive"

    @property
    def reports_dir(self) -> Path:
        return self.state_dir / "reports"

    @property
    def ground_truth_path(self) -> Path:
        return self.state_dir / "demo_truth" / "ground_truth.csv"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
