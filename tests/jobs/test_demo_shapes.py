"""The generator's CRM shapes (pipecast.demo.shapes): each preset pins what real CRMs send.

Short histories, weekly exports, fast funnels, sparse owners and a stage-history file without
close dates; the default stays the demo company (test_demo_generator.py pins it).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pipecast.canonical import ENTITIES
from pipecast.cli import main
from pipecast.config import Settings, get_settings
from pipecast.demo.generator import GenerationSummary, _generate
from pipecast.demo.shapes import PRESETS, DemoShape, preset

AS_OF = date(2026, 10, 31)
SIZE = 1_500


def _run(root: Path, shape: DemoShape, nights: int = 2, size: int = SIZE) -> GenerationSummary:
    return _generate(root / "landing", root / "truth.csv", size, 11, AS_OF, nights, None, 1_000, shape)


def _read(root: Path, day: date, entity: str) -> pd.DataFrame:
    return pd.read_csv(
        root / "landing" / day.isoformat() / ENTITIES[entity].file_name, keep_default_na=False, na_values=[""]
    )


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> tuple[Path, GenerationSummary]:
    root = tmp_path_factory.mktemp("default")
    return root, _run(root, DemoShape())


def _cycle_days(root: Path, day: date) -> pd.Series:
    opps = _read(root, day, "opportunities")
    closed = opps[opps["is_closed"]]
    return (
        pd.to_datetime(closed["close_date"]) - pd.to_datetime(closed["created_at"]).dt.normalize()
    ).dt.days


def test_short_history_holds_only_recent_deals(tmp_path, default):
    summary = _run(tmp_path, preset("short_history"))
    opps = _read(tmp_path, AS_OF, "opportunities")
    created = pd.to_datetime(opps["created_at"])
    assert created.min() >= pd.Timestamp(AS_OF - timedelta(days=55))
    assert len(opps) == summary.rows["opportunities"] > 0.9 * SIZE
    # Most deals are still open at the end of a short history; over three years most are closed.
    default_opps = _read(default[0], AS_OF, "opportunities")
    assert (~opps["is_closed"]).mean() > 0.5 > (~default_opps["is_closed"]).mean()
    assert pd.to_datetime(default_opps["created_at"]).min() < pd.Timestamp(AS_OF - timedelta(days=900))


def test_weekly_exports_are_seven_days_apart(tmp_path):
    summary = _run(tmp_path, preset("weekly_exports"), nights=3)
    assert summary.export_dates == [AS_OF - timedelta(days=14), AS_OF - timedelta(days=7), AS_OF]
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == [
        d.isoformat() for d in summary.export_dates
    ]
    # Each export shows what was known at the end of its own day.
    first = _read(tmp_path, summary.export_dates[0], "opportunities")
    assert pd.to_datetime(first["created_at"]).max() < pd.Timestamp(summary.export_dates[1])


def test_fast_funnel_closes_in_days(tmp_path, default):
    _run(tmp_path, preset("fast_funnel"))
    fast, slow = _cycle_days(tmp_path, AS_OF), _cycle_days(default[0], AS_OF)
    assert fast.median() <= 10 < 25 <= slow.median(), (fast.median(), slow.median())
    # Stage changes follow each other within days, not weeks.
    history = _read(tmp_path, AS_OF, "opportunity_stage_history")
    gaps = pd.to_datetime(history["changed_at"]).groupby(history["opportunity_id"]).diff().dt.days.dropna()
    assert gaps.median() <= 3


def test_sparse_owners_have_few_deals_each(tmp_path, default):
    _run(tmp_path, preset("sparse_owners"))
    opps = _read(tmp_path, AS_OF, "opportunities")
    per_owner = opps.groupby("owner_id").size()
    assert len(per_owner) >= 150 and per_owner.median() <= 10
    assert len(_read(tmp_path, AS_OF, "owners")) > len(per_owner)  # managers and VPs own none
    default_per_owner = _read(default[0], AS_OF, "opportunities").groupby("owner_id").size()
    assert len(default_per_owner) <= 15 and default_per_owner.median() >= 80


def test_history_without_close_dates_is_loaded_by_the_generic_layout(tmp_path):
    from pipecast.ingest import ingest_export

    from tests.ingest.conftest import query

    _run(tmp_path, preset("history_without_close_dates"), nights=1, size=300)
    folder = tmp_path / "landing" / AS_OF.isoformat()
    header = (folder / "opportunity_stage_history.csv").read_text().splitlines()[0].split(",")
    assert header == [c for c in ENTITIES["opportunity_stage_history"].columns if c != "close_date"]
    assert _read(tmp_path, AS_OF, "opportunities")["close_date"].notna().all()
    settings = Settings(
        state_dir=tmp_path / "state", landing_dir=tmp_path / "landing", warehouse_path=tmp_path / "w.duckdb"
    )
    result = ingest_export(AS_OF, settings)
    assert result.rows["opportunity_stage_history"] > 300
    assert query(settings, "select count(close_date) from raw.opportunity_stage_history") == [(0,)]
    assert query(settings, "select count(*) from raw.opportunities where close_date is null") == [(0,)]


def test_generate_command_takes_a_shape(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PIPECAST_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PIPECAST_LANDING_DIR", str(tmp_path / "landing"))
    get_settings.cache_clear()
    try:
        args = ["generate", "--shape", "real_crm", "--size", "400", "--nights", "3", "--as-of", "2026-10-31"]
        assert main(args) == 0
        assert main(["generate", "--shape", "slow"]) == 2
    finally:
        get_settings.cache_clear()
    days = sorted(p.name for p in (tmp_path / "landing").iterdir())
    assert days == ["2026-10-17", "2026-10-24", "2026-10-31"]
    header = (tmp_path / "landing" / days[-1] / "opportunity_stage_history.csv").read_text().split("\n")[0]
    assert "close_date" not in header
    assert "unknown demo shape 'slow' (known: default, short_history" in caplog.text


def test_presets_and_validation():
    assert PRESETS["default"] == DemoShape()
    assert set(PRESETS) >= {"short_history", "weekly_exports", "fast_funnel", "sparse_owners"}
    with pytest.raises(ValueError, match="known: default"):
        preset("slow")
    with pytest.raises(ValueError, match="history_days"):
        DemoShape(history_days=3)
