"""The marts' row and key checks are dbt tests (one home per check, README "Validation"): each
defect planted in a copy of the built marts fails the dbt test declared for it in the mart's yml,
and nothing else fails."""

from __future__ import annotations

import shutil

import pytest
from pipecast.config import Settings
from pipecast.transform.dbt_runner import dbt_invoke
from pipecast.warehouse import connect

from tests.dbt.conftest import NightlyWarehouse

PLANTS = [
    # won, still open; a negative amount
    "update marts.fct_opportunities set is_won = true, is_closed = false "
    "where opportunity_id = (select min(opportunity_id) from marts.fct_opportunities where not is_closed)",
    "update marts.fct_opportunities set amount = -1 "
    "where opportunity_id = (select max(opportunity_id) from marts.fct_opportunities)",
    # the funnel rises at its second stage
    "update marts.fct_funnel_conversion set reached = reached + 1000, advanced = advanced + 1000, "
    "lost = lost + 1000 where funnel_rank = 2",
    # more converted leads than leads
    "update marts.fct_lead_funnel set converted_leads = leads + 1, unconverted_leads = -1 "
    "where lead_funnel_key = (select min(lead_funnel_key) from marts.fct_lead_funnel)",
    # more won than closed
    "update marts.fct_win_rates set won_count = closed_count + 1, lost_count = -1 "
    "where win_rate_key = (select min(win_rate_key) from marts.fct_win_rates)",
    # the waterfall does not balance
    "update marts.fct_pipeline_waterfall set open_amount_at_end = open_amount_at_end + 100 "
    "where waterfall_key = (select min(waterfall_key) from marts.fct_pipeline_waterfall)",
    # a negative time in a stage
    "update marts.fct_opportunity_stage_transitions set duration_days = -3 "
    "where transition_key = (select min(transition_key) from marts.fct_opportunity_stage_transitions)",
]
# (mart, generic test, its expression) of each failure the plants cause
FAILS = {
    ("fct_opportunities", "expression_is_true", "not (is_won and is_closed is not true)"),
    ("fct_opportunities", "expression_is_true", "amount >= 0"),
    ("fct_funnel_conversion", "never_rises", None),
    ("fct_lead_funnel", "expression_is_true", "converted_leads <= leads and opportunities <= converted_leads "
     "and won_deals <= opportunities"),
    ("fct_win_rates", "expression_is_true", "won_count <= closed_count"),
    ("fct_pipeline_waterfall", "waterfall_balances", None),
    ("fct_opportunity_stage_transitions", "expression_is_true", "duration_days >= 0"),
}  # fmt: skip


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, nightly: NightlyWarehouse) -> Settings:
    with connect(nightly.settings) as con:
        con.execute("checkpoint")
    root = tmp_path_factory.mktemp("planted_marts")
    settings = Settings(state_dir=root, warehouse_path=root / "warehouse.duckdb")
    shutil.copy(nightly.settings.resolved_warehouse_path, settings.resolved_warehouse_path)
    with connect(settings) as con:
        for sql in PLANTS:
            con.execute(sql)
    return settings


def test_each_planted_defect_fails_its_dbt_test(planted: Settings) -> None:
    result = dbt_invoke(
        ["test", "--select", "path:models/marts", "--exclude-resource-type", "unit_test"], planted
    )

    assert result.exception is None, result.exception
    failed = {
        (
            r.node.attached_node.split(".")[-1],
            r.node.test_metadata.name,
            r.node.test_metadata.kwargs.get("expression"),
        )
        for r in result.result.results
        if str(r.status) in ("fail", "error") and r.node.test_metadata is not None
    }
    assert failed == FAILS
