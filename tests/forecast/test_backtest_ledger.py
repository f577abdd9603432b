"""The backtests' ledger (pipecast.forecast.backtest_ledger): a cut-off or period backtested on
one night is taken from ml.backtest_* on the next, with the same numbers, while its inputs are
unchanged; a change in the history refits exactly the cut-offs whose inputs it touches."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pandas as pd
import pytest
from pipecast.forecast import backtests, parallel, scoring, stage_model, win_models
from pipecast.forecast.model_spec import night_context
from pipecast.warehouse import connect

from tests.forecast.conftest import AS_OF

RECIPES = {name: win_models.recipe(name) for name in stage_model.BASELINES}


def _deal_backtest(con, night, reuse: bool = True):
    writer = backtests.LedgerWriter(night.as_of, night.run_id, lambda *_: None, reuse)
    return backtests.run_deal_backtest(
        con, night.ctx, night.hz.backtest_cutoffs, RECIPES, night.training, None, writer
    )


def _night(con, settings, run_id: str):
    return night_context(con, AS_OF, settings, run_id, datetime(2026, 11, 28))


@pytest.fixture
def warehouse(demo_warehouse, tmp_path):
    return demo_warehouse.copy(tmp_path / "state")


def test_deal_backtest_reuses_the_ledger_until_its_inputs_change(warehouse, monkeypatch):
    with connect(warehouse) as con:
        night = _night(con, warehouse, "first")
        cutoffs = night.hz.backtest_cutoffs
        assert len(cutoffs) >= 2
        first = _deal_backtest(con, night)
        assert first.reused == 0 and len(first.models) == len(cutoffs) * len(RECIPES)

        loaded: list = []
        real = backtests.load_exits
        monkeypatch.setattr(
            backtests, "load_exits", lambda con, ctx, cutoff: loaded.append(cutoff) or real(con, ctx, cutoff)
        )
        second = _deal_backtest(con, _night(con, warehouse, "second"))
        assert loaded == []  # every candidate from the ledger: the visits' digest, not the visits
        assert second.reused == len(cutoffs) * len(RECIPES) and not second.models
        pd.testing.assert_frame_equal(first.scored, second.scored)
        assert second.recipe_brier == first.recipe_brier

        # the weekly full backtest refits everything and replaces the entries (no duplicates)
        stored = con.execute("select count(*) from ml.backtest_predictions").fetchall()[0][0]
        full = _deal_backtest(con, _night(con, warehouse, "weekly"), reuse=False)
        assert set(loaded) == set(cutoffs)
        assert full.reused == 0 and len(full.models) == len(cutoffs) * len(RECIPES)
        assert con.execute("select count(*) from ml.backtest_predictions").fetchall()[0][0] == stored
        assert full.recipe_brier == first.recipe_brier

        # a corrected amount on a deal open at the last cut-off (its last change before it, after
        # the cut-off before): only the last cut-off's inputs change
        before, last = cutoffs[-2], cutoffs[-1]
        at_last = first.scored.loc[first.scored["cutoff"] == pd.Timestamp(last), "opportunity_id"]
        con.register("at_last", pd.DataFrame({"opportunity_id": at_last.to_numpy()}))
        deal, changed_at = con.execute(
            """
            select h.opportunity_id, h.changed_at
            from intermediate.int_opportunity_changes_accumulated h join at_last using (opportunity_id)
            where h.changed_at > ? and h.changed_at < ? and h.amount > 0
            order by h.changed_at desc, h.opportunity_id limit 1
            """,
            [before + pd.Timedelta(days=1), last],
        ).fetchone()
        # in the history the features read (dbt's point-in-time model), as a rebuild would have it
        con.execute(
            "update intermediate.int_opportunity_changes_accumulated set amount = amount * 3 "
            "where opportunity_id = ? and changed_at = ?",
            [deal, changed_at],
        )
        third = _deal_backtest(con, _night(con, warehouse, "third"))
        refitted = {cutoff for cutoff, _ in third.models}
        assert refitted == {last}
        assert third.reused == (len(cutoffs) - 1) * len(RECIPES)


def test_revenue_backtest_reuses_the_ledger_with_the_same_rows(warehouse, caplog):
    with connect(warehouse) as con:
        night = _night(con, warehouse, "first")
        periods = backtests.revenue_periods(night.as_of, night.first_day, night.ctx, 2, night.hz.warmup_days)
        assert periods
        recipe = RECIPES["stage_calibrated"]
        writer = backtests.LedgerWriter(night.as_of, night.run_id, lambda *_: None)
        labels: list[str] = []

        def run():
            return backtests.run_revenue_backtest(
                con,
                night.ctx,
                periods,
                recipe,
                night.training,
                {},
                "stage_calibrated",
                progress=labels.append,
                ledger=writer,
            )

        first = run()
        stored = con.execute("select count(*) from ml.backtest_revenue_periods").fetchone()[0]
        assert stored == len(periods)
        caplog.clear()
        with caplog.at_level("INFO", logger="pipecast.forecast.backtests"):
            second = run()
        reused = [r for r in caplog.records if "(from the ledger)" in r.getMessage()]
        assert len(reused) == len(periods)
        pd.testing.assert_frame_equal(first.ledger, second.ledger)
        pd.testing.assert_frame_equal(first.timing_scored, second.timing_scored)
        assert backtests.revenue_metrics(first).equals(backtests.revenue_metrics(second))
        assert labels == [p.label for p in periods] * 2



def test_the_revenue_backtest_fits_the_next_period_beside_with_the_same_rows(warehouse, monkeypatch):
    """With a side thread, a period backtested afresh has the next period's models fitted there
    (on a connection of its own) while its own are fitted here; the rows equal those fitted in
    turn. Periods then taken from the ledger fit nothing beside; one whose fit was made ahead and
    then found in the ledger drops it."""
    fits: list[tuple] = []
    real = backtests.fit_models

    def recording(con, ctx, known_at, *args, **kwargs):
        fits.append((known_at, threading.current_thread().name, con))
        return real(con, ctx, known_at, *args, **kwargs)

    monkeypatch.setattr(backtests, "fit_models", recording)
    with connect(warehouse) as con:
        night = _night(con, warehouse, "first")
        periods = backtests.revenue_periods(night.as_of, night.first_day, night.ctx, 4, night.hz.warmup_days)
        assert len(periods) == 4  # two pairs: each pair's deals are read in one query
        recipe = RECIPES["stage_calibrated"]

        def run(beside, reuse: bool = True):
            writer = backtests.LedgerWriter(night.as_of, night.run_id, lambda *_: None, reuse)
            return backtests.run_revenue_backtest(
                con, night.ctx, periods, recipe, night.training, {}, "stage_calibrated",
                ledger=writer, beside=beside,
            )

        starts = [p.start - timedelta(days=1) for p in periods]
        in_turn = run(None, reuse=False)
        assert [(at, name) for at, name, _ in fits] == [(at, "MainThread") for at in starts]
        fits.clear()
        with parallel.side_thread(warehouse, "fits-beside") as pool:
            beside = run(pool, reuse=False)
            assert sorted((at, name.startswith("fits-beside")) for at, name, _ in fits) == sorted(
                [(starts[0], False), (starts[1], True), (starts[2], False), (starts[3], True)]
            )
            assert all((fit_con is con) == name.startswith("MainThread") for _, name, fit_con in fits)
            pd.testing.assert_frame_equal(in_turn.ledger, beside.ledger)
            pd.testing.assert_frame_equal(in_turn.timing_scored, beside.timing_scored)

            fits.clear()
            from_ledger = run(pool)
            assert fits == []
            pd.testing.assert_frame_equal(in_turn.ledger, from_ledger.ledger)

            # the first period's entry gone: it is refitted, the second's fit is made beside it and
            # then dropped, since the second period (the same rows before it) is in the ledger
            con.execute("delete from ml.backtest_revenue_periods where period = ?", [periods[0].label])
            refitted = run(pool)
            assert sorted(at for at, _, _ in fits) == starts[:2]
            pd.testing.assert_frame_equal(in_turn.ledger, refitted.ledger)

def test_an_edited_forecast_module_changes_every_key(tmp_path, monkeypatch):
    """The ledger trusts a stored backtest only for the code that made it: an edit to any module of
    pipecast.forecast (here a copy of the package, one line added to the estimators) changes
    code_digest, and with it every deal and period key."""
    import shutil

    from pipecast.forecast import backtest_ledger

    copy = tmp_path / "forecast"
    shutil.copytree(backtest_ledger.FORECAST_PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(backtest_ledger, "FORECAST_PACKAGE", copy)
    backtest_ledger.code_digest.cache_clear()
    try:
        before = backtest_ledger.code_digest()
        assert backtest_ledger.code_digest() == before  # stable while nothing changes
        recipe = RECIPES[next(iter(RECIPES))]
        keys_before = (backtest_ledger.period_key(recipe, ["x"]),)
        with (copy / "estimators.py").open("a", encoding="utf-8") as f:
            f.write("\nCALIBRATION_FOLDS = 4\n")
        backtest_ledger.code_digest.cache_clear()
        assert backtest_ledger.code_digest() != before
        assert backtest_ledger.period_key(recipe, ["x"]) not in keys_before
    finally:
        backtest_ledger.code_digest.cache_clear()


def test_a_period_keyed_from_the_nights_visit_digests_loads_no_visits_and_finds_its_entry(
    warehouse, monkeypatch, caplog
):
    """A revenue period starting at a cut-off another backtest of the night has keyed (the deal
    backtest's quarter-ends) takes that cut-off's visit digest instead of loading the visits again:
    the same key, so the same ledger entry."""
    with connect(warehouse) as con:
        night = _night(con, warehouse, "first")
        periods = backtests.revenue_periods(night.as_of, night.first_day, night.ctx, 2, night.hz.warmup_days)
        recipe = RECIPES["stage_calibrated"]

        def run(writer):
            return backtests.run_revenue_backtest(
                con, night.ctx, periods, recipe, night.training, {}, "stage_calibrated", ledger=writer
            )

        fresh = backtests.LedgerWriter(night.as_of, night.run_id, lambda *_: None)
        first = run(fresh)
        assert set(fresh.visits_digests) == {p.start - pd.Timedelta(days=1) for p in periods}
        loaded: list = []
        real = backtests.load_exits
        monkeypatch.setattr(
            backtests, "load_exits", lambda con, ctx, cutoff: loaded.append(cutoff) or real(con, ctx, cutoff)
        )
        shared = backtests.LedgerWriter(
            night.as_of, "second", lambda *_: None, visits_digests=dict(fresh.visits_digests)
        )
        with caplog.at_level("INFO", logger="pipecast.forecast.backtests"):
            second = run(shared)
        assert loaded == []
        assert sum("(from the ledger)" in r.getMessage() for r in caplog.records) == len(periods)
        pd.testing.assert_frame_equal(first.ledger, second.ledger)


def test_the_stage_visits_digest_is_their_content_as_of_the_cut_off(warehouse):
    """scoring.exits_digest keys a cut-off's stage visits without reading them out: it counts the
    rows load_exits returns, and it changes with a visit begun by the cut-off, not with what
    happened to the deals after it."""
    with connect(warehouse) as con:
        night = _night(con, warehouse, "first")
        cutoff = night.hz.backtest_cutoffs[0]
        rows, digest = scoring.exits_digest(con, night.ctx, cutoff)
        assert rows == len(scoring.load_exits(con, night.ctx, cutoff)) > 0
        assert scoring.exits_digest(con, night.ctx, cutoff) == (rows, digest)

        visits = "intermediate.int_stage_visits_sequenced"
        end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
        # a visit still open at the end of the cut-off that ended later: as of the cut-off, open
        deal, rank, entered = con.execute(
            f"select opportunity_id, stage_rank, entered_at from {visits} "
            "where not is_closed and stage_rank is not null and entered_at < ? "
            "and exited_at > ? + interval 5 day order by opportunity_id, entered_at limit 1",
            [end, end],
        ).fetchone()
        where = "where opportunity_id = ? and stage_rank = ? and entered_at = ?"
        key = [deal, rank, entered]
        con.execute(f"update {visits} set exited_at = exited_at + interval 1 day {where}", key)
        assert scoring.exits_digest(con, night.ctx, cutoff) == (rows, digest)
        # the same visit's amount at its entry, before the cut-off: another digest, the same count
        con.execute(f"update {visits} set entry_amount = entry_amount + 1 {where}", key)
        changed_rows, changed = scoring.exits_digest(con, night.ctx, cutoff)
        assert changed_rows == rows and changed != digest
        # an owner's record (the lifts' input): changed after the cut-off, the same digest; before it,
        # another
        records = "intermediate.int_owner_exit_records_accumulated"
        for when, same in ((">=", True), ("<", False)):
            owner, t = con.execute(
                f"select owner_id, t from {records} where t {when} ? order by t, owner_id limit 1", [end]
            ).fetchone()
            con.execute(f"update {records} set s = s + 1 where owner_id = ? and t = ?", [owner, t])
            assert (scoring.exits_digest(con, night.ctx, cutoff)[1] == changed) is same
