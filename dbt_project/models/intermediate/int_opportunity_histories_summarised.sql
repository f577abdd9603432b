{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ delete_vanished_opportunities(ref('int_opportunity_changes_classified')) }}"
    )
}}
-- One row per opportunity: what its history says (changes, pushes, furthest stage reached).
--
-- Incremental as int_opportunity_changes_accumulated: a night recomputes the opportunities with a
-- change newer than the newest one here (less var('incremental_lookback_days')), from all their
-- rows, and deletes those no longer in the history; fct_opportunities joins it for every deal, so
-- the other 99% are not aggregated again each night. A full refresh gives the same rows.
with changes as (
    select * from {{ ref('int_opportunity_changes_classified') }}
    {% if is_incremental() %}
    -- opportunity_last_changed_at: the newest change of the row's opportunity, on each of its rows
    where opportunity_last_changed_at > {{ changed_since(this) }}
    {% endif %}
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
    max(changed_at) as opportunity_last_changed_at,
    min(case when change_number = 1 then amount end) as first_amount,
    min(case when change_number = 1 then close_date end) as first_close_date
from changes
group by opportunity_id
