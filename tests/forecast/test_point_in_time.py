"""No feature uses information from after its cut-off.

The proof: a second warehouse holds only what the CRM showed at the end of the cut-off day (history
rows, deals, leads and accounts after it removed; each deal's current state rewound to its last
change before it; leads converted later shown as still open), rebuilt from raw by dbt. Every
feature at the cut-off must come out identical in both warehouses; the labels, which look ahead,
must not (else the comparison proves nothing).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from pipecast.forecast import features, lead_scoring, propensity
from pipecast.warehouse import connect

from tests.forecast.conftest import build_warehouse

CUTOFF = date(2025, 12, 31)

REWIND = """
delete from raw.opportunity_stage_history where changed_at >= $end;
delete from raw.opportunities where created_at >= $end;
update raw.opportunities as o
set stage = h.stage, amount = h.amount, close_date = h.close_date, probability = h.probability,
    forecast_category = h.forecast_category, last_modified_at = h.changed_at
from (
    select opportunity_id, max(changed_at) as changed_at, arg_max(stage, changed_at) as stage,
           arg_max(amount, changed_at) as amount, arg_max(close_date, changed_at) as close_date,
           arg_max(probability, changed_at) as probability,
           arg_max(forecast_category, changed_at) as forecast_category
    from raw.opportunity_stage_history group by opportunity_id
) h
where o.opportunity_id = h.opportunity_id;
update raw.opportunities as o set is_closed = s.is_closed, is_won = s.is_won
from raw.stages s where s.stage = o.stage and s._export_date = o._export_date;
delete from raw.line_items where opportunity_id not in (select opportunity_id from raw.opportunities);
delete from raw.accounts where created_at >= $end;
delete from raw.leads where created_at >= $end;
update raw.leads set status = 'Open', converted_at = null, converted_opportunity_id = null
where converted_at >= $end;
"""

LABELS = {*features.LABEL_COLUMNS, "bought", "converted_within", "status"}


@pytest.fixture(scope="module")
def warehouses(demo_warehouse, tmp_path_factory):
    """(full, rewound) settings: the demo warehouse and a copy rewound to the cut-off."""
    rewound = demo_warehouse.copy(tmp_path_factory.mktemp("rewound") / "state")
    end = pd.Timestamp(CUTOFF) + pd.Timedelta(days=1)
    with connect(rewound) as con:
        for statement in REWIND.split(";"):
            if statement.strip():
                con.execute(statement.replace("$end", f"timestamp '{end}'"))
    build_warehouse(rewound, "--full-refresh")
    return demo_warehouse.settings, rewound


def _features(settings, build) -> pd.DataFrame:
    with connect(settings) as con:  # read-write: dbt-duckdb holds the file in this process
        frame = build(con)
    return frame.drop(columns=[c for c in frame.columns if c in LABELS])


def _assert_same(full: pd.DataFrame, rewound: pd.DataFrame, key: list[str]) -> None:
    assert len(full) > 0
    full = full.sort_values(key).reset_index(drop=True)
    rewound = rewound.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(full, rewound, check_dtype=False, check_exact=False, rtol=1e-9)


def test_open_deal_features_at_the_cutoff_ignore_later_history(warehouses):
    full, rewound = warehouses
    build = lambda con: features.snapshots(con, [], full_cutoffs=[CUTOFF])  # noqa: E731
    _assert_same(_features(full, build), _features(rewound, build), ["opportunity_id"])


def test_stage_exits_up_to_the_cutoff_ignore_later_history(warehouses):
    full, rewound = warehouses
    build = lambda con: features.stage_exits(con, CUTOFF)  # noqa: E731
    _assert_same(_features(full, build), _features(rewound, build), ["opportunity_id", "stage_rank"])


def test_stage_visits_up_to_the_cutoff_ignore_later_history(warehouses):
    """Visits still open at the cut-off are open (censored) in both, whatever happened later."""
    full, rewound = warehouses
    build = lambda con: features.stage_visits(con, CUTOFF)  # noqa: E731
    full_visits, rewound_visits = _features(full, build), _features(rewound, build)
    assert (full_visits["outcome"] == "open").sum() > 50
    _assert_same(full_visits, rewound_visits, ["opportunity_id", "entered_at"])


def test_account_product_and_lead_features_ignore_later_history(warehouses):
    full, rewound = warehouses
    pairs = lambda con: propensity.account_product_pairs(con, [CUTOFF])  # noqa: E731
    _assert_same(_features(full, pairs), _features(rewound, pairs), ["account_id", "product_id"])
    leads = lambda con: lead_scoring.lead_rows(con, [CUTOFF])  # noqa: E731
    _assert_same(_features(full, leads), _features(rewound, leads), ["lead_id"])


def test_labels_do_look_ahead_so_the_comparison_can_fail(warehouses):
    """Against the rewound warehouse the outcomes after the cut-off are unknown: every deal open
    at the cut-off is still open there, while the full warehouse knows most of them closed."""
    full, rewound = warehouses
    with connect(full) as con:
        known = features.snapshots(con, [], full_cutoffs=[CUTOFF])
    with connect(rewound) as con:
        unknown = features.snapshots(con, [], full_cutoffs=[CUTOFF])
    assert not unknown["final_is_closed"].any()
    assert known["final_is_closed"].mean() > 0.5
