"""All configuration in one place: environment variables prefixed PIPECAST_ (or a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIPECAST_", env_file=".env", extra="ignore")

    # Where everything the pipeline writes lives (git-ignored by default).
    state_dir: Path = Field(default=PROJECT_ROOT / ".state")
    # The landing zone: one dated folder (YYYY-MM-DD) per CRM export. Defaults to the demo's.
    landing_dir: Path | None = None
    # DuckDB warehouse file (embedded default target).
    warehouse_path: Path | None = None
    target: Literal["duckdb", "postgres"] = "duckdb"

    dbt_project_dir: Path = Field(default=PROJECT_ROOT / "dbt_project")
    expectations_dir: Path = Field(default=PROJECT_ROOT / "expectations")

    # Demo data generator defaults.
    demo_size: int = 20_000
    demo_seed: int = 42
    demo_nights: int = 3

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
