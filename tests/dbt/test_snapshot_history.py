"""A CRM without stage history for some deals: their history is derived from the nightly snapshots
(snp_crm__opportunities), one change row per version an export showed."""

from __future__ import annotations

from datetime import datetime, time

from tests.dbt.conftest import NightlyWarehouse
from tests.dbt.demo_nights import without_history

CHECKED = ["stage", "amount", "close_date", "forecast_category", "is_closed", "is_won"]


def _export(nightly: NightlyWarehouse, export_date):
    return nightly.query(
        f"select opportunity_id, created_at, {', '.join(CHECKED)} from raw.opportunities "
        "where _export_date = ?",
        [export_date],
    ).set_index("opportunity_id")


def test_deals_without_crm_history_get_one_change_per_snapshot_version(nightly: NightlyWarehouse):
    first, last = _export(nightly, nightly.demo.first), _export(nightly, nightly.demo.last)
    changes = nightly.query(
        "select opportunity_id, changed_at, history_source, stage, amount, close_date, change_number "
        "from intermediate.int_opportunity_changes_classified order by opportunity_id, changed_at"
    )
    derived = changes[changes["history_source"] == "snapshot"]
    assert set(derived["opportunity_id"]) == {o for o in last.index if without_history(o)}
    from_crm = changes.loc[changes["history_source"] == "crm", "opportunity_id"]
    assert not any(without_history(o) for o in from_crm)

    stripped = [o for o in last.index if without_history(o) and o in first.index]
    moved = [o for o in stripped if not first.loc[o, CHECKED].equals(last.loc[o, CHECKED])]
    still = [o for o in stripped if o not in moved]
    assert moved and still
    midnight = datetime.combine(nightly.demo.last, time())
    for opportunity_id in moved:
        rows = derived[derived["opportunity_id"] == opportunity_id]
        assert len(rows) == 2, opportunity_id
        newest = rows.iloc[-1]
        assert newest["changed_at"] == midnight
        assert newest["stage"] == last.loc[opportunity_id, "stage"]
        assert newest["amount"] == last.loc[opportunity_id, "amount"]
        assert rows.iloc[0]["stage"] == first.loc[opportunity_id, "stage"]
    for opportunity_id in still:
        rows = derived[derived["opportunity_id"] == opportunity_id]
        assert len(rows) == 1, opportunity_id
        assert rows.iloc[0]["changed_at"] <= datetime.combine(nightly.demo.first, time())


def test_derived_stage_changes_reach_the_transitions_mart(nightly: NightlyWarehouse):
    transitions = nightly.query(
        "select t.opportunity_id, t.stage, t.entered_at, t.previous_stage "
        "from marts.fct_opportunity_stage_transitions t "
        "join intermediate.int_opportunity_changes_classified c "
        "  on c.opportunity_id = t.opportunity_id and c.changed_at = t.entered_at "
        "where c.history_source = 'snapshot' and t.stage_entry_number > 1"
    )
    assert len(transitions) > 0
    assert (transitions["entered_at"] == datetime.combine(nightly.demo.last, time())).all()
    assert (transitions["stage"] != transitions["previous_stage"]).all()
