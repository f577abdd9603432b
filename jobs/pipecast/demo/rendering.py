"""CSV text of the simulated deals, rendered once per chunk and filtered for each night.

The parts of a row that never change (ids, names, creation time) are rendered once; the parts
that depend on the export date (an opportunity's state, a lead's status) are rendered per night
from the last history row before the night's cutoff.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipecast.demo import world
from pipecast.demo.csv_text import end_lines, join_fields, render_lines, to_text
from pipecast.demo.reference import Company, prefixed_ids
from pipecast.demo.simulation import Chunk
from pipecast.demo.timeline import DAY


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype(np.int64), pa.timestamp("s"))


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.date32())


def _texts(values: list[str] | tuple[str, ...]) -> pa.Array:
    """Rendered CSV text of a small vocabulary, to be taken by code."""
    return to_text(pa.array(list(values), pa.string()))


# Text of each stage-dependent field, indexed by stage code (0..4 open, 5 won, 6 lost).
STAGES = world.STAGE_NAMES
STAGE_TEXT = _texts(STAGES)
STAGE_PROBABILITY_TEXT = to_text(pa.array([world.STAGE_PROBABILITY[s] for s in STAGES]))
STAGE_CATEGORY_TEXT = _texts([world.STAGE_FORECAST_CATEGORY[s] for s in STAGES])
STAGE_CLOSED_TEXT = to_text(pa.array([s in world.CLOSED_STAGES for s in STAGES]))
STAGE_WON_TEXT = to_text(pa.array([s == world.CLOSED_WON for s in STAGES]))
SOURCE_TEXT = _texts(world.OPPORTUNITY_SOURCES)
TYPE_TEXT = _texts(world.OPPORTUNITY_TYPES)
LEAD_STATUS_TEXT = _texts(world.LEAD_STATUSES)
OPEN_STATUS = world.LEAD_STATUSES.index("Open")


def _take(text: pa.Array, codes: np.ndarray) -> pa.Array:
    return text.take(pa.array(codes))


def opportunity_ids(index: np.ndarray) -> pa.Array:
    """OPP00000001 for deal index 0."""
    return prefixed_ids("OPP", index + 1, 8)


def _campaign_labels(leads_created: np.ndarray, campaign: np.ndarray) -> pa.Array:
    """Campaign names, with the lead's year for yearly campaigns (e.g. Industry Summit 2025)."""
    years = (leads_created // DAY).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    years = years + 1970
    names = pa.array([c[1] for c in world.CAMPAIGNS]).take(pa.array(campaign))
    yearly = np.array([c[2] for c in world.CAMPAIGNS])[campaign]
    with_year = pc.binary_join_element_wise(names, pc.cast(pa.array(years), pa.string()), " ")
    return pc.if_else(pa.array(yearly), with_year, names)


class RenderedChunk:
    """A chunk with its night-independent CSV text rendered once, ready to filter per night."""

    def __init__(
        self, chunk: Chunk, company: Company, first_lead: int, history_close_dates: bool = True
    ) -> None:
        deals, history, leads = chunk.deals, chunk.history, chunk.leads
        self.chunk = chunk
        self.opp_id_text = to_text(opportunity_ids(deals.index))
        names = pc.binary_join_element_wise(
            company.accounts.names.take(pa.array(deals.account)),
            company.product_names.take(pa.array(deals.product)),
            " - ",
        )
        suffix = pa.array(["", " (Expansion)", " (Renewal)"]).take(pa.array(deals.type))
        names = pc.binary_join_element_wise(names, suffix, "")
        owner_ids = to_text(company.owners.ids.take(pa.array(deals.owner)))
        product_ids = to_text(company.product_ids.take(pa.array(deals.product)))
        self.opp_head = join_fields(
            [
                self.opp_id_text,
                to_text(company.accounts.ids.take(pa.array(deals.account))),
                owner_ids,
                to_text(names),
                world.PIPELINE,
                to_text(_timestamps(deals.created)),
            ]
        )
        self.opp_tail = join_fields(
            [
                _take(SOURCE_TEXT, deals.source),
                _take(TYPE_TEXT, deals.type),
                product_ids,
            ]
        )
        self.history_lines = end_lines(
            join_fields(
                [
                    self.opp_id_text.take(pa.array(history.opp)),
                    to_text(_timestamps(history.changed_at)),
                    _take(STAGE_TEXT, history.stage),
                    to_text(history.amount),
                    *([to_text(_dates(history.close_day))] if history_close_dates else []),
                    _take(STAGE_PROBABILITY_TEXT, history.stage),
                    _take(STAGE_CATEGORY_TEXT, history.stage),
                ]
            )
        )
        self.line_item_lines = end_lines(
            join_fields(
                [
                    to_text(prefixed_ids("OLI", deals.index + 1, 8)),
                    self.opp_id_text,
                    product_ids,
                    to_text(deals.quantity),
                    to_text(deals.unit_price),
                ]
            )
        )
        lead_ids = prefixed_ids("LEAD", first_lead + np.arange(1, leads.size + 1), 9)
        self.lead_head = join_fields(
            [
                to_text(lead_ids),
                to_text(_timestamps(leads.created)),
                _take(SOURCE_TEXT, leads.source),
                to_text(_campaign_labels(leads.created, leads.campaign)),
            ]
        )
        self.lead_owner = to_text(company.owners.ids.take(pa.array(leads.owner)))
        converted = leads.opportunity >= 0
        self.lead_opp_text = pc.if_else(
            pa.array(converted),
            to_text(opportunity_ids(np.where(converted, leads.opportunity, 0))),
            "",
        )

    def opportunity_lines(self, cutoff: int) -> pa.Array:
        """Each deal created by the cutoff, as its last history row before the cutoff shows it."""
        history = self.chunk.history
        seen = np.bincount(history.opp[history.changed_at < cutoff], minlength=history.count.size)
        visible = seen > 0
        last = (history.start + seen - 1)[visible]
        stage = history.stage[last]
        mask = pa.array(visible)
        middle = join_fields(
            [
                _take(STAGE_TEXT, stage),
                to_text(pa.array(history.amount[last])),
                world.CURRENCY,
                to_text(_dates(history.close_day[last])),
                _take(STAGE_CLOSED_TEXT, stage),
                _take(STAGE_WON_TEXT, stage),
                _take(STAGE_PROBABILITY_TEXT, stage),
                _take(STAGE_CATEGORY_TEXT, stage),
            ]
        )
        return end_lines(
            join_fields(
                [
                    self.opp_head.filter(mask),
                    middle,
                    self.opp_tail.filter(mask),
                    to_text(_timestamps(history.changed_at[last])),
                ]
            )
        )

    def history_lines_before(self, cutoff: int) -> pa.Array:
        return self.history_lines.filter(pa.array(self.chunk.history.changed_at < cutoff))

    def line_item_lines_before(self, cutoff: int) -> pa.Array:
        return self.line_item_lines.filter(pa.array(self.chunk.deals.created < cutoff))

    def lead_lines(self, cutoff: int) -> pa.Array:
        """Leads created by the cutoff; status Open until their decision, then the decision."""
        leads = self.chunk.leads
        visible = leads.created < cutoff
        decided = (leads.decided_at < cutoff)[visible]
        converted = decided & (leads.opportunity[visible] >= 0)
        mask = pa.array(visible)
        status = np.where(decided, leads.final_status[visible], OPEN_STATUS)
        converted_at = pc.if_else(pa.array(converted), to_text(_timestamps(leads.decided_at[visible])), "")
        return end_lines(
            join_fields(
                [
                    self.lead_head.filter(mask),
                    _take(LEAD_STATUS_TEXT, status),
                    converted_at,
                    pc.if_else(pa.array(converted), self.lead_opp_text.filter(mask), ""),
                    self.lead_owner.filter(mask),
                ]
            )
        )


def truth_lines(chunk: Chunk) -> pa.Array:
    """Ground-truth rows: P(win | open in stage k) for each open stage, and the drawn outcome."""
    history = chunk.history
    last = history.last
    p_win = np.round(chunk.p_win, 6)
    return render_lines(
        [
            opportunity_ids(chunk.deals.index),
            *(pa.array(p_win[:, k]) for k in range(world.N_OPEN)),
            pa.array(chunk.won),
            _dates(history.close_day[last]),
            pa.array(history.amount[last]),
        ]
    )
