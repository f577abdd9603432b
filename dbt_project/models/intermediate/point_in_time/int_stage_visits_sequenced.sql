-- Every visit of a stage (a stage entry in the change history) with what came next: when the deal
-- left it (null while it is still there), and whether the next stage was closed, won, and its
-- rank. A visit's outcome at a moment is decided by the forecast: one that ended after that
-- moment was still open then.
with entries as (
    select * from {{ ref('int_opportunity_changes_accumulated') }}
    where is_stage_entry
)

select
    opportunity_id,
    stage_rank,
    is_closed,
    changed_at as entered_at,
    amount as entry_amount,
    lead(changed_at) over next_visit as exited_at,
    lead(is_closed) over next_visit as next_closed,
    lead(is_won) over next_visit as next_won,
    lead(stage_rank) over next_visit as next_rank
from entries
window next_visit as (partition by opportunity_id order by changed_at)
