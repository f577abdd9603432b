"""The demo-data generator: file contract, point-in-time consistency and realism of the company."""

from __future__ import annotations

import csv
import json
import re
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipecast.canonical import COMPLETION_MARKER, ENTITIES, MANIFEST_FILE
from pipecast.demo import generator
from pipecast.demo.generator import GenerationSummary, _generate, generate_demo_exports
from pipecast.demo.world import (
    CLOSED_STAGES,
    CLOSED_WON,
    LEAD_SOURCES,
    OPEN_STAGES,
    STAGE_FORECAST_CATEGORY,
    STAGE_NAMES,
    STAGE_PROBABILITY,
    TRUTH_COLUMNS,
)

AS_OF = date(2026, 10, 31)
SIZE = 4_000
NIGHTS = 3
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def end_of(day: date) -> pd.Timestamp:
    return pd.Timestamp(day + timedelta(days=1))


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, GenerationSummary]:
    root = tmp_path_factory.mktemp("demo")
    messages: list[str] = []
    summary = _generate(
        root / "landing", root / "truth.csv", SIZE, 7, AS_OF, NIGHTS, messages.append, chunk_size=1_500
    )
    assert any(m.startswith("opportunities 4,000/4,000") for m in messages)
    return root / "landing", root / "truth.csv", summary


@pytest.fixture(scope="module")
def exports(demo: tuple[Path, Path, GenerationSummary]) -> dict[date, dict[str, pd.DataFrame]]:
    landing, _, summary = demo
    out = {}
    for day in summary.export_dates:
        folder = landing / day.isoformat()
        out[day] = {
            name: pd.read_csv(folder / entity.file_name, keep_default_na=False, na_values=[""])
            for name, entity in ENTITIES.items()
        }
        for frame in out[day].values():
            for column in ("created_at", "changed_at", "last_modified_at", "converted_at", "close_date"):
                if column in frame:
                    frame[column] = pd.to_datetime(frame[column])
    return out


@pytest.fixture(scope="module")
def last(exports: dict[date, dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    return exports[AS_OF]


@pytest.fixture(scope="module")
def truth(demo: tuple[Path, Path, GenerationSummary]) -> pd.DataFrame:
    return pd.read_csv(demo[1], parse_dates=["outcome_closed_at"])


@pytest.fixture(scope="module")
def closed(last: dict[str, pd.DataFrame]) -> pd.DataFrame:
    opps = last["opportunities"].merge(last["accounts"][["account_id", "segment"]], on="account_id")
    return opps[opps["is_closed"]]


# ---------------------------------------------------------------------------- files and format
def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> dict[str, bytes]:
        generate_demo_exports(
            tmp_path / name / "landing",
            tmp_path / name / "truth.csv",
            size=1_500,
            seed=seed,
            as_of=AS_OF,
            nights=2,
        )
        return {
            str(p.relative_to(tmp_path / name)): p.read_bytes()
            for p in sorted((tmp_path / name).rglob("*"))
            if p.is_file()
        }

    first, again, other = run("a", 1), run("b", 1), run("c", 2)
    assert first == again
    assert first.keys() == other.keys()
    key = "landing/2026-10-31/opportunities.csv"
    assert first[key] != other[key]


def test_rerun_overwrites_the_same_folders(tmp_path: Path) -> None:
    args = dict(size=300, seed=3, as_of=AS_OF, nights=1)
    generate_demo_exports(tmp_path / "landing", tmp_path / "truth.csv", **args)
    before = (tmp_path / "landing" / "2026-10-31" / "leads.csv").read_bytes()
    generate_demo_exports(tmp_path / "landing", tmp_path / "truth.csv", **args)
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == ["2026-10-31"]
    assert (tmp_path / "landing" / "2026-10-31" / "leads.csv").read_bytes() == before


def test_every_export_is_complete_with_manifest_and_marker(
    demo: tuple[Path, Path, GenerationSummary],
) -> None:
    landing, truth_path, summary = demo
    assert summary.export_dates == [AS_OF - timedelta(days=2), AS_OF - timedelta(days=1), AS_OF]
    assert sorted(p.name for p in landing.iterdir()) == [str(d) for d in summary.export_dates]
    assert not truth_path.is_relative_to(landing)
    for day in summary.export_dates:
        folder = landing / day.isoformat()
        assert (folder / COMPLETION_MARKER).exists()
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        assert manifest["export_date"] == day.isoformat()
        assert manifest["source"] == "pipecast-demo" and manifest["layout"] == "generic"
        assert set(manifest["files"]) == {e.file_name for e in ENTITIES.values()}
        for entity in ENTITIES.values():
            with open(folder / entity.file_name, encoding="utf-8", newline="") as f:
                rows = list(csv.reader(f))
            assert rows[0] == list(entity.columns), entity.name
            assert all(len(r) == len(entity.columns) for r in rows[1:]), entity.name
            assert manifest["files"][entity.file_name]["rows"] == len(rows) - 1, entity.name
            if day == AS_OF:
                assert summary.rows[entity.name] == len(rows) - 1
    assert summary.truth_rows == SIZE


def test_csv_values_use_the_documented_formats(demo: tuple[Path, Path, GenerationSummary]) -> None:
    folder = demo[0] / AS_OF.isoformat()
    with open(folder / "opportunities.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(TIMESTAMP.match(r["created_at"]) and TIMESTAMP.match(r["last_modified_at"]) for r in rows)
    assert all(DATE.match(r["close_date"]) for r in rows)
    assert {r["is_closed"] for r in rows} == {"true", "false"}
    assert {r["currency"] for r in rows} == {"USD"} and {r["pipeline"] for r in rows} == {"default"}
    # Names with commas and quotes are quoted (RFC 4180) and read back whole.
    text = (folder / "accounts.csv").read_text(encoding="utf-8")
    assert ', Inc."' in text
    with open(folder / "accounts.csv", encoding="utf-8", newline="") as f:
        accounts = list(csv.DictReader(f))
    assert any(", Inc." in a["name"] for a in accounts)
    assert all(a["segment"] in ("SMB", "Mid-Market", "Enterprise") for a in accounts)
    # Nulls are empty fields: the top manager and unconverted leads.
    with open(folder / "owners.csv", encoding="utf-8", newline="") as f:
        assert sum(r["manager_id"] == "" for r in csv.DictReader(f)) == 1


def test_stages_file_matches_the_constants(last: dict[str, pd.DataFrame]) -> None:
    stages = last["stages"]
    assert stages["stage"].tolist() == list(STAGE_NAMES)
    assert stages["sort_order"].tolist() == list(range(1, 8))
    assert dict(zip(stages["stage"], stages["probability"], strict=True)) == STAGE_PROBABILITY
    assert stages.loc[stages["is_won"], "stage"].tolist() == [CLOSED_WON]
    assert stages.loc[stages["is_closed"], "stage"].tolist() == list(CLOSED_STAGES)


def test_a_crash_leaves_previous_exports_intact_and_no_partial_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    landing = tmp_path / "landing"
    _generate(landing, tmp_path / "truth.csv", 600, 5, AS_OF, 2, None, chunk_size=200)
    before = {p: p.read_bytes() for p in landing.rglob("*") if p.is_file()}
    real = generator.simulate_chunk

    def failing(rng: np.random.Generator, first: int, *args: object) -> object:
        if first >= 400:
            raise RuntimeError("disk full")
        return real(rng, first, *args)

    monkeypatch.setattr(generator, "simulate_chunk", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        _generate(landing, tmp_path / "truth.csv", 600, 6, AS_OF, 2, None, chunk_size=200)
    assert {p: p.read_bytes() for p in landing.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landing", "truth.csv"]


def test_default_as_of_is_yesterday(tmp_path: Path) -> None:
    summary = generate_demo_exports(tmp_path / "l", tmp_path / "t.csv", size=200, nights=1)
    assert summary.export_dates == [date.today() - timedelta(days=1)]
    assert summary.seconds > 0


# ---------------------------------------------------------------- point-in-time consistency
def test_each_snapshot_equals_the_last_history_row_as_of_its_export(
    exports: dict[date, dict[str, pd.DataFrame]],
) -> None:
    for day, tables in exports.items():
        opps, history = tables["opportunities"], tables["opportunity_stage_history"]
        assert opps["opportunity_id"].is_unique
        assert not history.duplicated(["opportunity_id", "changed_at"]).any()
        gaps = history.groupby("opportunity_id")["changed_at"].diff().dropna()
        assert (gaps > pd.Timedelta(0)).all(), "changed_at must increase within an opportunity"
        last_rows = history.groupby("opportunity_id").tail(1).set_index("opportunity_id")
        snap = opps.set_index("opportunity_id").loc[last_rows.index]
        assert len(last_rows) == len(opps)
        for column in ("stage", "amount", "close_date", "probability", "forecast_category"):
            assert (snap[column] == last_rows[column]).all(), (day, column)
        assert (snap["last_modified_at"] == last_rows["changed_at"]).all()
        first_rows = history.groupby("opportunity_id").head(1).set_index("opportunity_id")
        assert (first_rows["stage"] == OPEN_STAGES[0]).all()
        assert (
            opps.set_index("opportunity_id").loc[first_rows.index, "created_at"] == first_rows["changed_at"]
        ).all()


def test_flags_probability_and_category_follow_the_stage(last: dict[str, pd.DataFrame]) -> None:
    opps = last["opportunities"]
    assert (opps["is_closed"] == opps["stage"].isin(CLOSED_STAGES)).all()
    assert (opps["is_won"] == (opps["stage"] == CLOSED_WON)).all()
    assert (~opps["is_won"] | opps["is_closed"]).all()
    assert (opps["probability"] == opps["stage"].map(STAGE_PROBABILITY)).all()
    assert (opps["forecast_category"] == opps["stage"].map(STAGE_FORECAST_CATEGORY)).all()
    closed = opps[opps["is_closed"]]
    assert (closed["created_at"].dt.normalize() <= closed["close_date"]).all()
    assert (closed["close_date"] == closed["last_modified_at"].dt.normalize()).all()


def test_nothing_is_dated_after_the_export(exports: dict[date, dict[str, pd.DataFrame]]) -> None:
    for day, tables in exports.items():
        cutoff = end_of(day)
        for name, frame in tables.items():
            for column in ("created_at", "changed_at", "last_modified_at", "converted_at"):
                if column in frame:
                    assert (frame[column].dropna() < cutoff).all(), (day, name, column)
        opps = tables["opportunities"]
        assert (opps.loc[opps["is_closed"], "close_date"] < cutoff).all()


def test_later_exports_extend_earlier_ones(exports: dict[date, dict[str, pd.DataFrame]]) -> None:
    days = sorted(exports)
    for early, late in zip(days[:-1], days[1:], strict=True):
        a, b = exports[early]["opportunities"], exports[late]["opportunities"]
        assert set(a["opportunity_id"]) <= set(b["opportunity_id"])
        a_closed = a[a["is_closed"]].set_index("opportunity_id")
        b_same = b.set_index("opportunity_id").loc[a_closed.index]
        assert b_same["is_closed"].all()
        kept = ["stage", "amount", "close_date"]
        assert (b_same[kept] == a_closed[kept]).all().all()
        ha = exports[early]["opportunity_stage_history"]
        hb = exports[late]["opportunity_stage_history"]
        prefix = hb[hb["changed_at"] < end_of(early)].reset_index(drop=True)
        pd.testing.assert_frame_equal(prefix, ha.reset_index(drop=True))
        assert len(exports[early]["leads"]) <= len(exports[late]["leads"])


def test_line_items_price_the_deal_at_creation(last: dict[str, pd.DataFrame]) -> None:
    items, history = last["line_items"], last["opportunity_stage_history"]
    assert items["opportunity_id"].is_unique
    created = history.groupby("opportunity_id").head(1).set_index("opportunity_id")["amount"]
    items = items.set_index("opportunity_id")
    value = (items["quantity"] * items["unit_price"]).round(2)
    np.testing.assert_allclose(value.loc[created.index], created, rtol=1e-9, atol=0.006)
    prices = last["products"].set_index("product_id")["list_price"]
    assert prices.min() >= 1_000 and prices.max() <= 100_000
    assert (items["unit_price"] <= items["product_id"].map(prices) + 1e-9).all()


def test_truth_covers_every_deal_and_matches_the_outcomes(
    truth: pd.DataFrame,
    last: dict[str, pd.DataFrame],
) -> None:
    assert truth.columns.tolist() == list(TRUTH_COLUMNS)
    assert len(truth) == SIZE and truth["opportunity_id"].is_unique
    assert set(truth["opportunity_id"]) == set(last["opportunities"]["opportunity_id"])
    p = truth[[f"p_win_{s.lower()}" for s in OPEN_STAGES]].to_numpy()
    assert ((p > 0) & (p < 1)).all() and (np.diff(p, axis=1) >= 0).all()
    merged = last["opportunities"].merge(truth, on="opportunity_id")
    done = merged[merged["is_closed"]]
    assert (done["is_won"] == done["outcome_won"]).all()
    assert (done["close_date"] == done["outcome_closed_at"]).all()
    assert np.allclose(done["amount"], done["outcome_amount"])
    still_open = merged[~merged["is_closed"]]
    assert len(still_open) > 0 and (still_open["outcome_closed_at"] > pd.Timestamp(AS_OF)).all()


# ------------------------------------------------------------------------------------- realism
def _chi2_per_degree_of_freedom(closed: pd.DataFrame, by: str) -> float:
    """Chi-square of homogeneity of the win rate across groups, divided by its df (about 1 if
    the groups do not differ)."""
    p = closed["is_won"].mean()
    groups = closed.groupby(by)["is_won"].agg(["sum", "size"])
    chi2 = ((groups["sum"] - groups["size"] * p) ** 2 / (groups["size"] * p * (1 - p))).sum()
    return float(chi2 / (len(groups) - 1))


def test_win_rate_is_plausible_and_differs_by_segment_and_owner(closed: pd.DataFrame) -> None:
    assert 0.20 <= closed["is_won"].mean() <= 0.35
    by_segment = closed.groupby("segment")["is_won"].mean()
    assert by_segment["Enterprise"] < by_segment["SMB"]
    assert _chi2_per_degree_of_freedom(closed, "segment") > 5
    assert _chi2_per_degree_of_freedom(closed, "owner_id") > 2


def test_stage_reach_decreases(last: dict[str, pd.DataFrame]) -> None:
    history = last["opportunity_stage_history"]
    reach = [history.loc[history["stage"] == s, "opportunity_id"].nunique() for s in OPEN_STAGES]
    assert reach[0] == SIZE
    assert all(a > b for a, b in zip(reach[:-1], reach[1:], strict=True))


def test_observed_win_rate_per_stage_matches_the_true_probability(
    last: dict[str, pd.DataFrame],
    truth: pd.DataFrame,
) -> None:
    history, opps = last["opportunity_stage_history"], last["opportunities"]
    done = set(opps.loc[opps["is_closed"], "opportunity_id"])
    t = truth.set_index("opportunity_id")
    for stage in OPEN_STAGES:
        reached = set(history.loc[history["stage"] == stage, "opportunity_id"]) & done
        sample = t.loc[sorted(reached)]
        p = sample[f"p_win_{stage.lower()}"]
        standard_error = np.sqrt((p * (1 - p)).sum()) / len(p)
        assert abs(sample["outcome_won"].mean() - p.mean()) < 4 * standard_error + 0.01, stage


def test_more_deals_close_at_the_end_of_a_quarter_than_at_its_start(closed: pd.DataFrame) -> None:
    day = closed["close_date"]
    quarter = day.dt.to_period("Q")
    into = (day - quarter.dt.start_time).dt.days
    left = (quarter.dt.end_time.dt.normalize() - day).dt.days
    assert (left < 14).sum() > 1.15 * (into < 14).sum()


def test_close_dates_slip_and_some_are_pulled_in(last: dict[str, pd.DataFrame]) -> None:
    h = last["opportunity_stage_history"]
    same_stage = h["stage"] == h.groupby("opportunity_id")["stage"].shift()
    moved = h["close_date"] - h.groupby("opportunity_id")["close_date"].shift()
    pushes = same_stage & (moved >= pd.Timedelta(days=14))
    pulls = same_stage & (moved < pd.Timedelta(0))
    assert pushes.sum() > 0.2 * SIZE and pulls.sum() > 0.05 * SIZE
    per_opp = h.groupby("opportunity_id").size()
    assert 4.5 <= per_opp.mean() <= 10


def test_targets_cover_every_rep_and_quarter_plus_the_next(last: dict[str, pd.DataFrame]) -> None:
    targets, opps = last["targets"], last["opportunities"]
    assert set(opps["owner_id"]) <= set(targets["owner_id"])
    quarters = sorted(targets["period_start"].unique())
    assert quarters[-1] == "2027-01-01" and quarters[0] == "2023-10-01"
    assert targets.groupby("period_start")["owner_id"].nunique().nunique() == 1
    assert not targets.duplicated(["period_start", "owner_id"]).any()
    assert (targets["amount"] > 0).all()


def test_owners_form_one_hierarchy(last: dict[str, pd.DataFrame]) -> None:
    owners = last["owners"].set_index("owner_id")
    assert owners["manager_id"].isna().sum() == 1
    assert owners["manager_id"].dropna().isin(owners.index).all()
    assert len(owners) >= 12


def test_leads_convert_into_existing_opportunities(
    exports: dict[date, dict[str, pd.DataFrame]],
) -> None:
    for tables in exports.values():
        leads, opps = tables["leads"], tables["opportunities"].set_index("opportunity_id")
        assert leads["lead_id"].is_unique
        converted = leads[leads["status"] == "Converted"]
        assert converted["converted_opportunity_id"].is_unique
        assert converted["converted_opportunity_id"].isin(opps.index).all()
        linked = opps.loc[converted["converted_opportunity_id"]]
        assert (linked["lead_source"].to_numpy() == converted["source"].to_numpy()).all()
        assert (linked["created_at"].to_numpy() == converted["converted_at"].to_numpy()).all()
        assert (converted["created_at"] < converted["converted_at"]).all()
        others = leads[leads["status"] != "Converted"]
        assert set(others["status"]) == {"Open", "Nurturing", "Disqualified"}
        assert others["converted_at"].isna().all()
        assert others["converted_opportunity_id"].isna().all()
        new_business = opps[opps["type"] == "New Business"]
        assert set(new_business.index) == set(converted["converted_opportunity_id"])
        assert set(leads["source"]) == set(LEAD_SOURCES)
        assert leads["owner_id"].isin(tables["owners"]["owner_id"]).all()
        assert opps["account_id"].isin(tables["accounts"]["account_id"]).all()


def test_conversion_differs_by_source(last: dict[str, pd.DataFrame]) -> None:
    leads = last["leads"]
    assert 1.6 <= len(leads) / SIZE <= 2.6
    rate = leads.assign(won=leads["status"] == "Converted").groupby("source")["won"].mean()
    assert rate["Referral"] > rate["Outbound"] + 0.15
    assert rate.max() - rate.min() > 0.2


def test_peak_memory_does_not_grow_with_size(tmp_path: Path) -> None:
    """Chunks are freed as they are written: 4x the deals, about the same peak (the reference
    data, size/8 accounts, is the only part that grows)."""

    def peak(size: int) -> int:
        tracemalloc.start()
        _generate(tmp_path / str(size), tmp_path / f"{size}.csv", size, 1, AS_OF, 1, None, chunk_size=4_000)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    peak(500)  # warm the one-off caches
    small, large = peak(8_000), peak(32_000)
    assert large < 1.3 * small
