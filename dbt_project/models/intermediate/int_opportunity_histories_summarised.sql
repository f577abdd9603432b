-- One row per opportunity: what its history says (changes, pushes, furthest stage reached).
with changes as (
    select * from {{ ref('int_opportunity_changes_classified') }}
)

select
    opportunity_id,
    count(*) as history_rows,
    sum(case when is_stage_entry and change_number > 1 then 1 else 0 end) as stage_changes,
    sum(case when is_close_date_push then 1 else 0 end) as close_date_pushes,
    sum(case when is_close_date_pull_in then 1 else 0 end) as close_date_pull_ins,
    sum(case when is_amount_change then 1 else 0 end) as amount_changes,
    max(case when is_stage_entry then changed_at end) as current_stage_entered_at,
    max(case when not stage_is_closed then stage_sort_order end) as max_open_stage_sort_order,
    max(case when not stage_is_closed then stage_funnel_rank end) as max_open_funnel_rank,
    min(changed_at) as first_changed_at,
    min(case when change_number = 1 then amount end) as first_amount,
    min(case when change_number = 1 then close_date end) as first_close_date
from changes
group by opportunity_id
