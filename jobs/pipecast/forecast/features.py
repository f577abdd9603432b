"""Point-in-time features: each open deal as it stood at the end of a cut-off date.

Built in SQL in the warehouse from the classified change history (dbt's
int_opportunity_changes_classified): a history row is the deal's state from its changed_at until
the next change, so a deal's state at a cut-off is the one row whose interval contains it. Nothing
after the cut-off enters a feature; the outcome (label) comes only from the final state.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

CATEGORICAL_FEATURES = [
    "stage",
    "segment",
    "industry",
    "lead_source",
    "opportunity_type",
    "product_id",
    "team",
]
NUMERIC_FEATURES = [
    "stage_sort_order",
    "days_in_stage",
    "age_days",
    "log_amount",
    "amount_change_ratio",
    "close_date_pushes",
    "days_to_close_date",
    "owner_win_rate",
    "owner_closed_deals",
]
FEATURES = CATEGORICAL_FEATURES + NUMERIC_FEATURES

POINT_IN_TIME_SQL = """
with cutoffs as (
    select cast(c as date) as cutoff, cast(c as date) + interval 1 day as cutoff_end
    from unnest(cast(? as date[])) as t(c)
),
changes as (
    select
        opportunity_id, changed_at, stage, amount, close_date, crm_probability,
        stage_sort_order, stage_is_closed, stage_is_won,
        lead(changed_at) over w as valid_to,
        sum(case when is_close_date_push then 1 else 0 end) over (w rows unbounded preceding) as pushes,
        max(case when is_stage_entry then changed_at end)
            over (w rows unbounded preceding) as stage_entered_at,
        first_value(amount) over w as first_amount,
        min(changed_at) over (partition by opportunity_id) as created_at
    from intermediate.int_opportunity_changes_classified
    window w as (partition by opportunity_id order by changed_at)
),
opportunities as (
    select o.opportunity_id, o.owner_id, o.lead_source, o.opportunity_type, o.product_id,
           o.is_closed as final_is_closed, o.is_won as final_is_won, o.close_date as final_close_date,
           o.amount as final_amount,
           a.segment, a.industry, w.team
    from staging.stg_crm__opportunities o
    left join staging.stg_crm__accounts a on o.account_id = a.account_id
    left join staging.stg_crm__owners w on o.owner_id = w.owner_id
),
closings as (
    select o.owner_id, c.changed_at as closed_at, c.stage_is_won as won
    from changes c join opportunities o using (opportunity_id)
    where c.stage_is_closed and c.valid_to is null
),
owner_records as (
    select cutoffs.cutoff, closings.owner_id,
           count(*) as closed_deals, sum(case when won then 1 else 0 end) as won_deals
    from cutoffs join closings on closings.closed_at < cutoffs.cutoff_end
    group by cutoffs.cutoff, closings.owner_id
)
select
    cutoffs.cutoff,
    changes.opportunity_id,
    changes.stage,
    changes.stage_sort_order,
    opportunities.segment,
    opportunities.industry,
    opportunities.lead_source,
    opportunities.opportunity_type,
    opportunities.product_id,
    opportunities.team,
    date_diff('day', cast(changes.stage_entered_at as date), cutoffs.cutoff) as days_in_stage,
    date_diff('day', cast(changes.created_at as date), cutoffs.cutoff) as age_days,
    changes.amount,
    ln(1 + greatest(coalesce(changes.amount, 0), 0)) as log_amount,
    case when changes.first_amount > 0 then changes.amount / changes.first_amount end as amount_change_ratio,
    changes.pushes as close_date_pushes,
    changes.close_date,
    date_diff('day', cutoffs.cutoff, changes.close_date) as days_to_close_date,
    -- smoothed towards 25% while a rep has few closed deals
    (coalesce(owner_records.won_deals, 0) + 1.0)
        / (coalesce(owner_records.closed_deals, 0) + 4.0) as owner_win_rate,
    coalesce(owner_records.closed_deals, 0) as owner_closed_deals,
    changes.crm_probability,
    opportunities.final_is_closed,
    opportunities.final_is_won,
    opportunities.final_close_date,
    opportunities.final_amount
from cutoffs
join changes
    on changes.changed_at < cutoffs.cutoff_end
    and (changes.valid_to is null or changes.valid_to >= cutoffs.cutoff_end)
join opportunities on changes.opportunity_id = opportunities.opportunity_id
left join owner_records
    on owner_records.cutoff = cutoffs.cutoff and owner_records.owner_id = opportunities.owner_id
where not changes.stage_is_closed
order by cutoffs.cutoff, changes.opportunity_id
"""


def open_deals_at(con: duckdb.DuckDBPyConnection, cutoffs: list[date]) -> pd.DataFrame:
    """Every deal open at the end of each cut-off date, with its features as of then."""
    frame = con.execute(POINT_IN_TIME_SQL, [cutoffs]).df()
    for column in CATEGORICAL_FEATURES:
        frame[column] = frame[column].astype("string").fillna("Unknown")
    return frame


def monthly_cutoffs(first: date, last: date) -> list[date]:
    """Month-end cut-offs from first to last (inclusive)."""
    ends = pd.date_range(first, last, freq="ME")
    return [d.date() for d in ends]
