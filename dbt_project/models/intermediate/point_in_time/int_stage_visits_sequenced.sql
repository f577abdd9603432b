{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ delete_vanished_opportunities(ref('int_opportunity_changes_accumulated')) }}"
    )
}}
-- Every visit of a stage (a stage entry in the change history) with what came next: when the deal
-- left it (null while it is still there), and whether the next stage was closed, won, and its
-- rank. A visit's outcome at a moment is decided by the forecast: one that ended after that
-- moment was still open then.
--
-- Incremental as int_opportunity_changes_accumulated, which it reads: a night recomputes the visits
-- of the opportunities with a change newer than the newest one here (less
-- var('incremental_lookback_days')), from all their entries, and deletes those of opportunities no
-- longer there. A full refresh gives the same rows.
with entries as (
    select * from {{ ref('int_opportunity_changes_accumulated') }}
    where is_stage_entry
    {% if is_incremental() %}
        and opportunity_last_changed_at > {{ changed_since(this) }}
    {% endif %}
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
    lead(stage_rank) over next_visit as next_rank,
    opportunity_last_changed_at,
    {{ as_of_date() }} as built_export_date
from entries
window next_visit as (partition by opportunity_id order by changed_at)
