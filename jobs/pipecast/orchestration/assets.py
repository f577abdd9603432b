"""The warehouse layers as Airflow Assets: each writing task declares what it updates, so the UI
shows the lineage and DAGs can be scheduled on an update (schedule=[MARTS])."""

from __future__ import annotations

from airflow.sdk import Asset

RAW = Asset(name="pipecast_raw", uri="pipecast://warehouse/raw", group="pipecast")
MARTS = Asset(name="pipecast_marts", uri="pipecast://warehouse/marts", group="pipecast")
FORECASTS = Asset(name="pipecast_forecasts", uri="pipecast://warehouse/ml", group="pipecast")
REPORT = Asset(name="pipecast_report", uri="pipecast://reports/morning", group="pipecast")
